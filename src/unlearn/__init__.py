"""llm-unlearn: remove what a language model learned from a forget set, and measure it.

``import unlearn`` stays light (the command line starts fast); the API functions load on first use:
``unlearn.builtin_benchmark`` (any registered benchmark's built-in version), ``unlearn.fictitious_benchmark``,
``unlearn.muse_benchmark``, ``unlearn.rwku_benchmark``, ``unlearn.wmdp_benchmark``, ``unlearn.finetune``,
``unlearn.forget``, ``unlearn.evaluate``, ``unlearn.attack``, ``unlearn.run``, ``unlearn.compare``,
``unlearn.meta_eval``, ``unlearn.tune``, ``unlearn.write_report`` (see ``unlearn.api``).
"""

from unlearn.errors import UserError
from unlearn.quiet import silence_library_messages

silence_library_messages()  # the libraries' messages that llm-unlearn answers itself (see unlearn.quiet)

__version__ = "0.1.0"
API = ("attack", "builtin_benchmark", "compare", "evaluate", "fictitious_benchmark", "finetune", "forget",
       "meta_eval", "muse_benchmark", "run", "rwku_benchmark", "tune", "wmdp_benchmark", "write_report")
__all__ = ["UserError", *API]


def __getattr__(name: str):
    if name in API:
        from unlearn import api

        return getattr(api, name)
    raise AttributeError(f"module 'unlearn' has no attribute {name!r}")
