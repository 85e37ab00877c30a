"""A proxy's parameters and training FLOPs, counted from its shape (no torch).

raymix's proxy is a Llama (:func:`raymix.training.model.build_model`) with tied input and
output embeddings. Per layer it has the attention's q, k, v and o (``hidden x hidden``
each), the MLP's gate, up and down (``hidden x intermediate`` each) and two RMSNorms
(``hidden`` each); after the layers one more RMSNorm; and the embedding, ``vocab x
hidden``, used again as the output layer. tests/unit/test_counts.py checks these counts
against the built torch model's ``numel``.

FLOPs per training token follow nanoGPT's ``estimate_mfu`` and PaLM's MFU accounting
(Chowdhery et al. 2022, appendix B): ``6 N`` for the forward and backward matrix
products of the ``N`` parameters that take part in one (:func:`matmul_params`; norms
and the embedding lookup do not, the tied output layer does), plus ``12 x layers x hidden
x seq_len`` for the attention scores and their weighted sum.

Every count of raymix comes from here: the config's size check
(:mod:`raymix.config.checks`), the memory estimate (:mod:`raymix.training.memory`) and
the cost preview (:mod:`raymix.workflows.costing`). It lives with the config because the
config's check is its lowest user; it reads nothing but a :class:`ModelConfig`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raymix.config.schema import ModelConfig


def non_embedding_params(model: ModelConfig) -> int:
    """Parameters outside the (tied) embedding: q, k, v, o, gate, up, down and two
    RMSNorms per layer, and the final RMSNorm. The vocabulary does not change it."""
    h, i = model.hidden, model.intermediate
    return model.layers * (4 * h * h + 3 * h * i + 2 * h) + h


def total_params(model: ModelConfig, vocab_size: int) -> int:
    """All parameters: the embedding (``vocab_size x hidden``, counted once: the output
    layer is the same tensor) and the rest (:func:`non_embedding_params`)."""
    return vocab_size * model.hidden + non_embedding_params(model)


def matmul_params(model: ModelConfig, vocab_size: int) -> int:
    """Parameters that take part in a matrix product: q, k, v, o, gate, up, down in every
    layer, and the output layer (tied to the input embedding: counted once)."""
    h, i = model.hidden, model.intermediate
    return model.layers * (4 * h * h + 3 * h * i) + vocab_size * h


def flops_per_token(model: ModelConfig, vocab_size: int) -> float:
    """Training FLOPs per token (forward and backward): ``6 N + 12 layers hidden seq_len``
    with ``N`` = :func:`matmul_params`."""
    return float(6 * matmul_params(model, vocab_size)
                 + 12 * model.layers * model.hidden * model.seq_len)
