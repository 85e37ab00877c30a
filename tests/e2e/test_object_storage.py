"""Results on object storage: ``compute.storage: s3://bucket/prefix`` against a real
S3-compatible server (moto's, started on loopback by the ``s3`` fixture).

A sweep writes every record, table, the proposal and the report to the bucket; the
commands read them back from the URI; a driver killed mid-sweep resumes from the bucket
(on a machine whose local mirror is gone) and stores every run exactly once; a bucket
that refuses writes is refused in one line before any work.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import S3Server, finish, kill_session, raymix_cli, write_config

from raymix import storage
from raymix.cli.commands import main
from raymix.files import atomic_write_text
from raymix.storage import StorageError, local_folder, location_of, refresh

BUCKET = "raymix-test"


# ----------------------------------------------------------------------------- the mirror


def test_a_write_goes_to_the_store_first_and_comes_back_on_another_machine(s3, tmp_path,
                                                                          monkeypatch):
    uri = f"s3://{BUCKET}/mirror-{time.time_ns()}"
    folder = local_folder(uri)
    assert folder.is_relative_to(storage.mirrors_root()) and location_of(folder) == uri
    atomic_write_text(folder / "results" / "run-0001.json", '{"ok": 1}')
    prefix = uri.removeprefix(f"s3://{BUCKET}/")
    assert s3.keys(BUCKET, prefix) == [f"{prefix}/results/run-0001.json"]

    # another machine: an empty cache; the first open brings the sweep down
    monkeypatch.setenv("RAYMIX_CACHE", str(tmp_path / "other-machine"))
    monkeypatch.setattr(storage, "_opened", set())
    other = local_folder(uri)
    assert other != folder and (other / "results" / "run-0001.json").read_text() == '{"ok": 1}'

    # what the store no longer holds leaves the mirror; what it holds anew comes down
    s3.client().delete_object(Bucket=BUCKET, Key=f"{prefix}/results/run-0001.json")
    s3.client().put_object(Bucket=BUCKET, Key=f"{prefix}/results/run-0002.json", Body=b"{}")
    assert refresh(other) == 1
    assert sorted(p.name for p in (other / "results").iterdir()) == ["run-0002.json"]


def test_a_refused_write_leaves_nothing_behind(s3):
    folder = local_folder(f"s3://no-such-bucket-{time.time_ns()}/sweep")
    with pytest.raises(StorageError, match="does not exist|NoSuchBucket|NO_SUCH_BUCKET"):
        atomic_write_text(folder / "results" / "run-0001.json", "{}")
    assert not (folder / "results" / "run-0001.json").exists()


def test_uri_forms_refused_before_any_request():
    for uri, words in [("s3://bucket/p?endpoint_override=x", "AWS_ENDPOINT_URL"),
                       ("s3:///prefix", "no bucket"), ("s3://bucket/a/../b", "'..'"),
                       ("s3://user:pw@bucket/p", "credentials")]:
        assert words in storage.uri_problem(uri), uri
    assert "pw" not in storage.uri_problem("s3://user:pw@bucket/p")  # no secret echoed


# ----------------------------------------------------------------------------- a sweep


@pytest.fixture(scope="module")
def sweep_uri(s3, tmp_path_factory, cache_dir) -> tuple[str, Path]:
    """A finished tiny sweep (with its confirmation round) whose storage is the bucket."""
    folder = tmp_path_factory.mktemp("project")
    config = write_config(folder, cache_dir, confirm={"rounds": 1, "candidates": 1,
                                                      "observed": 1, "seeds": 2})
    uri = f"s3://{BUCKET}/sweeps/tiny"
    assert main(["sweep", str(config), "--set", f"compute.storage={uri}"]) == 0
    return uri, config


@pytest.mark.slow  # a sweep into the bucket (80 s); CI runs it
def test_a_sweep_on_s3_keeps_everything_in_the_bucket(s3, sweep_uri):
    uri, config = sweep_uri
    keys = s3.keys(BUCKET, "sweeps/tiny/")
    names = {k.removeprefix("sweeps/tiny/") for k in keys}
    records = [n for n in names if n.startswith("results/")]
    assert len(records) == 10 + 4  # 8 mixtures + 2 repeats, and the round's 2 x 2 runs
    for name in ("config.yaml", "data.json", "plan.csv", "confirm.json", "mixtures.csv",
                 "metrics.csv", "runs.csv", "proposal.json", "report/index.html",
                 "report/report.md"):
        assert name in names, name
    assert any(n.startswith("tune/") for n in names)  # Tune's own folder follows the URI
    proposal = json.loads(s3.client().get_object(Bucket=BUCKET, Key="sweeps/tiny/proposal.json")
                          ["Body"].read())
    assert abs(sum(proposal["mixture"].values()) - 1) < 1e-6
    stored = s3.client().get_object(Bucket=BUCKET, Key="sweeps/tiny/config.yaml")["Body"].read()
    assert f"compute.storage={uri}".encode() in stored  # the --set is on record


@pytest.mark.slow  # a sweep into the bucket (80 s); CI runs it
def test_commands_read_the_sweep_back_from_the_uri(s3, sweep_uri, tmp_path, monkeypatch,
                                                   capsys):
    uri, config = sweep_uri
    # a fresh machine: nothing of the sweep on its disk
    monkeypatch.setenv("RAYMIX_CACHE", str(tmp_path / "fresh"))
    monkeypatch.setattr(storage, "_opened", set())
    s3.client().delete_object(Bucket=BUCKET, Key="sweeps/tiny/report/index.html")
    assert main(["report", uri]) == 0
    assert "sweeps/tiny/report/index.html" in s3.keys(BUCKET, "sweeps/tiny/report/")
    out = tmp_path / "proposal.json"
    assert main(["propose", str(config), "--set", f"compute.storage={uri}",
                 "--output", str(out)]) == 0
    assert json.loads(out.read_text())["mixture"]
    capsys.readouterr()
    assert main(["report", f"s3://{BUCKET}/sweeps/none"]) == 2
    assert "not a sweep directory" in capsys.readouterr().err


def test_a_bucket_that_refuses_writes_is_refused_before_any_work(s3, tmp_path, cache_dir,
                                                                 capsys):
    config = write_config(tmp_path, cache_dir)
    uri = f"s3://missing-{time.time_ns()}/sweep"
    assert main(["sweep", str(config), "--set", f"compute.storage={uri}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("raymix: error: ") and "\n" not in err, err
    assert "compute.storage" in err and "Traceback" not in err
    assert "refused a test write" in err


@pytest.mark.slow
def test_a_killed_driver_resumes_from_the_bucket(s3, tmp_path, cache_dir):
    """SIGKILL the sweep once records are in the bucket; a re-run on a machine whose mirror
    is gone trains only what is missing, and every run is stored exactly once."""
    config = write_config(tmp_path, cache_dir, mixtures={"count": 12, "repeats": 0},
                          compute={"models_per_trial": 1})
    uri = f"s3://{BUCKET}/sweeps/killed"
    args = ["sweep", str(config), "--no-propose", "--set", f"compute.storage={uri}"]
    proc = raymix_cli(*args, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 240
        while len(s3.keys(BUCKET, "sweeps/killed/results/")) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.5)
    finally:
        kill_session(proc)
    before = s3.keys(BUCKET, "sweeps/killed/results/")
    assert 3 <= len(before) < 12
    shutil.rmtree(storage.mirrors_root() / "s3" / BUCKET / "sweeps" / "killed")
    out = finish(raymix_cli(*args, env=os.environ.copy()))
    already = int(out.split(" already stored")[0].rsplit(",", 1)[1].split()[0])
    assert already >= len(before), out
    after = s3.keys(BUCKET, "sweeps/killed/results/")
    assert len(after) == 12 and set(before) <= set(after)
    ids = [json.loads(s3.client().get_object(Bucket=BUCKET, Key=k)["Body"].read())["run_id"]
           for k in after]
    assert len(set(ids)) == 12


READ_ONLY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "*"},
    {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}
READ_WRITE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:*", "iam:*"], "Resource": "*"}]}


@pytest.mark.slow
def test_a_bucket_that_starts_refusing_mid_sweep_loses_nothing_acknowledged(tmp_path,
                                                                            cache_dir):
    """A server that checks credentials (moto with IAM): once records are in the bucket,
    the sweep's user loses the right to write. The sweep stops with one line naming the
    storage; every result it acknowledged is in the bucket; with the right restored, the
    same command finishes and stores every run exactly once."""
    server = S3Server(tmp_path, extra_env={"INITIAL_NO_AUTH_ACTION_COUNT": "4"})
    try:
        import boto3

        admin = dict(endpoint_url=server.endpoint, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing")
        boto3.client("s3", **admin).create_bucket(Bucket=BUCKET)  # the 4 requests
        boto3.client("iam", **admin).create_user(UserName="sweeper")  # before auth
        key = boto3.client("iam", **admin).create_access_key(UserName="sweeper")["AccessKey"]
        user = dict(admin, aws_access_key_id=key["AccessKeyId"],
                    aws_secret_access_key=key["SecretAccessKey"])
        iam = boto3.client("iam", **user)
        boto3.client("iam", **admin).put_user_policy(
            UserName="sweeper", PolicyName="s3", PolicyDocument=json.dumps(READ_WRITE))
        bucket = boto3.client("s3", **user)

        def records() -> list[str]:
            listed = bucket.list_objects_v2(Bucket=BUCKET, Prefix="sweep/results/")
            return sorted(o["Key"] for o in listed.get("Contents", []))

        env = {**os.environ, **server.env, "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
               "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
               "RAYMIX_CACHE": str(tmp_path / "cache")}
        config = write_config(tmp_path, cache_dir, mixtures={"count": 12, "repeats": 0},
                              compute={"models_per_trial": 1})
        args = ["sweep", str(config), "--no-propose", "--set",
                f"compute.storage=s3://{BUCKET}/sweep"]
        proc = raymix_cli(*args, env=env)
        try:
            deadline = time.monotonic() + 240
            while len(records()) < 3:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.3)
            iam.put_user_policy(UserName="sweeper", PolicyName="s3",
                                PolicyDocument=json.dumps(READ_ONLY))
            out, _ = proc.communicate(timeout=240)
        finally:
            kill_session(proc)
        assert proc.returncode == 2, out
        error = [line for line in out.splitlines() if line.startswith("raymix: error:")]
        assert len(error) == 1 and "compute.storage" in error[0], out
        # the last word is raymix's one line (Ray Tune logs its own refused writes above it)
        assert "refused a result" in error[0] and out.strip().splitlines()[-1] == error[0]
        acknowledged = int(error[0].split("The ")[1].split(" results stored")[0])
        kept = records()
        assert acknowledged == len(kept) < 12  # nothing acknowledged is lost

        iam.put_user_policy(UserName="sweeper", PolicyName="s3",
                            PolicyDocument=json.dumps(READ_WRITE))
        finish(raymix_cli(*args, env=env))
        after = records()
        assert len(after) == 12 and set(kept) <= set(after)
    finally:
        server.stop()
