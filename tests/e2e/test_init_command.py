"""``raymix init`` on folders of real text, through the command line: the YAML it writes
loads, plans and prepares from any working folder, token shards are counted exactly, and
(slow) a shrunk copy of it runs a whole sweep.

The text is the standard library's: its source files, its module docstrings and pydoc's
language reference (what the built-in corpus's ``code`` and ``python_reference`` are made of).
"""

from __future__ import annotations

import ast
import json
import sysconfig
from pathlib import Path
from pydoc_data.topics import topics

import pytest
import yaml
from conftest import finish, raymix_cli

from raymix.cli.commands import main
from raymix.config import load_config
from raymix.data.prepared import load_prepared

STDLIB = Path(sysconfig.get_paths()["stdlib"])
CODE_FILES = ["textwrap.py", "shlex.py", "fractions.py", "heapq.py", "bisect.py", "string.py",
              "argparse.py", "calendar.py"]
DOC_MODULES = ["pathlib.py", "decimal.py", "statistics.py", "datetime.py", "difflib.py",
               "ipaddress.py"]


@pytest.fixture
def project(tmp_path) -> Path:
    """A user's folder: data/code (.py files), data/reference (.txt files), data/docs.jsonl
    (module docstrings as records); and held-out text outside it."""
    data = tmp_path / "project" / "data"
    (data / "code").mkdir(parents=True)
    for name in CODE_FILES:
        (data / "code" / name).write_text((STDLIB / name).read_text(encoding="utf-8"))
    (data / "reference").mkdir()
    keys = sorted(topics)
    for key in keys[:60]:
        (data / "reference" / f"{key}.txt").write_text(topics[key], encoding="utf-8")
    with open(data / "docs.jsonl", "w", encoding="utf-8") as f:
        for name in DOC_MODULES:
            tree = ast.parse((STDLIB / name).read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc:
                        f.write(json.dumps({"text": doc}) + "\n")
    (tmp_path / "held_out.txt").write_text("\n\n".join(topics[k] for k in keys[60:]),
                                           encoding="utf-8")
    return tmp_path / "project"


def init(project: Path, *extra: str) -> list[str]:
    return ["init", str(project), str(project / "data" / "code"),
            str(project / "data" / "reference"), f"docs={project / 'data' / 'docs.jsonl'}",
            *extra]


def test_init_writes_a_config_that_plans_and_prepares_from_anywhere(project, tmp_path, capsys,
                                                                    monkeypatch):
    held_out = tmp_path / "held_out.txt"
    assert main(init(project, "--target", str(held_out), "--hours", "0.5")) == 0
    out = capsys.readouterr().out
    config = project / "sweep.yaml"
    assert out.startswith(f"raymix init: wrote {config}\n")
    assert "raymix plan project: what the sweep will train and cost" in out  # the plan
    assert f"raymix sweep {config}" in out and f"raymix submit {config}" in out

    text = config.read_text()
    raw = yaml.safe_load(text)
    assert [(d["name"], d["source"]) for d in raw["data"]["domains"]] == [
        ("code", "data/code"), ("reference", "data/reference"), ("docs", "data/docs.jsonl")]
    assert raw["target"] == {"name": "held_out", "source": str(held_out)}
    for line in ("# code: ", "# reference: ", "# docs: "):
        assert line in text
    assert "(estimate)" in text and "* chosen: the largest sweep" in text
    assert raw["mixtures"]["count"] >= 7 * 3 and raw["compute"]["models_per_trial"] == "auto"

    # the config works from DIR, whatever the working folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(config)
    assert main(["plan", str(config)]) == 0
    assert main(["prepare", str(config)]) == 0
    capsys.readouterr()
    manifest = json.loads((load_prepared(cfg).path / "manifest.json").read_text())
    # the estimates from bytes are near the tokens the trained tokenizer counts
    comments = {line.split(":")[0].strip(" #"): line for line in text.splitlines()
                if line.startswith("    # ")}  # the domains' size comments, by name
    for domain in cfg.domain_names:
        counted = manifest["domains"][domain]
        tokens = counted["train_tokens"] + counted["valid_tokens"]
        estimate = counted["text_bytes"] / 3.5
        assert 0.7 < estimate / tokens < 1.4, (domain, estimate, tokens)
        assert f"{counted['text_bytes'] / 1e3:.3g} kB of text" in comments[domain]
    assert not list(elsewhere.iterdir())  # nothing written where the command ran


def test_token_shards_are_counted_exactly_and_need_their_tokenizer(project, tmp_path, capsys):
    assert main(init(project)) == 0
    exported = tmp_path / "tokens"
    assert main(["prepare", str(project / "sweep.yaml"), "--export", str(exported)]) == 0
    capsys.readouterr()
    manifest = json.loads((exported / "manifest.json").read_text())

    shards = [str(exported / "code"), str(exported / "reference")]
    status = main(["init", str(tmp_path / "shards"), *shards])
    assert status == 2 and "--tokenizer" in capsys.readouterr().err
    assert not (tmp_path / "shards").exists()

    assert main(["init", str(tmp_path / "shards"), *shards,
                 "--tokenizer", str(exported / "tokenizer.json"), "--gpus", "4",
                 "--gpu-memory", "80"]) == 0
    out = capsys.readouterr().out
    assert "sized for 4 GPUs of 80 GB" in out and "each trial: 1 CPU, 0.25 GPU" in out
    text = (tmp_path / "shards" / "sweep.yaml").read_text()
    for domain in ("code", "reference"):
        exact = manifest["domains"][domain]["train_tokens"] + \
            manifest["domains"][domain]["valid_tokens"]
        assert f"# {domain}: {exact:,} tokens in 2 shards (exact" in text
    cfg = load_config(tmp_path / "shards" / "sweep.yaml")
    assert cfg.data.tokenizer.path == str(exported / "tokenizer.json")
    assert cfg.data.tokenizer.vocab_size == manifest["vocab_size"]
    assert cfg.compute.gpus_per_trial == 0.25 and cfg.compute.gpu_memory_gb == 80
    assert main(["plan", str(tmp_path / "shards" / "sweep.yaml")]) == 0


@pytest.mark.slow
def test_a_shrunk_copy_of_the_written_config_runs_a_sweep(project, tmp_path, capsys):
    """The data, target and compute sections as init wrote them, with a tinier proxy and
    fewer mixtures so that the sweep takes about a minute."""
    assert main(init(project, "--target", str(tmp_path / "held_out.txt"))) == 0
    capsys.readouterr()
    raw = yaml.safe_load((project / "sweep.yaml").read_text())
    raw["model"] = {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "seq_len": 64}
    raw["training"] = {"steps": 30, "batch_size": 8, "lr": 0.01, "warmup_steps": 3,
                       "eval_every": 10, "eval_tokens": 2048}
    raw["mixtures"].update(count=8, repeats=0)
    raw["data"]["tokenizer"] = {"vocab_size": 512}
    raw["confirm"] = {"rounds": 0}
    raw["fit"] = {"cv_folds": 3}
    raw["search"] = {"draws": 2000, "top_k": 20}
    tiny = project / "tiny.yaml"
    tiny.write_text(yaml.safe_dump(raw))
    out = finish(raymix_cli("sweep", str(tiny)), timeout=600)
    assert "proposed mixture for target 'held_out" in out  # held_out_loss
    assert len(list((project / "runs" / "results").glob("*.json"))) == 8
