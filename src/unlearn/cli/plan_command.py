"""``unlearn plan`` (and ``unlearn forget ... --plan``): the predicted peak memory of an unlearning run,
part by part, from the model's config alone, and the settings that would fit where it does not."""

from __future__ import annotations

import json
from copy import copy
from dataclasses import asdict

from pydantic import BaseModel, create_model

from unlearn.config import add_settings_flags, read_yaml, validate_settings
from unlearn.errors import UserError

GB = 1e9
# the ForgetSettings fields the plan reads; `unlearn plan` takes exactly these as flags
PLAN_FIELDS = ("model", "method", "batch_size", "gradient_accumulation_steps", "max_length", "dtype", "device",
               "lora", "lora_r", "gradient_checkpointing", "optim", "loss_chunk_tokens", "trust_remote_code")
PART_NOTES = {"runtime": "Python + torch + libraries before the model (measured now)",
              "weights": "all weights in the run's dtype (+ the LoRA adapter in fp32)",
              "gradients": "of the trained weights",
              "optimizer": "AdamW's two moments of the trained weights",
              "reference": "frozen copy of the model for the method's reference",
              "activations": "kept for the backward pass, the streams alive at once",
              "logits": "vocabulary projection of one loss chunk and its gradients",
              "allocator": "CPU: freed memory malloc keeps (fitted share of the activations)"}


def register(commands) -> None:
    parser = commands.add_parser(
        "plan", help="predict the peak memory of an unlearning run, without loading the model",
        description="Predict the peak memory of `unlearn forget` (weights, gradients, optimizer, reference, "
                    "activations, logits) from the model's config alone, and name the settings that would fit "
                    "where it does not. Worst case: every sequence max-length tokens long. Settings come from an "
                    "`unlearn forget` --config YAML and flags (flags win); --dtype also takes fp32, bf16, fp16.")
    add_settings_flags(parser, plan_settings())
    add_plan_flags(parser, in_forget=False)
    parser.set_defaults(handler=run)


def plan_settings() -> type[BaseModel]:
    """The forget settings the plan reads, as a settings class of their own: its flags are `unlearn plan`'s,
    with the same help, metavars and defaults as `unlearn forget`'s."""
    from unlearn.training.forget_settings import ForgetSettings

    fields = ForgetSettings.model_fields
    return create_model("PlanSettings", **{name: (fields[name].annotation, copy(fields[name])) for name in PLAN_FIELDS})


def add_plan_flags(parser, in_forget: bool) -> None:
    if in_forget:
        parser.add_argument("--plan", action="store_true",
                            help="print the predicted peak memory (see `unlearn plan`) and exit without training")
    parser.add_argument("--device-memory", metavar="SIZE",
                        help="memory of the device, e.g. 40GB or 80GiB (default: the GPU's, or this machine's RAM)")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")


def run(args) -> int:
    values = {name: getattr(args, name) for name in PLAN_FIELDS if getattr(args, name, None) is not None}
    print(render(make_plan(values, args.config, args.device_memory), args.json))
    return 0


def run_from_forget(args) -> int:
    """``unlearn forget ... --plan``: the same plan from the forget command's settings."""
    from unlearn.training.forget_settings import ForgetSettings

    values = {name: getattr(args, name) for name in ForgetSettings.model_fields if hasattr(args, name)}
    print(render(make_plan(values, getattr(args, "config", None), args.device_memory), args.json))
    return 0


