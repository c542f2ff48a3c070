"""A run folder's recorded settings compared from another directory, after a move, and from before
``ran_in`` was recorded."""

import json
import shutil

import pytest

from unlearn.errors import UserError
from unlearn.training.run_folder import (RAN_IN, SETTINGS_FILE, changed_settings, check_run_folder,
                                         record_run_settings, recorded_settings)


@pytest.fixture
def project(tmp_path):
    """``tmp_path/project`` with a data folder, a model folder and a scripts folder to run from."""
    root = tmp_path / "project"
    for folder in ("data", "model", "other-data", "scripts"):
        (root / folder).mkdir(parents=True)
    return root


def _settings(prefix: str) -> dict:
    return {"model": f"{prefix}model", "data": f"{prefix}data", "out": f"{prefix}runs/eval",
            "forget": "forget10", "embedder": "sentence-transformers/all-MiniLM-L6-v2",
            "method_args": {"curve": {"retain_eval": f"{prefix}data"}}}


def _finished_run(project, monkeypatch) -> dict:
    """A run started in the project's root with paths relative to it, with a file written beside its settings."""
    monkeypatch.chdir(project)
    settings = _settings("")
    record_run_settings(settings["out"], settings)
    (project / "runs/eval/summary.json").write_text("{}")
    return settings


def test_the_directory_a_run_started_in_is_recorded_beside_its_settings_as_given(project, monkeypatch):
    settings = _finished_run(project, monkeypatch)
    written = json.loads((project / "runs/eval" / SETTINGS_FILE).read_text())
    assert written == {**settings, RAN_IN: str(project)}
    assert recorded_settings(project / "runs/eval") == settings


def test_the_same_places_named_from_another_directory_are_the_same_settings(project, monkeypatch):
    _finished_run(project, monkeypatch)
    monkeypatch.chdir(project / "scripts")
    again = _settings("../")
    assert changed_settings("../runs/eval", again) == []
    assert check_run_folder("../runs/eval", again) is not None
    absolute = _settings(f"{project}/")
    assert changed_settings(project / "runs/eval", absolute) == []


def test_another_place_or_value_is_another_run_and_is_refused_by_name(project, monkeypatch):
    _finished_run(project, monkeypatch)
    monkeypatch.chdir(project / "scripts")
    moved_data = {**_settings("../"), "data": "../other-data"}
    assert changed_settings("../runs/eval", moved_data) == ["data"]
    nested = _settings("../")
    nested["method_args"]["curve"]["retain_eval"] = "../other-data"
    other_split = {**_settings("../"), "forget": "forget05"}
    assert changed_settings("../runs/eval", nested) == ["method_args"]
    with pytest.raises(UserError, match=r"holds a run with other settings \(forget\)"):
        check_run_folder("../runs/eval", other_split)


def test_a_folder_moved_with_its_inputs_matches_its_settings_by_their_text(project, monkeypatch, tmp_path):
    _finished_run(project, monkeypatch)
    moved = tmp_path / "moved"
    shutil.move(project, moved)
    monkeypatch.chdir(moved)
    assert changed_settings("runs/eval", _settings("")) == []


def test_a_folder_written_before_ran_in_compares_from_here(project, monkeypatch):
    monkeypatch.chdir(project)
    settings = _settings("")
    (project / "runs/eval").mkdir(parents=True)
    (project / "runs/eval" / SETTINGS_FILE).write_text(json.dumps(settings))
    assert changed_settings("runs/eval", _settings(f"{project}/")) == []
    monkeypatch.chdir(project / "scripts")
    assert changed_settings("../runs/eval", _settings("../")) == ["data", "method_args", "model", "out"]


def test_resolved_settings_name_local_places_absolutely_and_leave_hub_ids(project, monkeypatch):
    _finished_run(project, monkeypatch)
    monkeypatch.chdir(project / "scripts")
    resolved = recorded_settings("../runs/eval", resolved=True)
    assert resolved["model"] == str(project / "model")
    assert resolved["method_args"]["curve"]["retain_eval"] == str(project / "data")
    assert resolved["embedder"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert resolved["forget"] == "forget10"
