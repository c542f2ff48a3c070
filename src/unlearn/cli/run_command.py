"""``unlearn run`` and ``unlearn report``: whole experiments and their reports."""

from __future__ import annotations


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
    from unlearn import api

    api.run(args.experiment, **({"out": args.out} if args.out else {}))
    return 0


def report_handler(args) -> int:
    from unlearn import api

    print(f"report: {api.write_report(args.folder)}")
    return 0
