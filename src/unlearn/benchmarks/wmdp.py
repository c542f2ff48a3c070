"""WMDP (Li et al. 2024): hazardous knowledge unlearned from corpora of raw text, measured by
multiple choice, with MMLU-style questions as utility.

One registration (``BENCHMARK``, registered by ``builtin.py``): its record kinds, its Hub layout and
the built-in generator (``unlearn data wmdp``, ``data/wmdp.py``); its questions are scored by the
multiple-choice suite (``choice.py``).
"""

from __future__ import annotations

from unlearn.benchmarks.registry import BenchmarkSpec, Generator, Option


def generate(seed: int = 0, entities: int = 20) -> dict[str, list[dict]]:
    from unlearn.data.wmdp import generate_wmdp

    return generate_wmdp(entities, entities, seed)


BENCHMARK = BenchmarkSpec(
    name="wmdp", description="WMDP: hazardous knowledge unlearned from raw text, measured by multiple choice "
                             "(Li et al. 2024)",
    kinds=("text", "choice"),
    hub="cais/wmdp (questions: wmdp-bio.test, wmdp-cyber.test, ...) and cais/wmdp-corpora (bio-retain-corpus, "
        "cyber-forget-corpus, ...): splits named CONFIG.SPLIT",
    generator=Generator(
        summary="WMDP-style benchmark on invented facts",
        description="Write a WMDP-style benchmark: forget and retain corpora of raw text about invented viruses and "
                    "minerals, and four-option questions on every fact (deterministic for a seed).",
        generate=generate,
        options=(Option("entities", 20, "invented viruses (forget) and minerals (utility), 1 to 96 (default: 20)"),)),
    evaluation="--suites choice --choice.forget forget_choice --choice.utility retain_choice")
