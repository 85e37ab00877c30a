"""Training one proxy: the model, the loop, and the memory it needs.

- :mod:`~raymix.training.model`: the tiny Llama and its checkpoints;
- :mod:`~raymix.training.loop`: :func:`train_proxy`, one run on one mixture, which
  returns its :class:`~raymix.runs.RunRecord`;
- :mod:`~raymix.training.memory`: the memory a proxy needs, checked against what a
  trial gets before anything starts.

Needs torch and transformers, not Ray: a GPU benchmark can run the trainer alone.
"""

from raymix.training.loop import ProxyData, ProxyDiverged, train_proxy
from raymix.training.memory import check_memory, training_memory_bytes
from raymix.training.model import build_model, non_embedding_params

__all__ = ["ProxyData", "ProxyDiverged", "build_model", "check_memory", "non_embedding_params",
           "train_proxy", "training_memory_bytes"]
