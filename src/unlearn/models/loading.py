"""Find, load and save models: a Hub id, a local folder (full or LoRA adapter) or a GGUF file.

Device and dtype are chosen automatically (cuda > mps > cpu; bf16 where the GPU supports it,
fp32 otherwise, since CPU bf16 training is many times slower here) and can be overridden.
Weights load from safetensors only: a pickle checkpoint (``.bin``, ``.pt``) can run code while it
loads, so it is refused unless the caller passes ``allow_pickle``. Remote code runs only when the
caller allows it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Literal

import torch

from unlearn.errors import UserError
from unlearn.models.gguf import DEFAULT_MODEL_ALIASES, converted_gguf_dir, packaged_gguf
from unlearn.models.unlearned import MANIFEST, is_composite, is_manifest_folder, load_manifest_model, save_composite

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
Device = Literal["auto", "cpu", "cuda", "mps"]
DType = Literal["auto", "float32", "bfloat16", "float16"]

log = logging.getLogger(__name__)


def resolve_device(device: Device = "auto") -> torch.device:
    """The device asked for; a GPU run launched as several processes (``torchrun``, ``accelerate launch``)
    puts each process on its own GPU, ``cuda:LOCAL_RANK``, where the Trainer will train it."""
    if device in ("auto", "cuda") and torch.cuda.is_available() and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' asked for, but no CUDA GPU is available (accepted: auto, cpu, cuda, mps)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise UserError("device 'mps' asked for, but MPS is not available (accepted: auto, cpu, cuda, mps)")
    return torch.device(device)


def resolve_dtype(dtype: DType, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, dtype)


def resolve_source(source: str) -> str:
    """A loadable folder or Hub id for ``source`` (aliases and GGUF files become cached folders)."""
    if source in DEFAULT_MODEL_ALIASES:
        return str(converted_gguf_dir(packaged_gguf()))
    path = Path(source).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise UserError(f"model file {source} does not exist")
        return str(converted_gguf_dir(path))
    if path.exists():
        if not path.is_dir():
            raise UserError(f"model {source} is a file; expected a model folder, a .gguf file or a Hub id")
        if not any((path / name).is_file() for name in ("config.json", "adapter_config.json", MANIFEST)):
            raise UserError(f"model folder {source} has no config.json, adapter_config.json or {MANIFEST}")
        return str(path)
    if source.startswith((".", "/", "~")) or source.count("/") > 1 or source.endswith("/"):
        raise UserError(f"model path {source} does not exist")
    return source  # a Hub id; loading reports if it cannot be fetched


def load_tokenizer(source: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    return ensure_pad_token(_hf_call(AutoTokenizer.from_pretrained, source, trust_remote_code=trust_remote_code),
                            source)


def ensure_pad_token(tokenizer, source: str):
    """Batches need a pad token: without one, the end-of-sequence token pads (with a warning)."""
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise UserError(f"tokenizer of {source} has neither a pad nor an end-of-sequence token")
        log.warning("tokenizer of %s has no pad token; using its end-of-sequence token for padding", source)
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    source: str,
    dtype: DType = "auto",
    device: Device = "auto",
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
):
    """Return ``(model, tokenizer)`` on the chosen device; a LoRA folder loads base + adapter, a
    manifest folder (``models.unlearned``) its parts, combined."""
    from transformers import AutoModelForCausalLM

    resolved = resolve_source(source)
    if is_manifest_folder(resolved):
        return load_manifest_model(resolved, lambda part: load_model(part, dtype, device, trust_remote_code,
                                                                     allow_pickle))
    target_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target_device)
    adapter = Path(resolved) / "adapter_config.json"
    # use_safetensors=None lets transformers fall back to pickle files; True never opens one
    kwargs = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code,
              "use_safetensors": None if allow_pickle else True}
    _refuse_pickle_only(resolved, allow_pickle)
    if adapter.is_file():
        from peft import PeftModel

        base_folder = resolve_source(json.loads(adapter.read_text())["base_model_name_or_path"])
        _refuse_pickle_only(base_folder, allow_pickle)
        base = _hf_call(AutoModelForCausalLM.from_pretrained, base_folder, **kwargs)
        model = PeftModel.from_pretrained(base, resolved)
    else:
        model = _hf_call(AutoModelForCausalLM.from_pretrained, resolved, **kwargs)
    tokenizer = load_tokenizer(resolved, trust_remote_code)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(target_device), tokenizer


def _refuse_pickle_only(folder: str, allow_pickle: bool) -> None:
    """A local folder whose weights exist only as pickle files is refused with what to do."""
    path = Path(folder)
    if allow_pickle or not path.is_dir() or any(path.glob("*.safetensors")):
        return
    pickled = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickled:
        raise UserError(f"model folder {folder} holds weights only as pickle ({', '.join(pickled)}), which can run "
                        "code when loaded; convert them to safetensors, or pass --allow-pickle if you trust them")


def fit_to_context(max_length: int, model) -> int:
    """``max_length`` capped at the model's context window (``max_position_embeddings``).

    Positions past the context are undefined for the model, so longer sequences are cut there;
    the tokenizer then warns with the count of sequences that were truncated."""
    context = getattr(model.config, "max_position_embeddings", None)
    if context and max_length > context:
        log.warning("max_length %d is longer than the model's context of %d tokens; using %d",
                    max_length, context, context)
        return context
    return max_length


def save_model(model, tokenizer, out_dir: str | Path, state_dict: dict | None = None) -> None:
    """Save in Hugging Face format (a LoRA model saves its adapter) through a staging folder, so a
    failed save (a full disk) leaves no partial model behind.

    ``state_dict``: the full weights gathered from a sharded model (FSDP, ZeRO-3; see
    ``training.sharding.gathered_weights``), written in place of ``model``'s own shards."""
    out = Path(out_dir)
    if state_dict is not None and is_composite(model):
        raise UserError("a model of several parts cannot be saved from sharded weights (FSDP, ZeRO-3); "
                        "run it without sharding")
    staging = out / ".saving"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        if is_composite(model):
            save_composite(model, tokenizer, staging)
        else:
            model.save_pretrained(staging, safe_serialization=True, state_dict=state_dict)
            tokenizer.save_pretrained(staging)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise UserError(f"cannot save the model to {out}: {error.strerror or error}") from error
    for item in staging.iterdir():
        destination = out / item.name
        if destination.is_dir():
            shutil.rmtree(destination)
        item.replace(destination)
    staging.rmdir()


def _hf_call(loader, source: str, **kwargs):
    from safetensors import SafetensorError

    try:
        return loader(source, **kwargs)
    except SafetensorError as error:
        raise UserError(f"cannot load model '{source}': a safetensors weights file is damaged or truncated "
                        f"({error}); save or download the model again") from error
    except (OSError, ValueError) as error:
        if "trust_remote_code" in str(error):
            raise UserError(f"cannot load model '{source}': it ships its own code, which runs only with "
                            "--trust-remote-code (pass it only if you trust the model's authors)") from error
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot load model '{source}': {first_line}") from error
