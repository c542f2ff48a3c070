"""``unlearn demo``: the fictitious scenario on the embedded defaults, sized for 2 CPU cores.

20 invented people with 2 facts each; half of them are forgotten (forget50: 20 questions, and 20
retain questions), enough for forget quality's KS test and for intervals that separate the
models. The packaged SmolLM2-135M-Instruct, unlearned with ME+GD and IDK+AP (the seed paper's
untargeted and targeted methods). Settings were chosen by measurement on this benchmark (see
BENCHMARKS.md). ``quick`` shrinks everything so that the whole path runs in a couple of minutes
(CI); its numbers mean nothing.
"""

from __future__ import annotations

from unlearn.scenarios.experiment import ExperimentSettings

# learning rates from benchmarks/demo_sweep.py (BENCHMARKS.md): ME+GD at 3e-4 left forget quality at 0.004,
# at 5e-4 it reached 0.17; IDK+AP forgets every fact at 3e-4.
DEMO_METHODS = [{"method": "ME+GD", "learning_rate": 5e-4}, "IDK+AP"]
# LoRA (rank 32) merged into the weights: memorizes the 40 facts in 10 epochs (fact accuracy
# 1.0 at 12) and keeps more of the model's general knowledge than full fine-tuning at 3e-4,
# which taught it to answer "France was born in Valparaíso" (measured; see BENCHMARKS.md).
FINETUNE = {"lora": True, "lora_r": 32, "lora_alpha": 64, "merge_lora": True, "learning_rate": 1e-3,
            "epochs": 10, "warmup_epochs": 0.5, "save_checkpoints": False, "check_facts": 0}
UNLEARN = {"epochs": 5, "batch_size": 4, "gradient_accumulation_steps": 1, "warmup_epochs": 1,
           "learning_rate": 3e-4, "save_checkpoints": False}


def demo_settings(out: str = "runs/demo", quick: bool = False, threads: int | None = None) -> ExperimentSettings:
    if quick:
        return ExperimentSettings(
            name="demo-quick", out=out, scenario_args={"people": 10, "qa_per_person": 1, "utility_records": 4},
            threads=threads, methods=DEMO_METHODS, finetune={**FINETUNE, "epochs": 1}, unlearn={**UNLEARN, "epochs": 1},
            eval={"max_new_tokens": 8}, report_examples=2)
    return ExperimentSettings(
        name="demo", out=out, scenario_args={"people": 20, "qa_per_person": 2, "utility_records": 15},
        forget="forget50", retain="retain50", threads=threads, methods=DEMO_METHODS, finetune=FINETUNE,
        unlearn=UNLEARN, eval={"max_new_tokens": 32})
