"""``raymix submit``: run a raymix command on a Ray cluster as a job, and follow it.

A thin wrapper of Ray's job SDK (:class:`ray.job_submission.JobSubmissionClient`):

1. the repository (``raymix/`` and ``jobs/``, without the venv, caches and results, as
   ``jobs/runtime_env.yaml`` says) is uploaded as the job's working directory, so the
   config must lie inside it;
2. the job runs ``python jobs/<command>.py CONFIG`` on the head node, where
   ``RAY_ADDRESS`` is set, so the command joins the cluster instead of starting one;
3. the job's logs are printed as they come, and the job's exit status is returned.

Ctrl-C stops following, not the job; ``raymix submit --stop JOB_ID`` stops it.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from pathlib import Path

import yaml

from raymix.errors import UserError

COMMANDS = ("sweep", "fit", "propose", "validate")  # each has jobs/<command>.py
DEFAULT_ADDRESS = "http://127.0.0.1:8265"  # the job server on the head (or an SSH tunnel to it)
ROOT = Path(__file__).resolve().parents[2]  # the repository, uploaded as the working dir


def _client(address: str):
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except ConnectionError as exc:
        raise UserError(f"--address: no Ray job server answers at {address} ({_first_line(exc)}); "
                        "start one with 'ray start --head', or forward a cluster's with "
                        "'ray dashboard cluster.yaml'") from None
    except Exception as exc:  # the SDK raises plain exceptions for auth and version problems
        if "auth" in str(exc).lower():
            raise UserError(f"--address: {address} refused this client: {_auth_fix()}") from None
        raise


def _auth_fix() -> str:
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        return ("the cluster uses token authentication; set RAY_AUTH_MODE=token and its token "
                "for raymix submit too")
    return ("the token is not the cluster's; set RAY_AUTH_TOKEN (or ~/.ray/auth_token) to the "
            "token that 'ray get-auth-token' prints on the head")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def job_entrypoint(config: str | Path, command: str = "sweep", python: str = "python") -> str:
    """The job's shell command: ``python jobs/<command>.py <config relative to the repo>``."""
    if command not in COMMANDS:
        raise UserError(f"--command: must be one of {', '.join(COMMANDS)} (got {command!r})")
    path = Path(config).expanduser().resolve()
    if not path.is_file():
        raise UserError(f"CONFIG: no such file {str(config)!r}; pass the path of a sweep YAML")
    try:
        relative = path.relative_to(ROOT)
    except ValueError:
        raise UserError(f"CONFIG: {path} is outside the repository {ROOT}, which is what the job "
                        "uploads; put the config in it (e.g. jobs/configs/)") from None
    return f"{shlex.quote(python)} jobs/{command}.py {shlex.quote(relative.as_posix())}"


def runtime_env() -> dict:
    """``jobs/runtime_env.yaml`` with its working directory made absolute."""
    env = yaml.safe_load((ROOT / "jobs" / "runtime_env.yaml").read_text())
    env["working_dir"] = str(ROOT)
    return env


def submit(config: str | Path, *, address: str = DEFAULT_ADDRESS, command: str = "sweep",
           python: str = "python", wait: bool = True, log=print) -> int:
    """Submit ``raymix <command> CONFIG`` as a Ray job; with ``wait``, follow it to the end.

    Returns 0 when submitted without waiting, else the job's exit status (1 when the job
    failed without one, 130 when it was stopped).
    """
    entrypoint = job_entrypoint(config, command, python)
    client = _client(address)
    job_id = client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env())
    log(f"[submit] job {job_id} on {address}: {entrypoint}")
    if not wait:
        log(f"[submit] follow it with 'ray job logs --follow {job_id} --address {address}'")
        return 0
    try:
        asyncio.run(_follow(client, job_id, log))
    except KeyboardInterrupt:
        log(f"[submit] stopped following; job {job_id} goes on. Stop it with "
            f"'raymix submit --stop {job_id} --address {address}'")
        return 130
    return _exit_status(client.get_job_info(job_id), log)


async def _follow(client, job_id: str, log) -> None:
    async for lines in client.tail_job_logs(job_id):
        log(lines.rstrip("\n"))


def _exit_status(info, log) -> int:
    status = str(info.status.value if hasattr(info.status, "value") else info.status)
    log(f"[submit] job {info.submission_id}: {status.lower()}"
        + (f" ({info.message})" if info.message and status != "SUCCEEDED" else ""))
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
