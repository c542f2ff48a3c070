"""What changes when the Trainer shards the model over processes (FSDP through accelerate, DeepSpeed ZeRO-3).

Under DDP every process holds the whole model and nothing here applies. Under FSDP each process
holds a shard of every weight, gathered only inside the model's forward and backward, so:

- the frozen reference (a separate frozen copy: KL, UNDIAL, RMU's adaptive coefficient) is sharded
  the same way (``shard_reference``), else every process would hold one whole extra model; a LoRA
  run's reference is the trained model itself with its adapter off, sharded with it;
- the weights are gathered before the main process saves them (``gathered_weights``): a
  collective, so every process calls it.

The cached reference log-probabilities are computed before training, by each process on the whole
unsharded model, and need nothing.
"""

from __future__ import annotations

import logging
import os

from accelerate.utils import DistributedType

log = logging.getLogger(__name__)


def check_sharding(trainer) -> None:
    """Warns when FSDP was asked for (``accelerate launch`` with an FSDP config) and accelerate did not
    turn it on: accelerate 1.16 shards only on accelerators; on CPU the run is plain DDP."""
    asked = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    if asked and trainer.accelerator.distributed_type != DistributedType.FSDP and trainer.accelerator.is_main_process:
        log.warning("FSDP was asked for, but accelerate runs %s (it shards only on GPUs and other accelerators, "
                    "not on CPU): every process holds the whole model", trainer.accelerator.distributed_type.value)


def shard_reference(reference, accelerator) -> None:
    """Shards a separate frozen reference model like the trained one (FSDP2's ``fully_shard`` per decoder
    layer, by accelerate's plugin); its forward gathers each layer's weights in turn. DeepSpeed ZeRO-3 and
    FSDP1 keep a whole copy in each process."""
    if reference is None or reference.adapter_host is not None or not accelerator.is_fsdp2:
        return
    from accelerate.utils import fsdp2_prepare_model

    reference.model = fsdp2_prepare_model(accelerator, reference.model)


def gathered_weights(trainer) -> dict | None:
    """The full weights of a model that the Trainer sharded (FSDP, DeepSpeed ZeRO-3), for saving; None
    where every process holds them whole (one process, DDP) and the model saves itself.

    Gathering is a collective: every process must call this, before the main process saves.
    accelerate's ``get_state_dict`` gives the whole dict on the main process (FSDP2: gathered to
    rank 0 in CPU memory; ZeRO-3: needs ``zero3_save_16bit_model: true`` in the config)."""
    accelerator = trainer.accelerator
    if accelerator.distributed_type == DistributedType.FSDP:
        state_dict = accelerator.get_state_dict(trainer.model)
    elif accelerator.distributed_type == DistributedType.DEEPSPEED and accelerator.deepspeed_config[
            "zero_optimization"]["stage"] == 3:
        state_dict = accelerator.get_state_dict(trainer.model_wrapped)  # the DeepSpeed engine
    else:
        return None
    return _tie_shared(state_dict, accelerator.unwrap_model(trainer.model))


def _tie_shared(state_dict: dict, model) -> dict:
    """Gathering gives each name of a shared parameter (tied input and output embeddings) its own copy;
    pointing them back at one tensor lets ``save_pretrained`` write it once, as it does unsharded."""
    names: dict[int, list[str]] = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(parameter), []).append(name)
    for shared in names.values():
        present = [name for name in shared if name in state_dict]
        for name in present[1:]:
            state_dict[name] = state_dict[present[0]]
    return state_dict
