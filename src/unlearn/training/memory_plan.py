"""Predicted peak memory of an unlearning run, from the model's config numbers alone (no weights, no torch).

The prediction is for the worst case of the settings: every sequence of every stream the method
reads is ``max_length`` tokens long (so a batch of one stream is ``n = B * L`` tokens, without
padding) and every position but the first predicts an answer token (``N = B * (L - 1)`` scored
positions per stream). Real batches are padded only to their longest sequence, and a refusal stream
(``forget_idk``, ``retain_idk``: a question and one of the packaged short refusals) is far shorter, so
runs on short data peak lower than the plan. Symbols: ``P`` parameters, ``T`` trainable parameters, ``e`` bytes per
element of the weights' dtype (4 fp32, 2 bf16 / fp16), ``h`` hidden size, ``i`` intermediate size,
``q = heads * head_dim``, ``k = kv_heads * head_dim``, ``l`` layers, ``V`` vocabulary.

Parameters of a Llama-style decoder (Llama, Mistral, Qwen2, SmolLM)::

    P = V h (embedding) + [V h if the output layer is not tied] + h (final norm)
        + l (h q + 2 h k + q h  (attention)  +  3 h i  (MLP)  +  2 h  (norms)  [+ q + 2 k  biases])

LoRA (peft, ``target_modules="all-linear"``: every linear layer of the decoder, not the output
layer) adds ``T = l r (h + q + 2 (h + k) + (q + h) + 3 (h + i))`` parameters, ``r`` the rank, in fp32
(peft keeps adapters in fp32 on a bf16 / fp16 model).

The parts of the peak (bytes)::

    weights      = P e  (+ T 4 with LoRA)
    gradients    = T e_T                       (e_T = e, or 4 for LoRA's fp32 adapter)
    optimizer    = 2 T e_T                     adamw_torch: exp_avg and exp_avg_sq in the parameter's dtype
                 = sum over trained tensors    adamw_bnb_8bit (bitsandbytes' AdamW8bit as the Trainer builds it):
                   of 2 n + 8 n / 256 + 2048   two 8-bit states, one fp32 scale per block of 256 and per state,
                                               two 256-entry fp32 quantization maps; but 8 n (two fp32 states)
                                               for the input embedding (the Trainer registers every
                                               ``nn.Embedding`` for 32-bit state) and for a tensor of fewer than
                                               4096 elements (bitsandbytes' ``min_8bit_size``: norms, biases,
                                               small LoRA matrices)
    reference    = P e  for a method that keeps a frozen model (KL, UNDIAL, RMU) with full weights
                        (``FrozenReference.copy_of``: a deep copy); 0 with LoRA (the adapter is switched
                        off) and for cached log-probs (NPO, DPO: 4 bytes per example and stream)
    activations  = s n (l a + f) + n a          s = streams alive at once, a = one layer's saved tensors
                                                per token, f = final norm; the last n a: the layer being
                                                back-propagated (its gradients' temporaries)
    logits       = c V (w + 4 m) (+ V h e when the output layer trains: its gradient of one chunk)
    runtime      = the process before any model (Python, torch, transformers, ...): measured
    allocator    = rho * activations, on CPU only: memory that glibc's malloc keeps after activations
                   are freed and that later allocations do not reuse (fragmentation), so the resident
                   peak over the live tensors. rho is fitted, not derived: the value that minimizes the
                   largest relative error over the measured cases of ``benchmarks/plan_accuracy.py``
                   (default model, fp32, GA+GD, NPO+GD, NPO+KL, IDK+AP at max length 128 and 256):
                   rho = 0.7 with full weights, 1.35 with LoRA (whose small gradients and optimizer
                   state refill little of the freed space); the excess each case needed lay between
                   0.5 and 0.94 (full) and 1.13 and 1.7 (LoRA) times the activations. 0 on a GPU,
                   where the caching allocator reuses freed blocks and ``max_memory_allocated`` counts
                   live tensors only.
                 = rho_ckpt * activations without checkpointing, with gradient checkpointing: the layers'
                   tensors still pass through the heap (made in the forward pass and freed at once,
                   made again one layer at a time in the backward pass), and the heap keeps about as
                   much of them as without checkpointing, not a share of the few tensors checkpointing
                   keeps alive (measured: LoRA, GA+GD, 1.61 GB peak with glibc's mmap threshold fixed
                   at 128 KiB, so that freed tensors go back to the system, against 3.13 GB by default
                   and 1.70 GB of tensors planned). rho_ckpt is fitted the same way on the
                   checkpointing cases (20 runs) of ``benchmarks/plan_accuracy.py --checkpointing`` (GA+GD,
                   NPO+KL at max length 128 and 256) and ``benchmarks/train_step.py --settings-table``
                   (GA+GD, NPO+GD, NPO+KL on TOFU-length answers, AdamW and 8-bit AdamW): rho_ckpt = 0.36
                   with full weights, 1.2 with LoRA; the excess each case needed lay between 0.26 and 0.42
                   (full) and 1.05 and 1.33 (LoRA) times the activations without checkpointing.

``s``: the trainer back-propagates the forget term before the regularizer's forward pass when the two
read different streams (``UnlearningTrainer._backward_early``), so ``s`` is the larger stream count of
the two terms (IDK+AP: 2, AP's retain and retain_idk); otherwise all streams of the method.

``a``, bytes per token of one decoder layer's tensors kept for the backward pass (SDPA attention, which
keeps no ``L x L`` matrix; grouped-query attention without repeating keys and values, as transformers
calls SDPA on unpadded batches)::

    a = e (h + h  (input, normed input)  +  q + 2 k  (RoPE'd queries, keys, values)
           + 2 q  (attention output, its contiguous copy)  +  h + h  (residual, normed)
           + 4 i  (gate, up, silu(gate), product))  +  4 heads  (fp32 log-sum-exp)
           [+ 8 h   fp32 copies of the two norms' inputs when e < 4]
    f = e h (final norm input and output) [+ 4 h when e < 4]

With gradient checkpointing a layer keeps only its input, ``a_ckpt = e h``, and one layer is
recomputed in the backward pass: ``activations = s n (l e h + f) + 2 n a``.

``logits``: the loss projects at most ``c = min(loss_chunk_tokens, N)`` positions at once onto the
vocabulary (``training.chunked_logits``; ``c = N`` with ``loss_chunk_tokens`` 0, the model's own logits,
where the logits of every stream a term reads are alive together: ``c = t N``, ``t`` streams of that
term). ``w`` logits copies in the weights' dtype and ``m`` fp32 tensors of ``c x V`` are alive during a
chunk's backward: cross-entropy terms (NLL, GA, NPO, ...): w = 1, m = 3 (log-softmax, its gradient,
the logits' gradient); terms on whole distributions against the frozen model (KL, UNDIAL): w = 2,
m = 6; on the model's own distribution (ME, CE-U, PDU): w = 1, m = 4.

The total is the sum of the parts. It is an estimate: the CPU allocator's slack and the runtime's own
buffers are inside the measured runtime baseline only as far as they exist before the model loads.
``benchmarks/plan_accuracy.py`` compares it with measured peaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
DTYPE_NAMES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
               "fp16": "float16", "float16": "float16"}
OPTIMIZERS = ("adamw_torch", "adamw_bnb_8bit")
BNB_BLOCK = 256  # bitsandbytes' blockwise 8-bit optimizers: one fp32 absmax per block of this many states
BNB_MIN_8BIT = 4096  # bitsandbytes' min_8bit_size: a smaller tensor keeps 32-bit state
BNB_QMAPS = 2 * 256 * 4  # the two fp32 quantization maps each 8-bit tensor's state holds

# (w, m) of the docstring: logits copies in the weights' dtype and fp32 c x V tensors during a chunk's backward
LOGIT_COPIES = {"KL": (2, 6), "UNDIAL": (2, 6), "ME": (1, 4), "CE-U": (1, 4), "PDU": (1, 4)}
CROSS_ENTROPY_COPIES = (1, 3)
HIDDEN_ONLY_TERMS = ("RMU",)  # read activations: one position projected

PARTS = ("runtime", "weights", "gradients", "optimizer", "reference", "activations", "logits", "allocator")
# rho and rho_ckpt of the docstring (CPU resident memory only), fitted on the default model:
# (weights, gradient checkpointing) -> share of the activations without checkpointing
CPU_RETENTION = {("full", False): 0.7, ("lora", False): 1.35, ("full", True): 0.36, ("lora", True): 1.2}


@dataclass(frozen=True)
class ModelShape:
    """The numbers of a decoder-only transformer's config the plan needs."""

    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    tied_embeddings: bool = False
    attention_bias: bool = False
    name: str = ""

    @property
    def query_width(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_width(self) -> int:
        return self.num_kv_heads * self.head_dim

    @property
    def parameters(self) -> int:
        h, i, q, k, v = self.hidden_size, self.intermediate_size, self.query_width, self.kv_width, self.vocab_size
        layer = h * q + 2 * h * k + q * h + 3 * h * i + 2 * h + ((q + 2 * k) if self.attention_bias else 0)
        return v * h * (1 if self.tied_embeddings else 2) + h + self.num_layers * layer

    def linear_layers(self) -> list[tuple[int, int]]:
        """``(in, out)`` of one decoder layer's linear layers: q, k, v, o, gate, up, down."""
        h, i, q, k = self.hidden_size, self.intermediate_size, self.query_width, self.kv_width
        return [(h, q), (h, k), (h, k), (q, h), (h, i), (h, i), (i, h)]

    def trained_tensors(self, lora_rank: int | None = None) -> list[tuple[int, bool]]:
        """``(elements, is_input_embedding)`` of each trained tensor: every weight, or (``lora_rank``) the
        adapter's ``A`` (rank x in) and ``B`` (out x rank) of every decoder linear layer."""
        if lora_rank:
            return [(lora_rank * size, False) for pair in self.linear_layers() for size in pair] * self.num_layers
        h, q, k = self.hidden_size, self.query_width, self.kv_width
        layer = [(a * b, False) for a, b in self.linear_layers()] + [(h, False)] * 2
        layer += [(q, False), (k, False), (k, False)] if self.attention_bias else []
        head = [] if self.tied_embeddings else [(self.vocab_size * h, False)]
        return [(self.vocab_size * h, True)] + head + [(h, False)] + layer * self.num_layers

    def lora_parameters(self, rank: int) -> int:
        """Adapter parameters on every linear layer of the decoder (peft's ``all-linear``)."""
        h, i, q, k = self.hidden_size, self.intermediate_size, self.query_width, self.kv_width
        in_plus_out = (h + q) + 2 * (h + k) + (q + h) + 3 * (h + i)
        return self.num_layers * rank * in_plus_out


@dataclass(frozen=True)
class MethodNeeds:
    """What a method FORGET[+REGULARIZER] asks of memory (from ``objectives.registry``)."""

    name: str
    forget_term: str
    regularizer: str | None
    forget_streams: tuple[str, ...]
    regularizer_streams: tuple[str, ...]
    frozen_model: bool
    cached_streams: tuple[str, ...]

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.forget_streams + self.regularizer_streams))

    def streams_alive(self, backward_early: bool = True) -> int:
        """Streams whose activations coexist: the larger term's when the forget term is back-propagated
        first (disjoint streams, one process), else every stream."""
        if self.regularizer and backward_early and not set(self.forget_streams) & set(self.regularizer_streams):
            return max(len(self.forget_streams), len(self.regularizer_streams))
        return len(self.streams)


