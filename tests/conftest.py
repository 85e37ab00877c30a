"""Suite-wide guard: no test may leave a Ray cluster running."""

import time
from pathlib import Path

import pytest

RAY_DAEMONS = ("raylet", "gcs_server")


def ray_daemons() -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in RAY_DAEMONS and \
                        (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture(scope="session", autouse=True)
def no_ray_left_behind():
    before = ray_daemons()
    yield
    deadline = time.monotonic() + 30  # daemons of a cluster just stopped take a moment to exit
    while (left := ray_daemons() - before) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"Ray daemons left running by the tests: {sorted(left)}"
