"""Bad input is refused before any work: one table of mistakes in configs, CSVs and
command-line arguments, each run through ``raymix``'s command line.

Every case must give one line naming the field (``raymix: error: <field>: ...``), exit
status 2, and write or overwrite nothing: the test fingerprints every file of the
working folder (the config, the tables, a prepared token cache, an earlier output)
before and after. Starting Ray counts as work, so ``ray.init`` fails the test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray
import yaml
from conftest import TINY

from raymix.cli.commands import main
from raymix.data.prepared import PreparedData
from raymix.data.shards import write_megatron

DOMAINS = ["code", "licences", "readmes"]
RUNS = 12


# ----------------------------------------------------------------------------- the folder


@pytest.fixture(scope="module")
def base_world(tmp_path_factory) -> Path:
    """A working folder a user might have: a config, its prepared cache, CSV tables."""
    world = tmp_path_factory.mktemp("world")
    raw = json.loads(json.dumps(TINY))
    raw["data"]["cache_dir"] = "cache"  # relative paths resolve against the YAML's folder
    raw["compute"]["storage"] = "runs/sweep"
    (world / "ok.yaml").write_text(yaml.safe_dump(raw))
    assert main(["prepare", str(world / "ok.yaml")]) == 0  # a cache hit writes nothing
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(len(DOMAINS)), size=RUNS)
    ids = [f"r{i}" for i in range(RUNS)]
    mixtures = pd.DataFrame(weights, columns=DOMAINS).assign(id=ids)[["id", *DOMAINS]]
    mixtures.to_csv(world / "mix.csv", index=False)
    loss = 4.0 + weights @ np.array([0.3, -0.2, 0.1]) + rng.normal(0, 0.01, RUNS)
    pd.DataFrame({"id": ids, "target_loss": loss}).to_csv(world / "met.csv", index=False)
    mixtures.head(3).to_csv(world / "cand.csv", index=False)
    long = pd.concat([mixtures.assign(params=1e5, tokens=t, target_loss=loss + 1e3 / t)
                      for t in (1e4, 2e4, 4e4)]).rename(columns={"id": "run"})
    long.to_csv(world / "runs.csv", index=False)
    (world / "constraints.yaml").write_text("method: exact\n")
    (world / "out.json").write_text('{"kept": true}\n')  # an earlier output: never overwritten
    (world / "empty").mkdir()
    return world


@pytest.fixture
def world(base_world, tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "world"
    shutil.copytree(base_world, folder)
    monkeypatch.chdir(folder)

    def no_cluster(*args, **kwargs):
        raise AssertionError("bad input reached cluster work (ray.init)")

    monkeypatch.setattr(ray, "init", no_cluster)
    return folder


def fingerprint(folder: Path) -> dict[str, str]:
    """Every entry's content; a symlink by where it points, a FIFO by its kind (reading
    one would block)."""
    def content(p: Path) -> str:
        if p.is_symlink():
            return f"-> {os.readlink(p)}"
        if stat.S_ISFIFO(p.lstat().st_mode):
            return "fifo"
        return "dir" if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()

    return {str(p.relative_to(folder)): content(p) for p in sorted(folder.rglob("*"))}


# ----------------------------------------------------------------------------- the mistakes


def config(command: str = "sweep", **changes):
    """A case: ``raymix COMMAND bad.yaml`` with dotted keys of ok.yaml changed."""

    def setup(world: Path) -> list[str]:
        raw = yaml.safe_load((world / "ok.yaml").read_text())
        for dotted, value in changes.items():
            node, keys = raw, dotted.split("__")
            for key in keys[:-1]:
                node = node[int(key)] if key.isdigit() else node.setdefault(key, {})
            last = int(keys[-1]) if keys[-1].isdigit() else keys[-1]
            if value is DELETE:
                del node[last]
            else:
                node[last] = value
        (world / "bad.yaml").write_text(yaml.safe_dump(raw))
        return [command, "bad.yaml"]

    return setup


def table(name: str, edit, *args: str, command: str = "fit"):
    """A case: ``raymix COMMAND`` on the CSV tables after ``edit`` changed table ``name``."""

    def setup(world: Path) -> list[str]:
        if edit is not None:
            frame = pd.read_csv(world / name).astype(object)
            edit(frame)
            frame.to_csv(world / name, index=False)
        if "--runs" in args:
            return [command, *args]
        return [command, "--mixtures", "mix.csv", "--metrics", "met.csv", *args]

    return setup


def argv(*args: str):
    """A case: these command-line arguments, as given."""
    return lambda world: list(args)


def file(name: str, text: str, *args: str):
    """A case: ``args`` after writing ``text`` into ``name``."""

    def setup(world: Path) -> list[str]:
        (world / name).write_text(text)
        return list(args)

    return setup


def rewritten(name: str, change, *args: str, command: str = "fit"):
    """A case: the tables' ``command`` after ``change`` rewrote the text of table ``name``."""

    def setup(world: Path) -> list[str]:
        path = world / name
        path.write_text(change(path.read_text()))
        if "--runs" in args:
            return [command, *args]
        return [command, "--mixtures", "mix.csv", "--metrics", "met.csv", *args]

    return setup


def _header(change):
    """Rewrite the header line of a CSV with ``change``."""
    def rewrite(text: str) -> str:
        header, _, rest = text.partition("\n")
        return change(header) + "\n" + rest
    return rewrite


def made(kind: str, name: str, *args: str, command: str = "propose"):
    """A case: the tables' ``command`` with ``args`` after making ``name`` in the world:
    a ``symlink`` to an earlier output, a ``fifo``, or a symlink ``loop`` (to itself)."""

    def setup(world: Path) -> list[str]:
        target = world / name
        if kind == "symlink":
            target.symlink_to(world / "out.json")
        elif kind == "fifo":
            os.mkfifo(target)
        else:
            target.symlink_to(target)
        return [command, "--mixtures", "mix.csv", "--metrics", "met.csv", *TARGET, *args]

    return setup


def with_loop(setup):
    """``setup``, after making ``loop`` in the world: a symlink to itself."""
    def wrapped(world: Path) -> list[str]:
        (world / "loop").symlink_to(world / "loop")
        return setup(world)
    return wrapped


def with_files(files: dict[str, bytes], setup):
    """``setup``, after writing these files (path -> bytes) into the world."""
    def wrapped(world: Path) -> list[str]:
        for name, data in files.items():
            (world / name).parent.mkdir(parents=True, exist_ok=True)
            (world / name).write_bytes(data)
        return setup(world)
    return wrapped


def _tasks(*tasks: dict) -> dict:
    """A target section of downstream tasks."""
    return {"name": "tasks", "tasks": list(tasks)}


def tokens(files: dict, command: str = "prepare", tokenizer: bool = True, **changes):
    """A case: ``files`` (path -> a function of the folder that writes it) made in the world,
    then ``config(command, **changes)`` with the prepared cache's tokenizer.json named as
    ``data.tokenizer.path`` (unless ``tokenizer`` is False)."""

    def setup(world: Path) -> list[str]:
        for name, write in files.items():
            (world / name).parent.mkdir(parents=True, exist_ok=True)
            write(world / name)
        if tokenizer:
            found = next(world.glob("cache/prepared-*/tokenizer.json"))
            changes["data__tokenizer"] = {"path": str(found.relative_to(world))}
        return config(command, **changes)(world)

    return setup


def _npy(values, dtype=np.uint16):
    return lambda path: np.save(path, np.asarray(values, dtype=dtype))


def _megatron_with_extra_token(path: Path) -> None:
    write_megatron([np.arange(100, dtype=np.uint16)] * 30, path)
    with open(path.with_suffix(".bin"), "ab") as f:
        f.write(b"\0\0")


def cell(row, column, value):
    def edit(frame):
        frame.loc[row, column] = value
    return edit


def few_runs(world: Path) -> list[str]:
    for name in ("mix.csv", "met.csv"):
        pd.read_csv(world / name).head(2).to_csv(world / name, index=False)
    return ["fit", "--mixtures", "mix.csv", "--metrics", "met.csv", *TARGET]


