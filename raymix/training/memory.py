"""How much memory training one proxy takes, and whether a trial is given that much.

A proxy too large for its share of a GPU fails only once it reaches a worker, after the
cluster has started, and fails again on every retry. raymix checks instead before
anything starts: when the config says how much memory a trial gets
(``compute.gpu_memory_gb`` x ``compute.gpus_per_trial`` on GPUs,
``compute.memory_per_trial_gb`` on CPUs), every proxy size of the config (the base
model, each of ``scales``, and ``validate``) must fit in it.

The estimate is a sum of the terms that training memory is made of::

    bytes = a * params                                # weights, gradients, AdamW's two moments
          + tokens * (b * layers * hidden             # activations kept for the backward pass
                      + c * layers * intermediate
                      + e)
          + d * vocab * loss_tokens                   # logits, their float32 copy, softmax, grad
          + f * micro * heads * seq_len^2 * layers    # attention scores, where materialised

with ``tokens = micro x seq_len`` for a micro-batch of ``micro`` sequences (the gradients of
the whole batch are accumulated over ``batch_size / micro`` of them, so only one is held).
``loss_tokens`` is every token of the micro-batch for the plain loss, and one chunk
(:func:`raymix.training.loss.chunk_tokens`) for the chunked and fused losses, which add
their float32 gradient of the output layer and of the hidden states
(``4 * vocab * hidden + 4 * tokens * hidden``).

The coefficients were fitted to the peak memory of ``train_proxy`` with the plain loss,
measured by ``bench/bench_proxy_memory.py`` over 60 (GPU: bf16 autocast on an H100) and
18 (CPU: float32) proxy shapes from 0.1M to 100M parameters. On other shapes, not
fitted (40 GPU, 14 CPU), the estimate was 0.87-1.07 (GPU) and 0.71-1.09 (CPU) times the
measured peak, median 1.00 on both (docs/benchmarks.md). The chunked loss's terms use
the same per-logit coefficient ``d`` on a chunk; bench/bench_proxy_memory.py measures
that too (``--loss chunked``). So a proxy needs at least 0.9x its estimate: a refusal
can be wrong only near the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from raymix.config import ModelConfig, SweepConfig, TrainingConfig
from raymix.config.counts import total_params
from raymix.errors import ConfigError

GIB = 2**30


@dataclass(frozen=True)
class MemoryModel:
    """Bytes per unit of each term of the estimate (see the module docstring)."""

    per_param: float
    per_token_layer_hidden: float
    per_token_layer_intermediate: float
    per_token_vocab: float
    per_token: float
    per_attention_score: float


# non-negative least squares on relative error (bench/bench_proxy_memory.py, seed 0)
GPU_BF16 = MemoryModel(14.55, 34.19, 9.21, 13.86, 360.4, 0.15)
CPU_FLOAT32 = MemoryModel(17.89, 0.0, 38.71, 17.09, 17_328.0, 0.0)


def training_memory_bytes(model: ModelConfig, micro_batch: int, vocab_size: int, *,
                          gpu: bool, loss: str = "plain") -> int:
    """Estimated peak memory of training ``model`` on micro-batches of ``micro_batch``
    sequences (bytes).

    ``gpu`` picks the GPU estimate (bf16 autocast, as ``train_proxy`` runs there) or the
    CPU one (float32); ``loss`` is ``training.loss`` (anything but ``plain`` holds one
    chunk of logits at a time).
    """
    # here, not above: loss.py imports torch, and the sweep's aggregator imports this
    # module (through the cluster's checks) but never trains
    from raymix.training.loss import PLAIN, chunk_tokens

    m = GPU_BF16 if gpu else CPU_FLOAT32
    tokens = micro_batch * model.seq_len
    per_token = (m.per_token_layer_hidden * model.layers * model.hidden
                 + m.per_token_layer_intermediate * model.layers * model.intermediate
                 + m.per_token)
    if loss == PLAIN:
        logits = m.per_token_vocab * vocab_size * tokens
    else:
        logits = (m.per_token_vocab * vocab_size * min(tokens, chunk_tokens(vocab_size))
                  + 4 * vocab_size * model.hidden + 4 * tokens * model.hidden)
    scores = micro_batch * model.heads * model.seq_len ** 2 * model.layers
    return int(m.per_param * total_params(model, vocab_size) + tokens * per_token + logits
               + m.per_attention_score * scores)


def micro_batch_for(model: ModelConfig, training: TrainingConfig, vocab_size: int,
                    budget_gib: float | None, *, gpu: bool) -> int:
    """The micro-batch (sequences) a proxy of ``model`` trains with.

    ``training.micro_batch_size`` when it is a number; for ``auto`` the largest divisor of
    ``training.batch_size`` whose estimate fits ``budget_gib`` (the whole batch when the
    budget is not known, and 1 when nothing fits: :func:`check_memory` refuses that).
    """
    if training.micro_batch_size != "auto":
        return training.micro_batch_size
    batch = training.batch_size
    if budget_gib is None:
        return batch
    for micro in sorted((d for d in range(1, batch + 1) if batch % d == 0), reverse=True):
        need = training_memory_bytes(model, micro, vocab_size, gpu=gpu, loss=training.loss)
        if need <= budget_gib * GIB:
            return micro
    return 1


def trial_memory_gb(gpus_per_trial: float, gpu_memory_gb: float | None,
                    memory_per_trial_gb: float | None) -> tuple[float, str] | None:
    """The memory one trial gets (GiB) and where that number comes from, if the config says."""
    if gpus_per_trial and gpu_memory_gb:
        return (gpus_per_trial * gpu_memory_gb,
                f"compute.gpus_per_trial {gpus_per_trial:g} x compute.gpu_memory_gb "
                f"{gpu_memory_gb:g}")
    if not gpus_per_trial and memory_per_trial_gb:
        return memory_per_trial_gb, "compute.memory_per_trial_gb"
    return None


def check_memory(cfg: SweepConfig) -> None:
    """Every proxy size of ``cfg`` must fit the memory a trial gets, when the config says.

    The sizes are the base ``model``, each of ``scales``, ``validate`` and ``confirm``;
    each at its micro-batch (:func:`micro_batch_for`), as many at once as
    ``compute.models_per_trial`` stacks in one trial (``auto`` picks a number that fits).

    Raises
    ------
    ConfigError
        Naming the size that does not fit (``model``, ``scales[1]``, ``validate``), its
        estimate, the memory given and where that comes from, and the fix.
    """
    c = cfg.compute
    given = trial_memory_gb(c.gpus_per_trial, c.gpu_memory_gb, c.memory_per_trial_gb)
    if given is None:
        return
    budget, source = given
    group = 1 if c.models_per_trial == "auto" else c.models_per_trial
    vocab = cfg.data.tokenizer.vocab_size
    gpu = bool(c.gpus_per_trial)
    for where, model in proxy_sizes(cfg).items():
        micro = micro_batch_for(model, cfg.training, vocab, budget / group, gpu=gpu)
        need = group * training_memory_bytes(model, micro, vocab, gpu=gpu,
                                             loss=cfg.training.loss) / GIB
        if need > budget:
            models = (f"{group} proxies (compute.models_per_trial) of" if group > 1
                      else "a proxy of")
            raise ConfigError(
                where, f"{models} {total_params(model, vocab) / 1e6:.1f}M parameters at "
                f"a micro-batch of {micro} x seq_len {model.seq_len} (training.batch_size "
                f"{cfg.training.batch_size}, training.micro_batch_size "
                f"{cfg.training.micro_batch_size}) need about {need:.1f} GiB to train, more "
                f"than the {budget:.1f} GiB a trial gets ({source}); make the proxy or its "
                "micro-batch smaller, stack fewer proxies per trial, or give each trial "
                "more memory")


def proxies_that_fit(cfg: SweepConfig, budget_gib: float) -> int:
    """How many proxies of the config's largest size train at once in ``budget_gib`` (at
    least 1), each at its whole batch or its configured micro-batch."""
    vocab = cfg.data.tokenizer.vocab_size
    gpu = bool(cfg.compute.gpus_per_trial)
    micro = cfg.training.micro_batch_size
    need = max(training_memory_bytes(model, cfg.training.batch_size if micro == "auto"
                                     else micro, vocab, gpu=gpu, loss=cfg.training.loss)
               for model in proxy_sizes(cfg).values())
    return max(1, int(budget_gib * GIB // need))


def proxy_sizes(cfg: SweepConfig) -> dict[str, ModelConfig]:
    """Every proxy size a config trains, by where it is set: the base ``model``, each of
    ``scales`` (``scales[0]``...), ``validate`` and ``confirm``."""
    return {"model": cfg.model,
            **{f"scales[{i}]": s.applied_to(cfg.model) for i, s in enumerate(cfg.scales)},
            "validate": cfg.validate.applied_to(cfg.model),
            "confirm": cfg.confirm.applied_to(cfg.model)}
