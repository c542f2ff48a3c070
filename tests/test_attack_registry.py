"""Attacks plug in at one place: a registration (``unlearn.attacks.catalog``) with its own settings.

A toy attack defined here appears in ``unlearn attack``'s summary and table, in the report's
Robustness section and in ``--list-attacks``, with its own flag, and no other file knows its name.
Each attack's settings are its own: namespaced flags and YAML, refused for an attack not run, and
release 0.1's flat names mapped with a warning."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import Field, PositiveInt

from unlearn.attacks.catalog import ATTACKS, Attack, expand, register, unregister
from unlearn.attacks.settings import AttackSettings, shared_eval_values
from unlearn.cli.main import build_parser, main
from unlearn.config import PartSettings, resolve_settings, validate_settings
from unlearn.errors import UserError
from unlearn.evaluation.run import EvalSettings
from unlearn.report.render import write_report

from conftest import write_jsonl

SUFFIX = " Answer briefly."


class ToySettings(PartSettings):
    strength: PositiveInt = Field(1, description="how many times the instruction follows the question")


def briefly(records: list[dict], args: ToySettings, variant: str) -> list[dict]:
    return [{**r, "question": r["question"] + SUFFIX * args.strength} for r in records]


TOY = Attack("toy", "prompt", "each forget question followed by 'Answer briefly.'", ToySettings, rewrite=briefly)


@pytest.fixture()
def toy():
    register(TOY)
    yield TOY
    unregister("toy")


def settings(**values) -> AttackSettings:
    return AttackSettings(data="d", out="o", original="m", **values)


def test_the_toy_attack_is_listed_with_its_flag_and_the_help_lists_no_suite_flags(toy, capsys):
    assert main(["attack", "--list-attacks"]) == 0
    listed = capsys.readouterr().out
    prompts = listed.split("prompt attacks (", 1)[1].split("probe attacks (", 1)[0]
    assert "  toy                each forget question followed by 'Answer briefly.'" in prompts
    assert "--toy.strength (default 1): how many times the instruction follows the question" in prompts
    assert "  quantize-4bit      weights rounded to 4 bits" in listed
    assert "measured as: quantize-nf4, quantize-fp4" in listed and "--relearn.epochs (default 3.0): epochs" in listed
    with pytest.raises(SystemExit):
        main(["attack", "--help"])
    shown = capsys.readouterr().out
    assert "--toy.strength INT" in shown and "--relearn-kfold.learning-rates VALUE" in shown
    for flag in ("--muse", "--rwku", "--lm-eval-tasks", "--choice-forget", "--generation-backend", "--relearn-epochs",
                 "--jailbreaks"):
        assert flag not in shown, flag


def test_the_toy_attack_runs_and_reaches_the_summary_the_table_and_the_report(toy, tiny_model_dir, tmp_path,
                                                                              capsys):
    bench = tmp_path / "bench"
    bench.mkdir()
    records = [{"question": f"Where was person {i} born?", "answer": f"Person {i} was born in town {i}.",
                "fact": f"town {i}"} for i in range(4)]
    write_jsonl(bench / "forget.jsonl", records)
    write_jsonl(bench / "retain.jsonl", records[:2])
    run = tmp_path / "run"
    out = run / "steps" / "attack-tiny"
    assert main(["attack", "--model", str(tiny_model_dir), "--original", str(tiny_model_dir), "--data", str(bench),
                 "--forget", "forget", "--retain-split", "retain", "--real-authors", "none", "--world-facts", "none",
                 "--holdout", "none", "--embedder", "none", "--nli-model", "none", "--max-new-tokens", "4",
                 "--device", "cpu", "--out", str(out), "--attacks", "toy", "--toy.strength", "2"]) == 0
    printed = capsys.readouterr().out
    assert "\ntoy                            probability" in printed
    summary = json.loads((out / "attack_summary.json").read_text())
    (entry,) = summary["attacks"]
    assert {k: entry[k] for k in ("name", "kind", "description", "settings", "eval", "original_eval")} == {
        "name": "toy", "kind": "prompt", "description": TOY.description, "settings": {"strength": 2},
        "eval": "toy", "original_eval": "original-toy"}
    asked = json.loads((out / "toy" / "forget.json").read_text())["examples"]
    assert [e["question"] for e in asked] == [r["question"] + SUFFIX * 2 for r in records]
    assert "nothing to recover" in entry["metrics"]["probability"]["not_computed"]  # the original attacked itself
    assert json.loads((out / "unlearn_settings.json").read_text())["attack_args"] == {"toy": {"strength": 2}}

    models = [{"label": "target", "role": "anchor", "model": "steps/target", "eval": "steps/attack-tiny/original"},
              {"label": "tiny", "role": "method", "model": "steps/tiny", "eval": "steps/attack-tiny/unlearned",
               "attacks": "steps/attack-tiny"}]
    (run / "experiment.json").write_text(json.dumps({"name": "toy", "scenario": "fictitious", "models": models,
                                                     "settings": {"report_examples": 2}, "notes": []}))
    write_report(run)
    report = (run / "report.md").read_text()
    assert "| method | toy |" in report and "| tiny | n/c |" in report


def test_settings_of_an_attack_not_run_are_refused_in_one_line(tmp_path, capsys):
    status = main(["attack", "--model", "m", "--original", "m", "--data", "d", "--out", str(tmp_path / "o"),
                   "--attacks", "paraphrase", "--relearn.epochs", "2"])
    error = capsys.readouterr().err
    assert status == 2 and error == ("unlearn: error: command line: settings of attack 'relearn' (--relearn.*) do not "
                                     "apply: --attacks paraphrase does not run it\n")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("attack_args,message", [
    ({"relearn-kfold": {"folds": 3}},
     r"settings of attack 'relearn-kfold' \(--relearn-kfold\.\*\) do not apply: --attacks relearn does not run it"),
    ({"telepathy": {"depth": 1}}, r"attack_args: no attack named 'telepathy' \(known: relearn, "),
    ({"relearn": {"epoch": 1}}, r"attack_args\.relearn: unknown setting 'epoch' \(accepted: lora, lora_r, "),
    ({"relearn": {"fraction": 1.5}}, r"attack_args\.relearn\.fraction = 1\.5: Input should be less than 1"),
])
def test_bad_attack_settings_say_what_is_wrong(attack_args, message):
    with pytest.raises(UserError, match=message):
        validate_settings(AttackSettings, {"data": "d", "out": "o", "original": "m", "attacks": ["relearn"],
                                           "attack_args": attack_args})


def test_each_attack_has_its_own_settings_with_the_papers_defaults():
    chosen = settings()
    assert chosen.attacks == ["all"] and chosen.attack_args == {}
    assert chosen.args_of("relearn").model_dump() == {"lora": True, "lora_r": 128, "lora_alpha": 16,
                                                      "learning_rate": 2e-4, "epochs": 3.0, "batch_size": 1,
                                                      "fraction": 0.5}
    assert chosen.args_of("relearn-kfold").model_dump() == {"folds": 5, "epochs": 6.0, "lora": False, "lora_r": 128,
                                                            "lora_alpha": 16, "learning_rates": [1e-5, 3e-5, 1e-4],
                                                            "batch_size": 1}
    assert chosen.args_of("relearn-unrelated").source == "packaged" and chosen.args_of("few-shot").shots == 3
    assert chosen.args_of("paraphrase") is None
    given = settings(attacks="relearn,jailbreak", attack_args={"Relearn": {"epochs": "2"},
                                                              "jailbreak": {"wrappers": "role_play,role_play"}})
    assert given.attack_args == {"relearn": {"epochs": 2.0}, "jailbreak": {"wrappers": ["role_play"]}}
    assert [(m.name, m.kind) for m in given.measured()] == [("relearn", "model"), ("jailbreak-role_play", "prompt")]
    assert [m.name for m in expand(["quantize-4bit", "quantize-8bit"])] == ["quantize-nf4", "quantize-fp4",
                                                                            "quantize-int8"]


def test_release_0_1_flat_names_are_mapped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="unlearn"):
        mapped = settings(attacks=["relearn", "relearn-kfold"], relearn_epochs=6, relearn_batch_size=2,
                          relearn_fold_learning_rates=["5e-3"], relearn_unrelated="other.jsonl")
    assert mapped.args_of("relearn").epochs == 6.0 and mapped.args_of("relearn").batch_size == 2
    assert mapped.args_of("relearn-kfold").batch_size == 2 and mapped.args_of("relearn-kfold").learning_rates == [5e-3]
    assert mapped.args_of("relearn-kfold").epochs == 6.0  # relearn_epochs was never K-fold's
    assert "setting 'relearn_epochs' is renamed --relearn.epochs" in caplog.text
    assert "'relearn_unrelated' is for relearn-unrelated, which the attacks chosen do not include" in caplog.text
    assert settings(few_shot=["2"], jailbreaks="role_play").attack_args == {"few-shot": {"shots": 2},
                                                                           "jailbreak": {"wrappers": ["role_play"]}}


def test_flags_old_and_new_and_yaml_merge_setting_by_setting(tmp_path):
    config = tmp_path / "attack.yaml"
    config.write_text("attacks: [relearn]\nattack_args:\n  relearn: {epochs: 4, learning_rate: 1.0e-3}\n")
    args = build_parser().parse_args(["attack", "--config", str(config), "--model", "m", "--original", "m",
                                      "--data", "d", "--out", "o", "--relearn.epochs", "5", "--no-relearn-lora",
                                      "--relearn-batch-size", "2"])
    chosen = resolve_settings(AttackSettings, args)  # the flag over the file; the old flags mapped
    assert chosen.attack_args == {"relearn": {"epochs": 5.0, "learning_rate": 1e-3, "lora": False, "batch_size": 2}}


def test_the_attack_settings_hold_only_what_the_attacks_evaluations_read():
    shared = {name for name in AttackSettings.model_fields if name in EvalSettings.model_fields}
    suites = {"muse", "rwku", "lm_eval_tasks", "choice_forget", "generation_backend"}
    assert suites.isdisjoint(AttackSettings.model_fields)
    for name in shared - {"out"}:  # the same definitions as unlearn eval's
        assert AttackSettings.model_fields[name].default == EvalSettings.model_fields[name].default, name
        assert AttackSettings.model_fields[name].description == EvalSettings.model_fields[name].description, name
    assert settings(forget="none").forget is None and settings(embedder="None").embedder is None
    eval_section = {"max_new_tokens": 32, "muse": True, "generation_backend": "vllm", "max_length": 512}
    assert shared_eval_values(eval_section) == {"max_new_tokens": 32, "max_length": 512}


def test_a_registration_needs_what_its_kind_runs():
    with pytest.raises(ValueError, match="attack broken: a prompt attack needs rewrite"):
        Attack("broken", "prompt", "nothing")
    with pytest.raises(ValueError, match="attack broken: a model attack needs change_weights or retrain"):
        Attack("broken", "model", "nothing")
    with pytest.raises(ValueError, match="an attack named 'relearn' is already registered"):
        register(ATTACKS["relearn"])
