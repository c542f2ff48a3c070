"""LoRA adapters through peft: train a few low-rank matrices instead of every weight."""

from __future__ import annotations


def apply_lora(model, r: int = 8, alpha: int = 16, dropout: float = 0.0, target_modules: str | list[str] = "all-linear"):
    """Wrap ``model`` with a trainable LoRA adapter; the base weights stay frozen."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules,
                        task_type="CAUSAL_LM")
    return get_peft_model(model, config)
