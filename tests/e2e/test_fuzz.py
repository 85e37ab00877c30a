"""Fuzzing the command line (issue 28, item 8): generated configs, CSV tables, token-shard
folders and damaged sweep folders, each run through ``raymix``'s real entry point.

The property, for every generated input: ``raymix`` exits 0, or exits 2 with exactly one
stderr line ``raymix: error: ...``; it never shows a traceback, never reaches Ray (cluster
work), and a refusal leaves every file of the working folder as it was. The configs come
from the schema itself (tests/fuzz_strategies.py), so a new field is fuzzed with no change
here. The table of named cases stays in tests/e2e/test_bad_input.py.

Each example runs in a forked child of this process (raymix is imported once, a fork costs
milliseconds), so that its time and memory are bounded for real: the child gets an address
space limit (resource.setrlimit in the child only: this process and the other tests keep
theirs) and is killed after :data:`SECONDS`; a Hypothesis deadline could only measure an
example after it finished, and a tracemalloc peak misses native memory. A child killed for
time, a ``MemoryError`` or any other traceback fails the example, with the command, what
was changed and the traceback's last lines.

Budget: the default run (``make test``) draws about 220 examples and takes about 65 s on
2 shared cores (``derandomize=True``: the same examples every run, so CI is reproducible;
the numbers of examples are set per property by :func:`fuzz_settings`); the ``slow``
variants (``make test-slow``) draw about ten times as many.
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import select
import shutil
import signal
import stat
import tempfile
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray
import yaml
from conftest import TINY
from fuzz_strategies import (
    damage_file,
    edited_table,
    fuzzed_configs,
    schema_leaves,
    shard_folders,
    sweep_damage,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raymix.cli.commands import main
from raymix.config import load_config
from raymix.runs import DataInfo, Evaluation, ResultStore, RunRecord, export_tables

SECONDS = 30  # one command's wall-clock limit (plan takes well under a second)
MEMORY_GB = 3  # address space a command may add to what this process has mapped
DOMAINS = ["code", "licences", "readmes"]
RUNS = 12
TARGET = ["--target", "target_loss"]


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings of one property: ``examples`` of them, the same every run."""
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


# ----------------------------------------------------------------------------- a command, forked


@dataclass
class Outcome:
    status: int | None  # exit status; None when the child crashed or was killed
    out: str
    err: str
    crash: str  # the traceback, or how the child died; "" when it returned


