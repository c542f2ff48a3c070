"""Other libraries' output that llm-unlearn does not show, silenced at its source, in one place.

A command prints its own lines only, also on a machine without the Hub (``HF_HUB_OFFLINE=1``).
What is silenced is named here, message by message; everything else, and every error, still shows.

- bitsandbytes, imported by peft, tries at import to fetch an optional CPU 4-bit kernel from the Hub
  (on CPUs with AVX512-BF16) and logs a warning when it cannot (offline, or not trusted); its own
  fallback is used. With ``HF_HUB_OFFLINE`` set, the kernels package first logs that it skips the
  kernel's publisher check.
- peft reads transformers' deprecated ``is_gradient_checkpointing`` when it wraps a model in LoRA
  (a FutureWarning on every LoRA run; nothing for a user to change).
- transformers draws a progress bar for work that takes a moment: reading the weights ("Loading
  weights") and writing them ("Writing model shards"). Only on the command line
  (``quiet_command_line``); downloads keep their bars (those are huggingface_hub's), and so do the
  training steps and llm-unlearn's own scoring and generation.
"""

from __future__ import annotations

import importlib.abc
import logging
import sys
import warnings

# logger -> text of the messages it logs that are dropped
LIBRARY_LOG_MESSAGES = {
    "bitsandbytes.backends.cpu.ops": "gemm_4bit_forward",
    "kernels._internals.hf_hub": "quantization-bitsandbytes",
}
LIBRARY_WARNINGS = (r"`is_gradient_checkpointing` is deprecated",)  # regular expressions, matched at the start


def silence_library_messages() -> None:
    """Drop the libraries' log lines and warnings above (``import unlearn`` runs this: the API's users
    see the same output as the command line's)."""
    for name, text in LIBRARY_LOG_MESSAGES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Dropping) and f.text == text for f in logger.filters):
            logger.addFilter(_Dropping(text))
    for message in LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=FutureWarning)


class _Dropping(logging.Filter):
    """Drops the records whose message contains ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def quiet_command_line() -> None:
    """The command line's part: transformers' own progress bars off, set once transformers is imported
    (a command that never loads a model never imports it, and ``--help`` stays fast)."""
    module = sys.modules.get("transformers.utils.logging")
    if module is not None:
        _no_transformers_bars(module)
    elif not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport("transformers.utils.logging", _no_transformers_bars))


def _no_transformers_bars(module) -> None:
    module.set_tqdm_hook(lambda factory, args, kwargs: module.EmptyTqdm(*args, **kwargs))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``callback(module)`` right after the module ``name`` is first imported, so that a library
    is set up without being imported ahead of the command that needs it."""

    def __init__(self, name: str, callback) -> None:
        self.name, self.callback = name, callback

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once; the other finders find the module itself
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            exec_module, callback = spec.loader.exec_module, self.callback

            def exec_then_set_up(module) -> None:
                exec_module(module)
                callback(module)

            spec.loader.exec_module = exec_then_set_up
        return spec
