"""A sweep over tokens made beforehand: .npy shards, a Megatron dataset and raw .bin shards.

The tokens are real: the built-in corpus, tokenized by raymix's own prepare and written out
with raymix's writers in the three layouts a pretraining team has. The sweep then reads
them in place on a local Ray cluster, with the tokenizer that made them.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from conftest import TINY, finish, raymix_cli, stored_runs

from raymix.config import parse_config
from raymix.data import prepare
from raymix.data.shards import write_megatron, write_token_shards
from raymix.data.tokenize import EOT


@pytest.fixture(scope="module")
def made_tokens(tmp_path_factory, cache_dir):
    """The TINY domains tokenized, as code/*.npy, licences.{bin,idx} and readmes.bin."""
    folder = tmp_path_factory.mktemp("tokens")
    raw = json.loads(json.dumps(TINY))
    raw["data"]["cache_dir"] = str(cache_dir)
    prepared = prepare(parse_config(raw, base_dir=folder), log=lambda _: None)
    eot = prepared.tokenizer().token_to_id(EOT)
    streams = {d: np.concatenate([prepared.train(d), prepared.valid(d)])
               for d in prepared.domains}
    write_token_shards(streams["code"], folder / "code", shard_tokens=40_000)
    ends = np.flatnonzero(streams["licences"] == eot) + 1
    write_megatron(np.split(streams["licences"], ends[:-1]), folder / "licences_text_document")
    streams["readmes"].astype(np.uint32).tofile(folder / "readmes.bin")
    (folder / "tokenizer.json").write_bytes((prepared.path / "tokenizer.json").read_bytes())
    return folder, {d: len(s) for d, s in streams.items()}


@pytest.mark.slow  # 50 s
def test_a_sweep_reads_shards_and_a_megatron_dataset_in_place(tmp_path, made_tokens):
    tokens, sizes = made_tokens
    raw = json.loads(json.dumps(TINY))
    raw["data"] = {
        "cache_dir": str(tmp_path / "cache"),
        "tokenizer": {"path": str(tokens / "tokenizer.json")},
        "domains": [
            {"name": "code", "source": str(tokens / "code")},
            {"name": "licences", "source": str(tokens / "licences_text_document"),
             "max_tokens": 50_000},  # a budget: whole documents drawn from the dataset
            {"name": "readmes", "source": str(tokens / "readmes.bin"), "dtype": "uint32"},
        ],
        "max_text_bytes": 300_000,  # the target's text, tokenized with the same tokenizer
    }
    raw["mixtures"].update(count=4, repeats=0)
    raw["compute"]["storage"] = str(tmp_path / "sweep")
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = finish(raymix_cli("sweep", str(config), "--no-propose"))

    assert "licences: " in out and "tokens in 1 Megatron dataset, read in place" in out
    shards = math.ceil(sizes["code"] / 40_000)
    assert f"tokens in {shards} shard(s), read in place" in out
    assert len(stored_runs(tmp_path / "sweep")) == 4
    manifest = json.loads(next((tmp_path / "cache").glob("prepared-*/manifest.json")).read_text())
    domains = manifest["domains"]
    # nothing copied but the validation tails: training reads the files where they lie
    assert [s["path"] for s in domains["code"]["shards"]] == \
        [str(tokens / "code" / f"shard-{i:05d}.npy") for i in range(shards)]
    assert domains["licences"]["shards"][0]["path"] == str(tokens / "licences_text_document.bin")
    assert domains["readmes"]["shards"][0]["dtype"] == "uint32"
    assert not list((tmp_path / "cache").glob("prepared-*/tokens/*.train.bin"))
    # the split: the held-out tail of each stream, the rest trained on; the prior from sizes
    for d in ("code", "readmes"):
        assert domains[d]["train_tokens"] + domains[d]["valid_tokens"] == sizes[d]
    assert domains["licences"]["train_tokens"] == 50_000
    total = sum(domains[d]["train_tokens"] for d in sizes)
    for d in sizes:
        assert manifest["prior"][d] == pytest.approx(domains[d]["train_tokens"] / total)
    record = json.loads((tmp_path / "sweep" / "results" / "run-0000.json").read_text())
    assert math.isfinite(record["evaluations"][-1]["target_loss"])


@pytest.mark.slow  # 50 s
def test_ray_data_tokenizes_into_the_same_shards_as_one_process(tmp_path, made_tokens):
    from pydoc_data.topics import topics

    tokens, _ = made_tokens
    src = tmp_path / "src"
    src.mkdir()
    docs = [topics[k] for k in sorted(topics)]
    for i in range(6):  # six inputs: each Ray Data worker gets several
        (src / f"part-{i}.jsonl").write_text(
            "".join(json.dumps({"text": d}) + "\n" for d in docs[i::6]))
    tokenizer = str(tokens / "tokenizer.json")
    one = finish(raymix_cli("tokenize", str(src), "--tokenizer", tokenizer,
                            "--output", str(tmp_path / "one")))
    two = finish(raymix_cli("tokenize", str(src), "--tokenizer", tokenizer,
                            "--output", str(tmp_path / "two"), "--workers", "2"))
    assert "6 to tokenize in this process" in one
    assert "6 to tokenize with Ray Data on 2 workers" in two and "tokenize: 6/6 " in two
    shards = sorted(p.name for p in (tmp_path / "one").glob("*.npy"))
    assert len(shards) == 6 and shards == sorted(p.name for p in (tmp_path / "two").glob("*.npy"))
    for name in shards:  # byte for byte
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    manifests = [json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("one", "two")]
    assert manifests[0]["shards"] == manifests[1]["shards"]
    # a re-run finds every shard written and tokenizes nothing
    again = finish(raymix_cli("tokenize", str(src), "--tokenizer", tokenizer,
                              "--output", str(tmp_path / "two"), "--workers", "2"))
    assert "6 shards already written, 0 to tokenize" in again