def _child(argv: list[str], cwd: Path, write_fd: int) -> None:
    """In the forked child: run ``main(argv)`` in ``cwd`` under the memory limit and send
    back the Outcome as JSON. Never returns."""
    out, err, status, crash = io.StringIO(), io.StringIO(), None, ""
    try:
        os.chdir(cwd)
        mapped = _mapped_bytes()
        limit = mapped + int(MEMORY_GB * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        # what C code writes to the file descriptors (a library's warning) counts too
        fd_err = tempfile.TemporaryFile()
        os.dup2(fd_err.fileno(), 2)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                status = main(argv)
            except SystemExit as exit_:  # argparse's refusals
                status = exit_.code if isinstance(exit_.code, int) else 2
        fd_err.seek(0)
        err.write(fd_err.read().decode("utf-8", "replace"))
    except BaseException:  # noqa: B036 - everything the command lets escape is the finding
        crash = traceback.format_exc()
    try:
        message = json.dumps({"status": status, "out": out.getvalue()[-200_000:],
                              "err": err.getvalue()[-20_000:], "crash": crash[-6000:]})
        os.write(write_fd, message.encode())
    finally:
        os._exit(0)


def _mapped_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def run_forked(argv: list[str], cwd: Path) -> Outcome:
    """``raymix ARGV`` in ``cwd``, in a forked child bounded in time and memory."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(argv, cwd, write_fd)
    os.close(write_fd)
    chunks, killed = [], False
    deadline = time.monotonic() + SECONDS
    while True:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([read_fd], [], [], max(0.0, left))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            killed = True
            break
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    _, wait_status = os.waitpid(pid, 0)
    if killed:
        return Outcome(None, "", "", f"killed after {SECONDS} s (a hang or a slow command)")
    if not chunks:
        return Outcome(None, "", "", f"the child died: wait status {wait_status} "
                                     f"(signal {os.WTERMSIG(wait_status)}?)")
    data = json.loads(b"".join(chunks))
    return Outcome(data["status"], data["out"], data["err"], data["crash"])


# ----------------------------------------------------------------------------- the property


def fingerprint(folder: Path) -> dict[str, str]:
    """Every entry: a file by its size, modification time and inode (a rewrite with the same
    bytes counts as a write; hashing the 11 MB cache twice an example would cost more than
    most commands), a symlink by its target, a FIFO by its kind."""
    def content(p: Path) -> str:
        if p.is_symlink():
            return f"-> {os.readlink(p)}"
        info = p.lstat()
        if stat.S_ISFIFO(info.st_mode):
            return "fifo"
        return "dir" if p.is_dir() else f"{info.st_size} {info.st_mtime_ns} {info.st_ino}"

    return {str(p.relative_to(folder)): content(p) for p in sorted(folder.rglob("*"))}


def exit_0_or_one_line(argv: list[str], world: Path, what: object) -> Outcome:
    """Run ``raymix ARGV`` in ``world`` and check the property; ``what`` (the changes that
    made the input) goes into every failure message."""
    before = fingerprint(world)
    got = run_forked(argv, world)
    if os.environ.get("RAYMIX_FUZZ_LOG"):  # a record of every example, to see what was drawn
        with open(os.environ["RAYMIX_FUZZ_LOG"], "a") as log:
            log.write(json.dumps({"argv": argv, "what": _short(what), "status": got.status,
                                  "err": got.err.strip()[-300:]}) + "\n")
    shown = f"raymix {' '.join(a[:80] for a in argv)}\nchanged: {_short(what)}"
    assert not got.crash, f"{shown}\n{got.crash}"
    assert "Traceback" not in got.err, f"{shown}\n{got.err}"
    assert got.status in (0, 2), f"{shown}\nexit {got.status}\n{got.err}"
    if got.status == 2:
        err = got.err.strip()
        assert err.startswith("raymix: error: ") and "\n" not in err, f"{shown}\n{err}"
        assert fingerprint(world) == before, f"{shown}\nrefused, but files changed: {err}"
    return got


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) < 400 else text[:400] + "..."


# what the fuzzed commands import when they run: imported here once, so that each forked
# child starts with them (a child that imports them pays seconds, every example)
COMMAND_MODULES = ("raymix.workflows.costing", "raymix.cli.summaries", "raymix.data",
                   "raymix.workflows.fitting", "raymix.workflows.reporting",
                   "raymix.workflows.proposing")


@pytest.fixture(scope="module", autouse=True)
def imported_once():
    import importlib

    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a child that imports it shows the error, once per example
            pass


@pytest.fixture
def no_cluster(monkeypatch):
    """Reaching Ray is cluster work: the forked child inherits an ray.init that raises."""
    def refuse(*args, **kwargs):
        raise AssertionError("a fuzzed input reached cluster work (ray.init)")

    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")  # no fork warning from tokenizers


def fresh_copy(base: Path, scratch: Path) -> Path:
    """A copy of ``base`` to run one example in (the previous example's copy removed)."""
    world = scratch / "world"
    if world.exists():
        shutil.rmtree(world)
    shutil.copytree(base, world, symlinks=True)
    return world


# ----------------------------------------------------------------------------- the base world


@pytest.fixture(scope="module")
def base_world(tmp_path_factory) -> Path:
    """A working folder a user might have: a config, its prepared cache, CSV tables (the
    world of tests/e2e/test_bad_input.py)."""
    world = tmp_path_factory.mktemp("fuzz-world")
    raw = json.loads(json.dumps(TINY))
    raw["data"]["cache_dir"] = "cache"  # relative paths resolve against the YAML's folder
    raw["compute"]["storage"] = "runs/sweep"
    (world / "ok.yaml").write_text(yaml.safe_dump(raw))
    got = run_forked(["prepare", "ok.yaml"], world)  # forked: no thread pool starts here
    assert got.status == 0, got
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(len(DOMAINS)), size=RUNS)
    ids = [f"r{i}" for i in range(RUNS)]
    mixtures = pd.DataFrame(weights, columns=DOMAINS).assign(id=ids)[["id", *DOMAINS]]
    mixtures.to_csv(world / "mix.csv", index=False)
    loss = 4.0 + weights @ np.array([0.3, -0.2, 0.1]) + rng.normal(0, 0.01, RUNS)
    pd.DataFrame({"id": ids, "target_loss": loss}).to_csv(world / "met.csv", index=False)
    long = pd.concat([mixtures.assign(params=1e5, tokens=t, target_loss=loss + 1e3 / t)
                      for t in (1e4, 2e4, 4e4)]).rename(columns={"id": "run"})
    long.to_csv(world / "runs.csv", index=False)
    return world


def base_config(world: Path) -> dict:
    return yaml.safe_load((world / "ok.yaml").read_text())


# ----------------------------------------------------------------------------- configs

LEAVES = schema_leaves()
CONFIG_EXAMPLES = 100


def _configs_property(base_world, tmp_path, data):
    raw, changed = data.draw(fuzzed_configs(base_config(base_world), LEAVES))
    as_json = data.draw(st.booleans())
    world = fresh_copy(base_world, tmp_path)
    (world / "bad.yaml").write_text(yaml.safe_dump(raw))
    got = exit_0_or_one_line(["plan", "bad.yaml", *(["--json"] if as_json else [])], world,
                             changed)
    if as_json and got.status == 0:  # strict JSON: no NaN or Infinity a reader would refuse
        json.loads(got.out, parse_constant=_not_json)
    if got.status == 0:  # a plan that runs costs something: never "inf d" or "nan runs"
        found = re.search(r"(?<![\w.])-?(inf|nan|infinity)(?!\w)", got.out, re.IGNORECASE)
        assert found is None, f"plan printed {found[0]!r} for {_short(changed)}:\n{got.out}"


def _not_json(constant: str):
    raise AssertionError(f"plan --json printed {constant}, which is not JSON")


def test_every_field_is_fuzzed():
    """The strategies read the schema: every section's numeric fields with their Range."""
    paths = {leaf.dotted for leaf in LEAVES}
    assert {"training.grad_clip", "mixtures.repeat_seeds", "compute.num_cpus",
            "data.domains.0.max_tokens", "scales.0.hidden", "tracking.mlflow.tracking_uri",
            "fit.at", "search.trials"} <= paths
    numeric = [leaf for leaf in LEAVES if leaf.kind in ("int", "float", "int_or_auto")]
    assert len(numeric) > 60


@fuzz_settings(CONFIG_EXAMPLES)
@given(data=st.data())
def test_plan_of_a_generated_config_is_one_line_or_runs(no_cluster, base_world, tmp_path,
                                                         data):
    _configs_property(base_world, tmp_path, data)


@pytest.mark.slow
@fuzz_settings(CONFIG_EXAMPLES * 10)
@given(data=st.data())
def test_plan_of_many_generated_configs(no_cluster, base_world, tmp_path, data):
    _configs_property(base_world, tmp_path, data)


DATA_LEAVES = [leaf for leaf in LEAVES if leaf.path[0] in ("data", "target")]


def _prepare_property(base_world, tmp_path, data):
    """``prepare`` with the data and target sections changed (a cache hit writes nothing;
    a changed tokenizer trains one, so these examples are few)."""
    raw, changed = data.draw(fuzzed_configs(base_config(base_world), DATA_LEAVES, most=2))
    world = fresh_copy(base_world, tmp_path)
    (world / "bad.yaml").write_text(yaml.safe_dump(raw))
    exit_0_or_one_line(["prepare", "bad.yaml"], world, changed)


@fuzz_settings(12)
@given(data=st.data())
def test_prepare_of_a_generated_config_is_one_line_or_runs(no_cluster, base_world, tmp_path,
                                                            data):
    _prepare_property(base_world, tmp_path, data)


@pytest.mark.slow
@fuzz_settings(150)
@given(data=st.data())
def test_prepare_of_many_generated_configs(no_cluster, base_world, tmp_path, data):
    _prepare_property(base_world, tmp_path, data)


# ----------------------------------------------------------------------------- CSV tables


def _wide_property(base_world, tmp_path, data):
    world = fresh_copy(base_world, tmp_path)
    changed = {}
    for name in data.draw(st.sets(st.sampled_from(["mix.csv", "met.csv"]), min_size=1)):
        text, edits = data.draw(edited_table((world / name).read_text()))
        (world / name).write_text(text)
        changed[name] = (edits, text[:300])
    exit_0_or_one_line(["fit", "--mixtures", "mix.csv", "--metrics", "met.csv", *TARGET,
                        "--regressor", "ridge", "--folds", "3"], world, changed)


def _long_property(base_world, tmp_path, data):
    world = fresh_copy(base_world, tmp_path)
    text, edits = data.draw(edited_table((world / "runs.csv").read_text()))
    (world / "runs.csv").write_text(text)
    exit_0_or_one_line(["fit", "--runs", "runs.csv", *TARGET, "--regressor", "ridge",
                        "--folds", "3"], world, (edits, text[:300]))


@fuzz_settings(40)
@given(data=st.data())
def test_fit_of_generated_wide_tables(no_cluster, base_world, tmp_path, data):
    _wide_property(base_world, tmp_path, data)


@fuzz_settings(40)
@given(data=st.data())
def test_fit_of_a_generated_long_table(no_cluster, base_world, tmp_path, data):
    _long_property(base_world, tmp_path, data)


@pytest.mark.slow
@fuzz_settings(400)
@given(data=st.data())
def test_fit_of_many_generated_tables(no_cluster, base_world, tmp_path, data):
    _wide_property(base_world, tmp_path, data)
    _long_property(base_world, tmp_path, data)


# ----------------------------------------------------------------------------- token shards


def _shards_property(base_world, tmp_path, data, command):
    world = fresh_copy(base_world, tmp_path)
    source, files, what = data.draw(shard_folders(vocab=TINY["data"]["tokenizer"]["vocab_size"]))
    for name, write in files.items():
        (world / name).parent.mkdir(parents=True, exist_ok=True)
        write(world / name)
    raw = base_config(world)
    raw["data"]["domains"][0]["source"] = source
    tokenizer = next(world.glob("cache/prepared-*/tokenizer.json"))
    raw["data"]["tokenizer"] = {"path": str(tokenizer.relative_to(world))}
    (world / "bad.yaml").write_text(yaml.safe_dump(raw))
    exit_0_or_one_line([command, "bad.yaml"], world, what)


@fuzz_settings(15)
@given(data=st.data(), command=st.sampled_from(["prepare", "prepare", "plan"]))
def test_a_generated_token_source_is_read_or_refused(no_cluster, base_world, tmp_path, data,
                                                    command):
    _shards_property(base_world, tmp_path, data, command)


@pytest.mark.slow
@fuzz_settings(150)
@given(data=st.data(), command=st.sampled_from(["prepare", "prepare", "plan"]))
def test_many_generated_token_sources(no_cluster, base_world, tmp_path, data, command):
    _shards_property(base_world, tmp_path, data, command)


# ----------------------------------------------------------------------------- sweep folders


def _loss(weights: np.ndarray, tokens: float, rng) -> tuple[float, dict[str, float]]:
    losses = {d: 3.0 + 0.5 * (1 - w) + 300 / tokens ** 0.5 + rng.normal(0, 0.005)
              for d, w in zip(DOMAINS, weights)}
    return float(np.mean(list(losses.values()))), losses


@pytest.fixture(scope="module")
def base_sweep(base_world, tmp_path_factory) -> Path:
    """A finished small sweep as raymix stores one, written by raymix's own writers: the
    records and data.json (ResultStore), config.yaml (stored_config), the tables
    (export_tables), and proposal.json and the report (``raymix propose``, forked)."""
    world = tmp_path_factory.mktemp("fuzz-sweep")
    shutil.copy(base_world / "ok.yaml", world / "ok.yaml")
    raw = base_config(world)
    raw["data"]["cache_dir"] = str(base_world / "cache")
    raw["compute"]["storage"] = "sweep"
    raw["fit"] = {"cv_folds": 3, "regressors": ["ridge"], "ensemble": False}
    raw["search"] = {"draws": 500, "top_k": 10, "bootstrap": 4}
    (world / "ok.yaml").write_text(yaml.safe_dump(raw))
    rng = np.random.default_rng(0)
    store, records = ResultStore(world / "sweep"), []
    for i, weights in enumerate(rng.dirichlet(np.ones(len(DOMAINS)), size=RUNS)):
        evaluations = []
        for step, tokens in ((10, 5_120), (20, 10_240), (30, 15_360)):
            target, losses = _loss(weights, tokens, rng)
            evaluations.append(Evaluation(step=step, tokens=tokens, train_loss=target + 0.1,
                                          losses={**losses, "python_reference": target},
                                          target_loss=target))
        records.append(RunRecord(run_id=f"run-{i:04d}", mixture=dict(zip(DOMAINS,
                                                                           weights.tolist())),
                                 seed=0, target_name="python_reference",
                                 evaluations=evaluations, non_embedding_params=10_000,
                                 params=26_000, tokens_seen=15_360))
    for record in records:
        store.write(record)
    store.write_data_info(DataInfo(prior=dict(zip(DOMAINS, (0.5, 0.2, 0.3))),
                                   train_tokens=dict(zip(DOMAINS, (500_000, 200_000, 300_000))),
                                   tokens_per_run=15_360, non_embedding_params={"base": 10_000},
                                   prepared="prepared-test"))
    from raymix.sweep.experiment import stored_config  # imports Ray Tune: here, not at the top

    # the config.yaml a sweep stores, and its tables
    cfg = load_config(world / "ok.yaml")
    (world / "sweep" / "config.yaml").write_text(stored_config(cfg))
    export_tables(world / "sweep", records, DOMAINS, "python_reference")
    got = run_forked(["propose", "ok.yaml"], world)
    assert got.status == 0, got
    assert (world / "sweep" / "proposal.json").exists()
    return world


def _sweep_property(base_sweep, tmp_path, data):
    world = fresh_copy(base_sweep, tmp_path)
    damages = data.draw(st.lists(sweep_damage(), min_size=1, max_size=2))
    for pattern, damage, argument in damages:
        found = sorted((world / "sweep").glob(pattern))
        if found:
            damage_file(data.draw(st.sampled_from(found)), damage, argument)
    exit_0_or_one_line(["report", "sweep"], world, damages)


@fuzz_settings(10)
@given(data=st.data())
def test_report_of_a_damaged_sweep_folder(no_cluster, base_sweep, tmp_path, data):
    _sweep_property(base_sweep, tmp_path, data)


@pytest.mark.slow
@fuzz_settings(150)
@given(data=st.data())
def test_report_of_many_damaged_sweep_folders(no_cluster, base_sweep, tmp_path, data):
    _sweep_property(base_sweep, tmp_path, data)


# ----------------------------------------------------------------------------- found so far


def _cell(name: str, row: int, column: str, value: str):
    def edit(world: Path) -> None:
        frame = pd.read_csv(world / name).astype(object)
        frame.loc[row, column] = value
        frame.to_csv(world / name, index=False)
    return edit


def _keep_rows(name: str, rows: int):
    def edit(world: Path) -> None:
        pd.read_csv(world / name).head(rows).to_csv(world / name, index=False)
    return edit


# inputs the properties above found (with more examples than the default run draws), kept
# as fixed examples so that each stays fixed (tests/e2e/test_bad_input.py keeps the named
# cases with their expected messages)
FOUND = [
    ("a denormal token count in the long table",  # scaling/joint.py: nnls of inf
     _cell("runs.csv", 3, "tokens", "1e-320"),
     ["fit", "--runs", "runs.csv", *TARGET, "--regressor", "ridge", "--folds", "3"]),
    ("a negative loss in the long table",  # scaling/joint.py: least_squares' bounds
     _cell("runs.csv", 0, "target_loss", "-4.1"),
     ["fit", "--runs", "runs.csv", *TARGET, "--regressor", "ridge", "--folds", "3"]),
    ("too few runs left after a table note",  # the note and the error: two lines
     _keep_rows("met.csv", 3),
     ["fit", "--mixtures", "mix.csv", "--metrics", "met.csv", *TARGET, "--regressor", "ridge",
      "--folds", "3"]),
]


@pytest.mark.parametrize("edit, argv", [case[1:] for case in FOUND],
                         ids=[case[0] for case in FOUND])
def test_what_fuzzing_found_stays_fixed(no_cluster, base_world, tmp_path, edit, argv):
    world = fresh_copy(base_world, tmp_path)
    edit(world)
    exit_0_or_one_line(argv, world, argv)
