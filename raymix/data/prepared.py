"""The prepared-data cache: a config's token arrays and tokenizer in one folder, built once.

Layout of a prepared folder ``<cache_dir>/prepared-<key>/``::

    tokenizer.json               byte-level BPE (exact round trip), <|endoftext|> separator
    tokens/<domain>.train.bin    raw uint16 (uint32 when the vocabulary needs it) token ids
    tokens/<domain>.valid.bin    the domain's held-out tail, never in its train array
    tokens/_target.valid.bin     the target corpus (only when target.source is set)
    manifest.json                version, dtype, vocabulary, token counts, hashes, prior

A pre-tokenized domain (:mod:`raymix.data.shards`) has no train file here: the manifest
lists its shards where they lie, and :meth:`PreparedData.train` reads them in place. Its
validation split (held-out documents at the end of its stream, a few thousand tokens) is
copied here like any other.

The texts are read and tokenized by :mod:`raymix.data.tokenize`. The validation split
of a domain is the tail of its token stream, starting at a document boundary where
possible. ``<key>`` hashes everything that changes the tokens (sources, their texts,
tokenizer settings, split sizes), so preparing the same inputs again reuses the
folder, and a folder is moved into place whole, never left half written.

Example::

    prepared = prepare(load_config("jobs/configs/demo.yaml"))
    prepared.train("code")[:10]     # a read-only np.memmap of token ids
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from raymix.config import SweepConfig
from raymix.data.builtin import builtin_provenance, source_fingerprint
from raymix.data.shards import (
    Shard,
    TokenShards,
    TokenSource,
    check_vocabulary,
    document_starts,
    write_token_shards,
)
from raymix.data.tokenize import EOT, Texts, encode, load_or_train_tokenizer, read_sources
from raymix.errors import ConfigError, UserError
from raymix.files import folder_problem, input_problem
from raymix.version import __version__

FORMAT = 1  # bump when the folder layout changes, so old caches are not reused
TARGET_FILE = "tokens/_target.valid.bin"  # domain names start with a letter: no clash
EXPORT_SHARD_TOKENS = 100_000_000  # tokens per exported .npy shard (nanoGPT's FineWeb size)


# ----------------------------------------------------------------------------- the result


@dataclass
class PreparedData:
    """A prepared folder: token arrays memory-mapped read-only, so trials share pages.

    Keep the arrays that :meth:`train` and :meth:`valid` return rather than calling
    them per batch; the object itself pickles small (a path and the manifest).
    """

    path: Path
    manifest: dict

    @classmethod
    def open(cls, path: Path) -> PreparedData:
        """Open a prepared folder written by :func:`prepare`."""
        path = Path(path)
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:  # cut short, or not JSON at all
            raise UserError(f"{path / 'manifest.json'} is damaged or cut short ({exc}); "
                            f"delete the folder {path} and run 'raymix prepare CONFIG' again "
                            "to build it") from None
        if not isinstance(manifest, dict):
            raise UserError(f"{path / 'manifest.json'} is not a prepared folder's manifest; "
                            f"delete the folder {path} and run 'raymix prepare CONFIG' again")
        return cls(path=path, manifest=manifest)

    @property
    def domains(self) -> list[str]:
        return list(self.manifest["domains"])

    @property
    def vocab_size(self) -> int:
        return int(self.manifest["vocab_size"])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.manifest["dtype"])

    @property
    def prior(self) -> dict[str, float]:
        """Each domain's share of the training tokens (sums to 1)."""
        return dict(self.manifest["prior"])

    @property
    def train_tokens(self) -> dict[str, int]:
        return {d: m["train_tokens"] for d, m in self.manifest["domains"].items()}

    @property
    def valid_tokens(self) -> dict[str, int]:
        return {d: m["valid_tokens"] for d, m in self.manifest["domains"].items()}

    def train(self, domain: str) -> np.memmap | TokenShards:
        """The training token ids of ``domain``: an array mapped from this folder, or, for a
        pre-tokenized domain, its shards read in place."""
        entry = self._domain(domain)
        if "shards" in entry:
            return TokenShards([Shard(**shard) for shard in entry["shards"]])
        return self._map(entry["train_file"])

    def valid(self, domain: str) -> np.memmap:
        """The held-out validation token ids of ``domain``."""
        return self._map(self._domain(domain)["valid_file"])

    def target_valid(self) -> np.ndarray | None:
        """The target corpus' token ids, or None when the target weighs domains."""
        target = self.manifest["target"]
        return self._map(target["valid_file"]) if target["kind"] == "corpus" else None

    def tokenizer(self) -> Tokenizer:
        return Tokenizer.from_file(str(self.path / "tokenizer.json"))

    def export(self, folder: Path, shard_tokens: int = EXPORT_SHARD_TOKENS) -> Path:
        """Write these tokens as flat ``.npy`` shards, for a training run of your own.

        ``folder/<domain>/train-00000.npy ...`` and ``valid-00000.npy``, the target's
        tokens under ``_target/``, ``tokenizer.json`` and ``manifest.json`` (this
        manifest, each domain's and the target's files listed relative to ``folder``).
        ``folder`` must not exist yet: it is written under a temporary name and renamed
        when whole, so a crash leaves no half export. One shard is in memory at a time.
        """
        folder = Path(folder)
        if folder.exists() or folder.is_symlink():
            raise FileExistsError(f"{str(folder)!r} exists")
        tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
        try:
            manifest = json.loads(json.dumps(self.manifest))
            for name in self.domains:
                entry = manifest["domains"][name]
                for split, tokens in (("train", self.train(name)), ("valid", self.valid(name))):
                    paths = write_token_shards(tokens, tmp / name, shard_tokens, prefix=split)
                    entry[f"{split}_files"] = [str(p.relative_to(tmp)) for p in paths]
                for key in ("train_file", "valid_file", "shards"):
                    entry.pop(key, None)
            target = manifest["target"]
            if target["kind"] == "corpus":
                paths = write_token_shards(self.target_valid(), tmp / "_target", shard_tokens,
                                           prefix="valid")
                target["valid_files"] = [str(p.relative_to(tmp)) for p in paths]
                target.pop("valid_file")
            manifest["exported_from"] = str(self.path)
            shutil.copyfile(self.path / "tokenizer.json", tmp / "tokenizer.json")
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            os.rename(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder

    def _domain(self, domain: str) -> dict:
        try:
            return self.manifest["domains"][domain]
        except KeyError:
            raise KeyError(f"no domain {domain!r} in {self.path}; it has {self.domains}") from None

    def _map(self, relative: str) -> np.memmap:
        return np.memmap(self.path / relative, dtype=self.dtype, mode="r")


# ----------------------------------------------------------------------------- entry points


def prepare(cfg: SweepConfig, *, log: Callable[[str], None] = print) -> PreparedData:
    """Read the sources, train the tokenizer and write the token arrays, or reuse them.

    Parameters
    ----------
    cfg : SweepConfig
        The sweep config; its ``data`` and ``target`` sections decide the tokens.
    log : callable
        Receives one line per step (domain, documents, MB, tokens, seconds).

    Returns
    -------
    PreparedData
        The prepared folder ``<cache_dir>/prepared-<key>``.

    Raises
    ------
    ConfigError
        When a source cannot be read, or yields too few tokens for ``model.seq_len``.
    """
    start = time.perf_counter()
    problem = folder_problem(cfg.cache_path)
    if problem:
        raise ConfigError("data.cache_dir", f"{problem}; give a folder you can write to")
    _remove_crashed_builds(cfg.cache_path)
    texts = read_sources(cfg, log)
    path = cfg.cache_path / f"prepared-{_cache_key(cfg, texts)}"
    if (path / "manifest.json").is_file():
        log(f"prepare: reusing {path}")
        _check_sizes(cfg, PreparedData.open(path))
    else:
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        try:  # built and checked under a temporary name: a refusal or crash leaves nothing
            _build(cfg, texts, tmp, log)
            _check_sizes(cfg, PreparedData.open(tmp))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _move_into_place(tmp, path)
        log(f"prepare: wrote {path} in {time.perf_counter() - start:.1f} s")
    return PreparedData.open(path)


def _remove_crashed_builds(cache: Path) -> None:
    """Remove the temporary folders of prepares whose process is gone (a crash, a kill)."""
    for tmp in cache.glob("prepared-*.tmp-*"):
        pid = tmp.name.rpartition(".tmp-")[2]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)  # still running (ours, or another prepare's): leave it
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's


