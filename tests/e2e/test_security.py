"""Security: what raymix starts accepts only clients with the cluster's token, and no
file a user passes can run code when raymix reads it (safe YAML, no pickle)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY
from safetensors.torch import load_file
from transformers import LlamaForCausalLM

from raymix.config import ModelConfig, parse_config
from raymix.errors import ConfigError, UserError
from raymix.training.model import build_model, llama_config

ROOT = Path(__file__).resolve().parents[2]

# calls that would turn a file's bytes into code or objects
UNSAFE = re.compile(r"pickle\.loads?\(|torch\.load\(|yaml\.load\(|yaml\.unsafe_load|"
                    r"allow_pickle\s*=\s*True|read_pickle\(|Tuner\.restore\(|"
                    r"weights_only\s*=\s*False")


def test_no_code_path_unpickles_or_unsafely_loads_a_file():
    sources = [*(ROOT / "raymix").rglob("*.py"), *(ROOT / "jobs").rglob("*.py")]
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in sources
             for i, line in enumerate(p.read_text().splitlines(), 1) if UNSAFE.search(line)]
    assert not found, found


def test_a_pickled_checkpoint_is_refused(tmp_path):
    model = ModelConfig(layers=1, hidden=32, heads=2, intermediate=64, seq_len=32)
    folder = tmp_path / "pickled"
    LlamaForCausalLM(llama_config(model, 512)).save_pretrained(folder)
    # the same weights as an old-style pickled pytorch_model.bin, and no safetensors
    weights = folder / "model.safetensors"
    torch.save(load_file(weights), folder / "pytorch_model.bin")
    weights.unlink()
    raw = json.loads(json.dumps(TINY))
    raw["training"]["init_from"] = str(folder)
    with pytest.raises(ConfigError, match="training.init_from.*no .safetensors"):
        parse_config(raw, base_dir=tmp_path)
    with pytest.raises(UserError, match="training.init_from: .*no safetensors model"):
        build_model(model, 512, seed=0, init_from=str(folder))


LOCAL_CLUSTER = """
import json, socket
from pathlib import Path
from ray._private.authentication.authentication_utils import is_token_auth_enabled
from raymix.config import parse_config
from raymix.sweep.cluster import ray_cluster
cfg = parse_config({"data": {"domains": [{"name": "a", "source": "builtin:code"},
                                         {"name": "b", "source": "builtin:poetry"}]},
                    "target": {"name": "t", "source": "builtin:python_reference"}})
DASHBOARD = "/".join(["", "ray", "dashboard", "dashboard.py "])  # not this script
def cmdline(path):
    try:
        return path.read_bytes().replace(b"\\0", b" ").decode(errors="replace")
    except OSError:  # the process ended meanwhile
        return ""
with ray_cluster(cfg):
    cmdlines = [cmdline(p) for p in Path("/proc").glob("[0-9]*/cmdline")]
    with socket.socket() as s:
        job_server = s.connect_ex(("127.0.0.1", 8265)) == 0
    print(json.dumps({"token": is_token_auth_enabled(), "job_server": job_server,
                      "dashboards": [c for c in cmdlines if DASHBOARD in c]}))
"""


def test_a_local_cluster_requires_a_token_and_serves_no_dashboard(tmp_path):
    """The sweep's own cluster, as a user without any Ray setup gets it (a fresh HOME)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["HOME"] = str(tmp_path)  # Ray writes the new token to $HOME/.ray/auth_token
    done = subprocess.run([sys.executable, "-c", LOCAL_CLUSTER], env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["token"] is True  # every Ray service refuses clients without the token
    assert (tmp_path / ".ray" / "auth_token").is_file()
    assert not seen["job_server"]  # nothing answers on the job server's port
    # Ray's minimal dashboard process only: usage statistics, no job API, no web frontend
    assert all("--modules-to-load=UsageStatsHead " in c and "--disable-frontend" in c
               for c in seen["dashboards"]), seen["dashboards"]