def reusing(change=None, split=None, **data_info):
    """``raymix sweep`` of ok.yaml with ``mixtures.reuse`` of ``old``: a sweep folder whose
    config.yaml holds ok.yaml's settings (``change`` applied to them) and whose data.json
    says its runs used the world's prepared data (fields of ``data_info`` replaced)."""

    def setup(world: Path) -> list[str]:
        raw = yaml.safe_load((world / "ok.yaml").read_text())
        stored = json.loads(json.dumps(raw))
        if change:
            change(stored)
        (world / "old").mkdir()
        (world / "old" / "config.yaml").write_text(yaml.safe_dump(stored))
        prepared = PreparedData.open(next(world.glob("cache/prepared-*")))
        info = {"prior": prepared.prior, "train_tokens": prepared.train_tokens,
                "tokens_per_run": 1, "non_embedding_params": {}, "prepared": prepared.path.name}
        (world / "old" / "data.json").write_text(json.dumps({**info, **data_info}))
        raw["mixtures"]["reuse"] = {"storage": "old", "split": split}
        (world / "bad.yaml").write_text(yaml.safe_dump(raw))
        return ["sweep", "bad.yaml"]

    return setup


def started_sweep(world: Path) -> list[str]:
    """``raymix report`` of a sweep folder that holds its config.yaml and no results."""
    (world / "started").mkdir()
    shutil.copy(world / "ok.yaml", world / "started" / "config.yaml")
    return ["report", "started"]


def _outputs_sweep(name: str, kind: str):
    """``raymix report done`` of a finished-looking sweep folder whose ``report/NAME`` is
    a user's file (``user``), a symlink to an earlier output, or a FIFO. The refusal comes
    before any table is read, so the tables are the world's CSVs."""

    def setup(world: Path) -> list[str]:
        sweep = world / "done"
        (sweep / "report").mkdir(parents=True)
        shutil.copy(world / "ok.yaml", sweep / "config.yaml")
        shutil.copy(world / "mix.csv", sweep / "mixtures.csv")
        shutil.copy(world / "met.csv", sweep / "metrics.csv")
        target = sweep / "report" / name
        if kind == "user":
            target.write_text("<p>my own page</p>\n")
        elif kind == "symlink":
            target.symlink_to(world / "out.json")
        else:
            os.mkfifo(target)
        return ["report", "done"]

    return setup


def _outputs_user_report(name: str, setup):
    """``setup``, after putting a user's own ``rep/NAME`` into the world."""
    def wrapped(world: Path) -> list[str]:
        (world / "rep").mkdir()
        (world / "rep" / name).write_text("mine\n")
        return setup(world)
    return wrapped


def _outputs_hard_link(world: Path) -> list[str]:
    """``propose --output`` a hard link of the metrics table (another name, one file)."""
    os.link(world / "met.csv", world / "linked.json")
    return ["propose", "--mixtures", "mix.csv", "--metrics", "met.csv", *TARGET,
            "--output", "linked.json"]


def _outputs_symlinked_input(world: Path) -> list[str]:
    """``fit --predict`` through a symlink to the candidates, ``--output`` the file."""
    (world / "cand-link.csv").symlink_to(world / "cand.csv")
    return ["fit", "--mixtures", "mix.csv", "--metrics", "met.csv", *TARGET,
            "--predict", "cand-link.csv", "--output", "cand.csv"]


def _readers_big_file(name: str, megabytes: int, *args: str):
    """A case: ``args`` after writing a YAML file of ``megabytes`` MB (a comment after a
    name), made here rather than kept in the repository."""
    def setup(world: Path) -> list[str]:
        with open(world / name, "w") as f:
            f.write("name: big\n# " + "x" * (megabytes * 1_000_000) + "\n")
        return list(args)
    return setup


def _readers_fifo(name: str, *args: str):
    """A case: ``args`` after making a FIFO called ``name`` (reading it would block)."""
    def setup(world: Path) -> list[str]:
        (world / name).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(world / name)
        (world / "docs.jsonl").write_text('{"text": "a"}\n')
        return list(args)
    return setup


def _readers_truncated_npy(path: Path) -> None:
    np.save(path, np.arange(5000, dtype=np.uint16))
    path.write_bytes(path.read_bytes()[:3000])


def _readers_megatron_past_data(path: Path) -> None:
    """A Megatron dataset whose document index points past its 30 sequences."""
    write_megatron([np.arange(100, dtype=np.uint16)] * 30, path)
    idx = path.with_suffix(".idx")
    data = bytearray(idx.read_bytes())
    start = 34 + 12 * 30  # header, lengths (int32) and pointers (int64) of 30 sequences
    data[start + 8 * 5: start + 8 * 6] = (10**6).to_bytes(8, "little")
    idx.write_bytes(bytes(data))


def _readers_sweep(damage):
    """A case: ``raymix report done`` of a finished sweep folder (its config.yaml, data.json,
    tables, records and a proposal.json) after ``damage(folder)``."""
    def setup(world: Path) -> list[str]:
        from raymix.runs import DataInfo, Evaluation, RunRecord

        done = world / "done"
        (done / "results").mkdir(parents=True)
        shutil.copy(world / "ok.yaml", done / "config.yaml")
        mix = pd.read_csv(world / "mix.csv").rename(columns={"id": "run"})
        mix.to_csv(done / "mixtures.csv", index=False)
        loss = pd.read_csv(world / "met.csv")["target_loss"]
        pd.DataFrame({"run": mix["run"], "python_reference_loss": loss}).to_csv(
            done / "metrics.csv", index=False)
        info = DataInfo(prior={d: 1 / 3 for d in DOMAINS}, train_tokens={d: 10**5 for d in DOMAINS},
                        tokens_per_run=15360, non_embedding_params={"model": 12_000},
                        prepared="prepared-0")
        (done / "data.json").write_text(json.dumps(info.to_json()))
        for i, row in mix.iterrows():
            record = RunRecord(run_id=row["run"], mixture={d: float(row[d]) for d in DOMAINS},
                               seed=0, evaluations=[Evaluation(30, 15360, 4.0, {},
                                                               float(loss[i]))])
            (done / "results" / f"{row['run']}.json").write_text(json.dumps(record.to_json()))
        (done / "proposal.json").write_text('{"mixture": {"code": 0.5, "licences": 0.2')
        damage(done)
        return ["report", "done"]
    return setup


def _readers_edit_json(name: str, change):
    """Damage for :func:`_readers_sweep`: ``change`` the JSON data of ``name``."""
    def damage(done: Path) -> None:
        data = json.loads((done / name).read_text())
        change(data)
        (done / name).write_text(json.dumps(data))
    return damage


def _readers_long_continuation() -> bytes:
    """A cloze item whose continuation is 300 words: more than the tiny model's 64 tokens
    with any tokenizer the byte-level pre-tokenizer feeds."""
    return (json.dumps({"context": "a", "continuation": " word" * 300}) + "\n").encode()


DELETE = object()
TARGET = ("--target", "target_loss")
BIG = {"layers": 8, "hidden": 512, "heads": 8, "intermediate": 2048}

