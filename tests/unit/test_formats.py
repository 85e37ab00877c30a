"""Text formats: one reader per format, one dispatcher, used by `prepare`'s sources and by
`raymix tokenize` alike (on real text: pydoc's language reference)."""

from __future__ import annotations

import json
from pathlib import Path
from pydoc_data.topics import topics

import pandas as pd
import pytest

from raymix.data.formats import BY_SUFFIX, FORMATS, folder_files, read_texts
from raymix.data.sources import read_documents
from raymix.data.tokenize_shards import documents, input_files
from raymix.errors import ConfigError, UserError

TOPICS = [topics[k] for k in sorted(topics)]
FIELD = "data.domains[1].source"


def read(source: Path, **kwargs) -> list[str]:
    return read_documents(str(source), base_dir=source.parent, cache_dir=source.parent / "c",
                          max_bytes=None, field_name=FIELD, **kwargs)


def test_each_suffix_has_one_format():
    suffixes = [s for f in FORMATS for s in f.suffixes]
    assert len(suffixes) == len(set(suffixes)) == len(BY_SUFFIX)
    assert all(s == s.lower() and s.startswith(".") for s in suffixes)


def test_a_folder_of_json_files_is_records_for_prepare_and_tokenize(tmp_path):
    """A folder holding only .json files of records (an array, and JSON lines under .json)
    and a README: both paths read the records of every one, and no README."""
    (tmp_path / "README.md").write_text("about this dataset")
    (tmp_path / "a.json").write_text(json.dumps([{"text": t} for t in TOPICS[:3]], indent=1))
    (tmp_path / "b.json").write_text("".join(json.dumps({"text": t}) + "\n" for t in TOPICS[3:5]))
    assert read(tmp_path) == TOPICS[:5]
    files = input_files(str(tmp_path))
    assert files == folder_files(tmp_path)
    assert [d for f in files for d in documents(f, "text")] == TOPICS[:5]


def test_a_json_beside_jsonl_or_parquet_is_metadata_for_both_paths(tmp_path):
    """A hub dataset's folder: .jsonl and .parquet data, a dataset_info.json and a README;
    both paths read the data files only."""
    (tmp_path / "README.md").write_text("about this dataset")
    (tmp_path / "dataset_info.json").write_text(json.dumps({"splits": ["train"]}, indent=2))
    (tmp_path / "c.jsonl").write_text(json.dumps({"text": TOPICS[5]}) + "\n")
    pd.DataFrame({"text": TOPICS[6:8]}).to_parquet(tmp_path / "d.parquet")
    assert read(tmp_path) == TOPICS[5:8]
    files = input_files(str(tmp_path))
    assert [p.name for p in files] == [p.name for p in folder_files(tmp_path)] == [
        "c.jsonl", "d.parquet"]


def test_a_metadata_json_named_itself_is_refused_by_name(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"splits": ["train"]}))
    with pytest.raises(UserError, match=r"dataset_info.json' has no column 'text' \(columns: "
                                        r"splits\); set '--text-field'") as caught:
        list(documents(tmp_path / "dataset_info.json", "text"))
    assert caught.value.field == "--text-field"


def test_files_of_unknown_suffix(tmp_path):
    """In a folder they are not documents; named on their own they are text."""
    (tmp_path / "notes.log").write_text(TOPICS[0])
    (tmp_path / "a.txt").write_text(TOPICS[1])
    assert read(tmp_path) == [TOPICS[1]]
    assert read(tmp_path / "notes.log") == [TOPICS[0]]


@pytest.mark.parametrize("name, content, expected", [
    ("a.jsonl", b'{"text": "a"}\n{"text": 3}\n', r"a.jsonl' line 2: 'text' holds a value of type "
                                                  r"int; set 'data.domains\[1\].text_field'"),
    ("a.json", b'[{"text": "a"}, "b"]', r"a.json' record 1: not a JSON record with a 'text' "
                                        r"string"),
    ("a.json", b'[{"text": "a"', r"a.json' is not JSON \(Expecting"),
    ("a.parquet", b"PAR1 not parquet", r"could not read '.*a.parquet' as Parquet \("),
    ("a.jsonl", b'{"text": "caf\xe9"}\n', r"could not read '.*a.jsonl' as JSON lines "
                                          r"\(UnicodeDecodeError"),
])
def test_unreadable_files_are_one_line_naming_file_and_field(tmp_path, name, content, expected):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ConfigError, match=expected) as caught:
        read(tmp_path / name)
    assert caught.value.field == FIELD and "\n" not in str(caught.value)


def test_read_texts_is_lazy(tmp_path):
    """A reader yields as it reads: what a caller stops before is never parsed."""
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": TOPICS[0]}) + "\nnot json\n")
    assert next(read_texts(tmp_path / "a.jsonl")) == TOPICS[0]
