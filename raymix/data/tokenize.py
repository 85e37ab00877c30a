"""Text to tokens: read a config's sources, train (or load) its tokenizer, encode documents.

Documents are concatenated with ``<|endoftext|>`` after each one. A pre-tokenized source
(:mod:`raymix.data.shards`) is not read here, only located. The folder these tokens are
cached in, and :func:`~raymix.data.prepared.prepare`, are :mod:`raymix.data.prepared`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from raymix.config import SweepConfig
from raymix.data.builtin import take_bytes
from raymix.data.shards import TokenSource, is_token_source, read_token_source
from raymix.data.sources import check_sources, read_documents
from raymix.errors import ConfigError

EOT = "<|endoftext|>"
ENCODE_BATCH = 256  # documents per encode_batch call: bounds the memory of Encodings


# ----------------------------------------------------------------------------- reading


@dataclass
class Texts:
    """The documents of every domain (by name), and of the target corpus if any; a
    pre-tokenized source is in ``tokens`` instead (the target's under its name)."""

    domains: dict[str, list[str] | None]
    target: list[str] | None
    tokens: dict[str, TokenSource]


def read_sources(cfg: SweepConfig, log: Callable[[str], None]) -> Texts:
    """Read the documents of every domain and of the target corpus (token sources located).

    Parameters
    ----------
    cfg : SweepConfig
        The sweep config; its ``data.domains`` and ``target`` name the sources.
    log : callable
        Receives one line per source (documents, MB, seconds).

    Returns
    -------
    Texts
        The documents by domain name, and the pre-tokenized sources found.
    """
    check_sources(cfg)  # every source, before reading any
    tokens: dict[str, TokenSource] = {}

    def read(source: str, text_field: str, field_name: str, name: str,
             dtype: str | None = None) -> list[str] | None:
        start = time.perf_counter()
        label = f"target {name}" if field_name == "target.source" else name
        if is_token_source(source, Path(cfg.base_dir)):
            found = read_token_source(source, Path(cfg.base_dir), dtype, field_name)
            tokens[name] = found
            log(f"prepare: {label}: {found.tokens:,} tokens in {len(found.shards)} "
                f"{'Megatron dataset' if found.kind == 'megatron' else 'shard(s)'}, read in "
                f"place ({time.perf_counter() - start:.1f} s)")
            return None
        docs = read_documents(source, text_field=text_field, base_dir=Path(cfg.base_dir),
                              cache_dir=cfg.cache_path, max_bytes=cfg.data.max_text_bytes,
                              field_name=field_name)
        megabytes = sum(len(d.encode("utf-8")) for d in docs) / 1e6
        log(f"prepare: read {label}: {len(docs):,} docs, {megabytes:.1f} MB "
            f"in {time.perf_counter() - start:.1f} s")
        return docs

    domains = {
        d.name: read(d.source, d.text_field, f"data.domains[{i}].source", d.name, d.dtype)
        for i, d in enumerate(cfg.data.domains)
    }
    t = cfg.target
    target = read(t.source, t.text_field, "target.source", t.name) if t.source else None
    return Texts(domains, target, tokens)


# ----------------------------------------------------------------------------- tokenizing


def load_or_train_tokenizer(cfg: SweepConfig, texts: Texts,
                            log: Callable[[str], None]) -> Tokenizer:
    """Load ``data.tokenizer.path``, or train a byte-level BPE on a sample of each domain."""
    tok_cfg = cfg.data.tokenizer
    if tok_cfg.path:
        path = cfg.resolve(tok_cfg.path)
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # noqa: BLE001 - tokenizers raises a bare Exception
            raise ConfigError("data.tokenizer.path",
                              f"{str(path)!r} is not a tokenizer.json ({exc}); give a file "
                              "saved by the tokenizers library") from None
        if tokenizer.token_to_id(EOT) is None:
            tokenizer.add_special_tokens([EOT])
        log(f"prepare: tokenizer: loaded {path} (vocab {tokenizer.get_vocab_size():,})")
        return tokenizer

    start = time.perf_counter()
    # The head of each domain: the validation split is its tail, so a sample smaller
    # than the training part keeps held-out text out of the tokenizer.
    sample = [take_bytes(docs, tok_cfg.sample_bytes) for docs in texts.domains.values()
              if docs is not None]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=tok_cfg.vocab_size,
        special_tokens=[EOT],
        # All 256 byte symbols, whether the sample has them or not: any text round-trips.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator((doc for docs in sample for doc in docs), trainer)
    megabytes = sum(len(doc.encode("utf-8")) for docs in sample for doc in docs) / 1e6
    log(f"prepare: tokenizer: byte-level BPE, vocab {tokenizer.get_vocab_size():,}, trained on "
        f"{megabytes:.1f} MB in {time.perf_counter() - start:.1f} s")
    return tokenizer


def encode(tokenizer: Tokenizer, docs: list[str],
            dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Token stream of ``docs`` with EOT after each one, and each document's start offset."""
    eot = tokenizer.token_to_id(EOT)
    # encode_batch_fast (tokenizers >= 0.21) skips the offsets we do not use: ~1.5x faster.
    encode_batch = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    pieces = []
    for i in range(0, len(docs), ENCODE_BATCH):
        for encoding in encode_batch(docs[i: i + ENCODE_BATCH], add_special_tokens=False):
            pieces.append(np.array(encoding.ids + [eot], dtype=dtype))
    lengths = np.array([len(p) for p in pieces], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.concatenate(pieces), starts
