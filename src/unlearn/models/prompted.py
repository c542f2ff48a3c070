"""Methods that change no weight: a context before every conversation, and an output filter.

- The context (a guardrail's system prompt, in-context unlearning's examples as earlier turns or
  as plain text framing the first question) is written into the tokenizer's chat template, so
  every prompt the toolkit builds through the template (questions, paraphrases, attacks' prompts,
  RWKU probes) carries it, and scoring and generation see the same
  tokens a deployed system would. Prompts built without the chat template (raw text, lm-eval's
  letter form) are not changed: such a method acts on conversations only.
- The output filter (``GuardedModel``) replaces a generated answer that leaks the forget set by a
  refusal. It acts on generated text only: the probabilities a scoring pass reads are the model's
  own, which is what a filter leaves in place.
"""

from __future__ import annotations

import json
import re

import torch

CONTEXT_MARK = "{#- unlearn: context -#}"


def context_chat_template(template: str, messages: list[dict], frame: dict | None = None) -> str:
    """``template`` with ``messages`` (``role``/``content`` dicts) put before every conversation, and
    the conversation's first user message written as ``frame["prefix"] + content + frame["suffix"]``.

    The messages and the frame are JSON literals (also valid Jinja literals for strings, lists and
    dicts); the template then renders the rewritten conversation exactly as it would render it."""
    if CONTEXT_MARK in template:
        raise ValueError("the chat template already carries an unlearning context")
    literal = json.dumps([{"role": m["role"], "content": m["content"]} for m in messages])
    framing = ""
    if frame:
        prefix, suffix = json.dumps(frame.get("prefix", "")), json.dumps(frame.get("suffix", ""))
        framing = ("{%- set ns = namespace(turns=[], framed=false) -%}"
                   "{%- for m in messages -%}"
                   "{%- if m['role'] == 'user' and not ns.framed -%}"
                   "{%- set ns.turns = ns.turns + [{'role': 'user', 'content': "
                   f"{prefix} ~ m['content'] ~ {suffix}}}] -%}}"
                   "{%- set ns.framed = true -%}"
                   "{%- else -%}{%- set ns.turns = ns.turns + [m] -%}{%- endif -%}"
                   "{%- endfor -%}{%- set messages = ns.turns -%}")
    return f"{CONTEXT_MARK}{framing}{{%- set messages = {literal} + messages -%}}" + template


def leaks(answer: str, keywords: list[str], similarities: list[float], threshold: float) -> bool:
    """Whether a generated answer leaks: it contains a forget keyword (case-insensitive, whole words),
    or its embedding similarity to some forget answer is at least ``threshold``."""
    lowered = answer.lower()
    if any(re.search(rf"(?<!\w){re.escape(k.lower())}(?!\w)", lowered) for k in keywords if k.strip()):
        return True
    return bool(similarities) and max(similarities) >= threshold


class OutputFilter:
    """Keyword and embedding match against the forget set; a match becomes ``refusal``."""

    def __init__(self, keywords: list[str], answers: list[str], threshold: float, refusal: str,
                 embedder: str | None = None):
        self.keywords, self.answers = list(keywords), list(answers)
        self.threshold, self.refusal, self.embedder_name = float(threshold), refusal, embedder
        self._embedder = self._answer_vectors = None

    def spec(self) -> dict:
        return {"keywords": self.keywords, "answers": self.answers, "threshold": self.threshold,
                "refusal": self.refusal, "embedder": self.embedder_name}

    def similarities(self, texts: list[str]) -> list[list[float]]:
        """Each text's cosine similarity to every forget answer (none when there are no answers)."""
        if not self.answers or self.threshold > 1:
            return [[] for _ in texts]
        if self._embedder is None:
            from unlearn.evaluation.semantic import load_embedder

            self._embedder = load_embedder(self.embedder_name)
            self._answer_vectors = self._embedder.encode(self.answers, convert_to_tensor=True,
                                                         normalize_embeddings=True, show_progress_bar=False)
        vectors = self._embedder.encode(texts, convert_to_tensor=True, normalize_embeddings=True,
                                        show_progress_bar=False)
        return (vectors @ self._answer_vectors.T).tolist()

    def flags(self, texts: list[str]) -> list[bool]:
        return [leaks(t, self.keywords, s, self.threshold) for t, s in zip(texts, self.similarities(texts))]


class GuardedModel(torch.nn.Module):
    """A model behind a context (already in ``tokenizer``'s chat template) whose generations pass
    ``output_filter`` (if any); everything else is the inner model's."""

    def __init__(self, inner, tokenizer, output_filter: OutputFilter | None = None, base_chat_template=None):
        super().__init__()
        self.inner = inner
        self.tokenizer, self.output_filter = tokenizer, output_filter
        self.base_chat_template = base_chat_template  # the template without the context, for saving

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("inner"), name)

    def forward(self, *args, **kwargs):
        return self.inner(*args, **kwargs)

    @torch.no_grad()
    def generate(self, input_ids, **kwargs):
        output = self.inner.generate(input_ids=input_ids, **kwargs)
        if self.output_filter is None:
            return output
        prompt_length = input_ids.shape[1]
        texts = self.tokenizer.batch_decode(output[:, prompt_length:], skip_special_tokens=True)
        flagged = self.output_filter.flags([t.strip() for t in texts])
        if not any(flagged):
            return output
        refusal = self.tokenizer(self.output_filter.refusal, add_special_tokens=False)["input_ids"]
        if self.tokenizer.eos_token_id is not None:
            refusal = refusal + [self.tokenizer.eos_token_id]
        width = max(output.shape[1] - prompt_length, len(refusal))
        pad = self.tokenizer.pad_token_id
        rows = []
        for row, flag in zip(output, flagged):
            new = refusal if flag else row[prompt_length:].tolist()
            rows.append(row[:prompt_length].tolist() + new + [pad] * (width - len(new)))
        return torch.tensor(rows, dtype=output.dtype, device=output.device)

    def trainable_part(self):
        return self.inner
