"""``unlearn eval``: score a model on the forget, utility and holdout splits."""

from __future__ import annotations

from unlearn.config import add_settings_flags, resolve_settings
from unlearn.evaluation.run import EvalSettings


def register(commands) -> None:
    parser = commands.add_parser(
        "eval", help="evaluate a model: forgetting, utility, privacy (writes per-split JSON and summary.json)",
        description="Evaluate a model on the forget split, the utility splits (retain, real authors, world facts) "
                    "and the holdout split. Pass --retain-eval with the retain model's eval folder for forget "
                    "quality and PrivLeak. Settings come from --config YAML and flags (flags win).")
    add_settings_flags(parser, EvalSettings)
    parser.set_defaults(handler=run)


def run(args) -> int:
    settings = resolve_settings(EvalSettings, args)
    from unlearn.evaluation.run import evaluate_model
    from unlearn.evaluation.table import format_table

    summary = evaluate_model(settings)
    print(format_table(summary))
    print(f"evaluation written to {settings.out}")
    return 0
