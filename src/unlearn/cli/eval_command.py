"""``unlearn eval``: score a model on the forget, utility and holdout splits."""

from __future__ import annotations

from unlearn.benchmarks.registry import suites
from unlearn.config import add_part_flags, add_renamed_flags, add_settings_flags, resolve_settings
from unlearn.evaluation.eval_settings import RENAMED_BOOLEANS, EvalSettings


def register(commands) -> None:
    parser = commands.add_parser(
        "eval", help="evaluate a model: forgetting, utility, privacy (writes per-split JSON and summary.json)",
        description="Evaluate a model on the forget split, the utility splits (retain, real authors, world facts) "
                    "and the holdout split. Pass --retain-eval with the retain model's eval folder for forget "
                    "quality and PrivLeak. Settings come from --config YAML and flags (flags win).")
    add_settings_flags(parser, EvalSettings)
    chosen = {name: spec.suite.settings for name, spec in suites().items() if spec.suite.settings}
    add_part_flags(parser, chosen, {name: f"--suites {name}" for name in chosen})
    add_renamed_flags(parser, EvalSettings, RENAMED_BOOLEANS)
    parser.add_argument("--list-metrics", action="store_true",
                        help="print every registered metric (name, better direction, needs, description) and exit")
    parser.add_argument("--list-benchmarks", action="store_true",
                        help="print every registered benchmark (record kinds, generator, suite and its flags) and exit")
    parser.set_defaults(handler=run)


def run(args) -> int:
    if args.list_benchmarks:
        from unlearn.benchmarks.registry import benchmark_list

        print(benchmark_list())
        return 0
    if args.list_metrics:
        from unlearn.evaluation.table import metric_list

        print(metric_list())
        return 0
    from unlearn import api

    result = api.evaluate(settings=resolve_settings(EvalSettings, args))
    print(result.table())
    print(f"evaluation written to {result.out}")
    return 0
