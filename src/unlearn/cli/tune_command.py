"""``unlearn tune``: search a method's settings for its best forget/utility trade-off."""

from __future__ import annotations

from unlearn.config import add_part_flags, add_settings_flags, resolve_settings
from unlearn.objectives.registry import every_part
from unlearn.selection.registry import rules
from unlearn.training.curve_settings import CurveSettings
from unlearn.tuning.settings import TuneSettings


def register(commands) -> None:
    parser = commands.add_parser(
        "tune", help="search a method's settings (Optuna): Pareto front of forget vs utility, best.yaml",
        description="Run trials of unlearn forget with sampled settings, each evaluated on the evaluation data "
                    "(eval: in YAML; tune on a validation forget split, report on another), in an Optuna study "
                    "that a killed run resumes and several workers can share (--storage). Writes the Pareto front "
                    "(pareto.csv, .json, .png) and the chosen trial's settings (best.yaml, for unlearn forget "
                    "--config). Every unlearn forget setting is a trial's fixed setting; the search space is "
                    "space: in YAML. Settings come from --config YAML and flags (flags win).")
    add_settings_flags(parser, TuneSettings)
    parts = every_part()
    add_part_flags(parser, {name: model for name, (model, _) in parts.items()},
                   {name: used_by for name, (_, used_by) in parts.items()})
    add_part_flags(parser, {"curve": CurveSettings}, {"curve": "evaluation during training, for pruning"})
    add_part_flags(parser, {name: rule.settings for name, rule in rules().items()},
                   {name: f"--select {name}" for name in rules()})
    parser.set_defaults(handler=run)


def run(args) -> int:
    from unlearn import api

    result = api.tune(resolve_settings(TuneSettings, args))
    counts = result.summary["counts"]
    print(f"study '{result.summary['study']}': {counts['complete']} complete, {counts['pruned']} pruned, "
          f"{counts['fail']} failed; {len(result.front)} on the Pareto front ({result.out / 'pareto.csv'})")
    print(f"chosen: {result.chosen['reason']}")
    if result.best_config:
        print(f"settings: {result.best_config} (unlearn forget --config {result.best_config})")
    return 0
