"""LoRA adapters through peft: train a few low-rank matrices instead of every weight.

A model loaded from an adapter folder (``load_model`` gives base + adapter, a ``PeftModel``) is
"the model" as a whole: ``apply_lora`` trains its adapter further (it does not add a second one,
and disabling that adapter would give the bare base, not the model), and ``full_weights`` merges
the adapter into the base weights for a run that trains every weight. Only an adapter that
``apply_lora`` added itself starts at zero, so that switching it off gives back the model the run
started from (``disabling_gives_start``); the frozen reference of KL, UNDIAL and RMU relies on it.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_NEW_ADAPTER = "_unlearn_new_adapter"  # set on a peft model whose adapter apply_lora added (zero at the start)


def is_adapter_model(model) -> bool:
    """A peft model: base weights plus an adapter (loaded from an adapter folder, or added here)."""
    return hasattr(model, "peft_config") and hasattr(model, "disable_adapter")


def apply_lora(model, r: int = 8, alpha: int = 16, dropout: float = 0.0,
               target_modules: str | list[str] = "all-linear"):
    """Wrap ``model`` with a trainable LoRA adapter; the base weights stay frozen.

    A model that already carries an adapter (loaded from an adapter folder) keeps it and trains
    that adapter further, with its own rank, alpha and dropout (``r``, ``alpha``, ``dropout`` are
    not used): the result saves as an adapter of the same base, and the model before training is
    base + the loaded adapter."""
    if is_adapter_model(model):
        model.set_adapter(model.active_adapter)  # peft marks the active adapter trainable
        config = model.peft_config[model.active_adapter]
        log.info("the model is a base model + adapter: training that adapter further (its own settings, r=%s); "
                 "--lora-r/--lora-alpha/--lora-dropout are not used", getattr(config, "r", "?"))
        return model
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules,
                        task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    setattr(model, _NEW_ADAPTER, True)
    return model


def disabling_gives_start(model) -> bool:
    """Whether ``model.disable_adapter()`` gives the model as it was before this run: true only for
    an adapter that ``apply_lora`` added (zero at the start), never for a loaded one."""
    return is_adapter_model(model) and getattr(model, _NEW_ADAPTER, False)


def full_weights(model):
    """``model`` ready to train every weight: a loaded adapter is merged into the base weights
    (``merge_and_unload``; same outputs, a plain model that saves in full), every weight trainable.
    Any other model is returned as it is."""
    if not is_adapter_model(model):
        return model
    log.info("the model is a base model + adapter; training all weights: the adapter is merged into the base")
    merged = model.merge_and_unload()
    for parameter in merged.parameters():
        parameter.requires_grad_(True)
    return merged
