"""``unlearn run``: run a scenario's steps (reusing finished ones), write the manifest and the report.

The scenario is looked up in the registry (``scenarios/registry.py``); the manifest keeps the
experiment's settings with the scenario's own settings in full (defaults included)."""

from __future__ import annotations

import time
from pathlib import Path
from collections.abc import Callable

from unlearn.files import atomic_write_json
from unlearn.report.collect import MANIFEST
from unlearn.report.render import write_report
from unlearn.scenarios.experiment import ExperimentSettings, check_experiment
from unlearn.scenarios.registry import find_scenario
from unlearn.scenarios.steps import Steps


def run_experiment(settings: ExperimentSettings, source: str = "experiment",
                   progress: Callable[[str], None] = print) -> tuple[Path, Steps]:
    """Returns the report page and the steps record (which ran, which were reused)."""
    check_experiment(settings, source)
    began = time.time()
    folder = settings.run_folder
    steps = Steps(folder, progress)
    run = find_scenario(settings.scenario).runner()
    manifest: dict = {}
    for seed in settings.seeds or [None]:
        if seed is not None:
            steps.progress = lambda message, seed=seed: progress(f"seed {seed}: {message}")
        part = run(settings.with_seed(seed), steps)
        for key, value in part.items():  # rows of every seed, each tagged with its seed; notes once
            if key == "notes":
                manifest[key] = list(dict.fromkeys([*manifest.get(key, []), *value]))
            elif isinstance(value, list):
                manifest.setdefault(key, []).extend({**row, "seed": seed} for row in value)
            else:
                manifest[key] = value
    own = settings.scenario_settings
    written = {**settings.model_dump(mode="json"), "scenario_args": own.model_dump(mode="json") if own else {}}
    manifest = {"name": settings.name, "scenario": settings.scenario, "settings": written,
                **_relative(manifest, folder)}
    atomic_write_json(folder / MANIFEST, manifest)
    page = write_report(folder)
    progress(f"done in {time.time() - began:.0f} s ({len(steps.ran)} steps run, {len(steps.reused)} reused); "
             f"report: {page}")
    return page, steps


def _relative(value, folder: Path):
    """Step folders as paths relative to the run folder, so the run can be moved."""
    if isinstance(value, Path):
        return value.relative_to(folder).as_posix() if value.is_relative_to(folder) else str(value)
    if isinstance(value, dict):
        return {k: _relative(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, folder) for v in value]
    return value
