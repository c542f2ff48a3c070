"""One saved form for every unlearned model, and one loaded object.

Most methods change weights: their result is a plain Hugging Face folder (or a LoRA adapter).
The others produce something a weights folder cannot hold; they save a folder with a manifest,
``unlearned_model.json``, naming its kind and its parts:

- ``logit_combination``: two models whose logits are combined (WHP at decoding time, ULD);
  ``parts.main`` and ``parts.second``, ``formula``, ``alpha`` and ULD's ``top_filter`` (0 if absent);
- ``prompted``: a model behind a context (system prompt, in-context examples) and an optional
  output filter (in-context unlearning, guardrails); ``parts.main``, ``context``, ``output_filter``,
  and ``user_frame`` (``prefix``/``suffix`` text around the first user message: ICUL's examples).

A part is a folder inside the manifest's folder, or a source (a local folder, a Hub id) loaded as
``--model`` would be, so a method that changes no weight does not copy them. ``load_model`` turns
a manifest folder into one ``torch.nn.Module`` that scores, generates, fine-tunes and saves like a
causal LM (``CombinedLogitsModel``, ``GuardedModel``), so evaluation, attacks, reports and
scenarios use it unchanged. ``inference_cost`` says what answering costs.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

from unlearn.errors import UserError
from unlearn.files import atomic_write_json

MANIFEST = "unlearned_model.json"
KINDS = ("logit_combination", "prompted")
FORMAT_VERSION = 1


def is_manifest_folder(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def read_manifest(folder: str | Path) -> dict:
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not valid UTF-8 (byte {error.start + 1}); a manifest is UTF-8 JSON") from None
    except (OSError, ValueError, RecursionError) as error:
        raise UserError(f"{path}: not a readable unlearned-model manifest ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("kind") not in KINDS:
        raise UserError(f"{path}: 'kind' must be one of {', '.join(KINDS)}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path}: format_version {manifest.get('format_version')!r} is not {FORMAT_VERSION}; "
                        "it was written by another version of llm-unlearn")
    parts = manifest.get("parts")
    needed = ("main", "second") if manifest["kind"] == "logit_combination" else ("main",)
    if not isinstance(parts, dict) or any(not isinstance(parts.get(p), str) for p in needed):
        raise UserError(f"{path}: 'parts' must name {' and '.join(needed)}")
    problem = _combination_problem(manifest) if manifest["kind"] == "logit_combination" else _prompt_problem(manifest)
    if problem:
        raise UserError(f"{path}: {problem}")
    return manifest


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _combination_problem(manifest: dict) -> str | None:
    alpha = manifest.get("alpha", 1.0)
    if not _is_number(alpha) or not math.isfinite(alpha):
        return f"'alpha' must be a finite number, got {json.dumps(alpha)}"
    return None


def _prompt_problem(manifest: dict) -> str | None:
    """What is wrong with a prompted manifest's context, frame or output filter (None if nothing)."""
    from unlearn.models.prompted import OutputFilter

    context = manifest.get("context") or []
    if not isinstance(context, list):
        return f"'context' must be a list of turns ({{\"role\": ..., \"content\": ...}}), got {type(context).__name__}"
    for i, turn in enumerate(context):
        if not isinstance(turn, dict) or not all(isinstance(turn.get(k), str) for k in ("role", "content")):
            return f"context turn {i} must have a 'role' and a 'content', both text"
    frame = manifest.get("user_frame")
    if frame is not None and (not isinstance(frame, dict) or set(frame) - {"prefix", "suffix"}
                              or not all(isinstance(v, str) for v in frame.values())):
        return "'user_frame' must hold text 'prefix' and/or 'suffix'"
    spec = manifest.get("output_filter")
    if not spec:
        return None
    if not isinstance(spec, dict):
        return "'output_filter' must be an object"
    accepted = inspect.signature(OutputFilter).parameters
    unknown = sorted(set(spec) - set(accepted))
    if unknown:
        return f"output_filter: unknown key '{unknown[0]}' (accepted: {', '.join(accepted)})"
    missing = [k for k, p in accepted.items() if p.default is inspect.Parameter.empty and k not in spec]
    if missing:
        return f"output_filter: '{missing[0]}' is missing"
    if not all(isinstance(spec[k], list) and all(isinstance(v, str) for v in spec[k]) for k in ("keywords", "answers")):
        return "output_filter: 'keywords' and 'answers' must be lists of text"
    if not _is_number(spec["threshold"]) or math.isnan(spec["threshold"]) or not isinstance(spec["refusal"], str):
        return "output_filter: 'threshold' must be a number and 'refusal' text"
    return None


