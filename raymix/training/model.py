"""The proxy model: a tiny Llama (transformers) with tied embeddings, and its checkpoints."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from raymix.config import ModelConfig
from raymix.errors import UserError
from raymix.storage import push_tree


def llama_config(model: ModelConfig, vocab_size: int) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=model.hidden,
        intermediate_size=model.intermediate,
        num_hidden_layers=model.layers,
        num_attention_heads=model.heads,
        num_key_value_heads=model.heads,
        max_position_embeddings=model.seq_len,
        tie_word_embeddings=True,
    )


def build_model(model: ModelConfig, vocab_size: int, seed: int,
                init_from: str | None = None) -> LlamaForCausalLM:
    """A Llama with tied input/output embeddings: randomly initialised, or loaded from
    ``init_from`` (a ``save_pretrained`` folder) for continual pretraining."""
    config = llama_config(model, vocab_size)
    torch.manual_seed(seed)
    if init_from is None:
        return LlamaForCausalLM(config)
    try:  # safetensors only: a pickled pytorch_model.bin could run code when loaded
        loaded = LlamaForCausalLM.from_pretrained(init_from, torch_dtype=torch.float32,
                                                  use_safetensors=True)
    except OSError as exc:
        raise UserError(f"{init_from} holds no safetensors model "
                        f"({str(exc).strip().splitlines()[0]}); save it with save_pretrained "
                        "(safetensors is its default)", field="training.init_from") from None
    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads"):
        if getattr(loaded.config, key) != getattr(config, key):
            raise UserError(f"the checkpoint has {key} = "
                            f"{getattr(loaded.config, key)}, the config asks for "
                            f"{getattr(config, key)}; make the model section match the checkpoint",
                            field="training.init_from")
    return loaded


def save_checkpoint(model: torch.nn.Module, folder: str) -> None:
    """``save_pretrained`` into a temporary folder, then rename: never a half-written model."""
    folder = Path(folder)
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    push_tree(folder)  # a sweep on object storage: the model goes to the store too


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """A built model's parameters, all and outside the (tied) embedding, as its run record
    stores them: what :func:`raymix.config.counts.total_params` and
    :func:`~raymix.config.counts.non_embedding_params` count from the shape alone
    (tests/unit/test_counts.py holds them equal)."""
    total = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight.numel()
    return {"params": total, "non_embedding_params": total - embedding}
