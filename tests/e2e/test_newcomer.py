"""A newcomer's whole path, from a wheel of this checkout, in a folder outside it.

1. build raymix's sdist and, from it, the wheel (``python -m build``);
2. install the wheel in a fresh virtual environment: raymix's dependencies come from this
   test run's environment through a ``.pth`` line (installing torch and Ray from scratch
   takes minutes), raymix itself only from the wheel; ``pip check`` then says whether the
   wheel declares a dependency that is missing;
3. ``raymix init`` on folders of real text (the standard library's sources, its language
   reference and its docstrings);
4. ``raymix plan`` of it, made tiny with ``--set``;
5. a local Ray head with token authentication, its results on S3 (moto's server);
6. ``raymix submit --wheel``: the job installs the wheel built in 1. and runs the sweep;
7. the proposal and the report read back from the bucket, and ``raymix report`` on it.

Each step's wall time is printed (``[newcomer] ...``) and kept as the test's
``step_seconds`` property (pytest's ``--junitxml``).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import free_port, kill_session

ROOT = Path(__file__).resolve().parents[2]
STDLIB = Path(os.__file__).parent
BUCKET = "raymix-test"
PREFIX = "newcomer"
DOMAIN_BYTES = 200_000  # of each domain's text: a few hundred kB prepares in seconds
# the tests' tiny proxy and sweep (conftest.TINY): 10 runs of seconds each, no confirmation
TINY = ["data.tokenizer.vocab_size=512",
        "model.layers=1", "model.hidden=32", "model.heads=2", "model.intermediate=64",
        "model.seq_len=64",
        "training.steps=30", "training.batch_size=8", "training.micro_batch_size=4",
        "training.lr=0.01", "training.warmup_steps=3", "training.eval_every=10",
        "training.eval_tokens=2048",
        "mixtures.count=8", "mixtures.repeats=2",
        "fit.cv_folds=3", "search.draws=2000", "search.top_k=20", "confirm.rounds=0"]


# ----------------------------------------------------------------------------- helpers


class Clock:
    """The wall time of each step, printed as it ends."""

    def __init__(self):
        self.steps: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def step(self, name: str):
        start = time.monotonic()
        try:
            yield
        finally:
            seconds = time.monotonic() - start
            self.steps.append((name, seconds))
            print(f"[newcomer] {name}: {seconds:.1f} s", flush=True)

    def table(self) -> str:
        width = max(len(name) for name, _ in self.steps)
        lines = [f"  {name:<{width}}  {seconds:6.1f} s" for name, seconds in self.steps]
        total = sum(seconds for _, seconds in self.steps)
        return "\n".join(["[newcomer] wall time of each step:", *lines,
                          f"  {'total':<{width}}  {total:6.1f} s"])


def run(args: list[str], *, cwd: Path, env: dict, timeout: float = 300,
        ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if ok:
        assert done.returncode == 0, (f"{' '.join(map(str, args))}: exit {done.returncode}\n"
                                      f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


def write_domains(data: Path) -> list[Path]:
    """Three domains of real text, about :data:`DOMAIN_BYTES` each, from the standard
    library (nothing downloaded): its sources, its language reference (the topics of
    ``pydoc``), and the docstrings of some of its modules."""

    def code():
        for package in ("json", "email", "http", "logging", "importlib", "concurrent"):
            for path in sorted((STDLIB / package).rglob("*.py")):
                if 0 < path.stat().st_size <= 20_000:
                    relative = path.relative_to(STDLIB).as_posix().replace("/", "-")
                    yield relative, path.read_text(encoding="utf-8")

    def docs():
        from pydoc_data.topics import topics

        for name in sorted(topics):
            yield f"{name}.txt", topics[name]

    def docstrings():
        for module in ("argparse", "collections/__init__", "dataclasses", "difflib",
                       "functools", "inspect", "pathlib", "subprocess", "statistics",
                       "textwrap", "typing", "zipfile", "tarfile", "shutil", "random",
                       "decimal", "fractions", "pickle", "threading", "enum"):
            path = STDLIB / f"{module}.py"
            if not path.is_file():
                continue
            nodes = ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            found = [ast.get_docstring(n) for n in nodes if isinstance(
                n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)]
            text = "\n\n".join(d for d in found if d and len(d) > 80)
            if text:
                yield module.replace("/", "-") + ".txt", text

    folders = []
    for name, documents in (("code", code()), ("docs", docs()), ("docstrings", docstrings())):
        folder = data / name
        folder.mkdir(parents=True)
        total = 0
        for file_name, text in documents:
            if total >= DOMAIN_BYTES:
                break
            (folder / file_name).write_text(text, encoding="utf-8")
            total += len(text.encode("utf-8"))
        assert total >= DOMAIN_BYTES // 2, (name, total)
        folders.append(folder)
    return folders


@contextlib.contextmanager
def ray_head(env: dict, log: Path):
    """``ray start --head --block`` in a session of its own, with token authentication, on
    free ports and with a private temporary folder; every process of that session (the
    daemons, the job's driver and its workers) is killed afterwards.

    Killing the session, rather than ``ray stop --force``, stops this head alone: ``ray
    stop`` stops every Ray process of the user on the machine.

    Yields the job server's address and the head's temporary folder (its sessions, the
    jobs' runtime environments).
    """
    ray = Path(sys.executable).with_name("ray")
    dashboard = free_port()
    # short: Ray's socket paths under it must stay within the 107 characters of a Unix socket
    temp = Path(tempfile.mkdtemp(prefix="rx-"))
    ports = {"--port": free_port(), "--dashboard-port": dashboard,
             "--ray-client-server-port": free_port(),
             "--dashboard-agent-listen-port": free_port()}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(ray), "start", "--head", "--block", "--num-cpus", "2",
             "--dashboard-host", "127.0.0.1", "--disable-usage-stats", "--temp-dir", str(temp),
             *[str(word) for flag, port in ports.items() for word in (flag, port)]],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 120
        while True:  # up once its job server answers (401 without the token is an answer)
            assert proc.poll() is None, f"ray start exited {proc.returncode}: {log.read_text()}"
            assert time.monotonic() < deadline, f"no job server at {address}: {log.read_text()}"
            try:
                urllib.request.urlopen(f"{address}/api/version", timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.5)
        yield address, temp
    finally:
        kill_session(proc)
        shutil.rmtree(temp, ignore_errors=True)


# ----------------------------------------------------------------------------- the path


@pytest.mark.slow  # 2.5 minutes on 2 cores, most of it the job
def test_a_newcomer_builds_installs_inits_plans_submits_and_reads_the_report(
        s3, tmp_path, record_property, capsys):
    assert not tmp_path.resolve().is_relative_to(ROOT)
    clock = Clock()
    token = secrets.token_hex(32)
    try:
        _newcomer_path(s3, tmp_path, clock, token)
    finally:
        record_property("step_seconds", json.dumps(dict(clock.steps)))
        if clock.steps:
            with capsys.disabled():
                print("\n" + clock.table(), flush=True)


def _newcomer_path(s3, tmp: Path, clock: Clock, token: str) -> None:
    here = {**os.environ}
    here.pop("PYTHONPATH", None)

    # 1. the sdist, and the wheel built from it: the checkout gets only its (ignored)
    # raymix.egg-info/, not the build/ folder that `build --wheel` leaves in it
    dist = tmp / "dist"
    with clock.step("build the sdist and the wheel (python -m build)"):
        built = run([sys.executable, "-m", "build", "--outdir", dist, ROOT], cwd=tmp, env=here,
                    ok=False)
        if built.returncode != 0:  # no package index for an isolated build's setuptools
            print(f"[newcomer] isolated build failed ({built.stderr.strip()[-300:]}); "
                  "building with --no-isolation", flush=True)
            run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT],
                cwd=tmp, env=here)
    wheels = sorted(dist.glob("raymix-*.whl"))
    assert len(wheels) == 1 and len(list(dist.glob("raymix-*.tar.gz"))) == 1, \
        sorted(dist.iterdir())
    wheel = wheels[0]
    names = zipfile.ZipFile(wheel).namelist()
    assert {"raymix/__main__.py", "raymix/storage.py", "raymix/cli/init.py",
            "raymix/workflows/measured_rates/proxy_speed.json"} <= set(names)  # package data
    assert not [n for n in names if n.split("/")[0] in ("tests", "jobs", "bench", "deploy")]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "raymix = raymix.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    # 2. a fresh virtual environment: this run's packages through a .pth line (a path line
    # does not run that folder's own .pth files, so the checkout's editable raymix stays
    # out), raymix from the wheel alone
    venv = tmp / "venv"
    python = venv / "bin" / "python"
    with clock.step("fresh venv, wheel installed (pip --no-deps --no-index), pip check"):
        run([sys.executable, "-m", "venv", venv], cwd=tmp, env=here, timeout=180)
        paths = run([python, "-c", "import sysconfig, json; p = sysconfig.get_paths(); "
                     "print(json.dumps([p['purelib'], p['platlib']]))"], cwd=tmp, env=here)
        site = Path(json.loads(paths.stdout)[0])
        ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
        (site / "this-test-runs-packages.pth").write_text("".join(f"{p}\n" for p in ours))
        # Python < 3.12 puts an old setuptools in a venv, which would hide ours (pip check:
        # torch needs a newer one); pip leaves what lies outside the venv alone
        if (site / "setuptools").is_dir():
            run([python, "-m", "pip", "uninstall", "-y", "-q", "setuptools"], cwd=tmp, env=here)
        before = run([python, "-c", "import ray, yaml; import raymix"], cwd=tmp, env=here,
                     ok=False)
        assert before.returncode != 0 and "No module named 'raymix'" in before.stderr, \
            before.stdout + before.stderr
        # --ignore-installed: pip sees the checkout's raymix through the .pth line and would
        # otherwise try to uninstall it
        run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
             "--ignore-installed", wheel], cwd=tmp, env=here)
        run([python, "-m", "pip", "check"], cwd=tmp, env=here)
    where = run([python, "-c", "import raymix; print(raymix.__file__)"], cwd=tmp, env=here)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
    raymix = venv / "bin" / "raymix"
    assert raymix.is_file()

    # the newcomer's shell: the venv activated, a HOME of their own, the cluster's token
    newcomer = {**here, "HOME": str(tmp / "home"), "VIRTUAL_ENV": str(venv),
                "PATH": f"{venv / 'bin'}{os.pathsep}{here['PATH']}",
                "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    for name in ("RAYMIX_CACHE", "RAY_ADDRESS"):
        newcomer.pop(name, None)
    (tmp / "home").mkdir()

    # 3. raymix init on three folders of text inside the project folder
    project = tmp / "my-project"
    folders = write_domains(project / "data")
    config = project / "sweep.yaml"
    with clock.step("raymix init"):
        init = run([raymix, "init", "my-project", *[f.relative_to(tmp) for f in folders]],
                   cwd=tmp, env=newcomer)
    assert f"raymix init: wrote {config}" in init.stdout, init.stdout
    written = yaml.safe_load(config.read_text())
    assert [d["source"] for d in written["data"]["domains"]] == \
        ["data/code", "data/docs", "data/docstrings"]
    sets = [word for setting in TINY for word in ("--set", setting)]

    # 4. what it costs, tiny
    with clock.step("raymix plan"):
        plan = run([raymix, "plan", "my-project/sweep.yaml", *sets], cwd=tmp, env=newcomer)
    assert re.search(r"raymix sweep .*\n.*\n\s+total\s+10\s", plan.stdout), plan.stdout
    # timed at the CPU speed shipped in the wheel (no bench/results beside an install)
    assert "raymix/workflows/measured_rates/proxy_speed.json: " in plan.stdout, plan.stdout

    # 5. a cluster: a head with token authentication, the bucket in its environment (the
    # s3 fixture's AWS_* variables), a HOME of its own
    head_env = {**here, "HOME": str(tmp / "head-home"), "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN": token,
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{here['PATH']}"}
    for name in ("RAYMIX_CACHE", "RAY_ADDRESS"):
        head_env.pop(name, None)
    (tmp / "head-home").mkdir()
    assert head_env["AWS_ENDPOINT_URL"] == s3.endpoint
    with contextlib.ExitStack() as stack:
        with clock.step("ray start --head (token authentication)"):
            address, ray_temp = stack.enter_context(ray_head(head_env, tmp / "ray-start.log"))

        # 6. the sweep as a job: the project folder and the wheel travel with it
        (project / "wheels").mkdir()
        shutil.copy(wheel, project / "wheels")
        files_before = {p.relative_to(project) for p in project.rglob("*")}
        uri = f"s3://{BUCKET}/{PREFIX}"
        with clock.step("raymix submit --wheel (the job installs the wheel, sweeps 10 runs)"):
            submitted = run([raymix, "submit", "my-project/sweep.yaml", "--address", address,
                             "--set", f"compute.storage={uri}", *sets,
                             "--wheel", f"my-project/wheels/{wheel.name}"],
                            cwd=tmp, env=newcomer, timeout=900)
        out = submitted.stdout
        first = out.splitlines()[0]
        assert first.startswith("[submit] job raysubmit_"), out[-3000:]
        assert f"pip install of the wheel wheels/{wheel.name}" in first, first
        assert "[sweep] 10/10 done" in out and "succeeded" in out, out[-3000:]
        # the job ran the wheel: Ray's pip environment for it holds raymix
        installed = list(ray_temp.glob("session_*/runtime_resources/pip/*/virtualenv/lib/"
                                       "python*/site-packages/raymix/__init__.py"))
        assert installed, sorted(str(p) for p in ray_temp.glob("session_*/runtime_resources/*/*"))
        # nothing written into the project: the job works in Ray's copy of it
        assert {p.relative_to(project) for p in project.rglob("*")} == files_before

    # 7. the results, read back from the bucket
    keys = {k.removeprefix(f"{PREFIX}/") for k in s3.keys(BUCKET, f"{PREFIX}/")}
    assert {"proposal.json", "report/index.html", "config.yaml", "mixtures.csv"} <= keys, keys
    assert len([k for k in keys if k.startswith("results/")]) == 10, sorted(keys)
    proposal = json.loads(s3.client().get_object(Bucket=BUCKET, Key=f"{PREFIX}/proposal.json")
                          ["Body"].read())
    assert set(proposal["mixture"]) == {"code", "docs", "docstrings"}
    assert abs(sum(proposal["mixture"].values()) - 1) < 1e-6
    s3.client().delete_object(Bucket=BUCKET, Key=f"{PREFIX}/report/index.html")
    with clock.step("raymix report s3://... (from the newcomer's machine)"):
        run([raymix, "report", uri], cwd=tmp, env=newcomer)
    assert f"{PREFIX}/report/index.html" in s3.keys(BUCKET, f"{PREFIX}/report/")
