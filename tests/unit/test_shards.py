"""Pre-tokenized sources: flat .npy/.bin shards and Megatron indexed datasets, read in place."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from raymix.data.shards import (
    Shard,
    TokenShards,
    check_vocabulary,
    document_starts,
    is_token_source,
    read_token_source,
    write_megatron,
    write_token_shards,
)
from raymix.errors import ConfigError

FIELD = "data.domains[0].source"


def _stream(n: int = 10_000, vocab: int = 500, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, vocab, n).astype(np.uint16)


def test_shards_index_as_one_array_across_their_boundaries(tmp_path):
    tokens = _stream()
    write_token_shards(tokens, tmp_path, shard_tokens=3_000)
    source = read_token_source(str(tmp_path), tmp_path, None, FIELD)
    assert [s.length for s in source.shards] == [3_000, 3_000, 3_000, 1_000]
    stream = TokenShards(source.shards)
    assert len(stream) == len(tokens) == source.tokens
    # windows as MixtureBatches takes them, several crossing from one shard into the next
    starts = np.array([0, 2_990, 5_995, 8_999, 9_000 - 1, 9_990])
    windows = starts[:, None] + np.arange(10)
    np.testing.assert_array_equal(stream[windows], tokens[windows])
    np.testing.assert_array_equal(stream[2_995:3_005], tokens[2_995:3_005])
    np.testing.assert_array_equal(stream.head(4_500)[4_490:4_500], tokens[4_490:4_500])
    assert len(stream.head(4_500)) == 4_500
    with pytest.raises(IndexError):
        stream[np.array([len(tokens)])]


def test_token_shards_pickle_as_paths_and_map_again(tmp_path):
    tokens = _stream(200_000)
    write_token_shards(tokens, tmp_path, shard_tokens=50_000)
    stream = TokenShards(read_token_source(str(tmp_path), tmp_path, None, FIELD).shards)
    stream[np.arange(10)]  # mapped here first
    blob = pickle.dumps(stream)
    assert len(blob) < 2_000 < tokens.nbytes  # a few paths, not 400 KB of tokens
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again[np.arange(199_990, 200_000)], tokens[-10:])


def test_sources_by_file_folder_glob_and_raw_bin(tmp_path):
    tokens = _stream()
    write_token_shards(tokens, tmp_path / "npy", shard_tokens=4_000, prefix="web")
    assert len(read_token_source("npy/web-*.npy", tmp_path, None, FIELD).shards) == 3
    assert read_token_source("npy/web-00001.npy", tmp_path, None, FIELD).tokens == 4_000
    tokens.astype(np.uint32).tofile(tmp_path / "raw.bin")
    raw = read_token_source("raw.bin", tmp_path, "uint32", FIELD)
    np.testing.assert_array_equal(TokenShards(raw.shards)[np.arange(5)], tokens[:5])
    assert is_token_source("raw.bin", tmp_path) and is_token_source("npy", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("text")
    assert not is_token_source("docs", tmp_path) and not is_token_source("builtin:code", tmp_path)


def test_megatron_dataset_reads_its_documents_from_the_index(tmp_path):
    rng = np.random.default_rng(1)
    docs = [rng.integers(0, 500, rng.integers(5, 50)).astype(np.uint16) for _ in range(40)]
    prefix = write_megatron(docs, tmp_path / "code_text_document")
    for name in ("code_text_document", "code_text_document.bin", "code_text_document.idx"):
        source = read_token_source(name, tmp_path, None, FIELD)
        assert source.kind == "megatron" and is_token_source(name, tmp_path)
    np.testing.assert_array_equal(source.doc_starts,
                                  np.cumsum([0] + [len(d) for d in docs[:-1]]))
    stream = TokenShards(source.shards)
    np.testing.assert_array_equal(stream[0:len(stream)], np.concatenate(docs))
    assert source.files() == [prefix.with_suffix(".bin"), prefix.with_suffix(".idx")]


@pytest.mark.parametrize("make, source, dtype, message", [
    (lambda p: _stream().tofile(p / "a.bin"), "a.bin", None, "set the domain's dtype"),
    (lambda p: (p / "a.bin").write_bytes(b"abc"), "a.bin", "uint16",
     "3 bytes, not a whole number of uint16 tokens"),
    (lambda p: np.save(p / "a.npy", np.zeros(0, np.uint16)), "a.npy", None, "holds no tokens"),
    (lambda p: np.save(p / "a.npy", np.zeros((3, 4), np.uint16)), "a.npy", None,
     "2-d uint16 array; a token shard is one flat array"),
    (lambda p: (p / "a.npy").write_bytes(b"not numpy"), "a.npy", None,
     "is not a .npy file"),
    # a folder of zero-byte .npy files (numpy's EOFError), a shard cut short (its mmap)
    (lambda p: [(p / f"{c}.npy").write_bytes(b"") for c in "ab"], ".", None,
     r"a\.npy' is empty \(0 bytes\), not a \.npy shard; write it again"),
    (lambda p: (np.save(p / "a.npy", _stream()),
                (p / "a.npy").write_bytes((p / "a.npy").read_bytes()[:500])), "a.npy", None,
     "a truncated or damaged .npy file"),
    (lambda p: (np.save(p / "a.npy", _stream()),
                (p / "a.npy").write_bytes((p / "a.npy").read_bytes()[:60])), "a.npy", None,
     "a truncated or damaged .npy file"),
])
def test_bad_shards_are_one_line_errors_naming_the_file(tmp_path, make, source, dtype, message):
    make(tmp_path)
    with pytest.raises(ConfigError, match=message) as caught:
        read_token_source(source, tmp_path, dtype, FIELD)
    assert FIELD in str(caught.value) and "\n" not in str(caught.value)


def _damaged_index(prefix, sequences: int, position: int, value: bytes) -> None:
    """Overwrite the index's bytes at ``position`` of its document index."""
    idx = prefix.with_suffix(".idx")
    data = bytearray(idx.read_bytes())
    start = 34 + 12 * sequences + position  # after the header, lengths and pointers
    data[start: start + len(value)] = value
    idx.write_bytes(bytes(data))


