"""A group of proxies as one stacked model: model m of the group is its solo proxy."""

from __future__ import annotations

import pytest
import torch

from raymix.config import ModelConfig
from raymix.training.model import build_model
from raymix.training.stacked import StackedLlama, clip_grad_norm_per_model

SHAPE = ModelConfig(layers=2, hidden=32, heads=4, intermediate=64, seq_len=16)
VOCAB, SEEDS = 100, (0, 1, 2)


def _solos():
    return [build_model(SHAPE, VOCAB, seed) for seed in SEEDS]


def _windows(step: int) -> torch.Tensor:
    """Each model's own batch of 5 windows (as each mixture's sampler would give)."""
    return torch.randint(0, VOCAB, (len(SEEDS), 5, SHAPE.seq_len + 1),
                         generator=torch.Generator().manual_seed(step))


def _solo_loss(model, windows: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=windows[:, :-1]).logits
    return torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), windows[:, 1:].reshape(-1))


def test_each_model_of_a_stack_has_its_solo_loss_and_gradient():
    solos = _solos()
    stacked = StackedLlama(solos)
    assert stacked.size == 3 and stacked.embed.shape == (3, VOCAB, 32)
    windows = _windows(0)
    losses = stacked.loss(windows)
    losses.sum().backward()
    for m, solo in enumerate(solos):
        loss = _solo_loss(solo, windows[m])
        loss.backward()
        assert losses[m].item() == pytest.approx(loss.item(), abs=1e-5)
        torch.testing.assert_close(stacked.embed.grad[m], solo.model.embed_tokens.weight.grad,
                                   rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(stacked.layers[1]["q"].grad[m],
                                   solo.model.layers[1].self_attn.q_proj.weight.grad,
                                   rtol=1e-4, atol=1e-6)


def test_training_a_stack_is_training_each_solo_with_its_own_clip():
    solos = _solos()
    stacked = StackedLlama(solos)
    group_opt = torch.optim.AdamW(stacked.parameters(), lr=3e-3, betas=(0.9, 0.95),
                                  weight_decay=0.1)
    solo_opts = [torch.optim.AdamW(s.parameters(), lr=3e-3, betas=(0.9, 0.95),
                                   weight_decay=0.1) for s in solos]
    for step in range(4):
        windows = _windows(step)
        stacked.loss(windows).sum().backward()
        norms = clip_grad_norm_per_model(stacked, 0.5)  # active: the norms are above 0.5
        group_opt.step()
        group_opt.zero_grad()
        for m, (solo, opt) in enumerate(zip(solos, solo_opts)):
            _solo_loss(solo, windows[m]).backward()
            solo_norm = torch.nn.utils.clip_grad_norm_(solo.parameters(), 0.5)
            assert norms[m].item() == pytest.approx(solo_norm.item(), rel=1e-4)
            opt.step()
            opt.zero_grad()
    copies = _solos()
    stacked.unstack(copies)
    for copy, solo in zip(copies, solos):
        for (name, a), b in zip(copy.named_parameters(), solo.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_a_stack_takes_models_of_one_shape_only():
    other = build_model(ModelConfig(layers=1, hidden=32, heads=4, intermediate=64, seq_len=16),
                        VOCAB, 0)
    with pytest.raises(ValueError, match="share one config"):
        StackedLlama([_solos()[0], other])
    with pytest.raises(ValueError, match="at least one"):
        StackedLlama([])
