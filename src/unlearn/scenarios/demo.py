"""``unlearn demo``: the fictitious scenario on the embedded defaults, sized for 2 CPU cores.

20 invented people with 2 facts each (forget10 = 2 people), the packaged SmolLM2-135M-Instruct,
ME+GD and IDK+AP (the seed paper's methods) next to the GA+GD baseline. Settings were chosen
by measurement on this benchmark (see BENCHMARKS.md). ``quick`` shrinks everything so that
the whole path runs in a couple of minutes (CI); its numbers mean nothing.
"""

from __future__ import annotations

from unlearn.scenarios.experiment import ExperimentSettings

DEMO_METHODS = ["ME+GD", "IDK+AP", "GA+GD"]


def demo_settings(out: str = "runs/demo", quick: bool = False, threads: int | None = None) -> ExperimentSettings:
    if quick:
        return ExperimentSettings(
            name="demo-quick", out=out, people=10, qa_per_person=1, utility_records=4, threads=threads,
            methods=DEMO_METHODS, finetune={"epochs": 1, "check_facts": 0},
            unlearn={"epochs": 1, "batch_size": 4, "gradient_accumulation_steps": 1, "warmup_epochs": 0},
            eval={"max_new_tokens": 8}, report_examples=2)
    return ExperimentSettings(
        name="demo", out=out, people=20, qa_per_person=2, utility_records=20, threads=threads,
        methods=DEMO_METHODS, finetune={"check_facts": 0},
        unlearn={"epochs": 5, "batch_size": 4, "gradient_accumulation_steps": 1, "warmup_epochs": 1,
                 "learning_rate": 5e-5},
        eval={"max_new_tokens": 48})
