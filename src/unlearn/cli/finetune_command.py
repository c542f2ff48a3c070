"""``unlearn finetune``: build the model that knows a benchmark (or only its retain part)."""

from __future__ import annotations

from unlearn.config import add_settings_flags, resolve_settings
from unlearn.training.finetune import FinetuneSettings


def register(commands) -> None:
    parser = commands.add_parser(
        "finetune", help="fine-tune a model on a benchmark split",
        description="Fine-tune a model on a benchmark split with transformers.Trainer and save it. "
                    "Settings come from --config YAML and flags (flags win).")
    add_settings_flags(parser, FinetuneSettings)
    parser.set_defaults(handler=run)


def run(args) -> int:
    settings = resolve_settings(FinetuneSettings, args)
    from unlearn.training.finetune import finetune, print_summary

    summary = finetune(settings)
    print_summary(summary)
    print(f"model saved to {settings.out}")
    return 0
