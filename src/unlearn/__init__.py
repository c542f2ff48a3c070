"""llm-unlearn: remove what a language model learned from a forget set, and measure it.

``import unlearn`` stays light (the command line starts fast); the API functions load on first use:
``unlearn.fictitious_benchmark``, ``unlearn.muse_benchmark``, ``unlearn.rwku_benchmark``,
``unlearn.wmdp_benchmark``, ``unlearn.finetune``, ``unlearn.forget``, ``unlearn.evaluate``,
``unlearn.attack``, ``unlearn.run``, ``unlearn.compare``, ``unlearn.write_report`` (see ``unlearn.api``).
"""

import logging

from unlearn.errors import UserError

# bitsandbytes, imported by peft, tries at import to fetch an optional CPU 4-bit kernel from the Hub and
# logs a warning on every command when it cannot (offline, or not trusted); its own fallback is used.
# With HF_HUB_OFFLINE set, the kernels package first logs that it skips the kernel's publisher check.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(
    lambda record: "gemm_4bit_forward" not in record.getMessage())
logging.getLogger("kernels._internals.hf_hub").addFilter(
    lambda record: "quantization-bitsandbytes" not in record.getMessage())

__version__ = "0.1.0"
API = ("attack", "compare", "evaluate", "fictitious_benchmark", "finetune", "forget", "muse_benchmark", "run",
       "rwku_benchmark", "wmdp_benchmark", "write_report")
__all__ = ["UserError", *API]


def __getattr__(name: str):
    if name in API:
        from unlearn import api

        return getattr(api, name)
    raise AttributeError(f"module 'unlearn' has no attribute {name!r}")