@pytest.mark.parametrize("position, value", [
    (8 * 2, (10**6).to_bytes(8, "little")),  # a document past the data (IndexError before)
    (8 * 2, (-1).to_bytes(8, "little", signed=True)),
    (8 * 1, (3).to_bytes(8, "little")),  # out of order: 0, 3, 2, 3
])
def test_megatron_document_index_past_its_data_is_refused(tmp_path, position, value):
    prefix = write_megatron([np.arange(10, dtype=np.uint16)] * 3, tmp_path / "d")
    _damaged_index(prefix, 3, position, value)
    with pytest.raises(ConfigError, match="document indices outside its 3 sequences") as caught:
        read_token_source("d", tmp_path, None, FIELD)
    assert "d.idx" in str(caught.value)


def test_special_files_are_never_token_shards(tmp_path):
    """A FIFO named like a shard would block np.load: it is not listed, so the source is
    refused as holding no shards (and /proc, whose files never end, holds none either)."""
    os.mkfifo(tmp_path / "a.npy")
    assert not is_token_source(str(tmp_path), tmp_path)
    assert not is_token_source("*.npy", tmp_path)
    assert not is_token_source("/proc", tmp_path) and not is_token_source("/", tmp_path)


def test_megatron_index_that_disagrees_with_its_bin_is_refused(tmp_path):
    docs = [np.arange(10, dtype=np.uint16)] * 3
    prefix = write_megatron(docs, tmp_path / "d")
    with open(prefix.with_suffix(".bin"), "ab") as f:
        f.write(b"\0\0")  # one token more than indexed
    with pytest.raises(ConfigError, match="do not belong together"):
        read_token_source("d", tmp_path, None, FIELD)
    idx = prefix.with_suffix(".idx")
    idx.write_bytes(idx.read_bytes()[:-8])  # truncated
    with pytest.raises(ConfigError, match="truncated or mismatched index"):
        read_token_source("d", tmp_path, None, FIELD)
    idx.write_bytes(b"not an index at all, not at all")
    with pytest.raises(ConfigError, match="not a Megatron index"):
        read_token_source("d", tmp_path, None, FIELD)


