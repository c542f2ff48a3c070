"""``unlearn finetune``: build the model that knows a benchmark (or only its retain part)."""

from __future__ import annotations

import json

from unlearn.config import add_settings_flags, resolve_settings
from unlearn.training.finetune_settings import FinetuneSettings


def register(commands) -> None:
    parser = commands.add_parser(
        "finetune", help="fine-tune a model on a benchmark split",
        description="Fine-tune a model on a benchmark split with transformers.Trainer and save it. "
                    "Settings come from --config YAML and flags (flags win).")
    add_settings_flags(parser, FinetuneSettings)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from unlearn import api

    result = api.finetune(resolve_settings(FinetuneSettings, args))
    print(json.dumps({k: v for k, v in result.summary.items() if k != "fact_check"}, indent=2))
    print(f"model saved to {result.out}")
    return 0
