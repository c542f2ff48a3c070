"""``unlearn eval``: score a model on the forget, utility and holdout splits."""

from __future__ import annotations

from unlearn.config import add_settings_flags, resolve_settings
from unlearn.evaluation.eval_settings import EvalSettings


def register(commands) -> None:
    parser = commands.add_parser(
        "eval", help="evaluate a model: forgetting, utility, privacy (writes per-split JSON and summary.json)",
        description="Evaluate a model on the forget split, the utility splits (retain, real authors, world facts) "
                    "and the holdout split. Pass --retain-eval with the retain model's eval folder for forget "
                    "quality and PrivLeak. Settings come from --config YAML and flags (flags win).")
    add_settings_flags(parser, EvalSettings)
    parser.add_argument("--list-metrics", action="store_true",
                        help="print every registered metric (name, better direction, needs, description) and exit")
    parser.set_defaults(handler=run)


def run(args) -> int:
    if args.list_metrics:
        from unlearn.evaluation.table import metric_list

        print(metric_list())
        return 0
    from unlearn import api

    result = api.evaluate(settings=resolve_settings(EvalSettings, args))
    print(result.table())
    print(f"evaluation written to {result.out}")
    return 0