CASES = [
    # ---- configs: domains and their data
    ("duplicate domain", config(data__domains__1__name="code"), "data.domains[1].name"),
    ("no domains", config(data__domains=[]), "data.domains"),
    ("domain without a source", config(data__domains__0__source=DELETE),
     "data.domains[0].source"),
    ("missing domain data", config(data__domains__2__source="no/such/folder"),
     "data.domains[2].source"),
    ("empty domain data", config("prepare", data__domains__2__source="empty"),
     "data.domains[2].source"),
    ("unknown builtin corpus", config(data__domains__1__source="builtin:nope"),
     "data.domains[1].source"),
    ("vocab below the byte alphabet", config(data__tokenizer__vocab_size=100),
     "data.tokenizer.vocab_size"),
    # ---- configs: the target
    ("target names no domain", config(target={"name": "t", "domains": {"nope": 1.0}}),
     "target.domains.nope"),
    ("target corpus unknown", config(target__source="builtin:nope"), "target.source"),
    ("target is a training domain", config(target__name="code"), "target.name"),
    # ---- configs: weights and constraints
    ("negative validation weight", config(validate={"mixtures": {"mine": {"code": -0.5,
                                                                          "licences": 1.5}}}),
     "validate.mixtures.mine.code"),
    ("fixed weights above 1", config(search={"fixed_weight": {"code": 0.7, "licences": 0.6}}),
     "search.fixed_weight"),
    ("bound on an unknown domain", config(search={"min_weight": {"web": 0.1}}),
     "search.min_weight.web"),
    ("repetition cap no mixture meets", config(mixtures__proxy_max_epochs=1e-5),
     "mixtures.proxy_max_epochs"),
    # ---- configs: compute and model
    ("MixMin without a target corpus",
     config(mixtures__draw="per_domain", target={"name": "t", "domains": {"code": 1.0}}),
     "mixtures.draw"),
    # ---- configs: a target of downstream tasks (target.tasks)
    ("task item without a continuation",
     with_files({"t.jsonl": b'{"context": "a", "continuation": " b"}\n{"context": "c"}\n'},
                config(target=_tasks({"name": "t", "path": "t.jsonl"}))), "target.tasks[0].path"),
    ("task item with an empty continuation",
     with_files({"t.jsonl": b'{"context": "a", "continuation": ""}\n'},
                config(target=_tasks({"name": "t", "path": "t.jsonl"}))), "target.tasks[0].path"),
    ("choice list without the gold",
     with_files({"t.jsonl": b'{"query": "q", "choices": [" a", " b"], "gold": " c"}\n'},
                config(target=_tasks({"name": "t", "path": "t.jsonl"}))), "target.tasks[0].path"),
    ("task file that is not there",
     config(target=_tasks({"name": "t", "path": "nope.jsonl"})), "target.tasks[0].path"),
    ("duplicate task names",
     config(target=_tasks(*[{"name": "t", "path": "builtin:python_reference_cloze"}] * 2)),
     "target.tasks[1].name"),
    ("negative task weight",
     config(target=_tasks({"name": "t", "path": "builtin:python_reference_cloze",
                           "weight": -1})), "target.tasks[0].weight"),
    ("MixMin before any sweep", argv("propose", "ok.yaml", "--method", "mixmin"),
     "compute.storage"),
    ("MixMin from tables", table("met.csv", None, *TARGET, "--method", "mixmin",
                                 "--output", "p.json", command="propose"), "--method"),
    ("GPU fraction above 1", config(compute__gpus_per_trial=1.5), "compute.gpus_per_trial"),
    ("unknown search strategy", config(search__strategy="grid"), "search.strategy"),
    ("adaptive search of one proxy per domain",
     config(search__strategy="bayesopt", mixtures__draw="per_domain"), "search.strategy"),
    ("more initial runs than mixtures", config(search__strategy="design", search__initial_runs=9),
     "search.initial_runs"),
    ("negative exploration", config(search__strategy="bayesopt", search__exploration=-1),
     "search.exploration"),
    ("adaptive search box the proxies' cap empties",
     config("sweep", search__strategy="bayesopt", search__min_weight={"licences": 0.9},
            mixtures__proxy_max_epochs=0.08), "mixtures.proxy_max_epochs"),
    ("proxy larger than its GPU share",
     config(model=dict(TINY["model"], **BIG), compute__gpus_per_trial=0.25,
            compute__gpu_memory_gb=0.5), "model"),
    ("validation size larger than a CPU trial's memory",
     config(validate=BIG, compute__memory_per_trial_gb=0.3), "validate"),
    ("scale larger than its GPU share",
     config(scales=[dict(BIG, name="big")], compute__gpus_per_trial=0.5,
            compute__gpu_memory_gb=0.2), "scales[0]"),
    ("heads do not divide hidden", config(model__heads=3), "model.heads"),
    ("not a number", config(training__lr="fast"), "training.lr"),
    ("warmup longer than training", config(training__warmup_steps=500), "training.warmup_steps"),
    ("unknown regressor", config(fit__regressors=["xgboost"]), "fit.regressors[0]"),
    ("unknown section", config(surprise=1), "surprise"),
    ("unknown W&B mode", config(tracking={"wandb": {"project": "p", "mode": "sometimes"}}),
     "tracking.wandb.mode"),
    ("negative steps, prepare", config("prepare", training__steps=-1), "training.steps"),
    ("negative steps, fit", config("fit", training__steps=-1), "training.steps"),
    ("negative steps, propose", config("propose", training__steps=-1), "training.steps"),
    ("negative steps, validate", config("validate", training__steps=-1), "training.steps"),
    ("unknown scale key", config("fit", fit__at={"flops": 1e15}), "fit.at.flops"),
    # ---- configs: files and storage
    ("storage path is a file", config(compute__storage="mix.csv"), "compute.storage"),
    ("storage under a file", config(compute__storage="mix.csv/sweep"), "compute.storage"),
    ("storage through a symlink loop", with_loop(config(compute__storage="loop/sweep")),
     "compute.storage"),
    ("cache under /proc", config(data__cache_dir="/proc/raymix-cache"), "data.cache_dir"),
    ("two domains reading one source",
     config(data__domains__1__source="builtin:code"), "data.domains[1].source"),
    ("a .txt file of random bytes",
     with_files({"noise/a.txt": b"plain text\n" * 50,
                 "noise/b.txt": np.random.default_rng(0).bytes(4000)},
                config("prepare", data__domains__2__source="noise")),
     "data.domains[2].source"),
    ("a text file with NUL bytes", with_files({"nul.txt": b"text\0" * 100},
                                              config("prepare", target__source="nul.txt")),
     "target.source"),
    ("token shards without data.tokenizer.path",
     tokens({"tok/a.npy": _npy(range(5000))}, tokenizer=False,
            data__domains__0__source="tok"), "data.tokenizer.path"),
    ("a raw .bin shard without a dtype",
     tokens({"tok/a.bin": lambda p: np.arange(5000, dtype=np.uint16).tofile(p)},
            data__domains__0__source="tok"), "data.domains[0].source"),
    ("a domain dtype that is not a token dtype", config(data__domains__0__dtype="float32"),
     "data.domains[0].dtype"),
    ("a token id beyond the tokenizer's vocabulary",
     tokens({"tok/a.npy": _npy([1, 2, 60_000] * 2000)}, data__domains__0__source="tok"),
     "data.domains[0].source"),
    ("an empty token shard",
     tokens({"tok/a.npy": _npy(range(5000)), "tok/b.npy": _npy([])},
            data__domains__0__source="tok"), "data.domains[0].source"),
    ("a Megatron index that disagrees with its .bin",
     tokens({"meg/d": _megatron_with_extra_token}, data__domains__1__source="meg/d"),
     "data.domains[1].source"),
    ("an export into a folder that exists", argv("prepare", "ok.yaml", "--export", "empty"),
     "--export"),
    ("an export shard of 0 tokens",
     argv("prepare", "ok.yaml", "--export", "new", "--shard-tokens", "0"), "--shard-tokens"),
    ("tokenize: a source that is not there",
     argv("tokenize", "nope", "--tokenizer", "ok.yaml", "--output", "new"), "SOURCE"),
    ("tokenize: a tokenizer that is not one",
     file("docs.jsonl", '{"text": "a"}\n', "tokenize", "docs.jsonl", "--tokenizer", "ok.yaml",
          "--output", "new"), "--tokenizer"),
    ("tokenize: workers below 0",
     file("docs.jsonl", '{"text": "a"}\n', "tokenize", "docs.jsonl", "--tokenizer", "ok.yaml",
          "--output", "new", "--workers", "-1"), "--workers"),
    ("cache through a symlink loop", with_loop(config("prepare", data__cache_dir="loop/c")),
     "data.cache_dir"),
    ("source through a symlink loop", with_loop(config("prepare",
                                                       data__domains__0__source="loop/x")),
     "data.domains[0].source"),
    ("fit before any sweep", argv("fit", "ok.yaml"), "compute.storage"),
    ("validate before any sweep", argv("validate", "ok.yaml"), "compute.storage"),
    ("missing config file", argv("sweep", "nope.yaml"), "nope.yaml"),
    ("YAML that does not parse", file("bad.yaml", "model: [1, 2\n", "sweep", "bad.yaml"),
     "bad.yaml"),
    ("YAML that is not a mapping", file("bad.yaml", "- 1\n- 2\n", "sweep", "bad.yaml"),
     "bad.yaml"),
    ("empty YAML", file("bad.yaml", "", "sweep", "bad.yaml"), "bad.yaml"),
    ("python object tag in YAML",
     file("bad.yaml", "name: !!python/object/apply:os.system ['touch pwned']\n", "sweep",
          "bad.yaml"),  # never run: it would write 'pwned' into the folder
     "bad.yaml"),
    # ---- CSV tables
    ("non-numeric weight", table("mix.csv", cell(3, "code", "abc"), *TARGET), "--mixtures"),
    ("negative weight", table("mix.csv", cell(2, "code", -0.2), *TARGET), "--mixtures"),
    ("weights not summing to 1", table("mix.csv", cell(1, "code", 0.99), *TARGET), "--mixtures"),
    ("duplicate run id", table("mix.csv", cell(5, "id", "r1"), *TARGET), "--mixtures"),
    ("non-numeric metric", table("met.csv", cell(0, "target_loss", "n/a?"), *TARGET),
     "--metrics"),
    ("target names no column", table("met.csv", None, "--target", "nope"), "--target"),
    ("too few runs to fit", few_runs, "--folds"),
    ("candidate with an unknown domain",
     table("cand.csv", lambda f: f.rename(columns={"code": "web"}, inplace=True), *TARGET,
           "--predict", "cand.csv", "--output", "pred.csv"), "--predict"),
    ("bad candidates, found before the fit writes its report",
     table("cand.csv", lambda f: f.rename(columns={"code": "web"}, inplace=True), *TARGET,
           "--predict", "cand.csv", "--output", "pred.csv", "--report", "fit-report"),
     "--predict"),
    ("unknown id column", table("met.csv", None, *TARGET, "--id", "run"), "--id"),
    ("tables without a target", table("met.csv", None), "--target"),
    ("long table without a target", argv("fit", "--runs", "runs.csv"), "--target"),
    ("missing long table", argv("fit", "--runs", "missing.csv", *TARGET), "--runs"),
    ("long table and the pair together",
     argv("fit", "--runs", "runs.csv", *TARGET, "--mixtures", "mix.csv"), "--mixtures"),
    ("a scale for tables without checkpoints", table("met.csv", None, *TARGET, "--at",
                                                     "params=1e9"), "--at"),
    ("domains option with the pair", table("met.csv", None, *TARGET, "--domains", "code"),
     "--domains"),
    ("long table without tokens", table("runs.csv", lambda f: f.drop(columns="tokens",
                                                                     inplace=True),
                                        "--runs", "runs.csv", *TARGET), "--runs"),
    ("long table, unknown domain column",
     table("runs.csv", None, "--runs", "runs.csv", *TARGET, "--domains", "code,web"),
     "--domains"),
    # ---- command-line arguments
    ("unknown command", argv("explode"), "explode"),
    ("missing CONFIG", argv("sweep"), "config"),
    ("unknown regressor option", argv("fit", "--regressor", "xgboost"), "--regressor"),
    ("one fold", table("met.csv", None, *TARGET, "--folds", "1"), "--folds"),
    ("scale that is not a number", table("runs.csv", None, "--runs", "runs.csv", *TARGET,
                                         "--at", "params=abc"), "--at"),
    ("scale key unknown", table("runs.csv", None, "--runs", "runs.csv", *TARGET,
                                "--at", "flops=1e9"), "--at"),
    ("scale below every run", table("runs.csv", None, "--runs", "runs.csv", *TARGET,
                                    "--at", "params=10,tokens=10"), "--at"),
    ("output under a file", table("met.csv", None, *TARGET, "--output", "mix.csv/p.json",
                                  command="propose"), "--output"),
    ("output folder missing", table("met.csv", None, *TARGET, "--output", "no/dir/p.json",
                                    command="propose"), "--output"),
    ("report under a file", table("met.csv", None, *TARGET, "--report", "mix.csv/report"),
     "--report"),
    ("proposal report under a file", table("met.csv", None, *TARGET, "--output", "p.json",
                                           "--report", "out.json/r", command="propose"),
     "--report"),
    ("proposal from tables without an output", table("met.csv", None, *TARGET,
                                                     command="propose"), "--output"),
    ("missing constraints file", table("met.csv", None, *TARGET, "--constraints", "no.yaml",
                                       "--output", "out.json", command="propose"),
     "--constraints"),
    ("baseline without critical", table("met.csv", None, *TARGET, "--output", "out.json",
                                        "--baseline", "3.0", command="propose"), "--baseline"),
    ("critical share of no domain", table("met.csv", None, *TARGET, "--output", "out.json",
                                          "--critical", "web", "--baseline", "3",
                                          command="propose"), "--critical"),
    ("constraints with an unknown key",
     file("constraints.yaml", "method: exact\nbudget: 3\n", "propose", "--mixtures", "mix.csv",
          "--metrics", "met.csv", *TARGET, "--constraints", "constraints.yaml",
          "--output", "out.json"), "constraints.budget"),
    ("constraints no mixture meets",
     file("constraints.yaml", "max_weight: {code: 0.1, licences: 0.1, readmes: 0.1}\n",
          "propose", "--mixtures", "mix.csv", "--metrics", "met.csv", *TARGET,
          "--constraints", "constraints.yaml", "--output", "out.json"),
     "constraints.max_weight"),
    # ---- values out of bounds, and YAML that loads but is not what was meant
    ("negative GPUs per trial", config(compute__gpus_per_trial=-1), "compute.gpus_per_trial"),
    ("no proxies per trial", config(compute__models_per_trial=0), "compute.models_per_trial"),
    ("proxies per trial as a word", config(compute__models_per_trial="many"),
     "compute.models_per_trial"),
    ("more stacked proxies than a trial's memory holds",
     config(compute__models_per_trial=1000, compute__gpus_per_trial=1,
            compute__gpu_memory_gb=0.05), "model"),
    ("a billion mixtures", config(mixtures__count=1_000_000_000), "mixtures.count"),
    ("negative mixture seed", config(mixtures__seed=-1), "mixtures.seed"),
    # ---- mixtures.reuse: an earlier sweep's runs, only where they measured the same
    ("reuse of the sweep's own storage", config(mixtures__reuse={"storage": "runs/sweep"}),
     "mixtures.reuse.storage"),
    ("reuse with an adaptive strategy",
     config(mixtures__strategy="bayesopt", mixtures__reuse={"storage": "old"}), "mixtures.reuse"),
    ("reuse split into an unknown domain",
     config(mixtures__reuse={"storage": "old", "split": {"prose": ["nope"]}}),
     "mixtures.reuse.split.prose"),
    ("reuse of a folder with no sweep", config(mixtures__reuse={"storage": "empty"}),
     "mixtures.reuse.storage"),
    ("reuse of runs of another model",
     reusing(lambda raw: raw["model"].update(hidden=64)), "model.hidden"),
    ("reuse of runs with another target",
     reusing(lambda raw: raw["target"].update(source="builtin:drama")), "target.source"),
    ("reuse of runs whose tokenizer is unknown", reusing(prepared="prepared-gone"),
     "data.tokenizer"),
    ("reuse split of a domain the runs lack", reusing(split={"prose": ["readmes"]}),
     "mixtures.reuse.split.prose"),
    ("reuse split into a domain the runs keep", reusing(
        lambda raw: raw["data"]["domains"].append({"name": "prose", "source": "x"}),
        split={"prose": ["readmes"]}, train_tokens={"code": 1, "licences": 1, "readmes": 1,
                                                    "prose": 1}),
     "mixtures.reuse.split.prose"),
    ("reuse of runs whose kept domain changed", reusing(train_tokens={
        "code": 1, "licences": 1, "readmes": 1}), "data.domains[0]"),
    ("negative fit seed", argv("fit", "ok.yaml", "--seed", "-1"), "--seed"),
    ("ten billion draws",
     file("constraints.yaml", "draws: 1e10\n", "propose", "--mixtures", "mix.csv",
          "--metrics", "met.csv", *TARGET, "--constraints", "constraints.yaml",
          "--output", "out.json"), "constraints.draws"),
    ("a key given twice", file("dup.yaml", "name: a\nname: b\n", "sweep", "dup.yaml"),
     "given twice"),
    ("anchors that expand a billion times",
     file("bomb.yaml", "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
         f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")),
         "sweep", "bomb.yaml"), "expand to more than"),
    # ---- tables that pandas would read into something else than meant
    ("a column named twice", rewritten("met.csv", _header(lambda h: h + "," + h.split(",")[1]),
                                       *TARGET), "twice"),
    ("a trailing empty column", rewritten("mix.csv", lambda t: t.replace("\n", ",\n"),
                                          *TARGET), "no name"),
    ("semicolon-separated table", rewritten("mix.csv", lambda t: t.replace(",", ";"),
                                            *TARGET), "semicolons"),
    ("tab-separated long table", rewritten("runs.csv", lambda t: t.replace(",", "\t"),
                                           "--runs", "runs.csv", *TARGET), "tabs"),
    # ---- outputs that a rename would destroy, or that cannot be written at all
    ("output is a symlink", made("symlink", "link.json", "--output", "link.json"),
     "--output"),
    ("output is a FIFO", made("fifo", "pipe.json", "--output", "pipe.json"), "--output"),
    ("output is a folder", table("met.csv", None, *TARGET, "--output", ".",
                                 command="propose"), "--output"),
    ("output through a symlink loop", made("loop", "loop", "--output", "loop/p.json"),
     "--output"),
    ("output under /proc", table("met.csv", None, *TARGET, "--output", "/proc/raymix-p.json",
                                 command="propose"), "--output"),
    ("report under /proc", table("met.csv", None, *TARGET, "--report", "/proc/raymix-report"),
     "--report"),
    ("report through a symlink loop", made("loop", "loop", "--report", "loop/report",
                                           command="fit"), "--report"),
    ("config and tables together", argv("fit", "ok.yaml", "--mixtures", "mix.csv"),
     "--mixtures"),
    ("submit without CONFIG", argv("submit"), "CONFIG"),
    ("submit a config whose storage is relative", argv("submit", "ok.yaml"),
     "compute.storage"),
    # ---- raymix report: a finished sweep's folder or config
    ("report of a folder that is not a sweep", argv("report", "empty"), "empty"),
    ("report of a sweep with no results yet", argv("report", "ok.yaml"), "ok.yaml"),
    ("report of a sweep folder with no results yet",
     started_sweep, "started"),
    ("report of a missing path", argv("report", "nope.yaml"), "nope.yaml"),
    # ---- raymix plan: its config, and the speed file it reads
    ("missing config file, plan", argv("plan", "nope.yaml"), "nope.yaml"),
    ("negative steps, plan", config("plan", training__steps=-1), "training.steps"),
    ("proxy larger than its GPU share, plan",
     config("plan", model=dict(TINY["model"], **BIG), compute__gpus_per_trial=0.25,
            compute__gpu_memory_gb=0.5), "model"),
    ("missing speed file", argv("plan", "ok.yaml", "--throughput", "no.json"), "--throughput"),
    ("speed file that is not JSON",
     file("speed.json", "tokens: fast\n", "plan", "ok.yaml", "--throughput", "speed.json"),
     "--throughput"),
    ("speed file without a measurement",
     file("speed.json", '{"rows": [{"device": "cpu", "tokens_per_s": 1000}]}', "plan",
          "ok.yaml", "--throughput", "speed.json"), "--throughput"),
    ("speed file of GPUs for a CPU sweep",
     file("speed.json", '{"rows": [{"device": "NVIDIA H100", "tokens_per_s": 1000, "model": '
          '{"layers": 2, "hidden": 64, "intermediate": 256, "seq_len": 128}}]}', "plan",
          "ok.yaml", "--throughput", "speed.json"), "--throughput"),
    # ---- raymix submit: refused before anything is uploaded or submitted (no cluster here)
    ("submit with a relative validate.storage",
     config("submit", compute__storage="s3://bucket/sweep", validate__storage="val"),
     "validate.storage"),
    ("submit with a --set the config refuses",
     argv("submit", "ok.yaml", "--set", "training.steps=-1"), "training.steps"),
    ("submit with a --set of an unknown section",
     argv("submit", "ok.yaml", "--set", "nosuch.key=1"), "--set"),
    ("submit a config outside --working-dir",
     argv("submit", "ok.yaml", "--working-dir", "empty"), "--working-dir"),
    ("submit with a --working-dir that is not a folder",
     argv("submit", "ok.yaml", "--working-dir", "nope"), "--working-dir"),
    ("submit with a missing wheel",
     lambda world: config("submit", compute__storage="s3://bucket/sweep")(world)
     + ["--wheel", "nope.whl"], "--wheel"),
    ("submit with --wheel and --no-install",
     argv("submit", "ok.yaml", "--wheel", "raymix-0.1.0-py3-none-any.whl", "--no-install"),
     "--wheel"),
    # ---- --set overrides
    ("--set without '='", argv("sweep", "ok.yaml", "--set", "training.steps"), "--set"),
    ("--set with an empty key", argv("plan", "ok.yaml", "--set", "=5"), "--set"),
    ("--set of an unknown section", argv("validate", "ok.yaml", "--set", "trainig.steps=5"),
     "--set: trainig.steps: unknown section"),
    ("--set of an index out of range",
     argv("prepare", "ok.yaml", "--set", "data.domains[3].source=builtin:drama"), "--set"),
    ("--set into a value", argv("fit", "ok.yaml", "--set", "training.steps.first=1"), "--set"),
    ("--set of a list by name",
     argv("propose", "ok.yaml", "--set", "data.domains.code.max_tokens=5"), "--set"),
    ("--set of a value that is not YAML",
     argv("sweep", "ok.yaml", "--set", "fit.regressors=[ridge,"), "--set"),
    ("--set of an unknown key", argv("sweep", "ok.yaml", "--set", "training.stepz=5"),
     "'training.stepz': unknown key; allowed: steps"),
    ("--set of a value the config refuses",
     argv("plan", "ok.yaml", "--set", "training.steps=50", "--set", "training.steps=-1"),
     "training.steps"),
    ("--set of storage under a file, relative to the config",
     argv("sweep", "ok.yaml", "--set", "compute.storage=mix.csv/sweep"), "compute.storage"),
    ("--set of a cache under a file", argv("prepare", "ok.yaml", "--set",
                                           "data.cache_dir=mix.csv/cache"), "data.cache_dir"),
    ("--set with the tables", table("met.csv", None, *TARGET, "--set", "fit.cv_folds=3"),
     "--set: goes with a CONFIG"),
    ("--set with the long table", argv("fit", "--runs", "runs.csv", *TARGET, "--set",
                                       "fit.cv_folds=3"), "--set: goes with a CONFIG"),
    ("--set with a report of a sweep folder", argv("report", "empty", "--set", "name=x"),
     "--set: goes with a CONFIG"),
    ("--set with a report of a config", argv("report", "ok.yaml", "--set", "fit[0]=x"), "--set"),
    ("a --set that changes what a sweep's stored runs measure",
     with_files({"runs/sweep/config.yaml": yaml.safe_dump(
         {**TINY, "overrides": ["training.steps=40"],
          "training": {**TINY["training"], "steps": 40}}).encode()},
         argv("sweep", "ok.yaml", "--set", "training.steps=50")),
     "made with --set training.steps=40, this config has --set training.steps=50"),
    # ---- object storage (compute.storage: s3://bucket/prefix): its form, before any request
    ("storage URI with a query string",
     config("plan", compute__storage="s3://bucket/runs?endpoint_override=http://x"),
     "compute.storage"),
    ("storage URI without a bucket", argv("sweep", "ok.yaml", "--set",
                                          "compute.storage=s3:///runs"), "compute.storage"),
    ("storage URI with '..'", config("sweep", compute__storage="gs://bucket/a/../b"),
     "compute.storage"),
    ("storage URI with credentials in it",
     config("propose", compute__storage="s3://key:secret@bucket/runs"), "compute.storage"),
    ("validate storage URI without a bucket",
     config("validate", validate__storage="s3://"), "validate.storage"),
    ("storage URI of a scheme no file system knows",
     argv("sweep", "ok.yaml", "--set", "compute.storage=nosuchfs://bucket/runs"),
     "compute.storage"),
    ("report of a URI with a query string", argv("report", "s3://bucket/sweep?x=1"),
     "s3://bucket/sweep?x=1"),
    # ---- raymix init DIR SOURCE...: refused before DIR is made (the YAML files are text)
    ("init: a SOURCE that does not exist", argv("init", "new", "ok.yaml", "nope.txt"),
     "data.domains[1].source"),
    ("init: a SOURCE raymix cannot read", argv("init", "new", "ok.yaml", "empty"),
     "data.domains[1].source"),
    ("init: two domains with one name",
     argv("init", "new", "ok.yaml", "ok=constraints.yaml"), "SOURCE"),
    ("init: DIR/sweep.yaml exists",
     file("sweep.yaml", "name: mine\n", "init", ".", "ok.yaml", "constraints.yaml"), "DIR"),
    ("init: DIR under a file", argv("init", "ok.yaml/new", "ok.yaml", "constraints.yaml"),
     "DIR"),
    ("init: DIR inside a source folder", argv("init", "empty/new", "empty", "ok.yaml"), "DIR"),
    ("init: no GPUs", argv("init", "new", "ok.yaml", "constraints.yaml", "--gpus", "0"),
     "--gpus"),
    ("init: negative GPUs", argv("init", "new", "ok.yaml", "constraints.yaml", "--gpus", "-2"),
     "--gpus"),
    ("init: no hours", argv("init", "new", "ok.yaml", "constraints.yaml", "--hours", "0"),
     "--hours"),
    ("init: negative hours",
     argv("init", "new", "ok.yaml", "constraints.yaml", "--hours", "-1"), "--hours"),
    ("init: GPU memory without GPUs",
     argv("init", "new", "ok.yaml", "constraints.yaml", "--gpu-memory", "80"), "--gpu-memory"),
    ("init: a target domain that is not one",
     argv("init", "new", "ok.yaml", "constraints.yaml", "--target-domains", "ok,nope"),
     "--target-domains"),
    # ---- issue 32: domains in groups (code and readmes in the group "software")
    ("by_group true without groups", config(mixtures__by_group=True), "mixtures.by_group"),
    ("a group bound naming no group",
     config(data__domains__0__group="software", data__domains__2__group="software",
            search__min_weight={"softwares": 0.2}), "search.min_weight.softwares"),
    ("a group minimum above its domains' maxima",
     config(data__domains__0__group="software", data__domains__2__group="software",
            search__min_weight={"software": 0.6},
            search__max_weight={"code": 0.2, "readmes": 0.2}), "search.min_weight.software"),
    ("a domain minimum above its group's maximum",
     config(data__domains__0__group="software", data__domains__2__group="software",
            search__min_weight={"code": 0.5}, search__max_weight={"software": 0.3}),
     "search.max_weight.software"),
    ("group and domain minimums above 1",
     config(data__domains__0__group="software", data__domains__2__group="software",
            search__min_weight={"software": 0.7, "licences": 0.4}), "search.min_weight"),
    ("a group's min above its max",
     config(data__domains__0__group="software", data__domains__2__group="software",
            search__min_weight={"software": 0.6}, search__max_weight={"software": 0.4}),
     "search.min_weight.software"),
    ("by_group true with per_domain draws",
     config(data__domains__0__group="software", data__domains__2__group="software",
            mixtures__by_group=True, mixtures__draw="per_domain"), "mixtures.by_group"),
    ("a subgroup's and a leaf's minimums above 1 inside a group",
     config(data__domains__0__group="software/tools", data__domains__2__group="software",
            search__min_weight={"software/tools": 0.6, "readmes": 0.5}), "search.min_weight"),
    ("a nested group named as a path",
     config(data__domains=[{"group": "software/tools", "domains": [
         {"name": "code", "source": "builtin:code"}]},
         {"name": "licences", "source": "builtin:licences"},
         {"name": "readmes", "source": "builtin:readmes"}]), "data.domains[0].group"),
    # ---- issue 32: multi-phase mixtures (mixtures.phases of ok.yaml's 30 steps)
    ("phases not increasing", config(mixtures__phases=[20, 10]),
     "mixtures.phases': must be increasing"),
    ("a phase starting at the last step", config(mixtures__phases=[10, 30]),
     "mixtures.phases': must be increasing"),
    ("phases with domains in groups",
     config(data__domains__0__group="software", data__domains__2__group="software",
            mixtures__phases=[20]), "mixtures.phases': schedules over domains in groups"),
    ("phases with an adaptive strategy",
     config(mixtures__strategy="bayesopt", mixtures__phases=[20]),
     "mixtures.phases': draws whole schedules"),
    ("phases with per_domain draws",
     config(mixtures__draw="per_domain", mixtures__count=3, mixtures__phases=[20]),
     "mixtures.phases': draws whole schedules"),
    ("a validate mixture of domains and slots",
     config("validate", mixtures__phases=[20],
            validate__mixtures={"mixed": {"code": 1, "licences@2": 1}}),
     "validate.mixtures.mixed': names both domains and domains in a phase"),
    ("a validate schedule with a phase of no weight",
     config("validate", mixtures__phases=[20],
            validate__mixtures={"early": {"code@1": 1, "readmes@1": 1, "licences@2": 0}}),
     "validate.mixtures.early': gives phase 2 no weight"),
    ("a validate slot of no domain",
     config("validate", mixtures__phases=[20],
            validate__mixtures={"late": {"code@1": 1, "prose@2": 1}}),
     "validate.mixtures.late.prose@2': names no domain"),
    ("a validation too short for the last phase",
     config(mixtures__phases=[29], validate__steps=10),
     "validate.steps': gives the shortest phase (1 of training.steps' 30) less than one step"),
]

