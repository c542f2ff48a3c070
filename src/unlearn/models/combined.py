"""Two models whose next-token logits are combined: WHP at decoding time, ULD.

``CombinedLogitsModel`` is used exactly like a causal LM: ``model(input_ids, attention_mask)``
returns the combined logits at every position (the fused scoring pass reads them unchanged),
``labels`` give the usual shifted cross-entropy (so the Trainer can fine-tune it: a relearning
attack), and ``generate`` is ``transformers`` generation on the main model with a logits
processor that runs the second model alongside, on its own key-value cache. Nothing downstream
needs to know that two models answer.
"""

from __future__ import annotations

import math

import torch
from transformers import DynamicCache, LogitsProcessor, LogitsProcessorList

FORMULAS = ("whp", "uld")


def whp_generic_logits(base: torch.Tensor, reinforced: torch.Tensor, alpha: float) -> torch.Tensor:
    """WHP's generic logits (Eldan & Russinovich 2023): ``v_g = v_b - alpha * ReLU(v_r - v_b)``.

    Tokens the reinforced model (the target fine-tuned further on the forget data) likes more than
    the base model are the forget data's own; they are pushed down, the rest stay as they were."""
    return base - alpha * torch.relu(reinforced - base)


def plausible_tokens(target: torch.Tensor, threshold: float) -> torch.Tensor:
    """ULD's top-logit filter (the authors' ``relative_top_filter``, after DoLa's plausibility
    constraint): a token is plausible when ``log p_t(v) >= min(log p_t(max) + log(threshold),
    log p_t(k-th))`` with ``k = max(1, floor(threshold * V))`` over the vocabulary of ``V`` tokens:
    its target probability is at least ``threshold`` times the top one, or it is among the top
    ``threshold`` share of the vocabulary. (Their code takes ``k = floor(threshold * V)`` with no
    floor of 1, so a vocabulary under ``1 / threshold`` tokens keeps every token there.)"""
    logp = torch.log_softmax(target.float(), -1)
    k = max(1, int(threshold * logp.shape[-1]))
    kth = logp.topk(k, dim=-1).values[..., -1:]
    bound = torch.minimum(logp.amax(-1, keepdim=True) + math.log(threshold), kth)
    return logp >= bound


def uld_logits(target: torch.Tensor, assistant: torch.Tensor, alpha: float, top_filter: float = 0.0) -> torch.Tensor:
    """ULD's combined logits (Ji et al. 2024): ``l = l_target - alpha * m * l_assistant``.

    The assistant was trained to remember the forget data and to be uniform (constant logits, which
    the softmax ignores) on the retain data, so subtracting it lowers only the forget knowledge. The
    paper writes ``m = 1``; with ``top_filter > 0`` (the authors' TOFU scripts use 1e-2), ``m`` is 1
    on the target's plausible tokens (``plausible_tokens``) and 0 elsewhere, as in their code, so
    the assistant cannot lift a token the target finds implausible."""
    if top_filter <= 0:
        return target - alpha * assistant
    keep = plausible_tokens(target, top_filter)
    return target - alpha * assistant.masked_fill(~keep, 0.0)


def combine(formula: str, main: torch.Tensor, second: torch.Tensor, alpha: float,
            top_filter: float = 0.0) -> torch.Tensor:
    if formula == "whp":
        return whp_generic_logits(main, second, alpha)
    if formula == "uld":
        return uld_logits(main, second, alpha, top_filter)
    raise ValueError(f"unknown logit combination '{formula}' (known: {', '.join(FORMULAS)})")


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that count real tokens only (left padding starts each row at 0)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


