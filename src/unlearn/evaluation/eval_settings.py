"""The settings of ``unlearn eval``.

Kept apart from ``evaluation/run.py`` (torch, the metrics, the data) so that reading or checking
them, and ``unlearn eval --help``, import nothing heavy.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator

from unlearn.config import comma_list
from unlearn.metrics.uncertainty import CONFIDENCE, RESAMPLES
from unlearn.training.settings import DataSettings, ModelSettings

DEFAULT_NLI_MODEL = "sileod/deberta-v3-base-tasksource-nli"
NONE_WORDS = ("", "none", "null")  # a split or model setting given as one of these means "none"


class EvalSettings(DataSettings, ModelSettings):
    """Defaults read TOFU's evaluation splits, which the built-in benchmark also has."""

    forget: str | None = Field("forget10", description="forget split (its _perturbed version is read when "
                                                       "present); none: no question-answer forget split")
    retain_split: str | None = Field("retain_perturbed", description="retain split for model utility")
    real_authors: str | None = Field("real_authors_perturbed", description="real-authors utility split")
    world_facts: str | None = Field("world_facts_perturbed", description="world-facts utility split")
    holdout: str | None = Field("auto", description="non-member split for membership inference "
                                                    "(auto: holdoutNN matching forgetNN, if present)")
    choice_forget: list[str] = Field([], description="multiple-choice splits whose accuracy unlearning should "
                                                     "bring to chance (WMDP), scored as lm-eval does")
    choice_utility: list[str] = Field([], description="multiple-choice splits whose accuracy it should keep (MMLU "
                                                      "format)")
    choice_format: Literal["letters", "continuation"] = Field(
        "letters", description="multiple choice as lm-eval's WMDP/MMLU tasks (letters A-D after the options) or its "
                               "continuation tasks (each choice's own text)")
    lm_eval_tasks: list[str] = Field([], description="lm-eval-harness tasks run on the model (mmlu, wmdp_bio, ...; "
                                                     "needs the lm-eval extra)")
    lm_eval_include_path: str | None = Field(None, description="folder of extra lm-eval task YAML files (local tasks)")
    lm_eval_limit: PositiveFloat | None = Field(None, description="lm-eval: at most this many examples per task "
                                                                  "(below 1: a fraction)")
    lm_eval_num_fewshot: NonNegativeInt | None = Field(None, description="lm-eval: few-shot examples (default: each "
                                                                         "task's own)")
    muse: bool = Field(False, description="MUSE's VerbMem, KnowMem and PrivLeak on the benchmark's MUSE splits "
                                          "(verbmem.forget, knowmem.forget_qa, ..., privleak.holdout)")
    muse_retrained_auc: float | None = Field(None, gt=0.0, le=1.0, description="MUSE: the retrained model's "
                                             "Min-40% AUC for PrivLeak, in MUSE's orientation (News 0.4772, Books "
                                             "0.5393; default: from --retain-eval, if MUSE)")
    muse_verbmem_tokens: PositiveInt = Field(128, description="MUSE: VerbMem continuation length")
    muse_knowmem_tokens: PositiveInt = Field(32, description="MUSE: KnowMem answer length")
    muse_min_k: PositiveFloat = Field(0.4, le=1.0, description="MUSE: k of PrivLeak's Min-K% score")
    rwku: bool = Field(False, description="RWKU's probes (forget_level1-3, neighbor_level1-2) and membership sets "
                                          "(mia_forget, mia_retain), those the benchmark has")
    rwku_split_suffix: str = Field("", description="RWKU: appended to its split names (on the Hub: .test)")
    rwku_new_tokens: PositiveInt = Field(30, description="RWKU: longest probe answer")
    retain_eval: str | None = Field(None, description="eval folder of the retain-only model (for forget quality "
                                                      "and PrivLeak)")
    out: str = Field(description="output folder for the evaluation files")
    max_new_tokens: PositiveInt = Field(128, description="longest greedy answer")
    batch_size: PositiveInt = Field(16, description="sequences per scoring batch")
    generation_batch_size: PositiveInt = Field(64, description="questions per generation batch (each answer leaves "
                                                               "it at its EOS; on CPU a decoding step costs about "
                                                               "the same for 8 or 40 rows, so fewer batches are "
                                                               "faster)")
    generation_backend: Literal["hf", "vllm"] = Field(
        "hf", description="greedy answers by transformers (hf) or by vLLM (CUDA only, the vllm extra, a model "
                          "folder; scoring stays on transformers)")
    min_k: PositiveFloat = Field(0.2, le=1.0, description="fraction of lowest-probability tokens for Min-K% and "
                                                          "Min-K%++")
    confidence: float = Field(CONFIDENCE, gt=0.0, lt=1.0, description="level of the confidence intervals")
    bootstrap_resamples: int = Field(RESAMPLES, ge=100, description="bootstrap resamples per interval (seeded)")
    embedder: str | None = Field("packaged", description="sentence embedder for cosine similarity: 'packaged' "
                                                 "(all-MiniLM-L6-v2, offline), a folder or Hub id, or none = skip")
    nli_model: str | None = Field(DEFAULT_NLI_MODEL, description="NLI model for the entailment score (none = skip)")
    overwrite: bool = Field(False, description="reuse an output folder that holds another run")

    @field_validator("forget", "retain_split", "real_authors", "world_facts", "holdout", "retain_eval", "embedder",
                     "nli_model", "lm_eval_include_path", mode="before")
    @classmethod
    def _none_word(cls, value):
        return None if isinstance(value, str) and value.strip().lower() in NONE_WORDS else value

    _comma_lists = field_validator("choice_forget", "choice_utility", "lm_eval_tasks", mode="before")(comma_list)
