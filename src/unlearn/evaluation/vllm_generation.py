"""Greedy generation through vLLM, for CUDA users (``pip install 'llm-unlearn[vllm]'``,
``unlearn eval --generation-backend vllm``).

Only the greedy answers move to vLLM; scoring stays on the ``transformers`` model. The answers are
made as the ``hf`` backend makes them: the same prompt token ids (``TokensPrompt``), the same
number of new tokens (capped at the model's context the same way), greedy decoding
(``temperature=0``), the same stop rule (the tokenizer's EOS only: ``ignore_eos`` drops vLLM's
own EOS rule, including extra EOS ids from the model's generation config, and
``stop_token_ids=[eos]`` restores the tokenizer's), and the returned token ids decoded by the
same tokenizer call. vLLM's kernels round differently from ``transformers``', so an answer can
differ where two tokens' logits nearly tie.

vLLM loads weights from a folder (or a Hub id) itself: LoRA adapters, unlearned-model manifests
(models combined or prompted at load time) and models held only in memory are refused.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from unlearn.errors import UserError
from unlearn.evaluation.generation import fit_new_tokens

BACKENDS = ("hf", "vllm")
MEMORY_SHARE = 0.9  # of the GPU memory free when vLLM starts (the transformers model is already loaded)


def vllm_refusal(source: str | None) -> str | None:
    """Why the vLLM backend cannot generate for the model at ``source`` here (None when it can);
    ``source`` None: a model held in memory."""
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed (pip install 'llm-unlearn[vllm]', CUDA only)"
    if not torch.cuda.is_available():
        return "vLLM generation needs a CUDA GPU and none is visible"
    if source is None:
        return "vLLM loads the model from a folder, and this one is held in memory only"
    from unlearn.models.loading import resolve_source
    from unlearn.models.unlearned import is_manifest_folder

    folder = Path(resolve_source(source))
    if (folder / "adapter_config.json").is_file():
        return f"{source} is a LoRA adapter; merge it into its base model first (vLLM loads whole models)"
    if folder.is_dir() and is_manifest_folder(str(folder)):
        return f"{source} is an unlearned-model manifest (models combined or prompted at load time)"
    return None


def check_vllm(source: str | None) -> None:
    """Refuse (``UserError``: one line, exit status 2) when vLLM cannot run here."""
    reason = vllm_refusal(source)
    if reason:
        raise UserError(f"--generation-backend vllm: {reason}; use --generation-backend hf")


def vllm_dtype(dtype: torch.dtype) -> str:
    """vLLM's name for the ``transformers`` model's dtype, so both backends compute alike."""
    return {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[dtype]


class VllmGenerator:
    """Greedy answers from a vLLM engine over the model at ``source``; the engine starts at the
    first call and sizes its cache for the longest prompt plus ``max_new_tokens``."""

    def __init__(self, source: str, tokenizer, dtype: torch.dtype, context: int | None):
        from unlearn.models.loading import resolve_source

        self.folder, self.tokenizer, self.dtype, self.context = resolve_source(source), tokenizer, dtype, context
        self.engine = None

    def __call__(self, prompts: list[list[int]], max_new_tokens: int) -> list[str]:
        from vllm import LLM, SamplingParams
        from vllm.inputs import TokensPrompt

        if not prompts:
            return []
        longest = max(len(p) for p in prompts)
        max_new_tokens = fit_new_tokens(max_new_tokens, longest, self.context)
        if self.engine is None:
            free, total = torch.cuda.mem_get_info()
            self.engine = LLM(model=self.folder, dtype=vllm_dtype(self.dtype), seed=0,
                              max_model_len=longest + max_new_tokens,
                              gpu_memory_utilization=MEMORY_SHARE * free / total)
        eos = self.tokenizer.eos_token_id
        params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, ignore_eos=eos is not None,
                                stop_token_ids=[eos] if eos is not None else None)
        outputs = self.engine.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params,
                                       use_tqdm=False)
        return [self.tokenizer.decode(list(o.outputs[0].token_ids), skip_special_tokens=True).strip()
                for o in outputs]

