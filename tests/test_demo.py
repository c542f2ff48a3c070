"""``unlearn demo --quick`` on the real packaged model: the newcomer's whole path, shrunk.

The numbers of the quick demo mean nothing (one epoch on ten records); the test checks that
every step runs on the real model and the report is complete and honest.
"""

from __future__ import annotations

import json

import pytest

from conftest import REPORT_FILES, assert_metrics_finite_or_explained
from unlearn.cli.main import main

pytestmark = pytest.mark.slow


def test_quick_demo_runs_end_to_end_on_the_default_model(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--quick", "--out", str(out), "--threads", "2"]) == 0
    assert f"open the report: {out / 'report.html'}" in capsys.readouterr().out
    for name in REPORT_FILES:
        assert (out / name).is_file(), name
    assert_metrics_finite_or_explained(out)
    manifest = json.loads((out / "experiment.json").read_text())
    assert [m["label"] for m in manifest["models"]] == ["target", "retain model", "ME+GD", "IDK+AP"]
