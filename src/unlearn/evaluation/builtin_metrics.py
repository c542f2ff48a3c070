"""The metrics that ship, registered once each (``metric_registry``); a new metric is one more
``register_metric`` call here or in a module of its own.

Each per-example term reads the values the fused pass stored on the example (``answer_probability``,
``truth_ratio``, ``generation``, ``rougeL_recall``, ``cosine_similarity``, ``entailed``,
``fact_in_generation``, ...); the formulas themselves live in ``unlearn.metrics``, imported
when a term is first computed so that listing metrics stays light.
"""

from __future__ import annotations

import math

from unlearn.evaluation.metric_registry import HIGHER, LOWER, ModelMetric, SplitMetric, register_metric

nan = math.nan
MIA_ATTACK_LABELS = {"loss": "LOSS", "zlib": "zlib", "min_k": "Min-K%", "min_k_plus_plus": "Min-K%++"}


def _probability(values: dict, split) -> float:
    """Forget, retain: ``exp(-nll)``; real authors, world facts: the share among the wrong options."""
    return values.get("normalized_probability" if split.probability_form == "normalized" else "answer_probability",
                      nan)


def _truth_ratio(values: dict, split) -> float:
    """Forget: ``min(R, 1/R)``; other splits: ``max(0, 1 - 1/R)``; a non-finite ratio is kept as it is."""
    ratio = values.get("truth_ratio", nan)
    if not math.isfinite(ratio):
        return ratio
    from unlearn.metrics.likelihood import truth_ratio_terms

    return float(truth_ratio_terms([ratio], split.truth_ratio_form)[0])


def _entailment(values: dict, split) -> float:
    """1 if the NLI model labels the pair entailment and ROUGE-L recall is at least 0.1, else 0."""
    if "entailed" not in values:
        return nan
    from unlearn.metrics.semantic import entailment_terms

    return entailment_terms([values["entailed"]], [values["rougeL_recall"]])[0]


def _fact(values: dict, split) -> float:
    return float(values["fact_in_generation"]) if "fact_in_generation" in values else nan


for metric in [
    SplitMetric("rougeL_recall", "ROUGE-L recall", "rouge_score ROUGE-L recall of the answer by the greedy generation, "
                "stemmer on", ("generation",), lambda v, s: v["rougeL_recall"],
                headline=("forget", "retain"), plotted=("forget", "retain"), paired=("forget", "retain"),
                continual=True),
    SplitMetric("rouge1_recall", "ROUGE-1 recall", "rouge_score ROUGE-1 recall of the answer by the greedy "
                "generation, stemmer on", ("generation",), lambda v, s: v["rouge1_recall"]),
    SplitMetric("probability", "probability", "forget, retain: exp(-nll(answer)); real authors, world facts: "
                "p(answer) / (p(answer) + sum p(wrong))", ("likelihood",), _probability,
                missing="no valid example with options", paired=("forget",), continual=True),
    SplitMetric("truth_ratio", "truth ratio", "R = exp(mean nll(wrong) - nll(paraphrase)); forget: min(R, 1/R) "
                "(1 = cannot tell right from wrong); other splits: max(0, 1 - 1/R)", ("likelihood", "perturbed"),
                _truth_ratio, missing="records carry no perturbed answers", forget_direction=HIGHER, continual=True),
    SplitMetric("token_entropy", "token entropy", "normalized unigram entropy of the generation's tokens (low = "
                "repetitive, collapsed answers)", ("generation",), lambda v, s: v["token_entropy"],
                forget_direction=HIGHER, headline=("forget",), plotted=("forget",)),
    SplitMetric("cosine_similarity", "cosine similarity", "max(0, cos) of sentence embeddings of the generation and "
                "the answer (original_answer where a record has one)", ("generation", "embedder"),
                lambda v, s: v.get("cosine_similarity", nan), headline=("forget",)),
    SplitMetric("entailment_score", "entailment score", "share of pairs the NLI model labels entailment (forget: "
                "generation entails answer; others: answer entails generation); ROUGE-L recall < 0.1 counts as not "
                "entailed", ("generation", "nli"), _entailment, headline=("forget",)),
    SplitMetric("fact_accuracy", "fact accuracy", "share of generations containing the record's fact",
                ("generation", "fact"), _fact, missing="records carry no 'fact' field", fact_based=True,
                headline=("forget", "retain"), plotted=("forget", "retain"), paired=("forget", "retain"),
                continual=True),
    SplitMetric("exact_memorization", "exact memorization", "share of answer tokens the teacher-forced argmax "
                "predicts", ("likelihood",), lambda v, s: v.get("exact_memorization", nan)),
    SplitMetric("extraction_strength", "extraction strength", "1 - k/n for the shortest answer prefix k after which "
                "the teacher-forced argmax recovers the rest", ("likelihood",),
                lambda v, s: v.get("extraction_strength", nan)),
    SplitMetric("refusal_rate", "refusal rate", "share of generations that open with a refusal (a packaged phrase or "
                "opening such as \"I'm sorry\" or \"I can't\", or a line of --refusals): targeted unlearning should "
                "refuse on forget questions and nowhere else", ("generation",),
                lambda v, s: float(v["refuses"]) if "refuses" in v else nan,
                forget_direction=HIGHER, direction=LOWER),
    ModelMetric("model_utility_tofu", "model utility (TOFU, 9 values)", "harmonic mean of ROUGE-L recall, "
                "probability and truth ratio on retain, real authors and world facts"),
    ModelMetric("model_utility_seed_paper", "model utility (seed paper, 18 values)", "the same with token entropy, "
                "cosine similarity and entailment score added"),
    ModelMetric("forget_efficacy", "forget efficacy", "1 - mean(forget ROUGE-L, probability, 1 - truth ratio, "
                "cosine similarity, entailment score)"),
    ModelMetric("forget_quality", "forget quality (KS p-value)", "KS two-sample p-value of the forget truth ratios "
                "of this model against the retain model's (--retain-eval)"),
    *[ModelMetric(f"mia_auc_{attack}", f"MIA AUC, {label}", f"membership-inference AUC of the {label} score: "
                  "P(forget score < holdout score); 1 = the forget set stands out, 0.5 = chance", "→0.5")
      for attack, label in MIA_ATTACK_LABELS.items()],
    *[ModelMetric(f"priv_leak_{attack}", f"PrivLeak %, {label}", f"MUSE's PrivLeak of the {label} score, in percent, "
                  "against the retain model's AUC; 0 = like a model that never saw the data", "→0")
      for attack, label in MIA_ATTACK_LABELS.items()],
]:
    register_metric(metric)
