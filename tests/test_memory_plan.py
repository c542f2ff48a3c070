"""The memory planner: exact bytes for a small hand-worked config, counts that equal transformers' and
peft's own, the 8B-shaped plan that does not fit 40 GB, and the command's output and bad input."""

from __future__ import annotations

import json

import pytest

from unlearn.cli.main import main
from unlearn.training import memory_plan, plan_sources
from unlearn.training.memory_plan import ModelShape, PlanInputs, parse_memory, plan_memory, suggestions
from unlearn.training.plan_sources import method_needs, model_shape

# hidden 64, intermediate 128, 2 layers, 4 heads of 16, 2 kv heads, vocabulary 100, untied output layer
SMALL = ModelShape(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=16,
                   vocab_size=100)
LLAMA_8B = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
            "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
            "vocab_size": 128256, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
            "torch_dtype": "bfloat16"}


def test_small_config_bytes_by_hand():
    # embedding + output layer 2*100*64 = 12800, final norm 64; per layer: q 64*64 + k,v 2*64*32 + o 64*64
    # + MLP 3*64*128 + norms 2*64 = 36992; P = 12864 + 2 * 36992 = 86848
    assert SMALL.parameters == 86848
    ga_gd, _ = method_needs("GA+GD")
    full = plan_memory(PlanInputs(shape=SMALL, method=ga_gd, batch_size=2, max_length=8, dtype="float32",
                                  loss_chunk_tokens=512))
    assert full.parts["weights"] == 86848 * 4 == 347392
    assert full.parts["gradients"] == 347392
    assert full.parts["optimizer"] == 2 * 347392 == 694784
    assert full.parts["reference"] == 0
    # a = 4 (2*64 + 64 + 2*32 + 2*64 + 2*64 + 4*128) + 4 heads * 4 = 4112; final norm 4 * 128 = 512;
    # one stream alive (GD runs after GA's backward): 16 tokens * (2 * 4112 + 512) + 16 * 4112 (the layer in backward)
    assert memory_plan.layer_activation_bytes(SMALL, 4) == 4112
    assert full.parts["activations"] == 16 * (2 * 4112 + 512) + 16 * 4112 == 205568
    # logits: 14 scored positions (< chunk) x 100 x (4 + 4 * 3) + hidden[mask] 14 * 64 * 4, + the head's gradient
    assert full.parts["logits"] == 14 * 100 * 16 + 14 * 64 * 4 + 100 * 64 * 4
    assert full.parts["allocator"] == int(0.7 * 205568)  # CPU: the fitted share of the activations
    assert plan_memory(PlanInputs(shape=SMALL, method=ga_gd, batch_size=2, max_length=8,
                                  device="cuda")).parts["allocator"] == 0
    bf16 = plan_memory(PlanInputs(shape=SMALL, method=ga_gd, batch_size=2, max_length=8, dtype="bfloat16"))
    assert (bf16.parts["weights"], bf16.parts["gradients"], bf16.parts["optimizer"]) == (173696, 173696, 347392)
    eight_bit = plan_memory(PlanInputs(shape=SMALL, method=ga_gd, batch_size=2, max_length=8, optim="adamw_bnb_8bit"))
    # AdamW8bit: two fp32 states (8 bytes an element) for the input embedding (the Trainer's override) and for
    # tensors under 4096 elements (k, v, norms); else 2 bytes + 8 per block of 256 + 2048 of quantization maps
    eight = lambda n: 2 * n + 8 * -(-n // 256) + 2048  # noqa: E731
    per_layer = 2 * eight(4096) + 8 * 2 * 2048 + 3 * eight(8192) + 8 * 2 * 64  # q, o; k, v; MLP; norms
    assert eight_bit.parts["optimizer"] == 8 * 6400 + eight(6400) + 8 * 64 + 2 * per_layer == 287944
    # LoRA rank 8 on every decoder linear: 2 layers * 8 * ((64+64) + 2 (64+32) + (64+64) + 3 (64+128)) = 16384, fp32
    lora = plan_memory(PlanInputs(shape=SMALL, method=ga_gd, batch_size=2, max_length=8, dtype="bfloat16", lora=True))
    assert SMALL.lora_parameters(8) == 16384
    assert lora.parts["weights"] == 173696 + 16384 * 4
    assert (lora.parts["gradients"], lora.parts["optimizer"]) == (16384 * 4, 2 * 16384 * 4)


def test_counts_equal_transformers_and_peft():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=100, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    shape = model_shape(config)
    assert shape == SMALL
    assert shape.parameters == sum(p.numel() for p in model.parameters())
    peft_model = get_peft_model(model, LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    assert shape.lora_parameters(8) == sum(p.numel() for p in peft_model.parameters() if p.requires_grad)


def test_8bit_state_equals_bitsandbytes_under_the_trainer(tmp_path):
    """The planned AdamW8bit state is the bytes of the state tensors bitsandbytes allocates (on CPU) for the
    optimizer the Trainer builds with optim adamw_bnb_8bit, full weights and LoRA."""
    import bitsandbytes
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments

    config = LlamaConfig(vocab_size=100, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    for rank in (None, 8):
        bitsandbytes.optim.GlobalOptimManager.get_instance().initialize()  # no override left by another optimizer
        model = LlamaForCausalLM(config)
        if rank:
            model = get_peft_model(model, LoraConfig(r=rank, target_modules="all-linear", task_type="CAUSAL_LM"))
        args = TrainingArguments(output_dir=str(tmp_path), optim="adamw_bnb_8bit", use_cpu=True, report_to="none")
        optimizer = Trainer(model=model, args=args).create_optimizer()
        for parameter in model.parameters():
            parameter.grad = torch.ones_like(parameter) if parameter.requires_grad else None
        optimizer.step()
        measured = sum(t.nbytes for state in optimizer.state.values() for t in state.values() if torch.is_tensor(t))
        assert measured == memory_plan.bnb_8bit_state_bytes(SMALL.trained_tensors(rank))


def test_streams_and_reference():
    assert method_needs("GA+GD")[0].streams_alive() == 1
    assert method_needs("IDK+AP")[0].streams == ("forget_idk", "retain", "retain_idk")
    assert method_needs("IDK+AP")[0].streams_alive() == 2  # AP reads retain and retain_idk together
    assert method_needs("IDK+AP")[0].streams_alive(backward_early=False) == 3
    npo_kl = method_needs("NPO+KL")[0]
    assert npo_kl.frozen_model and npo_kl.cached_streams == ("forget",)
    kl = plan_memory(PlanInputs(shape=SMALL, method=npo_kl, batch_size=2, max_length=8))
    assert kl.parts["reference"] == kl.parts["weights"]  # a deep copy with full weights
    assert plan_memory(PlanInputs(shape=SMALL, method=npo_kl, batch_size=2, max_length=8,
                                  lora=True)).parts["reference"] == 0  # the adapter switched off


def test_gradient_checkpointing_keeps_layer_inputs():
    ga_gd, _ = method_needs("GA+GD")
    plan = plan_memory(PlanInputs(shape=SMALL, method=ga_gd, batch_size=2, max_length=8, gradient_checkpointing=True))
    assert plan.parts["activations"] == 16 * (2 * 64 * 4 + 512) + 2 * 16 * 4112
    # the CPU allocator share stays a share of what passes through the heap: the activations without
    # checkpointing (205568 bytes, test_small_config_bytes_by_hand), not of the few checkpointing keeps
    assert plan.parts["allocator"] == int(0.36 * 205568)
    lora = plan_memory(PlanInputs(shape=SMALL, method=ga_gd, batch_size=2, max_length=8, gradient_checkpointing=True,
                                  lora=True))
    assert lora.parts["allocator"] == int(1.2 * 205568)


def test_parse_memory():
    assert parse_memory("40GB") == 40 * 10**9
    assert parse_memory("80 GiB") == 80 * 2**30
    assert parse_memory("512MB") == 512 * 10**6
    with pytest.raises(ValueError):
        parse_memory("40 parsecs")


def test_llama_8b_shape_does_not_fit_40gb(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_8B))
    status = main(["plan", "--model", str(tmp_path), "--method", "NPO+GD", "--batch-size", "4", "--max-length",
                   "512", "--dtype", "bf16", "--device", "cuda", "--device-memory", "40GB", "--json"])
    assert status == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["parameters"] == 8_030_261_248  # Llama-3.1-8B's parameter count
    assert plan["parts"]["weights"] == 2 * 8_030_261_248
    assert plan["parts"]["optimizer"] == 4 * 8_030_261_248  # two bf16 moments
    assert plan["total"] > 40e9 and plan["fits"] is False
    by_label = {s["label"].split(" (")[0]: s for s in plan["suggestions"]}
    assert by_label["LoRA"]["fits"] and by_label["LoRA"]["total"] < 40e9
    assert {"gradient checkpointing", "8-bit AdamW from bitsandbytes", "DeepSpeed ZeRO-3 CPU offload"} <= set(by_label)
    assert any(label.startswith("batch ") for label in by_label)
    assert plan["parts"]["runtime"] == 0  # a GPU plan counts tensors only


def test_suggestions_keep_the_effective_batch():
    ga_gd, _ = method_needs("GA+GD")
    inputs = PlanInputs(shape=SMALL, method=ga_gd, batch_size=8, max_length=64, gradient_accumulation_steps=2,
                        device_memory=1)
    batches = [s.changes for s in suggestions(inputs) if "batch_size" in s.changes]
    assert batches == [{"batch_size": 1, "gradient_accumulation_steps": 16}]  # nothing fits 1 byte: down to 1


def test_default_model_alias_reads_config_only(monkeypatch, tmp_path):
    shape = plan_sources.default_model_shape()
    assert (shape.hidden_size, shape.num_layers, shape.num_kv_heads, shape.vocab_size) == (576, 30, 3, 49152)
    assert shape.parameters == 134_515_008  # SmolLM2-135M
    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path))  # no converted folder: the GGUF file's metadata
    assert plan_sources.default_model_shape() == shape
    assert not any(tmp_path.iterdir())  # nothing converted or written