@dataclass(frozen=True)
class PlanInputs:
    shape: ModelShape
    method: MethodNeeds
    batch_size: int
    max_length: int
    dtype: str = "float32"
    lora: bool = False
    lora_r: int = 8
    gradient_checkpointing: bool = False
    optim: str = "adamw_torch"
    loss_chunk_tokens: int = 512
    gradient_accumulation_steps: int = 1
    device: str = "cpu"
    device_memory: int | None = None  # bytes; None: unknown
    runtime_baseline: int = 0  # bytes of the process before the model (CPU); 0 on a GPU
    backward_early: bool = True  # one process (see MethodNeeds.streams_alive)


@dataclass
class Plan:
    inputs: PlanInputs
    parts: dict[str, int]
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    @property
    def fits(self) -> bool | None:
        return None if self.inputs.device_memory is None else self.total <= self.inputs.device_memory


def bnb_8bit_state_bytes(tensors: list[tuple[int, bool]]) -> int:
    """AdamW8bit's state of ``tensors`` (``ModelShape.trained_tensors``) as the Trainer's
    ``adamw_bnb_8bit`` keeps it (module docstring)."""
    total = 0
    for elements, embedding in tensors:
        if embedding or elements < BNB_MIN_8BIT:
            total += 8 * elements
        else:
            total += 2 * elements + 8 * -(-elements // BNB_BLOCK) + BNB_QMAPS
    return total


def layer_activation_bytes(shape: ModelShape, e: int) -> int:
    """``a`` of the module docstring: bytes per token one decoder layer keeps for its backward pass."""
    h, q, k, i = shape.hidden_size, shape.query_width, shape.kv_width, shape.intermediate_size
    kept = e * (2 * h + q + 2 * k + 2 * q + 2 * h + 4 * i) + 4 * shape.num_heads
    return kept + (8 * h if e < 4 else 0)


def final_norm_bytes(shape: ModelShape, e: int) -> int:
    return e * 2 * shape.hidden_size + (4 * shape.hidden_size if e < 4 else 0)


def activation_bytes(inputs: PlanInputs) -> int:
    shape, e = inputs.shape, DTYPE_BYTES[inputs.dtype]
    tokens = inputs.batch_size * inputs.max_length
    streams = inputs.method.streams_alive(inputs.backward_early)
    a = layer_activation_bytes(shape, e)
    final = final_norm_bytes(shape, e)
    if inputs.gradient_checkpointing:
        return streams * tokens * (shape.num_layers * e * shape.hidden_size + final) + 2 * tokens * a
    return streams * tokens * (shape.num_layers * a + final) + tokens * a


def logit_bytes(inputs: PlanInputs) -> int:
    """The vocabulary projection's peak: the costliest term's chunk (module docstring)."""
    shape, e, method = inputs.shape, DTYPE_BYTES[inputs.dtype], inputs.method
    positions = inputs.batch_size * (inputs.max_length - 1)
    worst = 0
    terms = [(method.forget_term, method.forget_streams)]
    if method.regularizer:
        terms.append((method.regularizer, method.regularizer_streams))
    for term, streams in terms:
        if term in HIDDEN_ONLY_TERMS:
            continue
        w, m = LOGIT_COPIES.get(term, CROSS_ENTROPY_COPIES)
        if inputs.loss_chunk_tokens > 0:
            chunk = min(inputs.loss_chunk_tokens, positions)
            held = inputs.batch_size * (inputs.max_length - 1) * shape.hidden_size * e * len(streams)  # hidden[mask]
        else:
            chunk = positions * len(streams)
            held = 0
        worst = max(worst, chunk * shape.vocab_size * (w * e + 4 * m) + held)
    head_trains = not inputs.lora and worst
    return worst + (shape.vocab_size * shape.hidden_size * e if head_trains else 0)


def plan_memory(inputs: PlanInputs) -> Plan:
    """The predicted peak, part by part (bytes), for ``inputs``."""
    if inputs.dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {inputs.dtype!r}")
    if inputs.optim not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {inputs.optim!r}")
    shape, e = inputs.shape, DTYPE_BYTES[inputs.dtype]
    parameters = shape.parameters
    trainable, trainable_bytes = ((shape.lora_parameters(inputs.lora_r), 4) if inputs.lora else (parameters, e))
    optimizer = (bnb_8bit_state_bytes(shape.trained_tensors(inputs.lora_r if inputs.lora else None))
                 if inputs.optim == "adamw_bnb_8bit" else 2 * trainable * trainable_bytes)
    notes = []
    frozen_copy = inputs.method.frozen_model and not inputs.lora
    if inputs.method.frozen_model and inputs.lora:
        notes.append("frozen reference: the base model with the LoRA adapter switched off (no copy)")
    elif frozen_copy:
        notes.append("frozen reference: a deep copy of the weights (FrozenReference.copy_of)")
    if inputs.method.cached_streams:
        notes.append(f"reference log-probs cached before training ({', '.join(inputs.method.cached_streams)}): "
                     "4 bytes per example and stream, no second model")
    parts = {
        "runtime": inputs.runtime_baseline,
        "weights": parameters * e + (trainable * 4 if inputs.lora else 0),
        "gradients": trainable * trainable_bytes,
        "optimizer": optimizer,
        "reference": parameters * e if frozen_copy else 0,
        "activations": activation_bytes(inputs),
        "logits": logit_bytes(inputs),
    }
    rho = (CPU_RETENTION["lora" if inputs.lora else "full", inputs.gradient_checkpointing] if inputs.device == "cpu"
           else 0.0)
    passing = activation_bytes(replace(inputs, gradient_checkpointing=False))  # what goes through the heap
    parts["allocator"] = int(rho * passing)
    return Plan(inputs, parts, notes)


def parse_memory(text: str) -> int:
    """``"40GB"``, ``"40 GiB"``, ``"512MB"``, ``"1.5e9"`` -> bytes (GB = 1e9, GiB = 2^30)."""
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
             "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
    cleaned = text.strip().upper().replace(" ", "")
    number = cleaned.rstrip("KMGTIB")
    unit = cleaned[len(number):]
    if unit not in units:
        raise ValueError(f"unknown unit {unit!r} in {text!r} (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)")
    value = float(number) * units[unit]
    if not value > 0:
        raise ValueError(f"memory must be positive: {text!r}")
    return int(value)


ZERO3_OFFLOAD_CONFIG = "configs/accelerate/deepspeed_zero3_offload.yaml"


@dataclass
class Suggestion:
    """A change of settings and the plan it gives."""

    label: str
    changes: dict
    plan: Plan


def zero3_offload_plan(inputs: PlanInputs) -> Plan:
    """DeepSpeed ZeRO-3 with parameter and optimizer offload to CPU memory, one GPU: the device holds
    the activations and logits, and the weights gathered for the layers at work; weights, gradients and
    AdamW state live in CPU memory. Under DeepSpeed the trainer runs one backward per step (every
    stream's activations coexist) and the loss reads the model's own logits (``loss_chunk_tokens`` 0).
    The model is loaded onto the device before DeepSpeed partitions it (``zero3_init_flag: false``), so
    the device also holds ``P e`` once, before training: the peak is the larger of the two."""
    shape, e = inputs.shape, DTYPE_BYTES[inputs.dtype]
    offloaded = replace(inputs, backward_early=False, loss_chunk_tokens=0)
    h, i, q, k = shape.hidden_size, shape.intermediate_size, shape.query_width, shape.kv_width
    layer = h * q + 2 * h * k + q * h + 3 * h * i + 2 * h
    gathered = (2 * layer + shape.vocab_size * h) * e  # the layer at work, the next one prefetched, the vocabulary
    working = activation_bytes(offloaded) + logit_bytes(offloaded)
    parts = {name: 0 for name in PARTS}  # total = max(P e, working + 2 gathered)
    parts.update(weights=max(shape.parameters * e - working, 2 * gathered), activations=activation_bytes(offloaded),
                 logits=logit_bytes(offloaded))
    notes = ["DeepSpeed ZeRO-3 offload: weights, gradients and AdamW state in CPU memory (about "
             f"{(shape.parameters * (e + 4 + 8)) / 1e9:.1f} GB of RAM); 'weights' is the larger of the model "
             "loaded before partitioning and the gathered layers during training"]
    return Plan(offloaded, parts, notes)


def suggestions(inputs: PlanInputs, full_weights_only: bool = False) -> list[Suggestion]:
    """Settings that lower the peak, each alone, then together; each with its plan. ``full_weights_only``:
    the method trains chosen full weights (RMU), so LoRA is not offered."""
    found = []

    def add(label, changes, plan=None):
        found.append(Suggestion(label, changes, plan or plan_memory(replace(inputs, **changes))))

    if not inputs.lora and not full_weights_only:
        add(f"LoRA (--lora, rank {inputs.lora_r})", {"lora": True})
    if not inputs.gradient_checkpointing:
        add("gradient checkpointing (--gradient-checkpointing)", {"gradient_checkpointing": True})
    if inputs.optim != "adamw_bnb_8bit":
        add("8-bit AdamW from bitsandbytes (optim: adamw_bnb_8bit)", {"optim": "adamw_bnb_8bit"})
    effective = inputs.batch_size * inputs.gradient_accumulation_steps
    batch = inputs.batch_size
    while batch > 1:  # halve until it fits (or 1), keeping the effective batch
        batch //= 2
        changes = {"batch_size": batch, "gradient_accumulation_steps": -(-effective // batch)}
        smaller = plan_memory(replace(inputs, **changes))
        if inputs.device_memory is None or smaller.fits or batch == 1:
            add(f"batch {batch} with {changes['gradient_accumulation_steps']} accumulation steps (effective batch "
                f"{batch * changes['gradient_accumulation_steps']})", changes, smaller)
            break
    if inputs.device != "cpu":
        add(f"DeepSpeed ZeRO-3 CPU offload (accelerate launch --config_file {ZERO3_OFFLOAD_CONFIG})",
            {"deepspeed": ZERO3_OFFLOAD_CONFIG}, zero3_offload_plan(inputs))
    together = {} if inputs.lora or full_weights_only else {"lora": True}
    if not inputs.gradient_checkpointing:
        together["gradient_checkpointing"] = True
    if len(together) == 2:
        add("LoRA + gradient checkpointing", together)
    return found
