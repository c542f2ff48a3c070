"""``unlearn demo``: the whole fictitious scenario on the embedded defaults, ending with a report."""

from __future__ import annotations


def register(commands) -> None:
    parser = commands.add_parser(
        "demo", help="fine-tune, unlearn with ME+GD and IDK+AP, evaluate and report (about 20 min on 2 cores)",
        description="Run the fictitious scenario on the packaged SmolLM2-135M-Instruct and the built-in benchmark, "
                    "then print the report's path. Finished steps are reused when run again.")
    parser.add_argument("--out", default=None, help="output folder (default: runs/demo, or runs/demo-quick)")
    parser.add_argument("--quick", action="store_true", help="a tiny version that only checks the whole path runs")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from unlearn.files import output_lock
    from unlearn.scenarios.demo import demo_settings
    from unlearn.scenarios.runner import run_experiment

    out = args.out or ("runs/demo-quick" if args.quick else "runs/demo")
    settings = demo_settings(out, args.quick, args.threads)
    with output_lock(settings.run_folder):
        page, _ = run_experiment(settings, "demo")
    print(f"open the report: {page}")
    return 0