def load_prepared(cfg: SweepConfig) -> PreparedData:
    """Open the prepared data of ``cfg`` without building it.

    The sources are read again (the built-in corpus from its cache) because the
    folder's key depends on their texts.

    Raises
    ------
    UserError
        When ``prepare`` has not run for these inputs.
    """
    path = cfg.cache_path / f"prepared-{_cache_key(cfg, read_sources(cfg, log=lambda _: None))}"
    if not (path / "manifest.json").is_file():
        raise UserError(f"no prepared data for this config in {cfg.cache_path}; run "
                        "'raymix prepare CONFIG' first")
    prepared = PreparedData.open(path)
    _check_sizes(cfg, prepared)
    return prepared


# ----------------------------------------------------------------------------- the cache key


def _cache_key(cfg: SweepConfig, texts: Texts) -> str:
    """Hash of every input that changes the prepared folder's contents."""
    data, tok = cfg.data, cfg.data.tokenizer
    inputs = {
        "format": FORMAT,
        "domains": [
            {"name": d.name, "source": d.source, "text_field": d.text_field,
             "max_tokens": d.max_tokens, "texts": _fingerprint(texts, d.name)}
            for d in data.domains
        ],
        "tokenizer": {"vocab_size": tok.vocab_size, "sample_bytes": tok.sample_bytes,
                      "file": _file_sha256(cfg.resolve(tok.path)) if tok.path else None},
        "valid_fraction": data.valid_fraction,
        "max_valid_tokens": data.max_valid_tokens,
        "max_text_bytes": data.max_text_bytes,
        # The whole target section: its name and weights are written into the manifest.
        "target": {"name": cfg.target.name, "source": cfg.target.source,
                   "text_field": cfg.target.text_field, "domains": cfg.target.domains,
                   "texts": _fingerprint(texts, cfg.target.name) if cfg.target.source
                   else None},
    }
    if any(d.max_tokens is not None and d.name in texts.tokens for d in data.domains):
        inputs["seed"] = data.seed  # draws a token source's budget (left out otherwise:
        # caches made before the seed existed stay valid)
    blob = json.dumps(inputs, sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def _fingerprint(texts: Texts, name: str) -> str:
    """What a source's tokens depend on: its texts, or, for token files, each file's path,
    size and modification time (hashing hundreds of GB would take hours)."""
    if name in texts.tokens:
        return _files_fingerprint(texts.tokens[name])
    # the target's name is never a domain's (config checks)
    return source_fingerprint(texts.domains[name] if name in texts.domains else texts.target)


def _files_fingerprint(source: TokenSource) -> str:
    stats = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in source.files()]
    return hashlib.sha256(json.dumps(stats).encode()).hexdigest()


