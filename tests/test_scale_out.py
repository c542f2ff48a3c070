"""The DeepSpeed ZeRO-3 accelerate configs read as documented (not run: no GPU and no deepspeed here;
configs/accelerate/fsdp.yaml is run by test_distributed.py), each GPU process loads onto its own GPU,
and gathered tied weights are saved once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DeepSpeedPlugin, DistributedType

from conftest import make_model
from unlearn.models.loading import resolve_device
from unlearn.training.sharding import _tie_shared

CONFIGS = Path(__file__).parents[1] / "configs" / "accelerate"


@pytest.mark.parametrize("name, offload", [("deepspeed_zero3", "none"), ("deepspeed_zero3_offload", "cpu")])
def test_deepspeed_configs_read_as_zero3(name, offload):
    config = load_config_from_file(str(CONFIGS / f"{name}.yaml"))
    assert config.distributed_type == DistributedType.DEEPSPEED
    fields = {k: v for k, v in config.deepspeed_config.items() if k != "deepspeed_multinode_launcher"}
    zero = DeepSpeedPlugin(**fields).deepspeed_config["zero_optimization"]
    assert zero["stage"] == 3
    assert zero["offload_optimizer"]["device"] == zero["offload_param"]["device"] == offload
    assert zero["stage3_gather_16bit_weights_on_model_save"] is True  # needed to save the model whole


def test_each_gpu_process_loads_onto_its_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.delenv("LOCAL_RANK")
    assert resolve_device("cuda") == torch.device("cuda")


def test_gathered_tied_weights_become_one_tensor():
    model = make_model(64)
    gathered = {name: value.clone() for name, value in model.state_dict().items()}  # as a gather returns them
    assert "lm_head.weight" in gathered and gathered["lm_head.weight"] is not gathered["model.embed_tokens.weight"]
    tied = _tie_shared(gathered, model)
    assert tied["lm_head.weight"] is tied["model.embed_tokens.weight"]
    assert tied["model.norm.weight"] is not tied["model.embed_tokens.weight"]
