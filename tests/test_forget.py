"""``unlearn forget`` end to end on a tiny model: every method, guard rails, NaN stop."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import run_forget
from unlearn.cli.main import main
from unlearn.models.loading import load_model
from unlearn.objectives import losses
from unlearn.objectives.registry import FORGET_TERMS, parse_method

METHODS = ["GA", "GA+GD", "GA+KL", "NPO", "NPO+GD", "NPO+KL", "SimNPO+GD", "IDK+GD", "IDK+KL", "IDK+AP", "DPO+GD",
           "DPO+KL", "ME+GD", "WGA+GD", "SatImp+GD", "CE-U+GD", "UNDIAL", "LLMU+KL", "RMU", "PDU"]
EXTRA = {"PDU": ("--dual.epsilon", "0.3")}  # PDU needs its retain-loss bound


@pytest.fixture()
def bench(fictitious_bench):
    return fictitious_bench


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_and_saves_a_loadable_model(tiny_model_dir, bench, tmp_path, method):
    out = tmp_path / "out"
    assert run_forget(tiny_model_dir, bench, out, method, "--epochs", "1", *EXTRA.get(method, ())) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["method"] == method and summary["optimizer_steps"] == 1 and summary["forget_examples"] == 2
    assert (summary["regularizer_weight"] is None) == (parse_method(method).regularizer is None)
    model, _ = load_model(str(out), device="cpu")
    original, _ = load_model(str(tiny_model_dir), device="cpu")
    changed = any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), original.state_dict().values()))
    assert changed


def test_every_forget_term_is_covered():
    assert {m.partition("+")[0] for m in METHODS} == set(FORGET_TERMS)


def test_lora_unlearning_saves_an_adapter(tiny_model_dir, bench, tmp_path):
    assert run_forget(tiny_model_dir, bench, tmp_path / "o", "NPO+KL", "--lora", "--lora-r", "2") == 0
    assert (tmp_path / "o" / "adapter_config.json").is_file()


def test_overlapping_forget_and_retain_is_warned_with_the_count(tiny_model_dir, bench, tmp_path, caplog):
    assert main(["forget", "--model", str(tiny_model_dir), "--data", str(bench), "--forget", "forget10",
                 "--retain", "full", "--method", "GA+GD", "--out", str(tmp_path / "o"), "--epochs", "1",
                 "--batch-size", "2", "--device", "cpu"]) == 0
    assert "2 records of full also appear in forget10" in caplog.text


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_model_dir, bench, tmp_path, monkeypatch,
                                                                   capsys):
    calls = {"n": 0}
    real = losses.gradient_ascent

    def nan_on_second_call(logits, labels):
        calls["n"] += 1
        value = real(logits, labels)
        return value * float("nan") if calls["n"] == 2 else value

    monkeypatch.setattr(losses, "gradient_ascent", nan_on_second_call)
    out = tmp_path / "o"
    status = run_forget(tiny_model_dir, bench, out, "GA", "--epochs", "2", "--batch-size", "2")
    err = capsys.readouterr().err
    assert status == 2
    assert "loss became nan at step 2 (method GA" in err and "last good checkpoint is kept" in err
    assert (out / "checkpoints" / "checkpoint-1").is_dir()
    assert not (out / "train_summary.json").exists()


def test_non_finite_gradient_stops_before_the_optimizer_step(tiny_model_dir, bench, tmp_path, monkeypatch, capsys):
    real = losses.gradient_ascent

    def nan_gradient_on_second_step(logits, labels):
        nan_gradient_on_second_step.calls += 1
        value = real(logits, labels)
        if nan_gradient_on_second_step.calls == 2:  # forward 0, backward d sqrt(u)/du at 0 = inf, times 0 = nan
            value = value + 0 * torch.sqrt(logits.sum() - logits.sum())
        return value

    nan_gradient_on_second_step.calls = 0
    monkeypatch.setattr(losses, "gradient_ascent", nan_gradient_on_second_step)
    out = tmp_path / "o"
    status = run_forget(tiny_model_dir, bench, out, "GA", "--epochs", "2", "--batch-size", "2")
    err = capsys.readouterr().err
    assert status == 2
    assert "gradient norm became nan at step 2; stopped before the optimizer step" in err
    kept = load_model(str(out / "checkpoints" / "checkpoint-1"), device="cpu")[0]
    assert all(torch.isfinite(p).all() for p in kept.parameters())
    assert not (out / "train_summary.json").exists()


def test_rmu_changes_only_down_proj_of_its_layers(tiny_model_dir, bench, tmp_path):
    """End to end (the Trainer's AdamW): with --rmu.layer 0 only layer 0's mlp.down_proj moves; every other
    tensor of the saved model is bit-identical to the original."""
    out = tmp_path / "rmu"
    assert run_forget(tiny_model_dir, bench, out, "RMU", "--rmu.layer", "0") == 0
    model, _ = load_model(str(out), device="cpu")
    original, _ = load_model(str(tiny_model_dir), device="cpu")
    before = original.state_dict()
    changed = {name for name, value in model.state_dict().items() if not torch.equal(value, before[name])}
    assert changed == {"model.layers.0.mlp.down_proj.weight"}


def test_rmu_defaults_to_wmdp_schedule_where_the_user_set_none(tmp_path):
    from unlearn.training.arguments import training_arguments
    from unlearn.training.forget_settings import ForgetSettings

    from conftest import make_model

    settings = ForgetSettings(data="d", out="o", method="RMU")
    assert (settings.learning_rate, settings.batch_size, settings.gradient_accumulation_steps,
            settings.warmup_epochs, settings.weight_decay, settings.lr_schedule) == (5e-5, 4, 1, 0.0, 0.0, "constant")
    args = training_arguments(settings, make_model(16), 8, tmp_path)
    assert args.lr_scheduler_type == "constant_with_warmup" and args.warmup_steps == 0 and args.weight_decay == 0.0
    assert args.learning_rate == 5e-5 and args.per_device_train_batch_size == 4
    given = ForgetSettings(data="d", out="o", method="RMU", learning_rate=1e-3, weight_decay=0.1)
    assert (given.learning_rate, given.weight_decay, given.batch_size) == (1e-3, 0.1, 4)
    other = ForgetSettings(data="d", out="o", method="GA+GD")
    assert (other.learning_rate, other.batch_size, other.weight_decay, other.lr_schedule) == (1e-5, 8, 0.01, "linear")


def test_pdu_defaults_are_its_authors():
    from unlearn.training.forget_settings import ForgetSettings

    pdu = ForgetSettings(data="d", out="o", method="PDU", method_args={"dual": {"epsilon": 0.3}})
    assert parse_method("PDU").regularizer.name == "GD"
    dual = pdu.args_of("dual")
    assert (pdu.epochs, dual.warmup_epochs, dual.step, pdu.learning_rate) == (10.0, 5.0, 1.0, 1e-5)
    other = ForgetSettings(data="d", out="o", method="GA+GD", method_args={"dual": {"epsilon": 0.3}})
    assert other.args_of("dual").warmup_epochs == 0.0 and other.dual_bound == 0.3


@pytest.mark.parametrize("warmup,final", [("2", 100.0), ("1", 0.0)])
def test_pdu_dual_variable_waits_for_its_warmup(tiny_model_dir, bench, tmp_path, warmup, final):
    """Two epochs of one step, b0 = 100, bound 1000 (far above any retain loss): after a warm-up of 2 epochs b
    never moved; after 1 it moved once in epoch 2, to max(0, 100 + (retain - 1000)) = 0."""
    out = tmp_path / "pdu"
    assert run_forget(tiny_model_dir, bench, out, "PDU", "--epochs", "2", "--dual.epsilon", "1000",
                      "--dual.warmup-epochs", warmup) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["optimizer_steps"] == 2 and summary["regularizer_weight"] == 100.0
    assert summary["primal_dual"] == {"epsilon": 1000.0, "dual_step": 1.0, "dual_warmup_epochs": float(warmup),
                                      "final_multiplier": final}
