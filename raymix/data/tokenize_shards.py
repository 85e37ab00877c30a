"""Tokenize a large text corpus into flat token shards: in one process, or with Ray Data.

Each input file (``.jsonl`` / ``.json`` records, ``.parquet``, or a text file holding one
document: the formats of :mod:`raymix.data.formats`, read by its one dispatcher) becomes
one ``.npy`` shard of the same name: its documents' token ids, the
end-of-text token after each, in file order. The shards and a ``manifest.json`` (the
tokenizer's hash, and each shard's input, documents and tokens) go into one folder, which a
domain's ``source`` can then name (:mod:`raymix.data.shards` reads it in place).

Both paths run the same per-file function, so they write byte-identical shards:

- ``workers=0``: one process, file after file (small corpora);
- ``workers=N``: Ray Data maps the files over a pool of ``N`` actors (one CPU and one
  encoding thread each, the tokenizer loaded once per actor) on the cluster Ray is
  connected to; a line is logged as each shard is finished.

Each shard is written under a temporary name and renamed when whole, so a crash leaves
finished shards and nothing half written; running again skips the shards that exist
(resume) and tokenizes the rest. The manifest is written last.
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raymix.data.formats import RECORD_SUFFIXES, FormatError, folder_files, format_of, read_texts
from raymix.errors import UserError

MANIFEST = "manifest.json"


def input_files(source: str) -> list[Path]:
    """The input files ``source`` names: a file, a folder (the files
    :func:`~raymix.data.formats.folder_files` reads, in sorted order) or a glob (its
    matches of a known format)."""
    from raymix.files import input_problem

    path = Path(source).expanduser()
    problem = None if any(c in source for c in "*?[") else input_problem(path, folders=True)
    if problem == "missing":
        raise UserError(f"no such file or folder {source!r}", field="SOURCE")
    if problem:
        raise UserError(f"{source!r} is {problem}; give a file or folder of documents",
                        field="SOURCE")
    if any(c in source for c in "*?["):
        # regular files only: a FIFO would block, a link into /proc never ends
        files = [p for p in map(Path, sorted(glob.glob(str(path), recursive=True)))
                 if format_of(p, named=False) is not None and input_problem(p) is None]
    elif path.is_dir():
        files = folder_files(path)
    else:
        files = [path]
    if not files:
        raise UserError(f"{source!r} holds no {RECORD_SUFFIXES} or text files", field="SOURCE")
    return files


def shard_names(files: list[Path]) -> list[str]:
    """One shard name per input file: its position and stem (two inputs of one name in
    different folders stay apart)."""
    return [f"{i:05d}-{p.stem}.npy" for i, p in enumerate(files)]


def documents(path: Path, text_field: str) -> Iterator[str]:
    """The documents of one input file, in order; a file it cannot read is a UserError
    naming ``--text-field`` when that is the fix, else ``SOURCE``."""
    try:
        yield from read_texts(path, text_field, setting="--text-field")
    except FormatError as exc:
        raise UserError(exc.problem, field="--text-field" if exc.field == "text_field"
                        else "SOURCE") from None


class FileTokenizer:
    """Tokenize one input file into its shard (a Ray Data callable class, or called as is).

    ``__call__`` takes ``{"input": path, "shard": path}`` and returns it with ``docs``,
    ``tokens`` and ``seconds``.
    """

    BATCH = 256  # documents per encode call

    def __init__(self, tokenizer_path: str, text_field: str, dtype: str):
        from tokenizers import Tokenizer

        from raymix.data.tokenize import EOT

        self.tokenizer = Tokenizer.from_file(tokenizer_path)
        self.tokenizer.encode_special_tokens = True  # "<|endoftext|>" in a text is text
        self.eot = self.tokenizer.token_to_id(EOT)
        if self.eot is None:
            raise UserError(f"{tokenizer_path!r} has no {EOT} token to end documents with",
                            field="--tokenizer")
        self.text_field, self.dtype = text_field, np.dtype(dtype)

    def __call__(self, row: dict) -> dict:
        started = time.perf_counter()
        encode = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)
        docs, pieces = documents(Path(row["input"]), self.text_field), []
        while batch := list(itertools.islice(docs, self.BATCH)):  # streamed, a batch at a time
            pieces += [np.array(e.ids + [self.eot], dtype=self.dtype)
                       for e in encode(batch, add_special_tokens=False)]
        result = {**row, "docs": len(pieces), "tokens": sum(len(p) for p in pieces)}
        if not pieces:  # no documents: no shard (an empty one is not a token source)
            return {**result, "seconds": time.perf_counter() - started}
        tokens = np.concatenate(pieces)
        shard = Path(row["shard"])
        tmp = shard.with_name(f"{shard.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as f:  # np.save to an open file adds no suffix
            np.save(f, tokens)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, shard)
        return {**result, "seconds": time.perf_counter() - started}


@dataclass
class TokenizeJob:
    """A checked tokenization: which input files go to which shards, with what tokenizer.

    Made by :func:`plan_tokenize` (every refusal happens there, before any work);
    :meth:`run` does it.
    """

    rows: list[dict]  # {"input": path, "shard": path}, one per input file
    tokenizer_path: Path
    tokenizer_sha256: str
    vocab_size: int
    dtype: str
    text_field: str
    output: Path

    @property
    def todo(self) -> list[dict]:
        """The rows whose shard is not written yet (an empty input's never is)."""
        return [r for r in self.rows if not Path(r["shard"]).is_file()]

    def run(self, workers: int = 0, log: Callable[[str], None] = print) -> dict:
        """Tokenize what is left; write and return the manifest.

        ``workers`` 0 tokenizes in this process; N > 0 with Ray Data on N actors (Ray must
        be connected: ``raymix tokenize`` joins ``RAY_ADDRESS`` or starts a local cluster).
        """
        self.output.mkdir(parents=True, exist_ok=True)
        for stale in self.output.glob("*.npy.tmp-*"):  # a crashed run's unfinished shards
            stale.unlink()
        todo = self.todo
        log(f"tokenize: {len(self.rows)} files, {len(self.rows) - len(todo)} shards already "
            f"written, {len(todo)} to tokenize "
            + (f"with Ray Data on {workers} workers" if workers else "in this process"))
        started, done = time.perf_counter(), []
        args = (str(self.tokenizer_path), self.text_field, self.dtype)
        results = (_with_ray(todo, args, workers) if workers
                   else map(FileTokenizer(*args), todo))
        try:
            for result in results:
                done.append(result)
                log(f"tokenize: {len(done)}/{len(todo)} {Path(result['shard']).name}: "
                    f"{result['docs']:,} docs, {result['tokens']:,} tokens")
        except Exception as exc:
            raise _user_error(exc) or exc from None
        seconds = time.perf_counter() - started
        shards = [{"shard": Path(r["shard"]).name if Path(r["shard"]).is_file() else None,
                   "input": r["input"], "tokens": _shard_tokens(Path(r["shard"]))}
                  for r in self.rows]
        manifest = {"tokenizer": str(self.tokenizer_path),
                    "tokenizer_sha256": self.tokenizer_sha256, "dtype": self.dtype,
                    "vocab_size": self.vocab_size, "text_field": self.text_field,
                    "tokens": sum(s["tokens"] for s in shards), "shards": shards}
        made = sum(r["tokens"] for r in done)
        log(f"tokenize: {made:,} tokens in {seconds:.1f} s ({made / max(seconds, 1e-9):,.0f} "
            f"tokens/s); {manifest['tokens']:,} tokens in {len(shards)} shards -> {self.output}")
        tmp = self.output / f"{MANIFEST}.tmp-{os.getpid()}"
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
        os.replace(tmp, self.output / MANIFEST)
        return manifest


def plan_tokenize(source: str, tokenizer_path: str | Path, output: str | Path, *,
                  text_field: str = "text") -> TokenizeJob:
    """Check a tokenization before any work: the inputs, the tokenizer (it must have
    ``<|endoftext|>``), an output folder that takes files and holds no shards of another
    tokenizer (shards of this one are kept: a resumed run)."""
    from tokenizers import Tokenizer

    from raymix.files import folder_problem, input_problem

    files = input_files(source)
    tokenizer_path = Path(tokenizer_path).expanduser()
    problem = input_problem(tokenizer_path)
    if problem:
        raise UserError(f"{str(tokenizer_path)!r} is {problem}; give a tokenizer.json file",
                        field="--tokenizer")
    try:
        vocab = Tokenizer.from_file(str(tokenizer_path)).get_vocab_size()
    except Exception as exc:  # noqa: BLE001 - tokenizers raises a bare Exception
        raise UserError(f"{str(tokenizer_path)!r} is not a tokenizer.json ({exc})",
                        field="--tokenizer") from None
    digest = hashlib.sha256(tokenizer_path.read_bytes()).hexdigest()
    dtype = "uint16" if vocab <= 2**16 else "uint32"
    FileTokenizer(str(tokenizer_path), text_field, dtype)  # refuses a tokenizer without EOT
    output = Path(output).expanduser()
    problem = folder_problem(output)
    if problem:
        raise UserError(f"{problem}; give a folder you can write to", field="--output")
    earlier = output / MANIFEST
    if earlier.is_file() and json.loads(earlier.read_text()).get("tokenizer_sha256") != digest:
        raise UserError(f"{str(output)!r} holds shards of another tokenizer; give a new folder",
                        field="--output")
    rows = [{"input": str(f.resolve()), "shard": str(output / name)}
            for f, name in zip(files, shard_names(files))]
    return TokenizeJob(rows, tokenizer_path, digest, vocab, dtype, text_field, output)


def tokenize_to_shards(source: str, tokenizer_path: str | Path, output: str | Path, *,
                       text_field: str = "text", workers: int = 0,
                       log: Callable[[str], None] = print) -> dict:
    """Tokenize every input file of ``source`` into a ``.npy`` shard in ``output``.

    :func:`plan_tokenize` (every refusal, before any work), then :meth:`TokenizeJob.run`.
    Shards already in ``output`` are kept (a resumed run). ``output`` can then be a
    domain's ``source``.

    Parameters
    ----------
    source : str
        A folder, glob or file of ``.jsonl`` / ``.json`` records, ``.parquet`` files or text
        files (one document each).
    tokenizer_path : str or Path
        A tokenizer.json with an ``<|endoftext|>`` token (it ends each document).
    output : str or Path
        The folder of the shards and ``manifest.json``.
    text_field : str, default="text"
        The records' text column.
    workers : int, default=0
        0: in this process; N: with Ray Data on N actors of the connected Ray cluster (or
        of a local one Ray Data starts).
    log : callable, default=print
        Receives one line per finished shard, and a summary.

    Returns
    -------
    dict
        The manifest: the tokenizer and its hash, dtype, vocabulary size, total tokens, and
        each shard's input file and tokens.
    """
    return plan_tokenize(source, tokenizer_path, output, text_field=text_field).run(workers, log)


def _with_ray(rows: list[dict], args: tuple, workers: int) -> Iterator[dict]:
    """The rows tokenized by Ray Data on a pool of ``workers`` actors, as they finish."""
    import ray.data

    if not rows:
        return iter(())
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map(
        FileTokenizer, fn_constructor_args=args,
        compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
        # one CPU each, as reserved: the tokenizers library would otherwise encode on a
        # thread per core in every worker (2 cores: 1.22M tokens/s against 1.48M with one
        # thread each, bench/bench_tokenize.py)
        runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "false"}})
    return dataset.iter_rows()


def _shard_tokens(path: Path) -> int:
    return int(np.load(path, mmap_mode="r").shape[0]) if path.is_file() else 0


def _user_error(exc: BaseException) -> UserError | None:
    """The UserError a Ray worker raised, wherever Ray wrapped it, or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, UserError):
            return exc
        seen.add(id(exc))
        exc = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__
    return None