def make_plan(values: dict, config: str | None, device_memory: str | None) -> dict:
    """The plan of a run, its suggestions and what it was made from, as a JSON-ready dict."""
    from unlearn.training.forget_settings import ForgetSettings
    from unlearn.training.memory_plan import DTYPE_NAMES, PlanInputs, parse_memory, plan_memory, suggestions
    from unlearn.training.plan_sources import device_memory as total_memory
    from unlearn.training.plan_sources import load_shape, method_needs, runtime_baseline

    merged = {**(read_yaml(config) if config else {}), **values}
    if "dtype" in merged:
        dtype = str(merged["dtype"]).lower()
        if dtype != "auto" and dtype not in DTYPE_NAMES:
            raise UserError(f"unknown dtype '{merged['dtype']}' (accepted: auto, float32, bfloat16, float16, fp32, "
                            "bf16, fp16)")
        merged["dtype"] = DTYPE_NAMES.get(dtype, dtype)
    merged.setdefault("data", "-")  # the plan reads no data and writes nothing
    merged.setdefault("out", "-")
    settings = validate_settings(ForgetSettings, merged, f"{config} / command line" if config else "command line")
    optim = settings.optim
    needs, full_weights_only = method_needs(settings.method)
    if full_weights_only and settings.lora:
        raise UserError(f"method {settings.method} updates chosen full-weight layers and cannot train a LoRA adapter")
    device = _device(settings.device)
    dtype = settings.dtype if settings.dtype != "auto" else ("float32" if device == "cpu" else "bfloat16")
    if device_memory is not None:
        try:
            memory = parse_memory(device_memory)
        except ValueError as error:
            raise UserError(f"--device-memory: {error}") from None
    else:
        memory = total_memory(device)
    shape = load_shape(settings.model, settings.trust_remote_code)
    inputs = PlanInputs(shape=shape, method=needs, batch_size=settings.batch_size, max_length=settings.max_length,
                        dtype=dtype, lora=settings.lora, lora_r=settings.lora_r,
                        gradient_checkpointing=settings.gradient_checkpointing, optim=optim,
                        loss_chunk_tokens=settings.loss_chunk_tokens,
                        gradient_accumulation_steps=settings.gradient_accumulation_steps, device=device,
                        device_memory=memory, runtime_baseline=runtime_baseline() if device == "cpu" else 0)
    plan = plan_memory(inputs)
    notes = list(plan.notes)
    if device != "cpu":
        notes.append("GPU: tensors only (what torch.cuda.max_memory_allocated counts); the CUDA context and the "
                     "allocator's reserve come on top")
    if optim == "adamw_bnb_8bit" and device == "cpu":
        notes.append("adamw_bnb_8bit runs on CPU (bitsandbytes' CPU kernels), but its optimizer step is several "
                     "times slower than adamw_torch's (BENCHMARKS.md)")
    found = suggestions(inputs, full_weights_only) if plan.fits is False else []
    return {
        "model": settings.model, "architecture": shape.name, "parameters": shape.parameters,
        "trainable_parameters": shape.lora_parameters(settings.lora_r) if settings.lora else shape.parameters,
        "shape": {k: v for k, v in asdict(shape).items() if k != "name"},
        "method": needs.name, "streams": list(needs.streams), "streams_alive": needs.streams_alive(),
        "frozen_reference": needs.frozen_model, "cached_reference_logprobs": list(needs.cached_streams),
        "settings": {"batch_size": inputs.batch_size, "max_length": inputs.max_length, "dtype": dtype,
                     "lora": inputs.lora, "lora_r": inputs.lora_r if inputs.lora else None,
                     "gradient_checkpointing": inputs.gradient_checkpointing, "optim": optim,
                     "loss_chunk_tokens": inputs.loss_chunk_tokens,
                     "gradient_accumulation_steps": inputs.gradient_accumulation_steps, "device": device},
        "parts": plan.parts, "total": plan.total, "device_memory": memory, "fits": plan.fits, "notes": notes,
        "suggestions": [{"label": s.label, "changes": s.changes, "total": s.plan.total, "fits": s.plan.fits,
                         "parts": s.plan.parts} for s in found],
    }


def _device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def render(plan: dict, as_json: bool) -> str:
    if as_json:
        return json.dumps(plan, indent=2)
    s = plan["settings"]
    weights = f"LoRA rank {s['lora_r']}" if s["lora"] else "full weights"
    lines = [f"memory plan: {plan['model']}, {plan['parameters'] / 1e6:.1f} M parameters "
             f"({plan['trainable_parameters'] / 1e6:.2f} M trained), method {plan['method']}, device {s['device']}",
             f"  batch {s['batch_size']} per stream x {s['max_length']} tokens (every sequence at max length), "
             f"{s['dtype']}, {weights}, gradient checkpointing {'on' if s['gradient_checkpointing'] else 'off'}, "
             f"{s['optim']}, loss_chunk_tokens {s['loss_chunk_tokens']}",
             f"  streams {', '.join(plan['streams'])}; {plan['streams_alive']} alive at once", ""]
    for name, value in plan["parts"].items():
        if name in ("runtime", "allocator") and s["device"] != "cpu":
            continue
        lines.append(f"  {name:<12} {value / GB:8.2f} GB   {PART_NOTES[name]}")
    memory = plan["device_memory"]
    verdict = ("device memory unknown (give --device-memory)" if memory is None else
               f"of {memory / GB:.1f} GB: {'fits' if plan['fits'] else 'does NOT fit'}")
    lines += [f"  {'total':<12} {plan['total'] / GB:8.2f} GB   {verdict}"]
    lines += [f"  note: {note}" for note in plan["notes"]]
    if plan["suggestions"]:
        lines += ["", "settings that lower the peak (predicted total):"]
        for found in plan["suggestions"]:
            mark = "fits" if found["fits"] else "does not fit"
            lines.append(f"  {found['label']}: {found['total'] / GB:.2f} GB ({mark})")
    return "\n".join(lines)
