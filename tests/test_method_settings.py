"""Each part of a method owns its settings: namespaced flags and YAML, refusal of what does not apply,
release 0.1's flat names mapped, and a toy loss term that plugs in with one registration."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import Field, PositiveFloat

from unlearn.cli.main import main
from unlearn.config import PartSettings
from unlearn.errors import UserError
from unlearn.objectives import losses, per_token
from unlearn.objectives.registry import FORGET_TERMS, Term, method_parts
from unlearn.scenarios.experiment import MethodEntry, method_values
from unlearn.training.forget_settings import ForgetSettings
from unlearn.training.run_folder import SETTINGS_FILE


def settings(**values) -> ForgetSettings:
    return ForgetSettings(data="d", out="o", **values)


def test_a_method_has_exactly_its_parts_settings():
    assert set(method_parts("NPO+GD")) == {"NPO", "dual"}  # GD has no settings
    assert set(method_parts("RMU")) == {"RMU", "dual"}  # one part for both RMU terms
    assert set(method_parts("GA")) == set()
    assert set(method_parts("GA+GD", mask="saliency")) == {"dual", "saliency"}
    assert set(method_parts("ULD")) == {"ULD"}


def test_part_settings_default_and_given_in_any_case():
    assert settings(method="NPO+GD").args_of("NPO").beta == 0.1
    chosen = settings(method="NPO+GD", method_args={"npo": {"beta": "0.25"}})
    assert chosen.method_args == {"NPO": {"beta": 0.25}} and chosen.args_of("NPO").beta == 0.25
    assert settings(method="DPO+GD").args_of("DPO").beta == 0.1  # NPO's beta is not DPO's
    assert settings(method="TaskVector").args_of("TaskVector").alpha == 5.0  # alpha means one thing per method
    assert settings(method="WHP").args_of("WHP").alpha == 1.0


@pytest.mark.parametrize("method_args,message", [
    ({"RMU": {"layer": 3}}, r"settings of 'RMU' do not apply to method NPO\+GD \(its parts with settings: NPO, dual\)"),
    ({"NPO": {"betta": 1}}, r"method_args\.NPO: unknown setting 'betta' \(accepted: beta\)"),
    ({"NPO": {"beta": -1}}, r"method_args\.NPO\.beta = -1: Input should be greater than 0"),
])
def test_settings_that_do_not_apply_are_refused(method_args, message):
    from unlearn.config import validate_settings

    with pytest.raises(UserError, match=message):
        validate_settings(ForgetSettings, {"data": "d", "out": "o", "method": "NPO+GD", "method_args": method_args})


def test_release_0_1_flat_names_are_mapped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="unlearn"):
        mapped = settings(method="RMU", rmu_layer=3, rmu_adaptive_beta=5.0)
    assert mapped.args_of("RMU").layer == 3 and mapped.args_of("RMU").adaptive_beta == 5.0
    assert "setting 'rmu_layer' is renamed --rmu.layer" in caplog.text
    with caplog.at_level(logging.WARNING, logger="unlearn"):
        ignored = settings(method="GA+GD", beta=0.5)
    assert ignored.method_args == {}
    assert "setting 'beta' is for NPO or DPO or AP, not method GA+GD: ignored" in caplog.text
    assert settings(method="Guardrail", guard_subjects=["Ada"]).args_of("Guardrail").subjects == ["Ada"]


def test_pdu_dual_defaults_and_requirement():
    pdu = settings(method="PDU", method_args={"dual": {"epsilon": 0.3}})
    assert pdu.args_of("dual").warmup_epochs == 5.0 and pdu.dual_bound == 0.3 and pdu.epochs == 10.0
    assert settings(method="GA+GD").dual_bound is None


def test_flags_and_yaml_merge_setting_by_setting(tmp_path, monkeypatch):
    from unlearn.cli import forget_command

    seen = {}
    monkeypatch.setattr("unlearn.api.forget", lambda chosen: seen.setdefault("settings", chosen) and None)
    monkeypatch.setattr(forget_command, "run", lambda args: seen.setdefault(
        "settings", forget_command.resolve_settings(ForgetSettings, args)) and 0)
    config = tmp_path / "c.yaml"
    config.write_text("method: SimNPO+GD\nmethod_args:\n  simnpo: {beta: 3.0, gamma: 0.5}\n")
    assert main(["forget", "--config", str(config), "--data", "d", "--out", "o", "--simnpo.gamma", "1.5"]) == 0
    assert seen["settings"].args_of("SimNPO").model_dump() == {"beta": 3.0, "gamma": 1.5}


def test_an_experiments_shared_part_settings_reach_the_methods_that_use_them():
    shared = {"epochs": 1, "method_args": {"NPO": {"beta": 0.3}, "rmu": {"layer": 1}}}
    npo = method_values(shared, MethodEntry(method="NPO+GD", settings={"method_args": {"npo": {"beta": 0.2}}}))
    assert npo["method_args"] == {"NPO": {"beta": 0.2}}  # the entry's own wins
    assert method_values(shared, MethodEntry(method="RMU"))["method_args"] == {"RMU": {"layer": 1}}
    assert method_values(shared, MethodEntry(method="ME+GD"))["method_args"] == {}


class ToySettings(PartSettings):
    scale: PositiveFloat = Field(1.0, description="how hard the toy term pushes")


TOY = Term("Toy", "forget", ("forget",),
           lambda c, a: a.scale * losses.gradient_ascent(*c.token_values("forget", per_token.logprob)),
           "a toy forget term: scaled gradient ascent", settings=ToySettings)


def test_a_new_loss_term_plugs_in_with_one_registration(tiny_model_dir, fictitious_bench, tmp_path, monkeypatch,
                                                        capsys):
    monkeypatch.setitem(FORGET_TERMS, "Toy", TOY)
    assert main(["forget", "--list-methods"]) == 0
    listed = capsys.readouterr().out
    assert "Toy      a toy forget term" in listed and "--toy.scale (default 1.0): how hard" in listed
    with pytest.raises(SystemExit):
        main(["forget", "--help"])
    assert "--toy.scale FLOAT" in capsys.readouterr().out
    out = tmp_path / "toy"
    assert main(["-q", "forget", "--model", str(tiny_model_dir), "--data", str(fictitious_bench), "--method", "Toy+GD",
                 "--toy.scale", "2", "--out", str(out), "--epochs", "1", "--batch-size", "2",
                 "--gradient-accumulation-steps", "1", "--device", "cpu", "--warmup-epochs", "0"]) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["method"] == "Toy+GD" and summary["optimizer_steps"] >= 1
    assert json.loads((out / SETTINGS_FILE).read_text())["method_args"] == {"Toy": {"scale": 2.0}}
