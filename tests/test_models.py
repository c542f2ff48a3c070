"""Loading from folders (full and LoRA), saving in Hugging Face format, clear errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from conftest import make_model, make_tokenizer
from unlearn.errors import UserError
from unlearn.models.loading import load_model, load_tokenizer, resolve_device, resolve_dtype, save_model
from unlearn.models.lora import apply_lora


def test_load_save_reload_gives_the_same_logits(tiny_model_dir, tmp_path):
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    assert model.dtype == torch.float32 and tokenizer.pad_token == "<pad>"
    save_model(model, tokenizer, tmp_path / "copy")
    assert (tmp_path / "copy" / "model.safetensors").is_file()
    assert not (tmp_path / "copy" / ".saving").exists()
    again, _ = load_model(str(tmp_path / "copy"), device="cpu")
    ids = torch.tensor([[1, 5, 9, 12]])
    assert torch.equal(model(ids).logits, again(ids).logits)


def test_lora_saves_an_adapter_that_loads_on_its_base(tiny_model_dir, tmp_path):
    model, tokenizer = load_model(str(tiny_model_dir), device="cpu")
    model = apply_lora(model, r=4, alpha=8)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.add_(0.5)  # make the adapter change the output
    save_model(model, tokenizer, tmp_path / "adapter")
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_model_dir)
    assert not (tmp_path / "adapter" / "model.safetensors").exists()
    reloaded, _ = load_model(str(tmp_path / "adapter"), device="cpu")
    ids = torch.tensor([[1, 5, 9, 12]])
    assert torch.allclose(model(ids).logits, reloaded(ids).logits, atol=1e-6)
    base, _ = load_model(str(tiny_model_dir), device="cpu")
    assert not torch.allclose(base(ids).logits, reloaded(ids).logits, atol=1e-3)


def test_missing_paths_and_bad_folders_are_named(tmp_path):
    with pytest.raises(UserError, match=r"model path ./no/such/model does not exist"):
        load_model("./no/such/model")
    with pytest.raises(UserError, match=r"model file .*missing.gguf does not exist"):
        load_model(str(tmp_path / "missing.gguf"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"model folder .*empty has no config.json"):
        load_model(str(tmp_path / "empty"))


def test_pickle_weights_load_only_with_allow_pickle(tmp_path):
    tok = make_tokenizer()
    model = make_model(len(tok))
    folder = tmp_path / "pickled"
    folder.mkdir()
    model.config.save_pretrained(folder)
    tok.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")  # a pickle checkpoint
    with pytest.raises(UserError, match=r"holds weights only as pickle \(pytorch_model.bin\).*--allow-pickle"):
        load_model(str(folder))
    loaded, _ = load_model(str(folder), device="cpu", allow_pickle=True)
    ids = torch.tensor([[1, 5, 9, 12]])
    assert torch.equal(model(ids).logits, loaded(ids).logits)


def test_remote_code_runs_only_with_trust_remote_code(tiny_model_dir, tmp_path):
    folder = tmp_path / "custom"
    shutil.copytree(tiny_model_dir, folder)
    marker = tmp_path / "code-ran"
    (folder / "custom_model.py").write_text(f"open({str(marker)!r}, 'w').close()\n"
                                            "from transformers import LlamaConfig as CustomConfig\n")
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "custom-llm"  # unknown to transformers: only the folder's own code could build it
    config["auto_map"] = {"AutoConfig": "custom_model.CustomConfig"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match=r"cannot load model .*ships its own code.*--trust-remote-code"):
        load_model(str(folder), device="cpu")
    assert not marker.exists()


def test_tokenizer_without_pad_token_pads_with_eos(tmp_path, caplog):
    tok = make_tokenizer(pad=False)
    tok.save_pretrained(tmp_path)
    loaded = load_tokenizer(str(tmp_path))
    assert loaded.pad_token_id == loaded.eos_token_id
    assert "no pad token" in caplog.text


def test_device_and_dtype_choice():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(UserError, match="no CUDA GPU is available"):
            resolve_device("cuda")
