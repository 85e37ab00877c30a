"""raymix.config.counts: parameters and FLOPs counted from a proxy's shape, checked
against the torch model the trainer builds (tied embeddings: the output layer is the
input embedding, counted once)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from raymix.config import ModelConfig
from raymix.config.counts import (
    flops_per_token,
    matmul_params,
    non_embedding_params,
    total_params,
)
from raymix.training.model import build_model, count_parameters

SHAPES = [((1, 32, 2, 64, 64), 512), ((2, 64, 4, 256, 128), 2048),
          ((4, 256, 4, 1024, 64), 32000), ((3, 96, 4, 200, 64), 4096)]


@pytest.mark.parametrize("shape, vocab", SHAPES)
def test_the_counts_equal_the_built_models_numel(shape, vocab):
    model = ModelConfig(*shape)
    with torch.device("meta"):
        built = build_model(model, vocab, seed=0)
    assert built.lm_head.weight is built.get_input_embeddings().weight  # tied
    counted = count_parameters(built)
    assert total_params(model, vocab) == counted["params"]
    assert non_embedding_params(model) == counted["non_embedding_params"]
    # the weights of matrix products: every linear layer, the tied output layer once
    linear = {id(m.weight): m.weight.numel() for m in built.modules()
              if isinstance(m, torch.nn.Linear)}
    assert matmul_params(model, vocab) == sum(linear.values())
    assert flops_per_token(model, vocab) == (6 * sum(linear.values())
                                             + 12 * model.layers * model.hidden * model.seq_len)


def test_the_non_embedding_count_ignores_the_vocabulary():
    model = ModelConfig(2, 64, 4, 256, 128)
    assert (total_params(model, 4096) - total_params(model, 2048)
            == (4096 - 2048) * model.hidden)


def test_counting_and_estimating_memory_need_no_torch():
    """The cost preview, the sweep's cluster checks and its aggregator import these."""
    code = ("import sys, raymix.config.counts, raymix.training.memory, raymix.sweep.aggregator;"
            " sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
