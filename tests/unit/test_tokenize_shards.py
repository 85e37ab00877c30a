"""Tokenizing a text corpus into token shards in one process (Ray Data's path: tests/e2e)."""

from __future__ import annotations

import json
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import pandas as pd
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from raymix.data.shards import TokenShards, read_token_source
from raymix.data.tokenize import EOT
from raymix.data.tokenize_shards import plan_tokenize, tokenize_to_shards
from raymix.errors import UserError

TOPICS = [topics[k] for k in sorted(topics)]  # Python's language reference: real text


def make_tokenizer(path: Path, vocab: int = 600) -> Path:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(TOPICS[:50], trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=[EOT], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer.save(str(path))
    return path


@pytest.fixture
def corpus(tmp_path) -> tuple[Path, list[list[str]]]:
    """Three JSONL files, a Parquet file and a text file of reference topics; each input's
    documents. The tests name them by the glob ``src/*`` (a folder reads its record files
    only: test_a_folder_reads_its_records_json_included)."""
    src = tmp_path / "src"
    src.mkdir()
    parts = [TOPICS[0:20], TOPICS[20:40], TOPICS[40:60], TOPICS[60:78], [TOPICS[78]]]
    for i, docs in enumerate(parts[:3]):
        (src / f"part-{i}.jsonl").write_text(
            "".join(json.dumps({"text": d, "id": n}) + "\n" for n, d in enumerate(docs)))
    pd.DataFrame({"text": parts[3]}).to_parquet(src / "part-3.parquet")
    (src / "zz.txt").write_text(parts[4][0])
    return src, parts


def test_each_input_file_becomes_a_shard_of_its_documents(tmp_path, corpus):
    src, parts = corpus
    tok = make_tokenizer(tmp_path / "tokenizer.json")
    lines = []
    manifest = tokenize_to_shards(str(src / "*"), tok, tmp_path / "out", log=lines.append)
    shards = sorted((tmp_path / "out").glob("*.npy"))
    assert [p.name for p in shards] == ["00000-part-0.npy", "00001-part-1.npy",
                                        "00002-part-2.npy", "00003-part-3.npy", "00004-zz.npy"]
    tokenizer = Tokenizer.from_file(str(tok))
    eot = tokenizer.token_to_id(EOT)
    for path, docs in zip(shards, parts):
        ids = np.load(path)
        assert ids.dtype == np.uint16 and ids[-1] == eot
        pieces = np.split(ids, np.flatnonzero(ids == eot)[:-1] + 1)
        assert [tokenizer.decode(p[:-1].tolist()) for p in pieces] == docs  # exact round trip
    assert manifest["tokens"] == sum(len(np.load(p)) for p in shards)
    assert json.loads((tmp_path / "out" / "manifest.json").read_text()) == manifest
    assert "5 to tokenize in this process" in lines[0] and "tokens/s" in lines[-1]
    # the folder is a token source as it is
    source = read_token_source(str(tmp_path / "out"), tmp_path, None, "data.domains[0].source")
    assert len(TokenShards(source.shards)) == manifest["tokens"]


def test_a_rerun_keeps_finished_shards_and_makes_the_missing_ones_again(tmp_path, corpus):
    src, _ = corpus
    tok = make_tokenizer(tmp_path / "tokenizer.json")
    out = tmp_path / "out"
    tokenize_to_shards(str(src / "*"), tok, out, log=lambda _: None)
    before = {p.name: p.read_bytes() for p in out.glob("*.npy")}
    (out / "00002-part-2.npy").unlink()  # as if the run died before this shard
    (out / "00003-part-3.npy.tmp-999").write_bytes(b"half")  # and left this one half written
    lines = []
    tokenize_to_shards(str(src / "*"), tok, out, log=lines.append)
    assert "4 shards already written, 1 to tokenize" in lines[0]
    assert {p.name: p.read_bytes() for p in out.glob("*.npy")} == before
    assert not list(out.glob("*.tmp-*"))


def test_refusals_come_before_any_shard(tmp_path, corpus):
    src, _ = corpus
    tok = make_tokenizer(tmp_path / "tokenizer.json")
    tokenize_to_shards(str(src), tok, tmp_path / "out", log=lambda _: None)
    other = make_tokenizer(tmp_path / "other.json", vocab=700)
    with pytest.raises(UserError, match="holds shards of another tokenizer"):
        plan_tokenize(str(src), other, tmp_path / "out")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(UserError, match="is not a tokenizer.json"):
        plan_tokenize(str(src), tmp_path / "bad.json", tmp_path / "new")
    with pytest.raises(UserError, match="no such file or folder"):
        plan_tokenize(str(tmp_path / "nope"), tok, tmp_path / "new")
    (src / "part-0.jsonl").write_text('{"text": "fine"}\n{"body": "no text field"}\n')
    with pytest.raises(UserError, match=r"part-0.jsonl' line 2: not a JSON record with a "
                                        r"'text' string"):
        tokenize_to_shards(str(src), tok, tmp_path / "new", log=lambda _: None)
    assert not (tmp_path / "new" / "00000-part-0.npy").exists()


def test_a_json_array_of_records_is_read_as_documents(tmp_path):
    tok = make_tokenizer(tmp_path / "tokenizer.json")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.json").write_text(json.dumps([{"text": t} for t in TOPICS[:5]]))
    manifest = tokenize_to_shards(str(tmp_path / "src"), tok, tmp_path / "out",
                                  log=lambda _: None)
    tokenizer = Tokenizer.from_file(str(tok))
    ids = np.load(tmp_path / "out" / "00000-a.npy")
    assert manifest["tokens"] == len(ids)
    assert tokenizer.decode(ids.tolist(), skip_special_tokens=True) == "".join(TOPICS[:5])


def test_a_folder_reads_its_records_json_included(tmp_path):
    """A folder's record files win over its text files (a README is not a document), as
    `raymix prepare` reads the same folder: its .json files when they are all its records,
    and beside .jsonl or .parquet files a .json is metadata, not read."""
    tok = make_tokenizer(tmp_path / "tokenizer.json")
    src = tmp_path / "src"
    src.mkdir()
    (src / "README.md").write_text(TOPICS[9])
    (src / "a.json").write_text(json.dumps([{"text": t} for t in TOPICS[:3]]))
    manifest = tokenize_to_shards(str(src), tok, tmp_path / "out", log=lambda _: None)
    assert [Path(s["input"]).name for s in manifest["shards"]] == ["a.json"]
    (src / "b.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in TOPICS[3:5]))
    manifest = tokenize_to_shards(str(src), tok, tmp_path / "new", log=lambda _: None)
    assert [Path(s["input"]).name for s in manifest["shards"]] == ["b.jsonl"]
