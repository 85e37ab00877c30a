"""``tracking.json``: what each tracker destination holds of a sweep (never logged twice)."""

from __future__ import annotations

import json
from pathlib import Path

from raymix.files import atomic_write_text


class Ledger:
    """``tracking.json``: per tracker destination, the runs it holds in full (``runs``),
    its sweep run (``sweep_run``) and the runs open in it now (``open``: run -> tracker
    run id, until the run is finished)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = json.loads(path.read_text())
        except (OSError, ValueError):
            self.data = {}

    def runs(self, destination: str) -> set[str]:
        return set(self.data.get(destination, {}).get("runs", []))

    def sweep_run(self, destination: str) -> str | None:
        return self.data.get(destination, {}).get("sweep_run")

    def opened(self, destination: str, run_id: str) -> str | None:
        """The tracker run id of ``run_id`` when it was opened but never finished."""
        return self.data.get(destination, {}).get("open", {}).get(run_id)

    def add(self, destination: str, run_id: str | None = None, sweep_run: str | None = None,
            opened: tuple[str, str] | None = None):
        """Note ``run_id`` as held in full, the ``sweep_run``, or ``opened`` = (run id,
        tracker run id) as open; written to disk at once."""
        entry = self.data.setdefault(destination, {"runs": []})
        if run_id is not None:
            entry["runs"].append(run_id)
            entry.get("open", {}).pop(run_id, None)
        if sweep_run is not None:
            entry["sweep_run"] = sweep_run
        if opened is not None:
            entry.setdefault("open", {})[opened[0]] = opened[1]
        atomic_write_text(self.path, json.dumps(self.data, indent=1))
