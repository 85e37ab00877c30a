"""Pre-tokenized sources: flat token shards and Megatron indexed datasets, read in place.

A domain whose tokens already exist (a pretraining team's corpus) is never read as text
or copied. Its ``source`` is one of:

- flat token shards: a ``.npy`` file, a folder of them, or a glob (``shards/web-*.npy``);
  or raw ``.bin`` files of token ids with the domain's ``dtype`` (``uint16`` or
  ``uint32``), the layout nanoGPT and OLMo/Dolma write. Documents are separated by the
  end-of-text token;
- a Megatron-LM indexed dataset: ``name.bin`` + ``name.idx`` (what Megatron's
  ``preprocess_data.py`` and NeMo Curator write), given as the ``.bin``, the ``.idx`` or
  the shared prefix ``name``. The document boundaries come from the index.

Token counts come from file sizes (and the index), without reading the tokens.

:class:`TokenShards` is the training stream of such a domain: the shards one after
another, indexed like one array, memory-mapped where they lie. It pickles as paths and
offsets (a few hundred bytes), so a trial on any node maps the files itself and its
memory does not grow with the corpus.
"""

from __future__ import annotations

import glob
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raymix.config.schema import TOKEN_DTYPES
from raymix.errors import ConfigError
from raymix.files import input_problem

TOKEN_SUFFIXES = (".npy", ".bin")
MEGATRON_MAGIC = b"MMIDIDX\x00\x00"
# Megatron's dtype codes (megatron/core/datasets/indexed_dataset.py, DType)
MEGATRON_DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64,
                   6: np.float64, 7: np.float32, 8: np.uint16}
CHECK_TOKENS = 1 << 20  # ids checked against the vocabulary at each end of a shard
SAMPLE_SPAN = 1 << 20  # a token budget draws runs of whole documents of about this size
BOUNDARY_SEARCH = 1 << 16  # how far a flat stream is read to find a document start


@dataclass(frozen=True)
class Shard:
    """A run of token ids in a file: ``length`` ids of ``dtype`` from byte ``offset``."""

    path: str
    dtype: str
    offset: int
    length: int

    def open(self) -> np.ndarray:
        """The ids, memory-mapped read-only. Training reads random windows: the mapping is
        advised so (``MADV_RANDOM``), else each window would map megabytes of read-ahead."""
        tokens = np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset,
                           shape=(self.length,))
        mapped = getattr(tokens, "_mmap", None)
        if mapped is not None and hasattr(mmap, "MADV_RANDOM"):
            mapped.madvise(mmap.MADV_RANDOM)
        return tokens


