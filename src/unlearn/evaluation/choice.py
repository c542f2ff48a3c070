"""Multiple-choice scoring: the log-likelihood of each option's letter after the prompt.

The prompt lists the options as ``A. ...``, ``B. ...`` (``attacks.prompts.multiple_choice_prompt``);
the model's choice is the letter it finds likeliest as the first answer token, as WMDP and MMLU
are scored. One teacher-forced pass per (prompt, letter) through ``score_sequences``, which runs
each prompt once for all its letters.
"""

from __future__ import annotations

from unlearn.evaluation.likelihood import score_sequences


def letter_logprobs(model, tokenizer, fmt, prompts: list[str], letters: str = "ABCD", batch_size: int = 16,
                    max_length: int = 512) -> list[dict[str, float]]:
    """``log p(letter | prompt)`` of the letter's first answer token, per prompt and letter."""
    pairs = [(prompt, letter) for prompt in prompts for letter in letters]
    scores = score_sequences(model, tokenizer, fmt, pairs, batch_size, max_length, progress=False)
    return [{letter: scores[(prompt, letter)].token_logprobs[0] for letter in letters} for prompt in prompts]