def test_vocabulary_checks_the_dtype_and_the_ids(tmp_path):
    tokens = _stream(vocab=500)
    write_token_shards(tokens, tmp_path, shard_tokens=20_000)
    source = read_token_source(str(tmp_path), tmp_path, None, FIELD)
    check_vocabulary(source, 500, FIELD)
    with pytest.raises(ConfigError, match=r"holds token id 4\d\d, outside the tokenizer's "
                                          r"vocabulary of 400"):
        check_vocabulary(source, 400, FIELD)
    with pytest.raises(ConfigError, match="uint16, which cannot hold ids of the tokenizer's "
                                          "100,000-token vocabulary"):
        check_vocabulary(source, 100_000, FIELD)
    floats = Shard(str(tmp_path / "f.bin"), "float32", 0, 1)
    np.zeros(1, np.float32).tofile(floats.path)
    with pytest.raises(ConfigError, match="float32 values, not token ids"):
        check_vocabulary(type(source)("shards", [floats]), 500, FIELD)


def _documents(count: int, eot: int, seed: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.append(rng.integers(0, eot, rng.integers(20, 400)), eot).astype(np.uint16)
            for _ in range(count)]


@pytest.mark.parametrize("layout", ["shards", "megatron"])
def test_a_token_budget_draws_whole_documents_across_the_stream(tmp_path, layout):
    eot = 499
    docs = _documents(3_000, eot)
    stream_tokens = np.concatenate(docs)
    if layout == "shards":
        write_token_shards(stream_tokens, tmp_path, shard_tokens=50_000)
        source = read_token_source(str(tmp_path), tmp_path, None, FIELD)
    else:
        source = read_token_source(str(write_megatron(docs, tmp_path / "d")), tmp_path, None,
                                   FIELD)
    stream = TokenShards(source.shards)
    budget = 60_000
    starts = document_starts(source, stream, eot)
    sample = stream.sample(budget, starts, seed=0, span=5_000)
    assert len(sample) == budget
    tokens = sample[0:len(sample)]
    # whole documents: each piece starts at 0, just after an end-of-text, or where the piece
    # before it ended (a run that goes on into the next shard file)
    paths = [x.path for x in source.shards]
    ends, starts_taken = [], []
    for piece in sample.shards:
        i = paths.index(piece.path)
        start = int(stream.offsets[i]) + (piece.offset - source.shards[i].offset) // 2
        assert start == 0 or stream[np.array([start - 1])][0] == eot or start in ends
        starts_taken.append(start)
        ends.append(start + piece.length)
    assert len(sample.shards) >= budget // 5_000 and starts_taken == sorted(starts_taken)
    assert max(starts_taken) > len(stream) // 2  # from all over the stream, not its head
    assert np.isin(tokens, stream_tokens).all()
    # seeded: the same draw again, another with another seed
    again = stream.sample(budget, starts, seed=0, span=5_000)
    assert again.shards == sample.shards
    assert stream.sample(budget, starts, seed=1, span=5_000).shards != sample.shards
    assert stream.sample(10 * len(stream), starts, seed=0) is stream


def test_take_reads_spans_across_shards_without_copying(tmp_path):
    tokens = _stream()
    write_token_shards(tokens, tmp_path, shard_tokens=3_000)
    stream = TokenShards(read_token_source(str(tmp_path), tmp_path, None, FIELD).shards)
    spans = [(100, 200), (2_900, 6_100), (9_990, 10_000)]
    taken = stream.take(spans)
    np.testing.assert_array_equal(taken[0:len(taken)],
                                  np.concatenate([tokens[a:b] for a, b in spans]))
    assert [s.length for s in taken.shards] == [100, 100, 3_000, 100, 10]


