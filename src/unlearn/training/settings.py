"""Settings shared by every command that trains a model (fine-tuning and unlearning)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt

from unlearn.data.formatting import DEFAULT_PLAIN_TEMPLATE
from unlearn.models.gguf import DEFAULT_MODEL


class ModelSettings(BaseModel):
    """Which model, on which device, in which precision."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(DEFAULT_MODEL, description="Hub id, local folder, .gguf file, or 'smollm2-135m-instruct'")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="where to run")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="weights precision; auto = bf16 on a GPU that supports it, fp32 otherwise")
    trust_remote_code: bool = Field(False, description="run model code from the Hub (only for models you trust)")
    allow_pickle: bool = Field(False, description="load .bin/.pt weights, which can run code (only files you trust)")
    threads: PositiveInt | None = Field(None, description="torch CPU threads (default: torch's choice)")


class TrainableModelSettings(ModelSettings):
    """A model that is trained: all weights or a LoRA adapter."""

    lora: bool = Field(False, description="train a LoRA adapter instead of all weights")
    lora_r: PositiveInt = Field(8, description="LoRA rank")
    lora_alpha: PositiveInt = Field(16, description="LoRA scaling numerator")
    lora_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="LoRA dropout")
    gradient_checkpointing: bool = Field(False, description="trade compute for activation memory")
    loss_chunk_tokens: NonNegativeInt = Field(
        512, description="positions projected onto the vocabulary at once when computing the loss (their "
                         "logits are recomputed in the backward pass); 0 = the model's own logits, all at once")


class DataSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str = Field(description="benchmark folder of JSON-lines splits, or a Hub id such as locuslab/TOFU")
    prompt_template: Literal["auto", "chat", "plain"] = Field(
        "auto", description="chat = tokenizer's chat template; plain = plain_template; auto = chat if available")
    plain_template: str = Field(DEFAULT_PLAIN_TEMPLATE, description="prompt for the plain template")
    max_length: PositiveInt = Field(256, description="longest tokenized prompt + answer; longer ones are truncated")
    answer_field: str = Field("answer", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                              description="the record field that holds the answer to train on and score against "
                                          "(e.g. golden_answer)")


class OptimSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: PositiveFloat = Field(5.0, description="passes over the training split")
    learning_rate: PositiveFloat = Field(1e-5, description="peak AdamW learning rate")
    batch_size: PositiveInt = Field(8, description="examples per device per step")
    gradient_accumulation_steps: PositiveInt = Field(1, description="steps accumulated per optimizer update")
    weight_decay: float = Field(0.01, ge=0.0, description="AdamW weight decay")
    optim: Literal["adamw_torch", "adamw_bnb_8bit"] = Field(
        "adamw_torch", description="optimizer: torch's AdamW, or bitsandbytes' 8-bit AdamW (about a quarter of "
                                   "AdamW's state; runs on CPU too, slowly)")
    warmup_epochs: float = Field(1.0, ge=0.0, description="linear warmup length in epochs")
    lr_schedule: Literal["linear", "constant"] = Field(
        "linear", description="after the warmup, the rate decays linearly to 0 or stays constant")
    seed: int = Field(0, description="seed for data order, pairing and initialisation")
    report_to: str = Field("none", description="tracking backends: none, tensorboard, wandb, mlflow, ...")
    logging_steps: PositiveInt = Field(10, description="log the loss every this many optimizer steps")
    save_checkpoints: bool = Field(True, description="write a checkpoint each epoch, for --resume "
                                                     "(off: no resume, no model + optimizer state written each epoch)")
    keep_checkpoints: bool = Field(False, description="keep the per-epoch checkpoints after success")
    resume: bool = Field(False, description="resume from the last checkpoint in the output folder")