class CombinedLogitsModel(torch.nn.Module):
    """``main`` (the model generation runs on) and ``second`` combined by ``formula`` with ``alpha``
    (and ULD's ``top_filter``). Scoring reads the combined logits at every token; generation also
    never picks a token outside the filter's plausible set, as the authors' decoding does.

    Attribute access falls through to ``main`` (``config``, ``get_decoder``, ...), so code that reads
    the model's configuration sees the main model's; the vocabularies must match."""

    def __init__(self, main, second, formula: str, alpha: float, top_filter: float = 0.0):
        super().__init__()
        if formula not in FORMULAS:
            raise ValueError(f"unknown logit combination '{formula}' (known: {', '.join(FORMULAS)})")
        if (isinstance(top_filter, bool) or not isinstance(top_filter, (int, float)) or not 0.0 <= top_filter < 1.0
                or (top_filter and formula != "uld")):
            raise ValueError(f"top_filter {top_filter!r}: a share in [0, 1), used by the uld formula only")
        if main.config.vocab_size != second.config.vocab_size:
            raise ValueError(f"the two models' vocabularies differ ({main.config.vocab_size} and "
                             f"{second.config.vocab_size} tokens)")
        self.main, self.second = main, second
        self.formula, self.alpha, self.top_filter = formula, float(alpha), float(top_filter)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("main"), name)

    def forward(self, input_ids, attention_mask=None, labels=None, position_ids=None, use_cache=False, cache=None,
                logits_to_keep=0, **kwargs):
        """The main model's output with the combined logits; with ``use_cache`` its cache is a
        ``PairCache`` of both models' caches (the scoring pass shares prompts through it)."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if position_ids is None:
            position_ids = positions_from_mask(attention_mask)
        kwargs.pop("past_key_values", None)
        common = {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids,
                  "use_cache": use_cache, "logits_to_keep": logits_to_keep}
        main = self.main(**common, cache=cache.main if cache is not None else None, **kwargs)
        second_trains = torch.is_grad_enabled() and any(p.requires_grad for p in self.second.parameters())
        with torch.set_grad_enabled(second_trains):
            second = self.second(**common, cache=cache.second if cache is not None else None)
        main.logits = combine(self.formula, main.logits, second.logits.to(main.logits.dtype), self.alpha,
                              self.top_filter)
        if use_cache:
            main["cache"] = PairCache(main["cache"], second["cache"])
        if labels is not None:
            main.loss = torch.nn.functional.cross_entropy(main.logits[:, :-1].flatten(0, 1).float(),
                                                          labels[:, 1:].flatten(), ignore_index=-100)
        return main

    @torch.no_grad()
    def generate(self, input_ids, attention_mask=None, logits_processor=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        processors = LogitsProcessorList(logits_processor or [])
        processors.append(SecondModelLogits(self.second, self.formula, self.alpha, attention_mask, self.top_filter))
        return self.main.generate(input_ids=input_ids, attention_mask=attention_mask, logits_processor=processors,
                                  **kwargs)

    def trainable_part(self):
        """The model an attacker (or a further fine-tune) updates: the main one."""
        return self.main


class PairCache:
    """The two models' key-value caches, selected together."""

    def __init__(self, main, second):
        self.main, self.second = main, second

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.main.batch_select_indices(indices)
        self.second.batch_select_indices(indices)


class SecondModelLogits(LogitsProcessor):
    """Runs ``second`` on the tokens generated since the last call (its own key-value cache) and
    combines its last-position logits with the main model's scores; with ULD's ``top_filter`` the
    tokens outside the main model's plausible set are ruled out."""

    def __init__(self, second, formula: str, alpha: float, prompt_mask: torch.Tensor, top_filter: float = 0.0):
        self.second, self.formula, self.alpha, self.top_filter = second, formula, alpha, top_filter
        self.mask = prompt_mask
        self.cache = DynamicCache()
        self.seen = 0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        new = input_ids[:, self.seen:]
        if self.seen:  # every generated token is real for the attention (finished rows are ignored anyway)
            self.mask = torch.cat([self.mask, self.mask.new_ones(new.shape)], dim=1)
        positions = positions_from_mask(self.mask)[:, self.seen:]
        output = self.second(input_ids=new, attention_mask=self.mask, position_ids=positions,
                             cache=self.cache, use_cache=True)
        self.seen = input_ids.shape[1]
        combined = combine(self.formula, scores, output.logits[:, -1].to(scores.dtype), self.alpha, self.top_filter)
        if self.top_filter:
            combined = combined.masked_fill(~plausible_tokens(scores, self.top_filter), float("-inf"))
        return combined
