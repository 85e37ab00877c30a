"""M proxies of one shape as one program: every weight stacked along a leading model axis.

A tiny proxy's training step is bound by kernel launches, not arithmetic: the ~500 kernels
of a 2-layer Llama step cost the same for 1M parameters as for 10M. :class:`StackedLlama`
holds M Llamas of one shape as tensors ``[M, ...]`` (linear layers become batched matmuls,
attention folds the model axis into the batch), so one step issues those kernels once for
all M (HFTA: Wang et al., "Horizontally Fused Training Array", MLSys 2021).

It is the same network as :func:`~raymix.training.model.build_model`'s: RMSNorm, rotary
attention, SwiGLU, tied embeddings, transformers' numerics. It is built from M solo models
(each made with its own seed), so model ``m`` starts exactly where its solo run starts, and
:meth:`StackedLlama.loss` returns each model's mean loss: the sum of them gives every model
its solo gradient. :meth:`StackedLlama.unstack` writes the weights back into solo models
(for evaluation and checkpoints).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlamaForCausalLM

from raymix.training.loss import PLAIN, stacked_lm_loss

# the stacked weights of one decoder layer, by transformers' names
LAYER_WEIGHTS = {
    "attn_norm": "input_layernorm.weight",
    "q": "self_attn.q_proj.weight",
    "k": "self_attn.k_proj.weight",
    "v": "self_attn.v_proj.weight",
    "o": "self_attn.o_proj.weight",
    "mlp_norm": "post_attention_layernorm.weight",
    "gate": "mlp.gate_proj.weight",
    "up": "mlp.up_proj.weight",
    "down": "mlp.down_proj.weight",
}


class StackedLlama(nn.Module):
    """M Llamas of one shape, trained as one module.

    Parameters
    ----------
    models : list of LlamaForCausalLM
        The solo proxies (same config, tied embeddings), each initialised as its own run
        would be; their weights are copied, not shared.

    Attributes
    ----------
    embed : Parameter of shape (M, vocab, hidden)
        The tied input/output embeddings.
    layers : ModuleList
        Per decoder layer, a ParameterDict of ``[M, ...]`` weights (:data:`LAYER_WEIGHTS`).
    norm : Parameter of shape (M, hidden)
    """

    def __init__(self, models: list[LlamaForCausalLM]):
        super().__init__()
        if not models:
            raise ValueError("a stacked model needs at least one model")
        config = models[0].config
        if any(m.config.to_dict() != config.to_dict() for m in models):
            raise ValueError("the models of a stack must share one config")
        if not config.tie_word_embeddings:
            raise ValueError("the proxies tie their embeddings")
        self.config = config
        self.heads = config.num_attention_heads
        self.head_dim = config.hidden_size // self.heads
        self.eps = config.rms_norm_eps
        self.rotary = models[0].model.rotary_emb  # buffers only, the same for every model

        def stack(get) -> nn.Parameter:
            return nn.Parameter(torch.stack([get(m).detach().clone() for m in models]))

        self.embed = stack(lambda m: m.model.embed_tokens.weight)
        self.layers = nn.ModuleList()
        for i in range(config.num_hidden_layers):
            weights = {key: stack(lambda m, n=name, i=i: m.model.layers[i].get_parameter(n))
                       for key, name in LAYER_WEIGHTS.items()}
            self.layers.append(nn.ParameterDict(weights))
        self.norm = stack(lambda m: m.model.norm.weight)

    @property
    def size(self) -> int:
        """M, the number of models."""
        return self.embed.shape[0]

    def _rms_norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """transformers' LlamaRMSNorm, for weights ``[M, hidden]`` and ``x [M, B, T, hidden]``."""
        dtype = x.dtype
        x = x.to(torch.float32)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return weight[:, None, None, :] * x.to(dtype)

    @staticmethod
    def _linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``x [M, B, T, in]`` through weights ``[M, out, in]`` (nn.Linear's layout)."""
        m, b, t, _ = x.shape
        return torch.bmm(x.reshape(m, b * t, -1), weight.transpose(1, 2)).reshape(m, b, t, -1)

    def _heads(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """A projection of ``x [M, B, T, hidden]`` split into heads, the model axis folded
        into the batch: ``[M*B, heads, T, head_dim]``."""
        m, b, t, _ = x.shape
        return self._linear(x, weight).reshape(m * b, t, self.heads, self.head_dim) \
            .transpose(1, 2)

    def hidden(self, ids: torch.Tensor) -> torch.Tensor:
        """The final hidden states ``[M, B, T, hidden]`` of token ids ``[M, B, T]`` (row m
        goes through model m)."""
        m, b, t = ids.shape
        # one embedding table of M x vocab rows, each model's ids offset into its own rows:
        # F.embedding's backward sums rows densely (an index_put would accumulate slowly)
        offsets = torch.arange(m, device=ids.device)[:, None, None] * self.embed.shape[1]
        x = F.embedding(ids + offsets, self.embed.reshape(-1, self.embed.shape[2]))
        positions = torch.arange(t, device=ids.device)[None, :]
        cos, sin = self.rotary(x, positions)  # [1, T, head_dim]
        for layer in self.layers:
            h = self._rms_norm(x, layer["attn_norm"])
            q, k, v = (self._heads(h, layer[w]) for w in ("q", "k", "v"))
            q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
            attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            attended = attended.transpose(1, 2).reshape(m, b, t, -1)
            x = x + self._linear(attended, layer["o"])
            h = self._rms_norm(x, layer["mlp_norm"])
            x = x + self._linear(F.silu(self._linear(h, layer["gate"]))
                                 * self._linear(h, layer["up"]), layer["down"])
        return self._rms_norm(x, self.norm)

    def loss(self, ids: torch.Tensor, kind: str = PLAIN) -> torch.Tensor:
        """Each model's mean next-token loss on its windows ``ids [M, B, T + 1]``: shape
        ``[M]``. Their sum's gradient is, for each model, its solo gradient.

        ``kind`` is the loss of :mod:`~raymix.training.loss`: ``plain`` makes every
        model's logits in one batched product; ``chunked`` and ``fused`` (for logits too
        large to hold) go through the output layer a chunk of tokens of every model at a
        time (:func:`~raymix.training.loss.stacked_lm_loss`).
        """
        hidden = self.hidden(ids[:, :, :-1])
        targets = ids[:, :, 1:]
        m, b, t, h = hidden.shape
        if kind != PLAIN:
            return stacked_lm_loss(hidden.reshape(m, b * t, h), self.embed,
                                   targets.reshape(m, b * t))
        logits = torch.bmm(hidden.reshape(m, b * t, h), self.embed.transpose(1, 2))
        nll = F.cross_entropy(logits.reshape(m * b * t, -1).float(),
                              targets.reshape(-1), reduction="none")
        return nll.reshape(m, b * t).mean(1)

    @torch.no_grad()
    def unstack(self, models: list[LlamaForCausalLM]) -> None:
        """Copy model ``m``'s weights into ``models[m]`` (a solo Llama of the same config)."""
        for i, solo in enumerate(models):
            solo.model.embed_tokens.weight.copy_(self.embed[i])
            for layer, weights in zip(solo.model.layers, self.layers):
                for key, name in LAYER_WEIGHTS.items():
                    layer.get_parameter(name).copy_(weights[key][i])
            solo.model.norm.weight.copy_(self.norm[i])


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """transformers' apply_rotary_pos_emb for one of q, k ``[N, heads, T, head_dim]``."""
    cos, sin = cos[:, None], sin[:, None]
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


@torch.no_grad()
def clip_grad_norm_per_model(stacked: StackedLlama, max_norm: float) -> torch.Tensor:
    """Clip each model's gradient to ``max_norm`` as ``torch.nn.utils.clip_grad_norm_``
    clips a solo model's (one norm over all of that model's parameters): a clip on the
    whole stack would couple the models. Returns each model's norm before clipping, ``[M]``."""
    grads = [p.grad for p in stacked.parameters() if p.grad is not None]
    norms = torch.sqrt(sum((g.reshape(g.shape[0], -1).float() ** 2).sum(1) for g in grads))
    scale = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale.reshape(-1, *[1] * (g.dim() - 1)).to(g.dtype))
    return norms
