"""Training one proxy: the model, the loop, and the memory it needs.

- :mod:`~raymix.training.model`: the tiny Llama and its checkpoints;
- :mod:`~raymix.training.loop`: :func:`train_proxy`, one run on one mixture, which
  returns its :class:`~raymix.runs.RunRecord`: micro-batches with gradient accumulation,
  an optionally compiled step;
- :mod:`~raymix.training.batches`: the mixture's batches, built ahead in a thread;
- :mod:`~raymix.training.loss`: the cross-entropy without the whole batch's logits
  (fused on CUDA with liger-kernel, chunked in plain PyTorch elsewhere);
- :mod:`~raymix.training.memory`: the memory a proxy needs, checked against what a
  trial gets before anything starts.

Needs torch and transformers, not Ray: a GPU benchmark can run the trainer alone.
"""

from raymix.training.loop import ProxyData, ProxyDiverged, ProxyOutOfMemory, train_proxy
from raymix.training.memory import check_memory, training_memory_bytes
from raymix.training.model import build_model, non_embedding_params

__all__ = ["ProxyData", "ProxyDiverged", "ProxyOutOfMemory", "build_model", "check_memory",
           "non_embedding_params", "train_proxy", "training_memory_bytes"]