class TokenShards:
    """Shards read as one array of token ids: ``len()``, a slice, or fancy indexing.

    ``tokens[idx]`` with an integer array (any shape) gathers across shards; a window
    that crosses from one shard into the next reads on, as in the concatenated stream.
    Pickling keeps the :class:`Shard` list only: the files are mapped again where the
    object is unpickled.
    """

    def __init__(self, shards: list[Shard]):
        self.shards = list(shards)
        self.offsets = np.cumsum([0] + [s.length for s in self.shards])
        self._arrays: list[np.ndarray] | None = None

    def __getstate__(self) -> dict:
        return {"shards": self.shards}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["shards"])

    @property
    def arrays(self) -> list[np.ndarray]:
        if self._arrays is None:
            self._arrays = [s.open() for s in self.shards]
        return self._arrays

    @property
    def dtype(self) -> np.dtype:
        return np.result_type(*[np.dtype(s.dtype) for s in self.shards])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return self[np.arange(start, stop, step)]
            pieces = [s.open() for s in self.take([(start, stop)]).shards] if stop > start else []
            return np.concatenate(pieces).astype(self.dtype, copy=False) if pieces else \
                np.empty(0, dtype=self.dtype)
        index = np.asarray(index, dtype=np.int64)
        flat = index.ravel()
        if flat.size and (flat.min() < 0 or flat.max() >= len(self)):
            raise IndexError(f"token index out of range for {len(self)} tokens")
        shard = np.searchsorted(self.offsets, flat, side="right") - 1
        out = np.empty(flat.shape, dtype=self.dtype)
        for s in np.unique(shard):
            hit = shard == s
            out[hit] = self.arrays[s][flat[hit] - self.offsets[s]]
        return out.reshape(index.shape)

    def head(self, tokens: int) -> TokenShards:
        """The first ``tokens`` ids."""
        return self.take([(0, min(tokens, len(self)))])

    def take(self, spans: list[tuple[int, int]]) -> TokenShards:
        """The ids of ``spans`` (``[start, end)`` in this stream, in order) one after another,
        as shards of the same files: nothing is read or copied."""
        kept = []
        for start, end in spans:
            first = int(np.searchsorted(self.offsets, start, side="right")) - 1
            for i in range(first, len(self.shards)):
                if self.offsets[i] >= end:
                    break
                lo, hi = max(start, self.offsets[i]), min(end, self.offsets[i + 1])
                if lo >= hi:
                    continue
                s = self.shards[i]
                itemsize = np.dtype(s.dtype).itemsize
                kept.append(Shard(s.path, s.dtype, s.offset + int(lo - self.offsets[i]) * itemsize,
                                  int(hi - lo)))
        return TokenShards(kept)

    def sample(self, tokens: int, doc_starts, seed: int, span: int = SAMPLE_SPAN) -> TokenShards:
        """About ``tokens`` ids in whole documents drawn across the stream (seeded), read from
        where they lie: a token budget that does not read the rest of a huge domain.

        The stream is cut into slots of ``span`` tokens, taken in a seeded order until the
        budget is met, each moved to the document boundaries in it
        (``doc_starts(position)`` gives the first document start at or after a position)
        so that no document is cut, except the last one taken, cut at the budget. The
        spans are read in stream order.
        """
        if tokens >= len(self):
            return self
        slots = max(1, len(self) // span)
        spans, total = [], 0
        # slots in a seeded order until the budget is met; a slot's span runs from the first
        # document start in it to the first in the next, so spans never overlap
        for slot in np.random.default_rng(seed).permutation(slots):
            start = doc_starts(int(slot) * span)
            end = len(self) if slot == slots - 1 else doc_starts(int(slot + 1) * span)
            if start >= end:
                continue
            end = min(end, start + tokens - total)
            spans.append((start, end))
            total += end - start
            if total >= tokens:
                break
        return self.take(sorted(spans))


# ----------------------------------------------------------------------------- sources


@dataclass
class TokenSource:
    """A pre-tokenized source found on disk: its shards, and its documents' starts when
    an index gives them (token offsets in the concatenated stream)."""

    kind: str  # "shards" or "megatron"
    shards: list[Shard]
    doc_starts: np.ndarray | None = None

    @property
    def tokens(self) -> int:
        return sum(s.length for s in self.shards)

    def files(self) -> list[Path]:
        """Every file the source reads (the fingerprint of a prepared folder)."""
        paths = [Path(s.path) for s in self.shards]
        if self.kind == "megatron":
            paths += [p.with_suffix(".idx") for p in paths]
        return paths


def is_token_source(source: str, base_dir: Path) -> bool:
    """Does ``source`` name token shards or a Megatron dataset (rather than text)?"""
    if source.startswith(("builtin:", "hf:")):
        return False
    return bool(_token_files(source, base_dir)) or _megatron_prefix(source, base_dir) is not None


def read_token_source(source: str, base_dir: Path, dtype: str | None,
                      field_name: str) -> TokenSource:
    """The shards of a pre-tokenized ``source``, checked without reading their tokens.

    Raises
    ------
    ConfigError
        Naming ``field_name``: a ``.bin`` without a ``dtype``, a size that is not a whole
        number of tokens, an empty shard, a ``.npy`` that is not one flat integer array,
        an index that disagrees with its ``.bin``.
    """
    prefix = _megatron_prefix(source, base_dir)
    if prefix is not None:
        return _read_megatron(prefix, field_name)
    shards = []
    for path in _token_files(source, base_dir):
        shard = _npy_shard(path, field_name) if path.suffix == ".npy" else \
            _bin_shard(path, dtype, field_name)
        if shard.length == 0:
            raise ConfigError(field_name, f"{str(path)!r} holds no tokens; remove the empty "
                                          "shard")
        shards.append(shard)
    if not shards:
        raise ConfigError(field_name, f"no .npy or .bin token shards at {source!r}")
    return TokenSource("shards", shards)


def check_vocabulary(source: TokenSource, vocab_size: int, field_name: str) -> None:
    """Every shard's dtype can hold the vocabulary, and the ids at each end of each shard
    (``CHECK_TOKENS`` of them, so huge shards are not read whole) are in it."""
    for shard in source.shards:
        dtype = np.dtype(shard.dtype)
        if dtype.kind not in "ui":
            raise ConfigError(field_name, f"{shard.path!r} holds {dtype} values, not token "
                                          "ids; give integer shards")
        if np.iinfo(dtype).max < vocab_size - 1:
            raise ConfigError(field_name, f"{shard.path!r} is {dtype}, which cannot hold ids "
                                          f"of the tokenizer's {vocab_size:,}-token vocabulary; "
                                          "write the shards as uint32")
        tokens = shard.open()
        for part in (tokens[:CHECK_TOKENS], tokens[-CHECK_TOKENS:]):
            if len(part) and (int(part.max()) >= vocab_size or int(part.min()) < 0):
                bad = int(part.max()) if int(part.max()) >= vocab_size else int(part.min())
                raise ConfigError(field_name, f"{shard.path!r} holds token id {bad:,}, outside "
                                              f"the tokenizer's vocabulary of {vocab_size:,} "
                                              "(data.tokenizer.path); give the tokenizer that "
                                              "made these shards")


def _resolve(source: str, base_dir: Path) -> Path:
    path = Path(source).expanduser()
    return path if path.is_absolute() else Path(base_dir) / path


def _token_files(source: str, base_dir: Path) -> list[Path]:
    """The .npy/.bin shards ``source`` names (a file, a folder, or a glob), sorted; a .bin
    beside a .idx of the same name belongs to a Megatron dataset, not to flat shards."""
    path = _resolve(source, base_dir)
    if any(c in source for c in "*?["):
        files = [Path(p) for p in sorted(glob.glob(str(path)))]
    elif input_problem(path, folders=True) is None and path.is_dir():
        files = sorted(path.iterdir())
    else:
        files = [path]
    # regular files only (input_problem): a FIFO would block, a file of /proc never ends
    return [p for p in files if p.suffix in TOKEN_SUFFIXES and input_problem(p) is None
            and not p.with_suffix(".idx").is_file()]


def _megatron_prefix(source: str, base_dir: Path) -> Path | None:
    """The ``prefix`` of a Megatron dataset named by ``prefix``, ``prefix.bin`` or
    ``prefix.idx``, or None."""
    path = _resolve(source, base_dir)
    prefix = path.with_suffix("") if path.suffix in (".bin", ".idx") else path
    if prefix.name and all(input_problem(prefix.with_suffix(s)) is None
                           for s in (".idx", ".bin")):
        return prefix
    return None


NPY_MAGIC = b"\x93NUMPY"  # the first bytes of every file numpy.save writes


def _npy_shard(path: Path, field_name: str) -> Shard:
    """The shard of a ``.npy`` file, its header checked first: an empty file, another
    format or a header cut short is named here (numpy's EOFError and pickle messages
    would not say which file, nor what to do)."""
    with open(path, "rb") as f:
        start = f.read(len(NPY_MAGIC))
    if not start:
        raise ConfigError(field_name, f"{str(path)!r} is empty (0 bytes), not a .npy shard; "
                                      "write it again with numpy.save, or delete it")
    if start != NPY_MAGIC:
        raise ConfigError(field_name, f"{str(path)!r} is not a .npy file (it does not start "
                                      "with numpy's header); write shards with numpy.save")
    try:
        array = np.load(path, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:  # a header or data cut short
        raise ConfigError(field_name, f"{str(path)!r} is a truncated or damaged .npy file "
                                      f"({exc}); write it again with numpy.save, or delete "
                                      "it") from None
    if array.ndim != 1 or array.dtype.kind not in "ui":
        raise ConfigError(field_name, f"{str(path)!r} holds a {array.ndim}-d {array.dtype} "
                                      "array; a token shard is one flat array of integer ids")
    return Shard(str(path), array.dtype.name, int(array.offset), int(array.shape[0]))


def _bin_shard(path: Path, dtype: str | None, field_name: str) -> Shard:
    if dtype is None:
        raise ConfigError(field_name, f"{str(path)!r} is raw token ids: set the domain's dtype "
                                      f"(one of {', '.join(TOKEN_DTYPES)})")
    itemsize = np.dtype(dtype).itemsize
    size = path.stat().st_size
    if size % itemsize:
        raise ConfigError(field_name, f"{str(path)!r} has {size:,} bytes, not a whole number "
                                      f"of {dtype} tokens; check the dtype")
    return Shard(str(path), dtype, 0, size // itemsize)


def _read_megatron(prefix: Path, field_name: str) -> TokenSource:
    """A Megatron indexed dataset: the index's header, sequence lengths and pointers, and
    document starts; the whole .bin as one shard (its sequences lie back to back)."""
    idx, bin_path = prefix.with_suffix(".idx"), prefix.with_suffix(".bin")
    where = f"{str(idx)!r}"
    with open(idx, "rb") as f:
        header = f.read(len(MEGATRON_MAGIC) + 8 + 1 + 8 + 8)
    if len(header) < 34 or not header.startswith(MEGATRON_MAGIC):
        raise ConfigError(field_name, f"{where} is not a Megatron index (no MMIDIDX header)")
    version, code, sequences, documents = struct.unpack("<QBQQ", header[9:34])
    if version != 1 or code not in MEGATRON_DTYPES:
        raise ConfigError(field_name, f"{where}: unknown version {version} or dtype code {code}")
    dtype = np.dtype(MEGATRON_DTYPES[code])
    expected = 34 + sequences * (4 + 8) + documents * 8
    if idx.stat().st_size != expected:
        raise ConfigError(field_name, f"{where} has {idx.stat().st_size:,} bytes; its header "
                                      f"({sequences:,} sequences, {documents:,} documents) needs "
                                      f"{expected:,}: a truncated or mismatched index")
    lengths = np.memmap(idx, dtype=np.int32, mode="r", offset=34, shape=(sequences,))
    pointers = np.memmap(idx, dtype=np.int64, mode="r", offset=34 + 4 * sequences,
                         shape=(sequences,))
    doc_index = np.memmap(idx, dtype=np.int64, mode="r", offset=34 + 12 * sequences,
                          shape=(documents,))
    if sequences and int(np.min(lengths)) < 0:
        raise ConfigError(field_name, f"{where} gives a sequence a negative length: a damaged "
                                      "index; write the dataset again")
    # document_indices: the first sequence of each document, rising, then the count itself
    if documents and not _rising_within(np.asarray(doc_index), sequences):
        raise ConfigError(field_name, f"{where} has document indices outside its "
                                      f"{sequences:,} sequences (past its data) or out of "
                                      "order: a damaged index; write the dataset again")
    tokens = int(np.asarray(lengths, dtype=np.int64).sum())
    bin_size = bin_path.stat().st_size
    contiguous = sequences == 0 or (
        int(pointers[0]) == 0
        and np.array_equal(np.asarray(pointers[1:]),
                           np.cumsum(np.asarray(lengths[:-1], dtype=np.int64)) * dtype.itemsize))
    if tokens == 0:
        raise ConfigError(field_name, f"{where} indexes no tokens; the dataset is empty")
    if bin_size != tokens * dtype.itemsize or not contiguous:
        raise ConfigError(field_name, f"{str(bin_path)!r} has {bin_size:,} bytes but its index "
                                      f"says {tokens:,} {dtype} tokens back to back; the .bin "
                                      "and .idx do not belong together")
    seq_starts = np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype=np.int64))])
    # document_indices: the first sequence of each document, and a final one past the end
    starts = seq_starts[np.asarray(doc_index[:-1], dtype=np.int64)] if documents > 1 else \
        np.zeros(1, dtype=np.int64)
    return TokenSource("megatron", [Shard(str(bin_path), dtype.name, 0, tokens)],
                       doc_starts=starts)


