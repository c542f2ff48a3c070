"""Settings come from YAML and flags (flags win); a bad setting is named with what is accepted."""

from __future__ import annotations

import argparse

import pytest

from unlearn.cli.main import main
from unlearn.config import add_settings_flags, resolve_settings
from unlearn.errors import UserError
from unlearn.training.finetune_settings import FinetuneSettings


def parse_yaml(tmp_path, text):
    config = tmp_path / "exp.yaml"
    config.write_text(text)
    return parse(["--config", str(config)])


def parse(argv):
    parser = argparse.ArgumentParser()
    add_settings_flags(parser, FinetuneSettings)
    return resolve_settings(FinetuneSettings, parser.parse_args(argv))


def test_yaml_values_are_overridden_by_flags(tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text("data: bench\nout: runs/a\nlearning_rate: 3.0e-4\nepochs: 2\nlora: true\n")
    settings = parse(["--config", str(config), "--epochs", "4", "--no-lora"])
    assert (settings.data, settings.out, settings.learning_rate) == ("bench", "runs/a", 3e-4)
    assert settings.epochs == 4.0 and settings.lora is False
    assert settings.batch_size == FinetuneSettings.model_fields["batch_size"].default


def test_invalid_choice_names_the_setting_and_accepted_values(tmp_path):
    with pytest.raises(UserError, match=r"invalid setting 'prompt_template' = 'fancy': Input should be 'auto', "
                                        r"'chat' or 'plain'"):
        parse_yaml(tmp_path, "data: bench\nout: o\nprompt_template: fancy\n")


def test_misspelled_setting_gets_a_suggestion(tmp_path):
    with pytest.raises(UserError, match=r"unknown setting 'lerning_rate' \(did you mean 'learning_rate'\?\)"):
        parse_yaml(tmp_path, "data: bench\nout: o\nlerning_rate: 0.1\n")


def test_wrong_type_and_range_are_named():
    with pytest.raises(UserError, match=r"invalid setting 'epochs' = 'many'"):
        parse(["--data", "d", "--out", "o", "--epochs", "many"])
    with pytest.raises(UserError, match=r"invalid setting 'batch_size' = '0': Input should be greater than 0"):
        parse(["--data", "d", "--out", "o", "--batch-size", "0"])
    with pytest.raises(UserError, match=r"setting 'out' is required"):
        parse(["--data", "d"])


def test_yaml_is_data_only(tmp_path):
    with pytest.raises(UserError, match=r"exp\.yaml:1: not valid YAML"):
        parse_yaml(tmp_path, "data: !!python/object/apply:os.system ['echo pwned']\nout: o\n")


def test_malformed_and_missing_yaml(tmp_path):
    with pytest.raises(UserError, match=r"exp\.yaml:2: not valid YAML"):
        parse_yaml(tmp_path, "data: [unclosed\n")
    with pytest.raises(UserError, match="a config must be a mapping"):
        parse_yaml(tmp_path, "- a list\n")
    with pytest.raises(UserError, match="cannot read config .*nope.yaml: No such file"):
        parse(["--config", str(tmp_path / "nope.yaml")])


def test_cli_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("data", "finetune"):
        assert command in out


def test_a_word_for_none_is_none_in_every_settings_class_and_subclass():
    """One shared ``none_word`` validator: a subclass that reads more fields as "none" (``unlearn tune``'s
    storage) keeps its parent's (``--retain none`` in tune was the split name 'none' while they shared a name)."""
    from unlearn.evaluation.eval_settings import EvalSettings
    from unlearn.training.curve_settings import CurveSettings
    from unlearn.training.forget_settings import ForgetSettings
    from unlearn.tuning.settings import TuneSettings

    run = {"model": "m", "data": "d", "out": "o", "retain": "None", "reference": " null ", "refusals": ""}
    for settings in (ForgetSettings, TuneSettings):
        found = settings.model_validate(run)
        assert (found.retain, found.reference, found.refusals) == (None, None, None), settings.__name__
    assert TuneSettings.model_validate({**run, "storage": "none"}).storage is None
    evaluation = EvalSettings.model_validate({"model": "m", "data": "d", "out": "o", "holdout": "none",
                                              "embedder": "NONE"})
    assert (evaluation.holdout, evaluation.embedder, evaluation.forget) == (None, None, "forget10")
    curve = CurveSettings(forget="none", retain_split="null", holdout="", real_authors="real_authors_perturbed")
    assert (curve.forget, curve.retain_split, curve.holdout, curve.real_authors) == (None, None, None,
                                                                                     "real_authors_perturbed")
