"""One saved form for every unlearned model, and one loaded object.

Most methods change weights: their result is a plain Hugging Face folder (or a LoRA adapter).
The others produce something a weights folder cannot hold; they save a folder with a manifest,
``unlearned_model.json``, naming its kind and its parts:

- ``logit_combination``: two models whose logits are combined (WHP at decoding time, ULD);
  ``parts.main`` and ``parts.second``, ``formula`` and ``alpha``;
- ``prompted``: a model behind a context (system prompt, in-context examples) and an optional
  output filter (in-context unlearning, guardrails); ``parts.main``, ``context``, ``output_filter``.

A part is a folder inside the manifest's folder, or a source (a local folder, a Hub id) loaded as
``--model`` would be, so a method that changes no weight does not copy them. ``load_model`` turns
a manifest folder into one ``torch.nn.Module`` that scores, generates, fine-tunes and saves like a
causal LM (``CombinedLogitsModel``, ``GuardedModel``), so evaluation, attacks, reports and
scenarios use it unchanged. ``inference_cost`` says what answering costs.
"""

from __future__ import annotations

import json
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
    except (OSError, json.JSONDecodeError) as error:
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
    return manifest


def part_source(folder: str | Path, part: str) -> str:
    """A part inside the folder, else the part as a source of its own."""
    inside = Path(folder) / part
    return str(inside) if not Path(part).is_absolute() and inside.is_dir() else part


def write_manifest(out: str | Path, kind: str, method: str, parts: dict, inference_cost: str, **spec) -> dict:
    manifest = {"format_version": FORMAT_VERSION, "kind": kind, "method": method, "parts": parts,
                "inference_cost": inference_cost, **spec}
    atomic_write_json(Path(out) / MANIFEST, manifest)
    return manifest


def load_manifest_model(folder: str, load_part) -> tuple[object, object]:
    """``(model, tokenizer)`` for a manifest folder; ``load_part(source)`` loads one plain part."""
    from unlearn.models.combined import CombinedLogitsModel
    from unlearn.models.prompted import GuardedModel, OutputFilter, context_chat_template

    manifest = read_manifest(folder)
    main, tokenizer = load_part(part_source(folder, manifest["parts"]["main"]))
    if manifest["kind"] == "logit_combination":
        second, _ = load_part(part_source(folder, manifest["parts"]["second"]))
        try:
            model = CombinedLogitsModel(main, second, manifest.get("formula"), manifest.get("alpha", 1.0))
        except ValueError as error:
            raise UserError(f"{Path(folder) / MANIFEST}: {error}") from None
    else:
        context = manifest.get("context") or []
        base_template = getattr(tokenizer, "chat_template", None)
        if context:
            if not getattr(tokenizer, "chat_template", None):
                raise UserError(f"{folder}: a prompted model needs a tokenizer with a chat template")
            tokenizer.chat_template = context_chat_template(tokenizer.chat_template, context)
        spec = manifest.get("output_filter")
        output_filter = OutputFilter(**spec) if spec else None
        model = GuardedModel(main, tokenizer, output_filter, base_template)
    model.manifest = manifest
    return model, tokenizer


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
