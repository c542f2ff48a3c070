"""``python -m unlearn.cli.main`` for the distributed tests, with two test-only additions.

- FSDP on CPU: accelerate 1.16 enables FSDP only on accelerators. On CPU its ``AcceleratorState``
  stays ``MULTI_CPU`` and drops the FSDP plugin, so the run is plain DDP. torch's ``fully_shard``
  runs on CPU with gloo, so when an FSDP plugin is given (``accelerate launch`` with an FSDP config)
  this sets the state accelerate sets on a GPU: distributed type FSDP, with the plugin. The Trainer,
  accelerate's ``fsdp2_prepare_model``, the sharded checkpoints and the library then take their FSDP paths.
- Records: with ``UNLEARN_TEST_RECORD=DIR`` each process writes ``DIR/rank{R}.json``: for every
  training step, the forget items and the retain items its batch held (by position in their split,
  the retain items matched by their tokens), and whether the frozen reference's weights are sharded.
"""

import json
import os
import sys
from pathlib import Path

from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType
from torch.distributed.tensor import DTensor

from unlearn.training import sharding
from unlearn.training.unlearn_trainer import UnlearningTrainer

_state_init = AcceleratorState.__init__


def _init_with_fsdp_on_cpu(self, *args, fsdp_plugin=None, **kwargs):
    _state_init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
    if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
        self.distributed_type = DistributedType.FSDP
        self.fsdp_plugin = fsdp_plugin
        PartialState._shared_state["distributed_type"] = DistributedType.FSDP


AcceleratorState.__init__ = _init_with_fsdp_on_cpu

RECORD = os.environ.get("UNLEARN_TEST_RECORD")
record = {"steps": [], "reference_sharded": None}


def _write():
    path = Path(RECORD) / f"rank{int(os.environ.get('RANK', 0))}.json"
    path.write_text(json.dumps(record))


if RECORD:
    _compute_loss = UnlearningTrainer.compute_loss
    _shard_reference = sharding.shard_reference

    def compute_loss(self, model, inputs, *args, **kwargs):
        if "retain" in inputs:
            stream = self.train_dataset.retain["retain"]
            position = {tuple(item["input_ids"]): j for j, item in enumerate(stream)}
            rows = [ids[mask.bool()].tolist() for ids, mask in
                    zip(inputs["retain"]["input_ids"], inputs["retain"]["attention_mask"])]
            record["steps"].append({"step": self.state.global_step, "forget": inputs["index"].tolist(),
                                    "retain": [position[tuple(row)] for row in rows]})
            _write()
        return _compute_loss(self, model, inputs, *args, **kwargs)

    def shard_reference(reference, accelerator):
        _shard_reference(reference, accelerator)
        if reference is not None:
            record["reference_sharded"] = all(isinstance(p, DTensor) for p in reference.model.parameters())
        _write()

    UnlearningTrainer.compute_loss = compute_loss
    sharding.shard_reference = shard_reference

from unlearn.cli.main import main  # noqa: E402  (after the patches: forget imports shard_reference by name)

if __name__ == "__main__":
    sys.exit(main())