def _rising_within(values: np.ndarray, top: int) -> bool:
    """Are ``values`` in ``[0, top]`` and never falling?"""
    return bool(values.min() >= 0 and values.max() <= top and np.all(np.diff(values) >= 0))


def document_starts(source: TokenSource, stream: TokenShards, eot: int | None):
    """A function of a position: the first document start at or after it. From the index
    of a Megatron dataset; in flat shards, just past the next end-of-text token within
    ``BOUNDARY_SEARCH`` tokens (reading only those), else the position itself."""
    if source.doc_starts is not None:
        starts = np.asarray(source.doc_starts, dtype=np.int64)

        def indexed(position: int) -> int:
            i = int(np.searchsorted(starts, position, side="left"))
            return int(starts[i]) if i < len(starts) else len(stream)
        return indexed

    def scanned(position: int) -> int:
        if position <= 0 or position >= len(stream) or eot is None:
            return min(max(position, 0), len(stream))
        look = stream[position - 1: min(len(stream), position - 1 + BOUNDARY_SEARCH)]
        found = np.flatnonzero(look == eot)
        return position + int(found[0]) if len(found) else position
    return scanned


# ----------------------------------------------------------------------------- writers


def write_token_shards(tokens: np.ndarray | TokenShards, folder: Path, shard_tokens: int,
                       prefix: str = "shard") -> list[Path]:
    """Write ``tokens`` as flat ``.npy`` shards of at most ``shard_tokens`` ids each
    (``prefix-00000.npy``, ...): the layout nanoGPT-style loaders and raymix read. One
    shard is in memory at a time."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, start in enumerate(range(0, len(tokens), shard_tokens)):
        paths.append(folder / f"{prefix}-{n:05d}.npy")
        np.save(paths[-1], np.asarray(tokens[start: start + shard_tokens]))
    return paths


def write_megatron(documents: list[np.ndarray], prefix: Path, dtype: str = "uint16") -> Path:
    """Write ``documents`` (arrays of token ids) as a Megatron-LM indexed dataset,
    ``prefix.bin`` + ``prefix.idx`` (one sequence per document), as Megatron's
    ``IndexedDatasetBuilder`` does. Returns the prefix."""
    prefix = Path(prefix)
    np_dtype = np.dtype(dtype)
    code = {np.dtype(v): k for k, v in MEGATRON_DTYPES.items()}[np_dtype]
    lengths = np.array([len(d) for d in documents], dtype=np.int32)
    with open(prefix.with_suffix(".bin"), "wb") as f:
        for doc in documents:
            f.write(np.asarray(doc, dtype=np_dtype).tobytes())
    pointers = np.concatenate([[0], np.cumsum(lengths[:-1], dtype=np.int64)]) * np_dtype.itemsize
    doc_index = np.arange(len(documents) + 1, dtype=np.int64)
    with open(prefix.with_suffix(".idx"), "wb") as f:
        f.write(MEGATRON_MAGIC)
        f.write(struct.pack("<QBQQ", 1, code, len(documents), len(doc_index)))
        f.write(lengths.tobytes())
        f.write(pointers.astype(np.int64).tobytes())
        f.write(doc_index.tobytes())
    return prefix