def _file_sha256(path: Path) -> str:
    problem = input_problem(path)  # a FIFO or a device would block the read
    if problem:
        what = f"no such file {str(path)!r}" if problem == "missing" else \
            f"{str(path)!r} is {problem}"
        raise ConfigError("data.tokenizer.path", f"{what}; give the path of a tokenizer.json")
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- building


def _build(cfg: SweepConfig, texts: Texts, tmp: Path, log: Callable[[str], None]) -> None:
    """Write the prepared folder at ``tmp`` (a temporary name: :func:`prepare` moves it)."""
    shutil.rmtree(tmp, ignore_errors=True)  # a leftover of a crashed run with our pid
    (tmp / "tokens").mkdir(parents=True)

    tokenizer = load_or_train_tokenizer(cfg, texts, log)
    tokenizer.save(str(tmp / "tokenizer.json"))
    # Text that happens to contain "<|endoftext|>" (transformers' docstrings do) must be
    # encoded as plain text, or it would insert false document boundaries.
    tokenizer.encode_special_tokens = True
    vocab_size = tokenizer.get_vocab_size()
    dtype = np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32)

    domains = {}
    for i, d in enumerate(cfg.data.domains):
        start = time.perf_counter()
        if d.name in texts.tokens:
            domains[d.name] = _token_domain(cfg, i, texts.tokens[d.name], tokenizer, dtype, tmp)
            m = domains[d.name]
            log(f"prepare: {d.name}: train {m['train_tokens']:,} tokens read in place, valid "
                f"{m['valid_tokens']:,} copied in {time.perf_counter() - start:.1f} s")
            continue
        docs = texts.domains[d.name]
        stream, starts = encode(tokenizer, docs, dtype)
        split = _valid_start(starts, len(stream), _valid_size(len(stream), cfg))
        train, valid = stream[:split][: d.max_tokens], stream[split:]
        domains[d.name] = {
            "source": d.source,
            "docs": len(docs),
            "text_bytes": sum(len(doc.encode("utf-8")) for doc in docs),
            "source_sha256": source_fingerprint(docs),
            **_built_from(d.source),
            "train_tokens": len(train),
            "valid_tokens": len(valid),
            "train_file": f"tokens/{d.name}.train.bin",
            "valid_file": f"tokens/{d.name}.valid.bin",
        }
        train.tofile(tmp / domains[d.name]["train_file"])
        valid.tofile(tmp / domains[d.name]["valid_file"])
        log(f"prepare: {d.name}: {len(stream):,} tokens (train {len(train):,}, "
            f"valid {len(valid):,}) in {time.perf_counter() - start:.1f} s")

    manifest = {
        "raymix_version": __version__,
        "format": FORMAT,
        "dtype": dtype.name,
        "vocab_size": vocab_size,
        "eot_id": tokenizer.token_to_id(EOT),
        "tokenizer_sha256": _file_sha256(tmp / "tokenizer.json"),
        "domains": domains,
        "target": _target_entry(cfg, texts, tokenizer, dtype, domains, tmp),
        "prior": _prior({name: m["train_tokens"] for name, m in domains.items()}),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _token_domain(cfg: SweepConfig, index: int, source: TokenSource, tokenizer: Tokenizer,
                  dtype: np.dtype, folder: Path) -> dict:
    """The manifest entry of a pre-tokenized domain: its training shards where they lie, its
    validation tail (whole documents where they can be found) copied into ``folder``."""
    d = cfg.data.domains[index]
    field_name = f"data.domains[{index}].source"
    check_vocabulary(source, tokenizer.get_vocab_size(), field_name)
    stream = TokenShards(source.shards)
    total = len(stream)
    size = _valid_size(total, cfg)
    eot = tokenizer.token_to_id(EOT)
    # the first document start in the tail (from the index, or past an end-of-text token)
    first = document_starts(source, stream, eot)(total - size)
    split = _valid_start(np.array([first]), total, size)
    train = stream.head(split)
    if d.max_tokens is not None:  # whole documents drawn across the stream, not read
        train = train.sample(d.max_tokens, document_starts(source, train, eot),
                             seed=cfg.data.seed)
    valid = stream[split:].astype(dtype)
    valid_file = f"tokens/{d.name}.valid.bin"
    valid.tofile(folder / valid_file)
    return {
        "source": d.source,
        "kind": source.kind,
        "docs": None if source.doc_starts is None else len(source.doc_starts),
        "source_files": _files_fingerprint(source),
        "shards": [dataclasses.asdict(s) for s in train.shards],
        "train_tokens": len(train),
        "valid_tokens": len(valid),
        "valid_file": valid_file,
    }


def _built_from(source: str) -> dict:
    """For a ``builtin:`` source, the manifest's record of what its text is built from."""
    if source.startswith("builtin:"):
        return {"built_from": builtin_provenance(source.removeprefix("builtin:"))}
    return {}


def _target_entry(cfg: SweepConfig, texts: Texts, tokenizer: Tokenizer, dtype: np.dtype,
                  domains: dict, folder: Path) -> dict:
    """The manifest's target: a corpus (its tokens written here), weights over domains, or
    tasks."""
    t = cfg.target
    if t.name in texts.tokens:  # a pre-tokenized target: its first tokens, copied here
        source = texts.tokens[t.name]
        check_vocabulary(source, tokenizer.get_vocab_size(), "target.source")
        valid = TokenShards(source.shards)[: cfg.data.max_valid_tokens].astype(dtype)
        valid.tofile(folder / TARGET_FILE)
        return {"name": t.name, "kind": "corpus", "source": t.source, "valid_tokens": len(valid),
                "source_sha256": _files_fingerprint(source), "valid_file": TARGET_FILE}
    if t.tasks is not None:  # items read and tokenized when the sweep starts (data.tasks)
        return {"name": t.name, "kind": "tasks", "valid_tokens": 0, "source_sha256": None}
    if texts.target is None:
        used = [d for d, w in t.domains.items() if w > 0]
        return {"name": t.name, "kind": "domains", "weights": dict(t.domains),
                "valid_tokens": sum(domains[d]["valid_tokens"] for d in used),
                "source_sha256": None}
    stream, _ = encode(tokenizer, texts.target, dtype)
    valid = stream[: cfg.data.max_valid_tokens]  # the target is validation only
    valid.tofile(folder / TARGET_FILE)
    return {"name": t.name, "kind": "corpus", "source": t.source, "valid_tokens": len(valid),
            "source_sha256": source_fingerprint(texts.target), "valid_file": TARGET_FILE,
            **_built_from(t.source)}


def _move_into_place(tmp: Path, path: Path) -> None:
    """Rename the finished folder; if a concurrent prepare got there first, keep theirs."""
    try:
        os.replace(tmp, path)
    except OSError:
        if not (path / "manifest.json").is_file():
            raise
        shutil.rmtree(tmp)


def _valid_size(total: int, cfg: SweepConfig) -> int:
    return min(int(total * cfg.data.valid_fraction), cfg.data.max_valid_tokens)


def _valid_start(starts: np.ndarray, total: int, size: int) -> int:
    """Where the validation tail of ``size`` tokens begins.

    It begins at the first document start inside the tail, so validation holds whole
    documents, unless that leaves less than half of ``size`` (long documents); then
    the tail is cut exactly, inside a document.
    """
    cut = total - size
    i = int(np.searchsorted(starts, cut, side="left"))
    if i < len(starts) and total - starts[i] >= size / 2:
        return int(starts[i])
    return cut


def _prior(train_tokens: dict[str, int]) -> dict[str, float]:
    total = sum(train_tokens.values())
    return {d: n / total for d, n in train_tokens.items()}


def _check_sizes(cfg: SweepConfig, prepared: PreparedData) -> None:
    """Every domain needs some training text and one full validation window."""
    seq_len = cfg.model.seq_len
    for i, d in enumerate(cfg.data.domains):
        train, valid = prepared.train_tokens[d.name], prepared.valid_tokens[d.name]
        if train < 2 * seq_len:
            raise ConfigError(
                f"data.domains[{i}].source",
                f"gives only {train:,} training tokens, fewer than 2 x model.seq_len "
                f"({2 * seq_len}); add text to it, raise its max_tokens or data.max_text_bytes, "
                "or lower model.seq_len")
        if valid <= seq_len:
            raise ConfigError(
                f"data.domains[{i}].source",
                f"gives only {valid:,} validation tokens, not one window of model.seq_len + 1 "
                f"({seq_len + 1}); add text to it or raise data.valid_fraction")
    target = prepared.manifest["target"]
    if target["kind"] == "corpus" and target["valid_tokens"] <= seq_len:
        raise ConfigError(
            "target.source",
            f"gives only {target['valid_tokens']:,} tokens, not one window of model.seq_len + 1 "
            f"({seq_len + 1}); add text to it or lower model.seq_len")