# Issue 28's cases, one list per area (each kept by whoever works on that area)
CASES_BOUNDS = [
    # ---- every numeric field has a range on the schema (one line naming it, before work)
    ("grad_clip below 0", config(training__grad_clip=-1), "training.grad_clip"),
    ("grad_clip 0", config("plan", training__grad_clip=0), "training.grad_clip"),
    ("cv_folds 1e9, plan", config("plan", fit={"cv_folds": 1e9}), "fit.cv_folds"),
    ("max_epochs 1e-320 with target_tokens, plan",
     config("plan", search={"max_epochs": 1e-320, "target_tokens": 1e9}), "search.max_epochs"),
    ("max_epochs 1e-320 with target_tokens, sweep",
     config(search={"max_epochs": 1e-320, "target_tokens": 1e9}), "search.max_epochs"),
    ("layers 1e300", config(model__layers=1e300), "model.layers"),
    ("layers 1e300, plan", config("plan", model__layers=1e300), "model.layers"),
    ("repeat_seeds 1e9, plan", config("plan", mixtures__repeat_seeds=1e9),
     "mixtures.repeat_seeds"),
    ("confirm rounds 1e9", config(confirm={"rounds": 1e9}), "confirm.rounds"),
    ("steps 1e12 with eval_every 1", config(training__steps=1e12, training__eval_every=1),
     "training.steps"),
    ("num_strengths 1e12", config(mixtures__num_strengths=1e12), "mixtures.num_strengths"),
    ("constraints with restarts 1e12",
     file("constraints.yaml", "method: exact\nrestarts: 1e12\n", "propose", "--mixtures",
          "mix.csv", "--metrics", "met.csv", *TARGET, "--constraints", "constraints.yaml"),
     "constraints.restarts"),
    ("constraints with tpe trials 1e12",
     file("constraints.yaml", "method: tpe\ntrials: 1e12\n", "propose", "--mixtures",
          "mix.csv", "--metrics", "met.csv", *TARGET, "--constraints", "constraints.yaml"),
     "constraints.trials"),
    ("cpus_per_trial 1e-300", config(compute__cpus_per_trial=1e-300), "compute.cpus_per_trial"),
    ("gpus_per_trial 1e300", config(compute__gpus_per_trial=1e300), "compute.gpus_per_trial"),
    ("memory_per_trial_gb 1e308", config(compute__memory_per_trial_gb=1e308),
     "compute.memory_per_trial_gb"),
    ("max_retries 1e18", config(compute__max_retries=1e18), "compute.max_retries"),
    ("validate seeds 1e12", config(validate={"seeds": 1e12}), "validate.seeds"),
    ("validate steps 1e300", config(validate={"steps": 1e300}), "validate.steps"),
    ("fit.at params 1e308", config(fit={"at": {"params": 1e308, "tokens": 1e9}}),
     "fit.at.params"),
    ("batch_size 1e9", config(training__batch_size=1e9), "training.batch_size"),
    ("temperature 1e308", config(mixtures__temperature=1e308), "mixtures.temperature"),
    ("task weight 1e308",
     config(target=_tasks({"name": "t", "path": "builtin:python_reference_cloze",
                           "weight": 1e308})), "target.tasks[0].weight"),
    ("num_cpus 1e18", config(compute__num_cpus=1e18), "compute.num_cpus"),
    ("lr 1e-320", config(training__lr=1e-320), "training.lr"),
    ("min_strength 1e-320", config(mixtures__min_strength=1e-320), "mixtures.min_strength"),
    ("nan weight bound", config(search={"min_weight": {"code": float("nan")}}),
     "search.min_weight.code"),
    ("inf repetition cap", config("plan", mixtures__proxy_max_epochs=float("inf")),
     "mixtures.proxy_max_epochs"),
    ("target weight inf", config(target={"name": "t", "domains": {"code": float("inf")}}),
     "target.domains.code"),
    # ---- products of fields
    ("10M evaluations a run", config("plan", training__steps=10_000_000,
                                     training__eval_every=1), "training.eval_every"),
    ("a million runs and more, plan",
     config("plan", mixtures__count=100_000, mixtures__repeats=100_000,
            mixtures__repeat_seeds=100), "mixtures.repeat_seeds"),
    ("search draws x restarts", config(search={"draws": 10_000_000,
                                               "restarts": 10_000}), "search.restarts"),
    ("a proxy of a trillion parameters",
     config("plan", model={"layers": 256, "hidden": 65_536, "heads": 512,
                           "intermediate": 262_144, "seq_len": 64}), "model.layers"),
    # ---- names: short, and never echoed whole
    ("a 1 MB config name, --set", argv("plan", "ok.yaml", "--set", "name=" + "x" * 1_000_000),
     "1,000,002 characters"),
    ("a 900 kB config name", config(name="x" * 900_000), "900,002 characters"),
    ("a 10,000-character domain name", config(data__domains__0__name="d" * 10_000),
     "data.domains[0].name"),
    # ---- what the sweep's end would refuse, refused by plan
    ("more folds than the sweep has runs, plan", config("plan", fit={"cv_folds": 20}),
     "fit.cv_folds"),
    ("a repetition cap the proposal cannot meet, plan",
     config("plan", data__domains__0__max_tokens=1e6, data__domains__1__max_tokens=1e6,
            data__domains__2__max_tokens=1e6, search={"target_tokens": 1e9}),
     "search.max_epochs"),
]
CASES_RESOURCES_AND_SECRETS = [
    # a trial no node can hold waits forever: refused before Ray starts
    ("GPU trial on a machine without a GPU", config("sweep", compute__gpus_per_trial=1),
     "compute.gpus_per_trial"),
    ("GPU trial on a machine without a GPU, validate",
     config("validate", compute__gpus_per_trial=1), "compute.gpus_per_trial"),
    ("more CPUs per trial than the machine has", config("sweep", compute__cpus_per_trial=512),
     "compute.cpus_per_trial"),
    ("more CPUs per trial than compute.num_cpus gives the local cluster",
     config("sweep", compute__num_cpus=1, compute__cpus_per_trial=2), "compute.cpus_per_trial"),
    # a secret in a URI is never echoed: the line shows it masked
    ("storage URI with credentials and a query string",
     config("sweep", compute__storage="s3://key:hunter2@bucket/runs?x=1"),
     "s3://key:***@bucket"),
    ("tracking URI with credentials that the config refuses",
     config("plan", tracking={"mlflow": {"tracking_uri": "file://me:hunter2@host/runs"}}),
     "file://me:***@host/runs"),
    ("a sweep folder whose config.yaml is garbage",
     with_files({"runs/sweep/config.yaml": b"name: [unclosed\n"}, argv("sweep", "ok.yaml")),
     "config.yaml is damaged or cut short"),
]
CASES_OUTPUTS = [
    # ---- inputs are never outputs (realpath, symlinks followed, hard links)
    ("outputs: propose --output the mixtures table",
     table("met.csv", None, *TARGET, "--output", "mix.csv", command="propose"),
     "--output: 'mix.csv' is also this command's input (--mixtures"),
    ("outputs: fit --output the candidates",
     table("met.csv", None, *TARGET, "--predict", "cand.csv", "--output", "cand.csv"),
     "--output: 'cand.csv' is also this command's input (--predict"),
    ("outputs: --output the candidates a symlink reads", _outputs_symlinked_input, "--predict"),
    ("outputs: --output a hard link of an input", _outputs_hard_link, "--metrics"),
    ("outputs: propose --output its CONFIG", argv("propose", "ok.yaml", "--output", "ok.yaml"),
     "--output"),
    ("outputs: MixMin --output its CONFIG",
     argv("propose", "ok.yaml", "--method", "mixmin", "--output", "./ok.yaml"), "--output"),
    ("outputs: --report over the --constraints it reads, even with --force",
     file("report.md", "method: exact\n", "propose", "--mixtures", "mix.csv", "--metrics",
          "met.csv", *TARGET, "--constraints", "report.md", "--output", "p.json", "--report",
          ".", "--force"), "is also this command's input (--constraints"),
    # ---- report folders: a user's file of a report's name is never replaced unasked
    ("outputs: report into a folder with a user's index.html",
     _outputs_sweep("index.html", "user"), "index.html' is not from an earlier raymix report"),
    ("outputs: fit --report into a folder with a user's report.md",
     _outputs_user_report("report.md", table("met.csv", None, *TARGET, "--report", "rep")),
     "--report"),
    ("outputs: propose --report into a folder with a user's figure",
     _outputs_user_report("cv_fit.png", table("met.csv", None, *TARGET, "--output", "p.json",
                                              "--report", "rep", command="propose")),
     "--force"),
    ("outputs: report whose index.html is a symlink", _outputs_sweep("index.html", "symlink"),
     "index.html' is a symlink"),
    ("outputs: report whose report.md is a FIFO", _outputs_sweep("report.md", "fifo"),
     "report.md' is a FIFO"),
    ("outputs: a sweep whose report folder holds a user's index.html, before any trial",
     with_files({"runs/sweep/report/index.html": b"<p>mine</p>"}, argv("sweep", "ok.yaml")),
     "index.html' is not from an earlier raymix report"),
    ("outputs: report whose index.html is a symlink, even with --force",
     lambda world: _outputs_sweep("index.html", "symlink")(world) + ["--force"],
     "index.html' is a symlink"),
    # ---- outputs that cannot be written: one line each
    ("outputs: a 300-character --output",
     table("met.csv", None, *TARGET, "--output", "p" * 295 + ".json", command="propose"),
     "--output"),
    ("outputs: a 300-character --report",
     table("met.csv", None, *TARGET, "--report", "r" * 300), "--report"),
    ("outputs: a 300-character --output of predictions",
     table("met.csv", None, *TARGET, "--predict", "cand.csv", "--output", "p" * 300),
     "--output"),
    ("outputs: tokenize --output under a file",
     file("docs.jsonl", '{"text": "a"}\n', "tokenize", "docs.jsonl", "--tokenizer", "ok.yaml",
          "--output", "mix.csv/shards"), "--"),
    # ---- every numeric option has a range (argparse's one line)
    ("options: tokenize --workers 1e9",
     file("docs.jsonl", '{"text": "a"}\n', "tokenize", "docs.jsonl", "--tokenizer", "ok.yaml",
          "--output", "new", "--workers", "1e9"), "argument --workers: must be a whole number"),
    ("options: --folds 1e9", table("met.csv", None, *TARGET, "--folds", "1e9"), "--folds"),
    ("options: --folds nan", table("met.csv", None, *TARGET, "--folds", "nan"), "--folds"),
    ("options: --seed 1e20", table("met.csv", None, *TARGET, "--seed", "1e20"), "--seed"),
    ("options: --min-tokens inf", table("runs.csv", None, "--runs", "runs.csv", *TARGET,
                                        "--min-tokens", "inf"), "--min-tokens"),
    ("options: --min-tokens 1e300", table("runs.csv", None, "--runs", "runs.csv", *TARGET,
                                          "--min-tokens", "1e300"), "--min-tokens"),
    ("options: --baseline nan", table("met.csv", None, *TARGET, "--output", "out.json",
                                      "--critical", "code", "--baseline", "nan",
                                      command="propose"), "--baseline"),
    ("options: --baseline -3", table("met.csv", None, *TARGET, "--output", "out.json",
                                     "--critical", "code", "--baseline=-3", command="propose"),
     "--baseline"),
    ("options: --at params=1e300", table("runs.csv", None, "--runs", "runs.csv", *TARGET,
                                         "--at", "params=1e300"), "--at"),
    ("options: --at tokens=inf", table("runs.csv", None, "--runs", "runs.csv", *TARGET,
                                       "--at", "tokens=inf"), "--at"),
    ("options: --shard-tokens 1e15",
     argv("prepare", "ok.yaml", "--export", "new", "--shard-tokens", "1e15"), "--shard-tokens"),
    ("options: init --gpus 1e9",
     argv("init", "new", "ok.yaml", "constraints.yaml", "--gpus", "1e9"), "--gpus"),
    ("options: init --cpus 1e12",
     argv("init", "new", "ok.yaml", "constraints.yaml", "--cpus", "1e12"), "--cpus"),
    ("options: init --cpus 0", argv("init", "new", "ok.yaml", "constraints.yaml", "--cpus", "0"),
     "--cpus"),
    ("options: init --hours 1e9",
     argv("init", "new", "ok.yaml", "constraints.yaml", "--hours", "1e9"), "--hours"),
    ("options: init --hours nan",
     argv("init", "new", "ok.yaml", "constraints.yaml", "--hours", "nan"), "--hours"),
    ("options: init --gpu-memory inf",
     argv("init", "new", "ok.yaml", "constraints.yaml", "--gpus", "8", "--gpu-memory", "inf"),
     "--gpu-memory"),
]
CASES_READERS = [
    # ---- YAML: depth and size, before parsing
    ("YAML nested 3,000 levels",
     file("deep.yaml", "a: " + "[" * 3000 + "]" * 3000 + "\n", "sweep", "deep.yaml"),
     "nested more than 64 levels"),
    ("YAML nested 3,000 levels in a --set value",
     argv("plan", "ok.yaml", "--set", "name=" + "[" * 3000 + "]" * 3000), "nested more than"),
    ("a YAML alias inside itself", file("self.yaml", "a: &a [*a]\n", "sweep", "self.yaml"),
     "refers to the value it is part of"),
    ("50 MB config", _readers_big_file("big.yaml", 50, "plan", "big.yaml"),
     "bytes, more than a YAML file raymix reads"),
    ("50 MB constraints file",
     _readers_big_file("constraints.yaml", 50, "propose", "--mixtures", "mix.csv", "--metrics",
                       "met.csv", *TARGET, "--constraints", "constraints.yaml", "--output",
                       "out.json"), "constraints"),
    ("FIFO as a config", _readers_fifo("pipe.yaml", "sweep", "pipe.yaml"), "is a FIFO"),
    # ---- token shards and Megatron datasets
    ("zero-byte .npy shards",
     tokens({"tok/a.npy": lambda p: p.write_bytes(b""), "tok/b.npy": lambda p: p.write_bytes(b"")},
            data__domains__0__source="tok"), "is empty (0 bytes)"),
    ("truncated .npy shard",
     tokens({"tok/a.npy": _readers_truncated_npy}, data__domains__0__source="tok"),
     "truncated or damaged .npy"),
    ("a .npy shard that is not numpy's",
     tokens({"tok/a.npy": lambda p: p.write_bytes(b"hello" * 100)},
            data__domains__0__source="tok"), "is not a .npy file"),
    ("Megatron .idx past its data",
     tokens({"meg/d": _readers_megatron_past_data}, data__domains__1__source="meg/d"),
     "document indices outside its 30 sequences"),
    ("Megatron .idx with the wrong magic",
     tokens({"meg/d": lambda p: (write_megatron([np.arange(100, dtype=np.uint16)] * 3, p),
                                 p.with_suffix(".idx").write_bytes(b"XXXX" * 40))},
            data__domains__1__source="meg/d"), "is not a Megatron index"),
    # ---- special files as inputs: refused before they are opened (they would hang)
    ("/proc as a source", config("prepare", data__domains__0__source="/proc"),
     "data.domains[0].source"),
    ("/proc as a target source", config("prepare", target__source="/proc/self"),
     "target.source"),
    ("FIFO as a source", lambda world: (os.mkfifo(world / "pipe.txt"), config(
        "prepare", data__domains__2__source="pipe.txt")(world))[1], "is a FIFO"),
    ("FIFO as tokenize --tokenizer",
     _readers_fifo("tok.json", "tokenize", "docs.jsonl", "--tokenizer", "tok.json", "--output",
                   "new"), "--tokenizer"),
    ("FIFO as tokenize SOURCE",
     _readers_fifo("pipe.jsonl", "tokenize", "pipe.jsonl", "--tokenizer", "ok.yaml",
                   "--output", "new"), "SOURCE"),
    ("FIFO as plan --throughput",
     _readers_fifo("speed.json", "plan", "ok.yaml", "--throughput", "speed.json"),
     "--throughput"),
    ("FIFO as --mixtures",
     _readers_fifo("pipe.csv", "fit", "--mixtures", "pipe.csv", "--metrics", "met.csv",
                   *TARGET), "--mixtures"),
    ("FIFO as a task file",
     lambda world: (os.mkfifo(world / "t.jsonl"), config(
         "prepare", target=_tasks({"name": "t", "path": "t.jsonl"}))(world))[1],
     "target.tasks[0].path"),
    ("device as a task file", config("prepare", target=_tasks({"name": "t",
                                                                "path": "/dev/zero"})),
     "target.tasks[0].path"),
    # ---- a bad .jsonl: the one line, no log lines of the datasets library
    ("bad .jsonl without log lines",
     with_files({"bad.jsonl": b'{"text": "a"}\n{not json\n'},
                config("prepare", data__domains__2__source="bad.jsonl")),
     "data.domains[2].source"),
    # ---- task items that no window holds
    ("task continuation longer than seq_len, prepare",
     with_files({"t.jsonl": _readers_long_continuation()},
                config("prepare", target=_tasks({"name": "t", "path": "t.jsonl"}))),
     "line 1 of t.jsonl: its continuation is 300 tokens or more"),
    ("task continuation longer than seq_len, plan",
     with_files({"t.jsonl": _readers_long_continuation()},
                config("plan", target=_tasks({"name": "t", "path": "t.jsonl"}))),
     "longer than model.seq_len"),
    # ---- raymix report of a damaged sweep folder: the file, and how to recover
    ("truncated proposal.json under report", _readers_sweep(lambda done: None),
     "proposal.json is damaged or cut short"),
    ("truncated run record under report",
     _readers_sweep(lambda done: (done / "proposal.json").unlink() or (
         done / "results" / "r3.json").write_text('{"run_id": "r3", "mixt')),
     "r3.json is damaged or cut short"),
    ("string weight under report",
     _readers_sweep(lambda done: (done / "proposal.json").unlink() or _readers_edit_json(
         "results/r2.json", lambda r: r["mixture"].update(code="0.4"))(done)),
     "the weight of domain 'code' is '0.4'"),
    ("record loss near 1e307 under report",
     _readers_sweep(lambda done: (done / "proposal.json").unlink() or _readers_edit_json(
         "results/r2.json", lambda r: r["evaluations"][0].update(target_loss=1e307))(done)),
     "r2.json is damaged"),
    ("garbage config.yaml under report",
     _readers_sweep(lambda done: (done / "config.yaml").write_bytes(b"\x00\xff: [")),
     "config.yaml is damaged"),
    ("truncated data.json under report",
     _readers_sweep(lambda done: (done / "proposal.json").unlink() or (
         done / "data.json").write_text('{"prior": {')), "data.json is damaged"),
    # ---- tables: losses no fit can use, scales that are no numbers, names that are no names
    ("metrics near 1e307", table("met.csv", cell(3, "target_loss", 1e307), *TARGET),
     "which is no loss"),
    ("metrics near 1e307 in a long table",
     table("runs.csv", cell(4, "target_loss", -1e307), "--runs", "runs.csv", *TARGET),
     "which is no loss"),
    ("tokens=inf in a long table",
     table("runs.csv", cell(1, "tokens", "inf"), "--runs", "runs.csv", *TARGET),
     "tokens = inf"),
    ("damaged prepared manifest",
     lambda world: (next(world.glob("cache/prepared-*/manifest.json")).write_text('{"dom'),
                    ["prepare", "ok.yaml"])[1], "manifest.json is damaged or cut short"),
    ("a 10,000-character column name",
     rewritten("mix.csv", _header(lambda h: h.replace("readmes", "r" * 10_000)), *TARGET),
     "10,000 characters"),
]
CASES_BIG = [
]
CASES += CASES_BOUNDS + CASES_RESOURCES_AND_SECRETS + CASES_OUTPUTS + CASES_READERS + CASES_BIG


def test_there_are_enough_cases():
    assert len(CASES) >= 30
    assert len({name for name, *_ in CASES}) == len(CASES)


@pytest.mark.parametrize("setup, field", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_with_one_line_exit_2_and_nothing_written(world, capsys, setup, field):
    args = setup(world)
    before = fingerprint(world)
    try:
        status = main(args)
    except SystemExit as exit_:  # argparse's refusals
        status = exit_.code
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert err.count("\n") == 0 and err.startswith("raymix: error: "), err
    assert field in err and "Traceback" not in err, err
    assert fingerprint(world) == before  # nothing written, nothing overwritten
