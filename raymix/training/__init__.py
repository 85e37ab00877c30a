"""Training one proxy: the model, the loop, and the memory it needs.

- :mod:`~raymix.training.model`: the tiny Llama and its checkpoints;
- :mod:`~raymix.training.loop`: :func:`train_proxy`, one run on one mixture, which
  returns its :class:`~raymix.runs.RunRecord`: micro-batches with gradient accumulation,
  an optionally compiled step;
- :mod:`~raymix.training.batches`: the mixture's batches, built ahead in a thread;
- :mod:`~raymix.training.loss`: the cross-entropy without the whole batch's logits
  (fused on CUDA with liger-kernel, chunked in plain PyTorch elsewhere);
- :mod:`~raymix.training.memory`: the memory a proxy needs, checked against what a
  trial gets before anything starts (torch-free: parameters and FLOPs are counted from
  the shape by :mod:`raymix.config.counts`).

Needs torch and transformers, not Ray: a GPU benchmark can run the trainer alone. Only
what trains imports torch: the loop's and the model's names below are imported on first
use, so ``import raymix.training.memory`` (the sweep's aggregator and cluster checks)
loads no torch (about 190 MiB and a few seconds).
"""

import importlib

from raymix.config.counts import non_embedding_params
from raymix.training.memory import check_memory, training_memory_bytes

# name -> the torch module that defines it, imported when the name is first asked for
_TORCH_NAMES = {"ProxyData": "loop", "ProxyDiverged": "loop", "ProxyOutOfMemory": "loop",
                "train_proxy": "loop", "build_model": "model"}


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module(f"raymix.training.{_TORCH_NAMES[name]}"), name)
    raise AttributeError(f"module 'raymix.training' has no attribute {name!r}")


__all__ = ["ProxyData", "ProxyDiverged", "ProxyOutOfMemory", "build_model", "check_memory",
           "non_embedding_params", "train_proxy", "training_memory_bytes"]
