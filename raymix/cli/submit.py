"""``raymix submit``: run a raymix command on a Ray cluster as a job, and follow it.

A thin wrapper of Ray's job SDK (:class:`ray.job_submission.JobSubmissionClient`). The
job is the user's project, never raymix's source:

1. the project folder (the config's folder, or ``working_dir``) is uploaded as the job's
   working directory, without version control, virtual environments and caches
   (:data:`EXCLUDES`), once its size is checked against Ray's 512 MiB cap;
2. raymix reaches the cluster through the job's runtime environment: by default
   ``pip: ["raymix==<this version>"]`` (nothing to install where the nodes have that
   version: Ray's pip environment keeps the packages the nodes already have), or a wheel
   of raymix inside the project (``wheel``), or nothing (``install=False``) where the
   cluster's image has raymix;
3. the job runs ``python -m raymix <command> <config> [--set ...]`` on the head, where
   ``RAY_ADDRESS`` is set, so the command joins the cluster instead of starting one;
4. nothing is submitted before the config, loaded with its overrides, is checked, and its
   storage would outlive the job: an ``s3://`` or ``gs://`` URI, or an absolute path (on a
   cluster of several nodes, one that every node mounts: ``shared_storage``). A relative
   path would resolve inside Ray's temporary copy of the project, and vanish with it;
5. the job's logs are printed as they come, and the job's exit status is returned.

Ctrl-C stops following, not the job; ``raymix submit --stop JOB_ID`` stops it.

Ray is imported only where a job is submitted or stopped, so this module imports
without it.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from raymix.cli.arguments import set_flags
from raymix.config import SweepConfig, load_config
from raymix.errors import UserError
from raymix.secrets import mask_uri
from raymix.storage import is_uri
from raymix.version import __version__

COMMANDS = ("sweep", "fit", "propose", "validate")  # what a job may run
DEFAULT_ADDRESS = "http://127.0.0.1:8265"  # the job server on the head (or an SSH tunnel to it)
UPLOAD_CAP = 512 * 1024**2  # Ray refuses a working directory whose zip reaches this
# left out of the upload (.gitignore syntax, as Ray's ``excludes``); Ray itself also leaves
# out .git, .venv, venv and __pycache__, and what the folder's .gitignore / .rayignore say
EXCLUDES = [".git/", ".hg/", ".svn/", ".venv/", "venv/", "__pycache__/", "*.pyc",
            ".pytest_cache/", ".mypy_cache/", ".ruff_cache/", ".ipynb_checkpoints/",
            ".tox/", ".nox/", "*.egg-info/", ".raymix/"]
WORKING_DIR_VARIABLE = "${RAY_RUNTIME_ENV_CREATE_WORKING_DIR}"  # the job's copy, on the node


@dataclass
class Job:
    """What :func:`submit` hands Ray: the command, and the environment it runs in.

    Attributes
    ----------
    entrypoint : str
        The shell command the job runs in its working directory.
    runtime_env : dict
        Ray's runtime environment: ``working_dir``, ``excludes`` and, to install raymix,
        ``pip``.
    working_dir : Path
        The project folder that is uploaded.
    upload_bytes : int
        The size of the files uploaded (before Ray zips them).
    install : str
        How raymix reaches the cluster, in words (for the ``[submit]`` line).
    config : SweepConfig
        The config as the job will read it (with the overrides), checked.
    unshared_storage : list of (str, str)
        The storage fields that name an absolute local path the user did not call
        shared: ``(field, path)``. On a cluster of several nodes they are refused.
    """

    entrypoint: str
    runtime_env: dict
    working_dir: Path
    upload_bytes: int
    install: str
    config: SweepConfig
    unshared_storage: list[tuple[str, str]] = field(default_factory=list)


# ----------------------------------------------------------------------------- the job


def plan_job(config: str | Path, *, command: str = "sweep", overrides: Sequence[str] = (),
             working_dir: str | Path | None = None, wheel: str | Path | None = None,
             install: bool = True, shared_storage: bool = False, python: str = "python",
             nodes: int | None = None) -> Job:
    """Check everything that can be checked here, and build the job; nothing is contacted.

    Parameters
    ----------
    config : str or Path
        The sweep YAML; it must lie inside ``working_dir``.
    command : str
        What the job runs: one of :data:`COMMANDS`.
    overrides : sequence of str
        ``key.path=value`` settings over the config (``--set``), checked here and passed
        on to the job.
    working_dir : str or Path, optional
        The project folder to upload (default: the config's folder).
    wheel : str or Path, optional
        A raymix wheel inside ``working_dir``, installed on the cluster instead of
        ``raymix==<this version>`` from the package index.
    install : bool
        False where the cluster's image already has raymix: nothing is installed.
    shared_storage : bool
        The user says an absolute local storage path is mounted on every node.
    python : str
        The Python that runs the job on the head.
    nodes : int, optional
        How many nodes the cluster has, where known (see :func:`check_storage`).

    Returns
    -------
    Job

    Raises
    ------
    UserError
        Naming the argument (``--wheel``) or the config field (``compute.storage``) to fix.
    """
    if command not in COMMANDS:
        raise UserError(f"--command: must be one of {', '.join(COMMANDS)} (got {command!r})")
    folder, config_path = project_folder(config, working_dir)
    cfg = load_config(config_path, overrides)  # a bad config is refused before any upload
    unshared = check_storage(cfg, shared_storage=shared_storage, nodes=nodes)
    excludes = upload_excludes(folder, cfg)
    files = uploaded_files(folder, excludes)
    check_upload_size(folder, files)
    pip, described = raymix_install(folder, files, wheel=wheel, install=install)
    runtime_env = {"working_dir": str(folder), "excludes": excludes}
    if pip:
        runtime_env["pip"] = pip
    relative = _inside(config_path, folder).as_posix()
    return Job(entrypoint=job_entrypoint(relative, command, overrides, python),
               runtime_env=runtime_env, working_dir=folder,
               upload_bytes=sum(_size(f) for f in files), install=described, config=cfg,
               unshared_storage=unshared)


def project_folder(config: str | Path, working_dir: str | Path | None) -> tuple[Path, Path]:
    """The folder to upload and the config's path, both absolute; the config inside the folder.

    Symlinks are kept as they are (Ray uploads what a link points to, under the link's name).
    """
    config_path = Path(os.path.abspath(Path(config).expanduser()))
    if not config_path.is_file():
        raise UserError(f"CONFIG: no such file {str(config)!r}; pass the path of a sweep YAML")
    if working_dir is None:
        return config_path.parent, config_path
    folder = Path(os.path.abspath(Path(working_dir).expanduser()))
    if not folder.is_dir():
        raise UserError(f"--working-dir: {str(working_dir)!r} is not a folder; give the "
                        "project folder that holds the config and the files it names")
    if _inside(config_path, folder) is None:
        raise UserError(f"--working-dir: the config {config_path} is outside {folder}, and "
                        "only that folder travels with the job; give a folder that holds the "
                        "config (default: the config's own folder)")
    return folder, config_path


def job_entrypoint(config: str, command: str = "sweep", overrides: Sequence[str] = (),
                   python: str = "python") -> str:
    """The job's shell command: ``python -m raymix <command> <config> [--set ...]``.

    ``config`` is the config's path relative to the job's working directory.
    """
    words = [python, "-m", "raymix", command, config, *set_flags(overrides)]
    return " ".join(shlex.quote(word) for word in words)


def raymix_install(folder: Path, files: set[Path], *, wheel: str | Path | None = None,
                   install: bool = True) -> tuple[list[str], str]:
    """The runtime environment's ``pip`` list that puts raymix on the cluster, and in words.

    A wheel travels inside the working directory and is installed from the job's copy
    (``${RAY_RUNTIME_ENV_CREATE_WORKING_DIR}/<path>``, as Ray's docs say for local
    wheels): Ray's pip environment is a virtualenv over the nodes' packages, so only the
    dependencies the nodes lack are installed. (A wheel in ``py_modules`` would be
    installed with ``pip install --target``, which installs every dependency again.)

    ``files`` are the files uploaded (:func:`uploaded_files`): the wheel must be one.
    """
    if wheel is None:
        if not install:
            return [], "raymix as installed on the cluster (--no-install)"
        pin = f"raymix=={__version__}"
        return [pin], f"pip install {pin} (nothing to install where the nodes have it)"
    if not install:
        raise UserError("--wheel: installs raymix, --no-install says not to; drop one")
    path = Path(os.path.abspath(Path(wheel).expanduser()))
    if not path.is_file() or path.suffix != ".whl" or not path.name.startswith("raymix-"):
        raise UserError(f"--wheel: {str(wheel)!r} is not a raymix wheel file "
                        "(raymix-<version>-py3-none-any.whl); build one with 'pip wheel "
                        "--no-deps -w dist .' in raymix's source")
    relative = _inside(path, folder)
    if relative is None:
        raise UserError(f"--wheel: {path} is outside the job's working directory {folder}, "
                        f"and only that folder travels with the job; copy the wheel into it "
                        f"(e.g. {folder / 'wheels'}/) and pass that path")
    if path not in files:
        raise UserError(f"--wheel: {path} is left out of the upload (by {folder}'s .gitignore "
                        "or .rayignore, or raymix's excludes); move it to a folder they do "
                        "not leave out, or set RAY_RUNTIME_ENV_IGNORE_GITIGNORE=1")
    return ([f"{WORKING_DIR_VARIABLE}/{relative.as_posix()}"],
            f"pip install of the wheel {relative.as_posix()}")


# ----------------------------------------------------------------------------- storage


def check_storage(cfg: SweepConfig, *, shared_storage: bool = False,
                  nodes: int | None = None) -> list[tuple[str, str]]:
    """Refuse storage that the job would lose or scatter; return what needs a node count.

    Each of ``compute.storage`` and (if set) ``validate.storage``:

    - an object-storage URI (``s3://``, ``gs://``) passes;
    - a relative path is refused: the job would resolve it inside Ray's temporary copy of
      the project, deleted with the job;
    - an absolute local path passes when ``shared_storage`` (mounted on every node) or on
      a cluster of one node; with ``nodes`` > 1 it is refused, and with ``nodes`` unknown
      it is returned as ``(field, path)``, for the caller to ask the cluster.

    Raises
    ------
    UserError
        Naming the field, what happens to the results, and the fix.
    """
    fields = [("compute.storage", cfg.compute.storage)]
    if cfg.validate.storage:
        fields.append(("validate.storage", cfg.validate.storage))
    unshared = []
    for name, location in fields:
        if is_uri(location):
            continue
        path = _local_path(location)
        if not (path.is_absolute() or path.parts[:1] == ("~",)):
            raise UserError(f"{location!r} is relative, so the job would write it inside "
                            "Ray's temporary working directory (runtime_resources/"
                            "working_dir_files/_ray_pkg_...), deleted with the job; give an "
                            "s3:// or gs:// URI, or an absolute path that every node mounts",
                            field=name)
        if shared_storage:
            continue
        if nodes is None:
            unshared.append((name, location))
        elif nodes > 1:
            raise UserError(f"{location!r} is a local path and the cluster has {nodes} nodes, "
                            "so each would keep the results it writes on its own disk; give "
                            "an s3:// or gs:// URI, or a path every node mounts and say so "
                            "with --shared-storage", field=name)
    return unshared


def cluster_nodes(address: str) -> int:
    """How many nodes the cluster at ``address`` has alive now (Ray's state API, served by
    the dashboard, with the same token authentication as the job server)."""
    from ray.util.state import list_nodes

    alive = list_nodes(address=address, filters=[("state", "=", "ALIVE")], limit=10_000,
                       timeout=30, raise_on_missing_output=False)
    return len(alive)


def _local_path(location: str) -> Path:
    """A local storage location as a path (``file:///mnt/x`` -> ``/mnt/x``)."""
    text = str(location)
    return Path(text[len("file://"):] if text.startswith("file://") else text)


# ----------------------------------------------------------------------------- the upload


def upload_excludes(folder: Path, cfg: SweepConfig) -> list[str]:
    """:data:`EXCLUDES`, plus the folder's virtual environments of other names (a folder
    with a ``pyvenv.cfg``) and any storage folder inside it (earlier results)."""
    excludes = list(EXCLUDES)
    for marker in sorted(folder.glob("*/pyvenv.cfg")):
        excludes.append(f"/{marker.parent.name}/")
    for location in (cfg.compute.storage, cfg.validate.storage):
        if location and not is_uri(location):
            inside = _inside(Path(os.path.abspath(_local_path(location).expanduser())), folder)
            if inside is not None and inside.parts:
                excludes.append(f"/{inside.as_posix()}/")
    return excludes


def uploaded_files(folder: Path, excludes: Sequence[str]) -> set[Path]:
    """The files Ray will upload from ``folder``, found by the walk Ray's upload makes (a
    private function of Ray's), with its default excludes, ``excludes`` and the folders'
    .gitignore / .rayignore files."""
    from ray._private import ray_constants
    from ray._private.runtime_env.packaging import _dir_travel, _get_excludes

    include_gitignore = os.environ.get(ray_constants.RAY_RUNTIME_ENV_IGNORE_GITIGNORE,
                                       "0") != "1"
    rules = [*ray_constants.get_runtime_env_default_excludes(), *excludes]
    files: set[Path] = set()

    def keep(path: Path) -> None:
        if path.is_file():
            files.add(path)

    _dir_travel(folder, [_get_excludes(folder, rules)], keep, include_gitignore)
    return files


def check_upload_size(folder: Path, files: set[Path], cap: int = UPLOAD_CAP) -> None:
    """Refuse a project folder whose files reach Ray's cap on a job's working directory.

    The files' own size is counted: Ray's cap is on their zip, which is rarely much
    smaller for data (token arrays, Parquet), and zipping here would cost what the upload
    costs.
    """
    total = sum(_size(f) for f in files)
    if total < cap:
        return
    largest = max(files, key=_size)
    raise UserError(f"--working-dir: {folder} has {_mib(total)} to upload (the largest file "
                    f"{_inside(largest, folder)}, {_mib(_size(largest))}), and Ray refuses a "
                    f"job's working directory of {_mib(cap)} or more; move data out of it "
                    "(the config can name it by absolute path, on storage every node "
                    "mounts), list it in a .rayignore there, or give --working-dir a smaller "
                    "folder that holds the config")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # a dangling link: Ray skips it too
        return 0


def _mib(size: int) -> str:
    return f"{size / 1024**2:,.1f} MiB"


def _inside(path: Path, folder: Path) -> Path | None:
    """``path`` relative to ``folder``, or None when it lies outside."""
    try:
        return path.relative_to(folder)
    except ValueError:
        return None


# ----------------------------------------------------------------------------- submitting


def submit(config: str | Path, *, address: str = DEFAULT_ADDRESS, command: str = "sweep",
           overrides: Sequence[str] = (), working_dir: str | Path | None = None,
           wheel: str | Path | None = None, install: bool = True,
           shared_storage: bool = False, python: str = "python", wait: bool = True,
           log: Callable[[str], object] = print) -> int:
    """Submit ``raymix <command> CONFIG`` as a Ray job; with ``wait``, follow it to the end.

    Parameters
    ----------
    config, command, overrides, working_dir, wheel, install, shared_storage, python
        As :func:`plan_job` takes them.
    address : str
        The cluster's job server (the dashboard's address).
    wait : bool
        Follow the job's logs until it ends (else return once it is submitted).
    log : callable
        Where the ``[submit]`` lines and the job's logs go.

    Returns
    -------
    int
        0 when submitted without waiting, else the job's exit status (1 when the job
        failed without one, 130 when it was stopped).

    Raises
    ------
    UserError
        Before anything is submitted: the config, the storage, the working directory, the
        wheel, or a cluster that cannot be reached.
    """
    job = plan_job(config, command=command, overrides=overrides, working_dir=working_dir,
                   wheel=wheel, install=install, shared_storage=shared_storage, python=python)
    client = _client(address)
    shown = mask_uri(address)  # the address connects with its credentials; lines show none
    if job.unshared_storage:  # an absolute local path: fine on one node, not on several
        try:
            nodes = cluster_nodes(address)
        except Exception as exc:  # the state API's errors are plain exceptions
            fields = ", ".join(f"{name} {path!r}" for name, path in job.unshared_storage)
            log(f"[submit] note: could not ask {shown} how many nodes the cluster has "
                f"({_first_line(exc)}); {fields}: on several nodes every node must mount "
                "it (--shared-storage says so), or use an s3:// or gs:// URI")
        else:
            check_storage(job.config, nodes=nodes)
    job_id = client.submit_job(entrypoint=job.entrypoint, runtime_env=job.runtime_env)
    log(f"[submit] job {job_id} on {shown}: {mask_uri(job.entrypoint)} (working dir "
        f"{job.working_dir}, {_mib(job.upload_bytes)}; raymix: {job.install})")
    if not wait:
        log(f"[submit] follow it with 'ray job logs --follow {job_id} --address {shown}'")
        return 0
    shown: list[str] = []
    try:
        try:
            asyncio.run(_follow(client, job_id, log, shown))
        except RuntimeError as exc:  # Ray's SDK: the log stream dropped (close code 1006)
            log(f"[submit] the job's log stream closed early ({_first_line(exc)}); waiting "
                "for the job to end")
            _wait_for_end(client, job_id)
            rest = client.get_job_logs(job_id)
            if rest.startswith("".join(shown)):
                rest = rest[len("".join(shown)):]
            if rest.strip():
                log(rest.rstrip("\n"))
    except KeyboardInterrupt:
        log(f"[submit] stopped following; job {job_id} goes on. Stop it with "
            f"'raymix submit --stop {job_id} --address {shown}'")
        return 130
    return _exit_status(client.get_job_info(job_id), log)


async def _follow(client, job_id: str, log, shown: list[str]) -> None:
    async for lines in client.tail_job_logs(job_id):
        shown.append(lines)
        log(lines.rstrip("\n"))


def _wait_for_end(client, job_id: str, poll_s: float = 2.0) -> None:
    while not client.get_job_status(job_id).is_terminal():
        time.sleep(poll_s)


def _exit_status(info, log) -> int:
    status = str(info.status.value if hasattr(info.status, "value") else info.status)
    log(f"[submit] job {info.submission_id}: {status.lower()}"
        + (f" ({mask_uri(info.message)})" if info.message and status != "SUCCEEDED" else ""))
    if status == "SUCCEEDED":
        return 0
    if status == "STOPPED":
        return 130
    return info.driver_exit_code or 1


def stop(job_id: str, *, address: str = DEFAULT_ADDRESS, log=print) -> int:
    """Stop a submitted job; 0 when it was running, 2 when there was nothing to stop."""
    client = _client(address)
    try:
        stopped = client.stop_job(job_id)
    except RuntimeError as exc:  # the SDK's answer for an unknown job id
        raise UserError(f"--stop: {_first_line(exc)}") from None
    log(f"[submit] job {job_id}: {'stop requested' if stopped else 'was not running'}")
    return 0 if stopped else 2


# ----------------------------------------------------------------------------- the client


def _client(address: str):
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except ConnectionError as exc:
        raise UserError(f"--address: no Ray job server answers at {mask_uri(address)} "
                        f"({_first_line(exc)}); "
                        "start one with 'ray start --head', or forward a cluster's with "
                        "'ray dashboard cluster.yaml'") from None
    except Exception as exc:  # the SDK raises plain exceptions for auth and version problems
        if "auth" in str(exc).lower():
            raise UserError(f"--address: {mask_uri(address)} refused this client: "
                            f"{_auth_fix()}") from None
        raise


def _auth_fix() -> str:
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        return ("the cluster uses token authentication; set RAY_AUTH_MODE=token and its token "
                "for raymix submit too")
    return ("the token is not the cluster's; set RAY_AUTH_TOKEN (or ~/.ray/auth_token) to the "
            "token that 'ray get-auth-token' prints on the head")


def _first_line(exc: Exception) -> str:
    """The first line of ``exc``'s message, any secret in a URI masked (the SDK's errors
    repeat the address)."""
    return mask_uri(str(exc).strip().splitlines()[0]) if str(exc).strip() else \
        type(exc).__name__
