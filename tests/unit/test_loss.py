"""The chunked loss computes what the plain one does: same loss, same gradients."""

import pytest
import torch

from raymix.training import loss as lossmod
from raymix.training.loss import (
    CHUNKED,
    PLAIN,
    lm_loss,
    resolve_loss,
    stacked_lm_loss,
    token_nll,
)


def _inputs(tokens=300, hidden=16, vocab=97, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(tokens, hidden, generator=g, requires_grad=True)
    w = torch.randn(vocab, hidden, generator=g, requires_grad=True)
    t = torch.randint(0, vocab, (tokens,), generator=g)
    return h, w, t


@pytest.mark.parametrize("chunk", [7, 64, 10_000])  # many chunks, a ragged last one, one chunk
def test_chunked_loss_and_gradients_match_plain(monkeypatch, chunk):
    monkeypatch.setattr(lossmod, "chunk_tokens", lambda vocab: chunk)
    results = {}
    for kind in (PLAIN, CHUNKED):
        h, w, t = _inputs()
        value = lm_loss(h, w, t, kind)
        (2.5 * value).backward()  # a scaled loss, as a micro-batch's is
        results[kind] = (value.detach(), h.grad, w.grad)
    for got, want in zip(results[CHUNKED], results[PLAIN], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_chunked_loss_keeps_the_batch_shape_and_tied_weights_get_both_gradients(monkeypatch):
    monkeypatch.setattr(lossmod, "chunk_tokens", lambda vocab: 5)
    grads = {}
    for kind in (PLAIN, CHUNKED):
        torch.manual_seed(0)
        emb = torch.nn.Embedding(50, 8)
        ids = torch.randint(0, 50, (3, 11))
        hidden = torch.tanh(emb(ids[:, :-1]))  # the input side uses the same weight
        lm_loss(hidden, emb.weight, ids[:, 1:], kind).backward()
        grads[kind] = emb.weight.grad
    torch.testing.assert_close(grads[CHUNKED], grads[PLAIN], rtol=1e-5, atol=1e-6)


def test_token_nll_matches_per_token_cross_entropy(monkeypatch):
    monkeypatch.setattr(lossmod, "chunk_tokens", lambda vocab: 13)
    h, w, t = _inputs()
    want = torch.nn.functional.cross_entropy(h @ w.T, t, reduction="none")
    torch.testing.assert_close(token_nll(h.reshape(3, 100, -1), w, t.reshape(3, 100)),
                               want.detach().reshape(3, 100), rtol=1e-5, atol=1e-6)


def test_auto_is_plain_for_one_chunk_and_fused_falls_back_to_chunked_off_cuda():
    cpu = torch.device("cpu")
    one_chunk, many = lossmod.chunk_tokens(50432), 10 * lossmod.chunk_tokens(50432)
    assert resolve_loss("auto", cpu, one_chunk, 50432) == PLAIN  # nothing to save
    assert resolve_loss("auto", cpu, many, 50432) == CHUNKED
    assert resolve_loss("fused", cpu, one_chunk, 50432) == CHUNKED
    assert resolve_loss("chunked", cpu, one_chunk, 50432) == CHUNKED
    assert resolve_loss("plain", cpu, many, 50432) == PLAIN


def test_chunk_size_bounds_the_logits_held():
    assert lossmod.chunk_tokens(50_304) * 50_304 <= lossmod.LOGIT_BUDGET
    assert lossmod.chunk_tokens(4096) == 32_768
    assert lossmod.chunk_tokens(10**9) == 256


@pytest.mark.parametrize("chunk", [16, 50])  # 4 chunks, and one
def test_stacked_chunked_loss_is_each_models_plain_loss_and_gradient(monkeypatch, chunk):
    """M models' losses a chunk of every model's tokens at a time (a stacked group whose
    logits are too large to hold) equal each model's plain loss, and so do the gradients
    of any weighted sum of them (a group's objective)."""
    torch.manual_seed(0)
    m, n, h, v = 3, 50, 8, 37
    monkeypatch.setattr(lossmod, "LOGIT_BUDGET", m * v * chunk)
    hidden = torch.randn(m, n, h, requires_grad=True)
    weight = torch.randn(m, v, h, requires_grad=True)
    targets = torch.randint(0, v, (m, n))
    coef = torch.tensor([1.0, 0.0, 2.5])  # the middle model failed: no gradient for it
    grads = []
    for losses in (lambda: stacked_lm_loss(hidden, weight, targets),
                   lambda: torch.stack([lm_loss(hidden[i], weight[i], targets[i], PLAIN)
                                        for i in range(m)])):
        out = losses()
        (out * coef).sum().backward()
        grads.append((out.detach(), hidden.grad.clone(), weight.grad.clone()))
        hidden.grad = weight.grad = None
    for got, want in zip(*grads):
        assert torch.allclose(got, want, atol=1e-5)
    assert grads[0][1][1].abs().max() == 0
