"""``unlearn run`` and ``unlearn report``: whole experiments and their reports."""

from __future__ import annotations

from pathlib import Path

from unlearn.config import read_yaml, validate_settings
from unlearn.errors import UserError


def register(commands) -> None:
    run = commands.add_parser(
        "run", help="run an experiment file: data, target and retain models, methods, evaluation, report",
        description="Run an experiment (see configs/*.yaml). Finished steps with the same inputs are reused, so "
                    "adding a method trains only that method.")
    run.add_argument("experiment", metavar="EXPERIMENT.yaml")
    run.add_argument("--out", help="output folder (default: the file's 'out', or runs/NAME)")
    run.set_defaults(handler=run_handler)
    report = commands.add_parser("report", help="(re)write the report of a finished run folder",
                                 description="Write report.md, report.html, plots and CSV files of a run folder.")
    report.add_argument("folder", metavar="RUN_FOLDER")
    report.set_defaults(handler=report_handler)


def run_handler(args) -> int:
    from unlearn.scenarios.experiment import ExperimentSettings
    from unlearn.scenarios.runner import run_experiment

    values = read_yaml(args.experiment)
    if not values:
        raise UserError(f"{args.experiment}: the experiment file is empty; it names at least a scenario or "
                        "methods (see configs/experiment_fictitious.yaml)")
    if args.out:
        values["out"] = args.out
    settings = validate_settings(ExperimentSettings, values, args.experiment)
    run_experiment(settings, args.experiment)
    return 0


def report_handler(args) -> int:
    from unlearn.report.render import write_report

    print(f"report: {write_report(Path(args.folder))}")
    return 0
