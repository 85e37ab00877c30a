"""A sweep's confirmation round on disk (``confirm.json``): settings, candidates, results.

``confirm.json`` fixes each round's candidates before any of their runs starts, so a
re-run (after the driver died) trains the same candidates; its ``settings`` are the
``confirm`` section they were chosen and trained with, and a config that changes them
is refused (more ``rounds`` extend it). The measurements are the stored records of the
runs ``confirm<round>-<candidate>-<key>-s<seed>`` (``key``: a hash of the mixture and the
confirmation scale, so runs of a round made again never meet old results).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from raymix.config import SweepConfig
from raymix.errors import UserError
from raymix.files import atomic_write_text
from raymix.proposal.confirmation import Candidate, confirmation_verdict
from raymix.proposal.verdict import ConfirmationVerdict
from raymix.runs import ResultStore, SweepLayout
from raymix.runs.store import damaged, read_stored_json

FORMAT = 1
EXTENDABLE = {"rounds"}  # settings a config may raise without starting the round again


@dataclass
class ConfirmState:
    """The confirmation round(s) of a sweep directory.

    Attributes
    ----------
    settings : dict
        The ``confirm`` section the rounds were made with.
    rounds : list of list of Candidate
        Each round's candidates, in the order they were chosen.
    fits : list of dict
        The regressor behind each round's fit candidates (name and CV scores).
    """

    settings: dict[str, Any]
    rounds: list[list[Candidate]] = field(default_factory=list)
    fits: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, cfg: SweepConfig) -> ConfirmState:
        """The stored state, or a new one; refuses a config whose ``confirm`` changed."""
        path = SweepLayout(cfg.storage_path).confirmation
        settings = dataclasses.asdict(cfg.confirm)
        if not path.is_file():
            return cls(settings)
        recover = ("delete it and run 'raymix sweep CONFIG' again: the confirmation round is "
                   "chosen and trained again")
        stored = read_stored_json(path, recover)
        if not (isinstance(stored, dict) and isinstance(stored.get("settings"), dict)
                and isinstance(stored.get("rounds"), list)):
            raise damaged(path, "not a confirmation round's settings and rounds", recover)
        for key, value in settings.items():
            before = stored["settings"].get(key)
            if key not in EXTENDABLE and before != value:
                raise UserError(
                    f"{cfg.storage_path} holds a confirmation round made with confirm.{key} = "
                    f"{before!r}, not {value!r}; set it back to finish that round, or delete "
                    f"{path} to choose and train the round again", field=f"confirm.{key}")
        return cls(settings, [[Candidate(**c) for c in r] for r in stored["rounds"]],
                   stored.get("fits", []))

    def save(self, cfg: SweepConfig) -> None:
        data = {"format": FORMAT, "settings": self.settings,
                "rounds": [[dataclasses.asdict(c) for c in r] for r in self.rounds],
                "fits": self.fits}
        atomic_write_text(SweepLayout(cfg.storage_path).confirmation,
                          json.dumps(data, indent=1) + "\n")

    def run_ids(self, cfg: SweepConfig, round_index: int, candidate: Candidate) -> list[str]:
        """The run ids of one candidate of round ``round_index`` (0-based), one per seed."""
        key = json.dumps([candidate.mixture, self.settings], sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:6]
        return [f"confirm{round_index + 1}-{candidate.name}-{digest}-s{j}"
                for j in range(cfg.confirm.seeds)]

    def measured(self, cfg: SweepConfig) -> tuple[dict[str, list[float]], int, int]:
        """Each candidate's finished target losses, and how many runs are stored / planned."""
        records = ResultStore(cfg.storage_path).load_all()
        losses: dict[str, list[float]] = {}
        stored = planned = 0
        for i, candidates in enumerate(self.rounds):
            for c in candidates:
                for run_id in self.run_ids(cfg, i, c):
                    planned += 1
                    record = records.get(run_id)
                    stored += record is not None
                    if record is not None and record.ok:
                        losses.setdefault(c.name, []).append(record.final_target_loss)
        return losses, stored, planned

    def verdict(self, cfg: SweepConfig) -> ConfirmationVerdict | None:
        """The measured best of every round's candidates, when every run is stored.

        None when there is no round, or it is unfinished (a driver died during it).
        """
        losses, stored, planned = self.measured(cfg)
        if not self.rounds or stored < planned:
            return None
        verdict = confirmation_verdict([c for r in self.rounds for c in r], losses)
        if verdict is not None:
            verdict = dataclasses.replace(verdict, rounds=len(self.rounds),
                                          seeds=cfg.confirm.seeds, scale=confirmation_scale(cfg))
        return verdict


def confirmation_scale(cfg: SweepConfig) -> dict[str, Any]:
    """The confirmation's model size and length, as set (``proxy``: the proxies' own)."""
    c = cfg.confirm
    if not c.changes_scale():
        return {"at": "proxy"}
    model = c.applied_to(cfg.model)
    steps = c.steps or cfg.training.steps
    return {"at": "confirm", "model": dataclasses.asdict(model), "steps": steps,
            "tokens": cfg.training.tokens_per_run(model.seq_len) * steps / cfg.training.steps}
