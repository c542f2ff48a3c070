"""RWKU's utility set (Jin et al. 2024): does the model keep its other abilities?

It is read from ``utility_<part>`` files where the data has them: ``general`` (MMLU, RWKU's
5-shot prompt, the likeliest of the letters' next tokens) and ``fluency`` (entropy of bi- and
tri-grams of 256-token answers to AlpacaEval instructions) are computed as RWKU's code computes
them; ``reason`` (BBH), ``truthfulness`` (TruthfulQA MC1) and ``factuality`` (TriviaQA) are
reported as not computed, with lm-eval's tasks named as the way to measure them
(``--lm-eval-tasks``). A part missing from the data is not computed, with the reason.
"""

from __future__ import annotations

import torch

from unlearn.data.rwku import UTILITY
from unlearn.evaluation.generation import generate_greedy
from unlearn.metrics.text import fluency_entropy
from unlearn.metrics.uncertainty import mean_interval


def evaluate_utility(model, tokenizer, utility: dict[str, list[dict] | None], where: str,
                     batch_size: int = 16, **interval_options) -> dict[str, dict]:
    """RWKU's utility parts: scored where the data holds them and this suite computes them (see the
    module docstring), else ``{"not_computed": reason}``."""
    results = {}
    for part, (dataset, _) in UTILITY.items():
        records = utility.get(part)
        key = f"utility_{part}"
        if records is None:
            results[key] = {"not_computed": f"{where} has no {key} ({dataset}){LM_EVAL_HINT[part]}"}
        elif part == "general":
            results[key] = evaluate_general(model, tokenizer, records, **interval_options)
        elif part == "fluency":
            results[key] = evaluate_fluency(model, tokenizer, records, batch_size, **interval_options)
        else:
            results[key] = {"not_computed": f"RWKU's {dataset} scoring is not implemented here"
                                            f"{LM_EVAL_HINT[part]}"}
    return results


LM_EVAL_HINT = {"general": "; lm-eval's mmlu task measures it (--lm-eval-tasks, needs the Hub)",
                "reason": "; lm-eval's bbh_cot_fewshot tasks measure it (--lm-eval-tasks, needs the Hub)",
                "truthfulness": "; lm-eval's truthfulqa_mc1 task measures it (--lm-eval-tasks, needs the Hub)",
                "factuality": "; lm-eval's triviaqa task measures it (--lm-eval-tasks, needs the Hub)",
                "fluency": "; RWKU's 50 instructions are config utility_fluency on the Hub"}
CHOICES = "ABCD"


def general_prompt(record: dict) -> str:
    """RWKU's MMLU message (``eval_mmlu.py``): the subject's heading, the record's shots with
    their answers, ``Please following the previous examples and answer the given question.``, the
    question and its lettered options (the chat template and ``Answer:`` are added after)."""
    def question(sample: dict, answered: bool) -> str:
        options = "".join(f"\n{CHOICES[j]}. {c}" for j, c in enumerate(sample["choices"]))
        return f"Question: {sample['question']}{options}" + (f"\nAnswer: {CHOICES[sample['answer']]}\n\n"
                                                              if answered else "")
    subject = str(record.get("task", "")).replace("_", " ")
    shots = "".join(question(s, True) for s in record["examples"])
    return (f"The following are multiple choice questions (with answers) about {subject}.\n\n{shots}"
            f"Please following the previous examples and answer the given question.\n{question(record, False)}")


def chat_prompt(tokenizer, content: str, suffix: str = "") -> str:
    """``content`` as the user's message in the chat template (plain without one), then ``suffix``."""
    if getattr(tokenizer, "chat_template", None) is None:
        return content + suffix
    return tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                         add_generation_prompt=True) + suffix


@torch.no_grad()
def evaluate_general(model, tokenizer, records: list[dict], **interval_options) -> dict:
    """Accuracy on RWKU's MMLU: after the prompt and ``Answer:``, the letter whose token (the last
    of `` A``.. `` D`` encoded alone, as RWKU takes it) the model finds likeliest next."""
    letters = [tokenizer.encode(" " + c, add_special_tokens=False)[-1] for c in CHOICES]
    chat = getattr(tokenizer, "chat_template", None) is not None
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    examples = []
    for record in records:
        prompt = chat_prompt(tokenizer, general_prompt(record), "Answer:")
        ids = torch.tensor([tokenizer(prompt, add_special_tokens=not chat)["input_ids"]], device=device)
        next_logits = model(input_ids=ids).logits[0, -1]
        shown = len(record["choices"])
        chosen = int(next_logits[letters[:shown]].argmax())
        examples.append({"prompt": prompt, "correct": CHOICES[record["answer"]], "chosen": CHOICES[chosen]})
    model.train(was_training)
    hits = [float(e["chosen"] == e["correct"]) for e in examples]
    return {"accuracy": sum(hits) / len(hits), "interval": mean_interval(hits, **interval_options),
            "questions": len(hits), "examples": examples}


def fluency_words(text: str) -> tuple[list[str], str]:
    """``nltk.word_tokenize`` as RWKU's code calls it; without nltk's punkt data (offline), the same
    tokenizer on the text as one line. Returns the words and which of the two ran."""
    import nltk

    try:
        return nltk.word_tokenize(text), "nltk word_tokenize"
    except LookupError:
        return nltk.word_tokenize(text, preserve_line=True), "nltk word_tokenize, preserve_line (no punkt data)"


def evaluate_fluency(model, tokenizer, records: list[dict], batch_size: int = 16, max_new_tokens: int = 256,
                     **interval_options) -> dict:
    """RWKU's fluency: mean n-gram entropy (``metrics.text.fluency_entropy``) of greedy answers
    (256 new tokens) to ``Instruction: {instruction}\n`` in the chat template."""
    chat = getattr(tokenizer, "chat_template", None) is not None
    texts = [chat_prompt(tokenizer, f"Instruction: {r['instruction']}\n") for r in records]
    prompts = tokenizer(texts, add_special_tokens=not chat)["input_ids"]
    generations = generate_greedy(model, tokenizer, prompts, max_new_tokens, batch_size, progress=False)
    examples, tokenization = [], None
    for record, generation in zip(records, generations):
        words, tokenization = fluency_words(generation)
        examples.append({"instruction": record["instruction"], "generation": generation,
                         "entropy": fluency_entropy(words)})
    values = [e["entropy"] for e in examples]
    return {"entropy": sum(values) / len(values), "interval": mean_interval(values, **interval_options),
            "instructions": len(values), "tokenization": tokenization, "examples": examples}
