"""The fictitious benchmark: TOFU's layout (Maini et al. 2024) on invented people, evaluated by the
question-answer splits every ``unlearn eval`` reads (forget, retain, real authors, world facts, holdout).

One registration (``BENCHMARK``, registered by ``builtin.py``): its record kind, its Hub layout and
the built-in generator (``unlearn data fictitious``, ``data/fictitious.py``).
"""

from __future__ import annotations

from unlearn.benchmarks.registry import BenchmarkSpec, Generator, Option


def parse_percents(value) -> tuple[int, ...]:
    """``"1,5,10"`` (the flag's text), an integer or a sequence of them, as a tuple of percentages."""
    if isinstance(value, (int, str)):
        value = [value]
    try:
        return tuple(int(part) for item in value for part in str(item).split(","))
    except ValueError:
        raise ValueError(f"--forget-percents must be integers separated by commas, got '{value[0]}'") from None


def generate(seed: int = 0, people: int = 20, qa_per_person: int = 5, forget_percents="1,5,10") -> dict:
    from unlearn.data.fictitious import generate_fictitious

    return generate_fictitious(people, qa_per_person, seed, parse_percents(forget_percents))


BENCHMARK = BenchmarkSpec(
    name="fictitious", description="TOFU's layout on invented people: question-answer pairs, forget/retain/holdout "
                                   "splits (Maini et al. 2024)",
    kinds=("qa",), hub="locuslab/TOFU: a config per split, each split 'train' (forget10, retain90, "
                       "forget10_perturbed, ...)",
    generator=Generator(
        summary="TOFU-format benchmark of invented people",
        description="Write a TOFU-format benchmark of invented people (deterministic for a seed).",
        generate=generate,
        options=(Option("people", 20, "invented people in 'full' (default: 20; TOFU has 200)"),
                 Option("qa_per_person", 5, "questions per person, up to 22 (default: 5; TOFU has 20)"),
                 Option("forget_percents", "1,5,10", "forgetNN splits to cut, each with its retain and holdout "
                        "splits, percentages of the people from 1 to 50 (default: 1,5,10, as TOFU)", str,
                        "P,P,..."))),
    evaluation="the question-answer splits (--forget, --retain-split, --real-authors, --world-facts, --holdout)")
