"""The language-model loss, without ever holding the whole batch's logits.

A RegMix proxy (width 256, a 50k vocabulary) trained on 2,048-token sequences makes
100M logits per 1,000 sequences: the plain loss (``lm_head``, then cross-entropy over
the float32 logits) needs far more memory for them than for the model itself. Three
ways to compute the same mean next-token cross-entropy (``training.loss``):

- ``fused``: liger-kernel's fused linear + cross-entropy (Triton, CUDA only; Hsu et al.
  2024, "Liger Kernel: Efficient Triton Kernels for LLM Training"), installed with
  ``pip install raymix[gpu]``;
- ``chunked``: the same idea in plain PyTorch, for CPUs or where liger-kernel is missing:
  the tokens go through the output layer a chunk at a time, and each chunk's gradients
  (with respect to the hidden states and the output weights) are computed in the forward
  pass, so only one chunk's logits exist at any time and none are kept for the backward;
- ``plain``: ``lm_head`` then :func:`torch.nn.functional.cross_entropy` (every logit held).

All three give the same loss and gradients up to float rounding (tests/unit/test_loss.py;
the fused one is checked by bench/bench_gpu_proxy.py on a GPU). Under bf16 autocast the
output layer's products run in bf16 and the softmax in float32, as in the plain path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from raymix.config.checks import installed

LOGIT_BUDGET = 2**27  # logits (float32 elements) one chunk holds: 512 MiB
FUSED, CHUNKED, PLAIN = "fused", "chunked", "plain"


def chunk_tokens(vocab_size: int) -> int:
    """Tokens per chunk of the chunked loss: ``LOGIT_BUDGET`` logits, at least 256 tokens.

    A 50k vocabulary gives 2,621-token chunks (big enough matrix products for a GPU); a
    4k one 32k tokens, so a small proxy's batch is one chunk and costs nothing extra.
    """
    return max(256, LOGIT_BUDGET // vocab_size)


def fused_available() -> bool:
    """liger-kernel is installed (its kernels need a CUDA GPU and Triton)."""
    return installed("liger_kernel")


def resolve_loss(loss: str, device: torch.device, tokens: int, vocab_size: int) -> str:
    """The loss ``training.loss`` means for micro-batches of ``tokens`` tokens on ``device``.

    ``auto`` is plain when a micro-batch's logits fit one chunk (a small proxy: chunking
    would save nothing, and the plain loss compiles into the step), else fused on CUDA when
    liger-kernel is installed, else chunked. ``fused`` asked for where it cannot run (a
    CPU, or no liger-kernel) becomes chunked, which computes the same.
    """
    if loss == PLAIN or loss == CHUNKED:
        return loss
    if loss == "auto" and tokens <= chunk_tokens(vocab_size):
        return PLAIN
    if device.type == "cuda" and fused_available():
        return FUSED
    return CHUNKED


def lm_loss(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
            loss: str) -> torch.Tensor:
    """Mean cross-entropy of predicting ``targets`` from ``hidden`` through ``weight``.

    Parameters
    ----------
    hidden : Tensor of shape (..., hidden)
        The model's final hidden states (after its last norm).
    weight : Tensor of shape (vocab, hidden)
        The output layer (tied to the embedding in raymix's proxies).
    targets : LongTensor of shape (...)
        The next token at each position.
    loss : {"fused", "chunked", "plain"}
        How (see the module docstring); resolve ``auto`` first with :func:`resolve_loss`.
    """
    hidden = hidden.reshape(-1, hidden.size(-1))
    targets = targets.reshape(-1)
    dtype = _matmul_dtype(hidden.device)
    if loss == PLAIN:
        logits = hidden.to(dtype) @ weight.to(dtype).T
        return F.cross_entropy(logits.float(), targets)
    if loss == FUSED:
        return _fused(hidden.to(dtype), weight.to(dtype), targets)
    return _chunked(hidden, weight, targets, dtype)


# The fused and chunked losses run eagerly inside a compiled step (a graph break): they
# loop over chunks of tokens, which torch.compile would unroll (hundreds of chunks for a
# RegMix micro-batch: minutes of tracing), and each chunk is one large matrix product
# that compilation cannot speed up.
@torch.compiler.disable
def _fused(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy

    return liger_fused_linear_cross_entropy(hidden, weight, targets, accum_dtype=torch.float32)


@torch.compiler.disable
def _chunked(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
             dtype: torch.dtype) -> torch.Tensor:
    return _ChunkedCrossEntropy.apply(hidden[None], weight[None], targets[None],
                                      chunk_tokens(weight.size(0)), dtype)[0]


def stacked_lm_loss(hidden: torch.Tensor, weight: torch.Tensor,
                    targets: torch.Tensor) -> torch.Tensor:
    """Each of M models' mean cross-entropy, without holding their logits: shape ``[M]``.

    ``hidden [M, N, hidden]``, ``weight [M, vocab, hidden]`` (each model's output layer),
    ``targets [M, N]``. A chunk of tokens of every model at a time goes through one
    batched product (:class:`_ChunkedCrossEntropy`), the chunk sized so that all M
    models' logits of it are :data:`LOGIT_BUDGET`. This is a stacked group's loss where its
    logits are too large to hold: liger-kernel has no batched kernel, and one model at a
    time through it was 14x slower (a group of 64 demo proxies on an H200, docs/benchmarks.md).
    """
    m, _, _ = hidden.shape
    step = max(16, LOGIT_BUDGET // (m * weight.size(1)))
    return _stacked_chunked(hidden, weight, targets, step, _matmul_dtype(hidden.device))


@torch.compiler.disable  # a loop over chunks, eagerly, as _chunked
def _stacked_chunked(hidden, weight, targets, step, dtype):
    return _ChunkedCrossEntropy.apply(hidden, weight, targets, step, dtype)


@torch.no_grad()
def token_nll(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-token cross-entropy (float32, shape of ``targets``), a chunk of logits at a time."""
    shape = targets.shape
    hidden = hidden.reshape(-1, hidden.size(-1))
    targets = targets.reshape(-1)
    dtype = _matmul_dtype(hidden.device)
    w = weight.to(dtype)
    step = chunk_tokens(weight.size(0))
    out = torch.empty(targets.numel(), dtype=torch.float32, device=hidden.device)
    for start in range(0, targets.numel(), step):
        logits = (hidden[start:start + step].to(dtype) @ w.T).float()
        t = targets[start:start + step]
        out[start:start + step] = (torch.logsumexp(logits, dim=-1)
                                   - logits.gather(1, t[:, None]).squeeze(1))
    return out.reshape(shape)


def _matmul_dtype(device: torch.device) -> torch.dtype:
    """bf16 inside a bf16 autocast region (the trainer's on GPUs), else float32."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return torch.float32


class _ChunkedCrossEntropy(torch.autograd.Function):
    """Linear layer + mean cross-entropy of M models (a leading model axis; M = 1 for one
    proxy), a chunk of tokens at a time, gradients in forward.

    For each chunk: logits = h W^T; loss += logsumexp(logits) - logits[target];
    dlogits = (softmax(logits) - onehot(target)) / N; dh = dlogits W; dW += dlogits^T h.
    The backward only scales the stored dh and dW by the incoming gradient (one per model).
    """

    @staticmethod
    def forward(ctx, hidden, weight, targets, step, dtype):
        m, n, _ = hidden.shape
        w = weight.to(dtype)
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        total = torch.zeros(m, dtype=torch.float32, device=hidden.device)
        for start in range(0, n, step):
            h = hidden[:, start:start + step].to(dtype)
            t = targets[:, start:start + step, None]
            logits = torch.bmm(h, w.transpose(1, 2)).float()  # [M, chunk, vocab]
            lse = torch.logsumexp(logits, dim=-1, keepdim=True)
            total += (lse - logits.gather(2, t)).sum(dim=(1, 2))
            probs = logits.sub_(lse).exp_()  # softmax, in place of the logits
            probs.scatter_add_(2, t, torch.full(t.shape, -1.0, device=probs.device))
            dlogits = probs.div_(n).to(dtype)
            grad_hidden[:, start:start + step] = torch.bmm(dlogits, w)
            grad_weight += torch.bmm(dlogits.transpose(1, 2), h).float()
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.weight_dtype = weight.dtype
        return total / n

    @staticmethod
    def backward(ctx, grad_output):
        grad_hidden, grad_weight = ctx.saved_tensors
        scale = grad_output[:, None, None]
        return (grad_hidden * scale, (grad_weight * scale).to(ctx.weight_dtype),
                None, None, None)