def part_source(folder: str | Path, part: str) -> str:
    """Where a part is: an absolute path; a relative path, read from the manifest's own folder (so
    the folder can be moved); else a Hub id (``owner/name``) or the packaged model's alias. A part
    that is none of these is refused at once, naming where the manifest points."""
    from unlearn.models.gguf import DEFAULT_MODEL_ALIASES

    path = Path(part).expanduser()
    inside = path if path.is_absolute() else Path(folder) / path
    if inside.exists() or part in DEFAULT_MODEL_ALIASES:
        return str(inside) if inside.exists() else part
    hub_id = not path.is_absolute() and not part.startswith((".", "~")) and part.count("/") == 1
    if hub_id and not part.endswith("/"):
        return part
    raise UserError(f"{Path(folder) / MANIFEST}: part '{part}' not found: {inside} does not exist (a relative part "
                    "is read from the manifest's folder; a Hub id is written owner/name)")


def write_manifest(out: str | Path, kind: str, method: str, parts: dict, inference_cost: str, **spec) -> dict:
    manifest = {"format_version": FORMAT_VERSION, "kind": kind, "method": method, "parts": parts,
                "inference_cost": inference_cost, **spec}
    atomic_write_json(Path(out) / MANIFEST, manifest)
    return manifest


def load_manifest_model(folder: str, load_part) -> tuple[object, object]:
    """``(model, tokenizer)`` for a manifest folder; ``load_part(source)`` loads one plain part."""
    manifest = read_manifest(folder)
    here = Path(folder).resolve()
    if here in _loading:
        chain = " -> ".join(str(p) for p in [*_loading[_loading.index(here):], here])
        raise UserError(f"{here / MANIFEST}: its parts lead back to itself ({chain}); a part must be another model")
    _loading.append(here)
    try:
        return _load_parts(folder, manifest, load_part)
    finally:
        _loading.pop()


_loading: list[Path] = []  # the manifest folders being loaded, outermost first (a part may be a manifest)


def _load_parts(folder: str, manifest: dict, load_part) -> tuple[object, object]:
    from unlearn.models.combined import CombinedLogitsModel
    from unlearn.models.prompted import GuardedModel, OutputFilter, context_chat_template

    main, tokenizer = load_part(part_source(folder, manifest["parts"]["main"]))
    if manifest["kind"] == "logit_combination":
        second, _ = load_part(part_source(folder, manifest["parts"]["second"]))
        try:
            model = CombinedLogitsModel(main, second, manifest.get("formula"), manifest.get("alpha", 1.0),
                                        manifest.get("top_filter", 0.0))
        except ValueError as error:
            raise UserError(f"{Path(folder) / MANIFEST}: {error}") from None
    else:
        context, frame = manifest.get("context") or [], manifest.get("user_frame")
        base_template = getattr(tokenizer, "chat_template", None)
        if context or frame:
            if not getattr(tokenizer, "chat_template", None):
                raise UserError(f"{folder}: a prompted model needs a tokenizer with a chat template")
            tokenizer.chat_template = context_chat_template(tokenizer.chat_template, context, frame)
            _check_context_fits(folder, tokenizer, main)
        spec = manifest.get("output_filter")
        output_filter = OutputFilter(**spec) if spec else None
        model = GuardedModel(main, tokenizer, output_filter, base_template)
    model.manifest = manifest
    return model, tokenizer


def _check_context_fits(folder, tokenizer, model) -> None:
    """A context that fills the model's window leaves no room for a question (and an unbounded
    prompt would be scored at any length): refused with its size."""
    window = getattr(model.config, "max_position_embeddings", None)
    if not window:
        return
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": ""}], tokenize=False,
                                           add_generation_prompt=True)
    tokens = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    if tokens >= window:
        raise UserError(f"{Path(folder) / MANIFEST}: the context is {tokens} tokens, and the model's window is "
                        f"{window}: it leaves no room for a question; shorten the context")


def is_composite(model) -> bool:
    return hasattr(model, "trainable_part") and hasattr(model, "manifest")


def with_trainable(model, change):
    """``change`` applied to the part of ``model`` that trains (the model itself if it is plain); the
    other part of a logit combination is frozen."""
    if not is_composite(model):
        return change(model)
    if model.manifest["kind"] == "logit_combination":
        model.main = change(model.main)
        model.second.requires_grad_(False)
    else:
        model.inner = change(model.inner)
    return model


def save_composite(model, tokenizer, staging: Path) -> None:
    """Write a manifest model: each trained part into its own folder, the rest as the manifest says."""
    manifest = dict(model.manifest)
    parts = dict(manifest["parts"])
    main = model.trainable_part()
    main.save_pretrained(staging / "main", safe_serialization=True)
    template = tokenizer.chat_template
    if manifest["kind"] == "prompted":  # the context lives in the manifest, not in the saved template
        tokenizer.chat_template = model.base_chat_template
    try:
        tokenizer.save_pretrained(staging / "main")
    finally:
        tokenizer.chat_template = template
    parts["main"] = "main"
    if manifest["kind"] == "logit_combination":
        model.second.save_pretrained(staging / "second", safe_serialization=True)
        tokenizer.save_pretrained(staging / "second")
        parts["second"] = "second"
    manifest.update(parts=parts)
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
