"""``unlearn run`` and ``unlearn report``: whole experiments and their reports."""

from __future__ import annotations

from unlearn.errors import UserError


def register(commands) -> None:
    run = commands.add_parser(
        "run", help="run an experiment file: data, target and retain models, methods, evaluation, report",
        description="Run an experiment (see configs/*.yaml). Finished steps with the same inputs are reused, so "
                    "adding a method trains only that method. The file names a scenario (scenario: muse) and gives "
                    "its own settings as scenario_args: {protocol: scalability}; see --list-scenarios.")
    run.add_argument("experiment", metavar="EXPERIMENT.yaml", nargs="?", help="the experiment file")
    run.add_argument("--out", help="output folder (default: the file's 'out', or runs/NAME)")
    run.add_argument("--list-scenarios", action="store_true",
                     help="list every scenario (what it does, its default splits, its settings) and exit")
    run.set_defaults(handler=run_handler)
    report = commands.add_parser("report", help="(re)write the report of a finished run folder",
                                 description="Write report.md, report.html, plots and CSV files of a run folder.")
    report.add_argument("folder", metavar="RUN_FOLDER")
    report.set_defaults(handler=report_handler)


def run_handler(args) -> int:
    if args.list_scenarios:
        from unlearn.scenarios.registry import scenario_list

        print(scenario_list())
        return 0
    if args.experiment is None:
        raise UserError("unlearn run: give an experiment file (EXPERIMENT.yaml), or --list-scenarios")
    from unlearn import api

    api.run(args.experiment, **({"out": args.out} if args.out else {}))
    return 0


def report_handler(args) -> int:
    from unlearn import api

    print(f"report: {api.write_report(args.folder)}")
    return 0