def test_prepare_reads_token_sources_in_place_and_draws_a_budget(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from raymix.config import parse_config
    from raymix.data import prepare
    from raymix.data.tokenize import EOT

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.train_from_iterator(["some text to make a vocabulary from"] * 10, trainers.BpeTrainer(
        vocab_size=300, special_tokens=[EOT], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    eot = tokenizer.token_to_id(EOT)
    rng = np.random.default_rng(3)
    docs = {name: [np.append(rng.integers(1, 250, rng.integers(20, 300)), eot).astype(np.uint16)
                   for _ in range(2_000)] for name in ("web", "books")}
    write_token_shards(np.concatenate(docs["web"]), tmp_path / "web", shard_tokens=100_000)
    write_megatron(docs["books"], tmp_path / "books")
    raw = {"data": {"cache_dir": "cache", "tokenizer": {"path": "tokenizer.json"},
                    "domains": [{"name": "web", "source": "web", "max_tokens": 150_000},
                                {"name": "books", "source": "books"}]},
           "target": {"name": "mix", "domains": {"web": 1, "books": 1}},
           "model": {"seq_len": 64}, "compute": {"storage": "runs"}}
    prepared = prepare(parse_config(raw, base_dir=tmp_path), log=lambda _: None)
    sizes = {d: sum(len(x) for x in v) for d, v in docs.items()}
    train, valid = prepared.train_tokens, prepared.valid_tokens
    assert train["web"] == 150_000  # the budget, drawn from the 270k-token stream
    assert train["books"] + valid["books"] == sizes["books"]
    assert prepared.prior["web"] == pytest.approx(150_000 / (150_000 + train["books"]))
    # validation: whole documents from the end of each stream, copied into the cache
    np.testing.assert_array_equal(prepared.valid("books"),
                                  np.concatenate(docs["books"])[-valid["books"]:])
    assert prepared.valid("books")[-1] == eot and prepared.valid("web")[-1] == eot
    assert isinstance(prepared.train("web"), TokenShards)
    assert {s.path for s in prepared.train("web").shards} <= \
        {str(p) for p in (tmp_path / "web").glob("*.npy")}
    assert not list(prepared.path.glob("tokens/*.train.bin"))  # nothing copied to train on
    # the validation tail is never trained on
    last = prepared.train("books")
    assert last.shards[-1].offset // 2 + last.shards[-1].length == sizes["books"] - valid["books"]

    # exported as flat shards for a run of one's own, read back as they were
    out = prepared.export(tmp_path / "export", shard_tokens=40_000)
    manifest = json.loads((out / "manifest.json").read_text())
    for name in ("web", "books"):
        back = read_token_source(str(out / name / "train-*.npy"), tmp_path, None, FIELD)
        assert back.tokens == train[name]
        np.testing.assert_array_equal(TokenShards(back.shards)[0:back.tokens],
                                      prepared.train(name)[0:train[name]])
        assert manifest["domains"][name]["train_files"][0] == f"{name}/train-00000.npy"
        assert "shards" not in manifest["domains"][name]
    assert (out / "tokenizer.json").read_bytes() == (tmp_path / "tokenizer.json").read_bytes()
    with pytest.raises(FileExistsError):
        prepared.export(out)
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_read_in_place_decides_how_trials_get_each_domain(tmp_path):
    from raymix.sweep.trial import trial_tokens

    tokens = _stream(5_000)
    tokens.tofile(tmp_path / "prepared.bin")
    prepared = np.memmap(tmp_path / "prepared.bin", dtype=np.uint16, mode="r")
    write_token_shards(tokens, tmp_path / "shards", shard_tokens=2_000)
    shards = TokenShards(read_token_source(str(tmp_path / "shards"), tmp_path, None,
                                           FIELD).shards)
    # auto: shards as paths, raymix's own array through the object store
    assert trial_tokens(shards, "auto") is shards
    assert type(trial_tokens(prepared, "auto")) is np.ndarray
    # true: both mapped where they lie; false: both loaded whole
    mapped = trial_tokens(prepared, "true")
    assert isinstance(mapped, TokenShards) and len(pickle.dumps(mapped)) < 1_000
    for got in (mapped, trial_tokens(shards, "true")):
        np.testing.assert_array_equal(got[0:len(got)], tokens)
    loaded = trial_tokens(shards, "false")
    assert type(loaded) is np.ndarray and (loaded == tokens).all()
