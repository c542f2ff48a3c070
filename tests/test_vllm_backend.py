"""``--generation-backend vllm``: refused in one line where vLLM cannot run; the request it would
send (token ids, greedy, the limit, the EOS rule) checked against a stand-in ``vllm`` module.
vLLM itself is not installed here (it needs CUDA), so it never runs in these tests."""

from __future__ import annotations

import json
import sys
import types

import pytest
import torch

from conftest import run_eval
from unlearn.data.formatting import PromptFormat
from unlearn.errors import UserError
from unlearn.evaluation import vllm_generation
from unlearn.evaluation.vllm_generation import VllmGenerator, check_vllm
from unlearn.models.loading import load_model


def test_eval_refuses_vllm_in_one_line_when_it_is_not_installed(tiny_model_dir, eval_benchmark, tmp_path, capsys,
                                                                 monkeypatch):
    monkeypatch.setattr(vllm_generation.importlib.util, "find_spec", lambda name: None)
    status = run_eval(tiny_model_dir, eval_benchmark, tmp_path / "eval", "--generation-backend", "vllm")
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert err[0].startswith("unlearn: error: --generation-backend vllm: vllm is not installed")
    assert not (tmp_path / "eval" / "summary.json").exists()


def test_vllm_is_refused_without_cuda_and_for_folders_it_cannot_load(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(vllm_generation.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="needs a CUDA GPU and none is visible"):
        check_vllm(str(tiny_model_dir))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    check_vllm(str(tiny_model_dir))  # a whole model folder passes
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_model_dir)}))
    with pytest.raises(UserError, match="is a LoRA adapter"):
        check_vllm(str(adapter))
    with pytest.raises(UserError, match="held in memory only"):
        check_vllm(None)


def test_the_eval_option_defaults_to_hf_and_other_commands_refuse_vllm(tiny_model_dir):
    from unlearn.evaluation.run import EvalSettings, eval_options

    settings = EvalSettings(model=str(tiny_model_dir), data="x", out="y")
    assert settings.generation_backend == "hf"
    model, _ = load_model(str(tiny_model_dir), device="cpu")
    assert eval_options(settings, model).generator is None
    with pytest.raises(UserError, match="supported by unlearn eval only"):
        eval_options(settings.model_copy(update={"generation_backend": "vllm"}), model)


class FakeVllm:
    """Stands in for the ``vllm`` package: records the engine's arguments and each request, and
    answers each prompt with ``answer`` followed by EOS."""

    def __init__(self, answer: list[int], eos: int):
        self.answer, self.eos, self.engines, self.calls = answer, eos, [], []
        fake = self

        class LLM:
            def __init__(self, **kwargs):
                fake.engines.append(kwargs)

            def generate(self, prompts, params, use_tqdm=True):
                fake.calls.append((prompts, params))
                done = types.SimpleNamespace(token_ids=tuple(fake.answer[:params.max_tokens - 1]) + (fake.eos,))
                return [types.SimpleNamespace(outputs=[done]) for _ in prompts]

        def sampling_params(**kwargs):
            return types.SimpleNamespace(**kwargs)

        def tokens_prompt(prompt_token_ids):
            return {"prompt_token_ids": prompt_token_ids}

        self.module = types.ModuleType("vllm")
        self.module.LLM, self.module.SamplingParams = LLM, sampling_params
        self.inputs = types.ModuleType("vllm.inputs")
        self.inputs.TokensPrompt = tokens_prompt


def test_the_vllm_request_carries_the_hf_paths_prompts_limit_and_stop_rule(tiny_model_dir, monkeypatch):
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    fmt = PromptFormat.for_tokenizer(tokenizer)
    questions = ["Who?", "Where was Ada Lovelace born?"]
    answer = tokenizer(" London", add_special_tokens=False)["input_ids"]
    fake = FakeVllm(answer, tokenizer.eos_token_id)
    monkeypatch.setitem(sys.modules, "vllm", fake.module)
    monkeypatch.setitem(sys.modules, "vllm.inputs", fake.inputs)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (40, 80))
    generator = VllmGenerator(str(tiny_model_dir), tokenizer, torch.float32, model.config.max_position_embeddings)
    prompts = fmt.prompt_ids(tokenizer, questions)
    assert generator(prompts, 8) == ["London", "London"]  # decoded as the hf path decodes: EOS dropped, stripped
    (engine,) = fake.engines
    assert engine["model"] == str(tiny_model_dir) and engine["dtype"] == "float32"
    assert engine["max_model_len"] == max(len(p) for p in prompts) + 8
    assert engine["gpu_memory_utilization"] == pytest.approx(0.9 * 0.5)
    sent, params = fake.calls[0]
    assert [p["prompt_token_ids"] for p in sent] == prompts
    assert params.temperature == 0.0 and params.max_tokens == 8
    assert params.stop_token_ids == [tokenizer.eos_token_id] and params.ignore_eos
    # the limit is capped at the model's context as the hf path caps it (256 positions)
    generator(prompts, 1000)
    assert fake.calls[1][1].max_tokens == 256 - max(len(p) for p in prompts)


def test_unlearn_eval_takes_its_answers_from_the_vllm_backend(tiny_model_dir, eval_benchmark, tmp_path, monkeypatch):
    _, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    fake = FakeVllm(tokenizer(" London", add_special_tokens=False)["input_ids"], tokenizer.eos_token_id)
    monkeypatch.setattr(vllm_generation.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (40, 80))
    monkeypatch.setitem(sys.modules, "vllm", fake.module)
    monkeypatch.setitem(sys.modules, "vllm.inputs", fake.inputs)
    out = tmp_path / "eval"
    assert run_eval(tiny_model_dir, eval_benchmark, out, "--generation-backend", "vllm") == 0
    forget = json.loads((out / "forget.json").read_text())
    assert {e["generation"] for e in forget["examples"]} == {"London"}
    assert json.loads((out / "unlearn_settings.json").read_text())["generation_backend"] == "vllm"
    (sent, params), = fake.calls  # one request for every question of every split
    fmt = PromptFormat.for_tokenizer(tokenizer)
    assert [p["prompt_token_ids"] for p in sent][:len(forget["examples"])] == fmt.prompt_ids(
        tokenizer, [e["question"] for e in forget["examples"]])
    assert params.max_tokens == 8
