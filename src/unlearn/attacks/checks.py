"""What ``unlearn attack`` checks before the first model loads: an attack run evaluates the original
model for minutes before it reaches the unlearned one, so a bad input found then wastes that work
and leaves a half-written folder behind.

Checked: the forget split holds question-answer records; reused evaluations are finished and on
the same questions; every model (unlearned, original, control, and a manifest's parts) exists,
loads without remote code unless allowed, and holds no pickle-only weights unless allowed; the
probes' prompts (multiple-choice, logit lens), with a prompted model's context, fit the token budget.
"""

from __future__ import annotations

from pathlib import Path

from unlearn.data.formatting import PromptFormat, encode_pair
from unlearn.data.kinds import record_kind
from unlearn.errors import UserError
from unlearn.evaluation.run import SUMMARY_FILE
from unlearn.models import loading
from unlearn.models.unlearned import is_manifest_folder, part_source, read_manifest
from unlearn.report.collect import read_json

KIND_NAMES = {"text": "raw text", "choice": "multiple-choice questions", "continuation": "continuation records "
              "(prompt/gt)", "probe": "probe records (query/answer)"}
MAX_MANIFEST_DEPTH = 4


def check_forget(records: list[dict], settings) -> None:
    kind = record_kind(records[0]) if records else "qa"
    if kind != "qa":
        raise UserError(f"forget split '{settings.forget}' holds {KIND_NAMES.get(kind, kind)}; unlearn attack "
                        "measures question-answer records ('question' and 'answer')")


def reused_eval(folder: str, forget: list[dict], role: str) -> Path:
    """A finished evaluation of the same forget questions, in the same order."""
    path = Path(folder)
    flag = f"--{role}-eval"
    if not (path / SUMMARY_FILE).is_file() or not (path / "forget.json").is_file():
        raise UserError(f"{flag} {folder} holds no finished evaluation (summary.json and forget.json)")
    try:
        summary, split = read_json(path / SUMMARY_FILE), read_json(path / "forget.json")
        questions = [e["question"] for e in split["examples"]]
        summary["splits"]["forget"]["metrics"].items()
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UserError(f"{flag} {folder} is not an evaluation written by 'unlearn eval' (its summary.json or "
                        f"forget.json lacks {error}); evaluate again") from None
    if questions != [r["question"] for r in forget]:
        raise UserError(f"{flag} {folder} was made on other forget questions; evaluate with the same --data "
                        "and --forget")
    return path


def check_inputs(settings, measured: list, forget: list[dict]) -> None:
    """Every model and every probe prompt, before any model loads."""
    sources = {"--model": settings.model, "--original": settings.original, "--control": settings.control}
    for flag, source in sources.items():
        if not source:
            continue
        try:
            tokenizer, context = _checked_model(flag, source, settings, 0)
        except UserError as error:
            raise UserError(f"{flag}: {error}") from None
        _check_probe_lengths(flag, source, tokenizer, context, measured, forget, settings)


def _checked_model(flag: str, source: str, settings, depth: int):
    """The tokenizer a loaded ``source`` would use (a prompted manifest's context in its template)
    and its context window; refuses what loading would refuse."""
    resolved = loading.resolve_source(source)
    if is_manifest_folder(resolved):
        if depth >= MAX_MANIFEST_DEPTH:
            raise UserError(f"{resolved}: manifests nest more than {MAX_MANIFEST_DEPTH} deep")
        manifest = read_manifest(resolved)
        tokenizer, window = _checked_model(flag, part_source(resolved, manifest["parts"]["main"]), settings, depth + 1)
        if "second" in manifest["parts"]:
            _checked_model(flag, part_source(resolved, manifest["parts"]["second"]), settings, depth + 1)
        if manifest["kind"] == "prompted" and manifest.get("context") and getattr(tokenizer, "chat_template", None):
            from unlearn.models.prompted import context_chat_template

            tokenizer.chat_template = context_chat_template(tokenizer.chat_template, manifest["context"])
        return tokenizer, window
    from transformers import AutoConfig

    loading._refuse_pickle_only(resolved, settings.allow_pickle)
    adapter = Path(resolved) / "adapter_config.json"
    if adapter.is_file() and not (Path(resolved) / "config.json").is_file():  # a LoRA adapter: check its base
        base = read_json(adapter).get("base_model_name_or_path") or ""
        _, window = _checked_model(flag, base, settings, depth + 1)
    else:
        config = loading._hf_call(AutoConfig.from_pretrained, resolved, trust_remote_code=settings.trust_remote_code)
        window = getattr(config, "max_position_embeddings", None)
    return loading.load_tokenizer(resolved, settings.trust_remote_code), window


def _check_probe_lengths(flag: str, source: str, tokenizer, window: int | None, measured: list,
                         forget: list[dict], settings) -> None:
    """The probes read the answer's first token after the prompt (each attack says which prompts,
    ``Attack.prompts``): a prompt that fills the budget leaves nothing to read."""
    budget = min(settings.max_length, window or settings.max_length)
    fmt = PromptFormat.for_tokenizer(tokenizer, settings.prompt_template, settings.plain_template)
    probes = [(m.name, i, prompt, answer) for m in measured if m.attack.prompts
              for i, (prompt, answer) in enumerate(m.attack.prompts(forget, m.args, settings.seed))]
    for attack, index, prompt, answer in probes:
        encoded = encode_pair(tokenizer, fmt, prompt, answer, 10 ** 9)
        prompt_tokens = sum(label == -100 for label in encoded["labels"])
        if prompt_tokens + 1 > budget:
            raise UserError(f"{attack}: forget question {index + 1}'s prompt for {flag} {source} is {prompt_tokens} "
                            f"tokens, and its answer must fit within {budget} (max_length {settings.max_length}"
                            f"{f', context {window}' if window else ''}); raise --max-length or leave out {attack}")