def test_forget_plan_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(plan_sources, "runtime_baseline", lambda: 500_000_000)
    out = tmp_path / "run"
    status = main(["forget", "--plan", "--json", "--method", "IDK+AP", "--batch-size", "8", "--max-length", "128",
                   "--device", "cpu", "--out", str(out)])
    assert status == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["method"] == "IDK+AP" and plan["streams_alive"] == 2 and plan["parts"]["runtime"] == 500_000_000
    assert not out.exists()


def test_the_optimizer_the_plan_suggests_is_a_forget_setting(tmp_path, tiny_model_dir, fictitious_bench, capsys):
    """``--optim adamw_bnb_8bit``: the plan counts its state and the forget run trains with bitsandbytes'
    8-bit AdamW (the optimizer the plan suggests must be one the user can choose)."""
    from unlearn.training.forget import build_trainer
    from unlearn.training.forget_settings import ForgetSettings

    assert main(["forget", "--plan", "--json", "--model", str(tiny_model_dir), "--optim", "adamw_bnb_8bit",
                 "--device", "cpu", "--out", str(tmp_path / "plan")]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["optim"] == "adamw_bnb_8bit"
    settings = ForgetSettings(model=str(tiny_model_dir), data=str(fictitious_bench), method="GA+GD",
                              forget="forget10", retain="retain90", out=str(tmp_path / "run"), epochs=1,
                              batch_size=2, gradient_accumulation_steps=1, device="cpu", save_checkpoints=False,
                              optim="adamw_bnb_8bit")
    trainer, _, _ = build_trainer(settings, tmp_path / "checkpoints")
    optimizer = trainer.create_optimizer()
    assert type(optimizer).__module__.startswith("bitsandbytes") and optimizer.args.optim_bits == 8


@pytest.mark.parametrize("argv, message", [
    (["plan", "--model", "/no/such/model"], "does not exist"),
    (["plan", "--method", "XYZ+GD"], "unknown method"),
    (["plan", "--dtype", "fp8"], "unknown dtype"),
    (["plan", "--device-memory", "lots"], "--device-memory"),
    (["plan", "--method", "RMU", "--lora"], "cannot train a LoRA adapter"),
])
def test_bad_input_is_one_line_exit_2(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(plan_sources, "runtime_baseline", lambda: 0)
    assert main(argv + ["--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
