"""``unlearn demo``: the fictitious scenario on the embedded defaults, sized for 2 CPU cores.

20 invented people with 2 facts each (forget10 = 2 people), the packaged SmolLM2-135M-Instruct,
ME+GD and IDK+AP (the seed paper's methods) next to the GA+GD baseline. Settings were chosen
by measurement on this benchmark (see BENCHMARKS.md). ``quick`` shrinks everything so that
the whole path runs in a couple of minutes (CI); its numbers mean nothing.
"""

from __future__ import annotations

from unlearn.scenarios.experiment import ExperimentSettings

DEMO_METHODS = ["ME+GD", "IDK+AP", "GA+GD"]
# LoRA (rank 32) merged into the weights: memorizes the 40 facts in 10 epochs (fact accuracy
# 1.0 at 12) and keeps more of the model's general knowledge than full fine-tuning at 3e-4,
# which taught it to answer "France was born in Valparaíso" (measured; see BENCHMARKS.md).
FINETUNE = {"lora": True, "lora_r": 32, "lora_alpha": 64, "merge_lora": True, "learning_rate": 1e-3,
            "epochs": 10, "warmup_epochs": 0.5, "save_checkpoints": False, "check_facts": 0}
# lr 2e-4 from benchmarks/demo_sweep.py: ME+GD forgets every fact and keeps utility and the retain facts;
# at 3e-4 IDK+AP lost half its retain facts and fell below IDK+GD's utility, at 1e-4 ME+GD needs 20 epochs.
UNLEARN = {"epochs": 5, "batch_size": 4, "gradient_accumulation_steps": 1, "warmup_epochs": 1,
           "learning_rate": 2e-4, "save_checkpoints": False}


def demo_settings(out: str = "runs/demo", quick: bool = False, threads: int | None = None) -> ExperimentSettings:
    if quick:
        return ExperimentSettings(
            name="demo-quick", out=out, people=10, qa_per_person=1, utility_records=4, threads=threads,
            methods=DEMO_METHODS, finetune={**FINETUNE, "epochs": 1}, unlearn={**UNLEARN, "epochs": 1},
            eval={"max_new_tokens": 8}, report_examples=2)
    return ExperimentSettings(
        name="demo", out=out, people=20, qa_per_person=2, forget="forget50", retain="retain50",
        utility_records=15, threads=threads, methods=DEMO_METHODS, finetune=FINETUNE, unlearn=UNLEARN,
        eval={"max_new_tokens": 32})
