"""What the memory planner reads besides its settings: a model's config (never its weights), a method's
needs (``objectives.registry``) and, on CPU, the measured size of the runtime before any model loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from unlearn.errors import UserError
from unlearn.training.memory_plan import MethodNeeds, ModelShape

# The modules a training process imports before it loads a model (torch, transformers' Trainer, peft,
# datasets, accelerate, ...): their resident size is the runtime baseline.
_BASELINE_PROBE = ("import torch, unlearn.training.forget, unlearn.models.lora, peft\n"
                   "torch.ones(1) @ torch.ones(1)\n"
                   "rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS:')][0].split()[1]\n"
                   "print(int(rss) * 1024)\n")


def model_config(model: str, trust_remote_code: bool = False):
    """The transformers config of ``model`` (alias, .gguf file, folder, adapter folder or Hub id), read
    without weights: the default model's cached converted folder, or its GGUF file's metadata."""
    from transformers import AutoConfig

    from unlearn.models.gguf import DEFAULT_MODEL_ALIASES, converted_gguf_path, packaged_gguf
    from unlearn.models.loading import resolve_source
    from unlearn.models.unlearned import MANIFEST

    gguf = packaged_gguf() if model in DEFAULT_MODEL_ALIASES else (Path(model).expanduser()
                                                                  if model.endswith(".gguf") else None)
    try:
        if gguf is not None:
            if not gguf.is_file():
                raise UserError(f"model file {model} does not exist")
            folder = converted_gguf_path(gguf)
            if (folder / "config.json").is_file():
                return AutoConfig.from_pretrained(folder)
            return AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
        source = resolve_source(model)
        folder = Path(source)
        if folder.is_dir() and (folder / MANIFEST).is_file():
            raise UserError(f"model {model} combines several models; plan the memory of its main model instead")
        if folder.is_dir() and not (folder / "config.json").is_file() and (folder / "adapter_config.json").is_file():
            base = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
            return model_config(base["base_model_name_or_path"], trust_remote_code)
        return AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot read the config of model '{model}': {first}") from None


def model_shape(config, name: str = "") -> ModelShape:
    """The numbers the plan needs from a decoder-only config (a multimodal config's text part)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    needed = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
    missing = [key for key in needed if getattr(text, key, None) is None]
    if missing:
        raise UserError(f"model {name or text.model_type}: its config ({text.model_type}) has no "
                        f"{', '.join(missing)}; the planner covers Llama-style decoders")
    heads = text.num_attention_heads
    return ModelShape(
        hidden_size=text.hidden_size, intermediate_size=text.intermediate_size, num_layers=text.num_hidden_layers,
        num_heads=heads, num_kv_heads=getattr(text, "num_key_value_heads", None) or heads,
        head_dim=getattr(text, "head_dim", None) or text.hidden_size // heads, vocab_size=text.vocab_size,
        tied_embeddings=bool(getattr(config, "tie_word_embeddings", getattr(text, "tie_word_embeddings", False))),
        attention_bias=bool(getattr(text, "attention_bias", text.model_type == "qwen2")),
        name=name)


def load_shape(model: str, trust_remote_code: bool = False) -> ModelShape:
    return model_shape(model_config(model, trust_remote_code), model)


def default_model_shape() -> ModelShape:
    from unlearn.models.gguf import DEFAULT_MODEL

    return load_shape(DEFAULT_MODEL)


def method_needs(name: str) -> tuple[MethodNeeds, bool]:
    """``(needs, full_weights_only)`` of a method FORGET[+REGULARIZER]; other families are refused."""
    from unlearn.families import FAMILY_METHODS
    from unlearn.objectives.registry import parse_method

    if name in FAMILY_METHODS:
        family = FAMILY_METHODS[name].family
        raise UserError(f"method {name} is not trained with a loss (family {family}); the planner "
                        "covers FORGET[+REGULARIZER] methods")
    method = parse_method(name)
    regularizer = method.regularizer
    needs = MethodNeeds(name=method.name, forget_term=method.forget.name,
                        regularizer=regularizer.name if regularizer else None,
                        forget_streams=method.forget.streams,
                        regularizer_streams=regularizer.streams if regularizer else (),
                        frozen_model=method.needs_frozen_model, cached_streams=method.reference_logprob_streams)
    return needs, method.full_weights_only


def runtime_baseline() -> int:
    """Resident bytes of a fresh Python process that imported what training imports (measured now)."""
    done = subprocess.run([sys.executable, "-c", _BASELINE_PROBE], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"measuring the runtime baseline failed: {done.stderr.strip()[-300:]}")
    return int(done.stdout.strip().splitlines()[-1])


def device_memory(device: str) -> int | None:
    """Total memory of ``device``: the GPU's (cuda, when one is visible) or this machine's RAM (cpu)."""
    if device == "cpu":
        for line in Path("/proc/meminfo").read_text().splitlines() if Path("/proc/meminfo").exists() else []:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
        return None
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory
    return None
