"""The settings of ``unlearn finetune``.

Kept apart from ``training/finetune.py`` (transformers, the Trainer) so that reading or checking
them, and ``unlearn finetune --help``, import nothing heavy.
"""

from __future__ import annotations

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from unlearn.training.settings import DataSettings, OptimSettings, TrainableModelSettings


class FinetuneSettings(OptimSettings, DataSettings, TrainableModelSettings):
    """Defaults measured on SmolLM2-135M and the built-in benchmark (see README)."""

    split: str = Field("full", description="split to train on (full = target model, retain90 = retain model)")
    out: str = Field(description="output folder: the fine-tuned model in Hugging Face format")
    epochs: PositiveFloat = Field(8.0, description="passes over the training split")
    learning_rate: PositiveFloat = Field(3e-4, description="peak AdamW learning rate")
    batch_size: PositiveInt = Field(4, description="examples per device per step")
    warmup_epochs: float = Field(0.5, ge=0.0, description="linear warmup length in epochs")
    check_facts: NonNegativeInt = Field(64, description="records answered afterwards to measure fact accuracy "
                                                        "(0 = skip)")
    max_new_tokens: PositiveInt = Field(48, description="generation length for the fact check")
    merge_lora: bool = Field(False, description="with --lora: save the base model with the adapter merged in "
                                                "(full weights) instead of the adapter")
    overwrite: bool = Field(False, description="reuse an output folder that holds another run")
