"""``unlearn tune``: search a method's settings for its best forget/utility trade-off."""

from __future__ import annotations

from unlearn.cli.forget_command import add_forget_flags
from unlearn.config import resolve_settings
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
    add_forget_flags(parser, TuneSettings, "evaluation during training, for pruning")
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
