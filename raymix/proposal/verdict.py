"""A confirmation round's verdict: which candidate measured best, and by how much.

:func:`raymix.proposal.confirmation.confirmation_verdict` makes a
:class:`ConfirmationVerdict` (one :class:`MeasuredCandidate` per candidate); the proposal
keeps it (``Proposal.confirmation``), ``proposal.json`` holds its ``to_dict()`` and the
reports read a stored one back with ``from_dict()``. Its own module, below both the
proposer and the round, so each can read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any


def candidate_label(name: str, source: str | None) -> str:
    """A confirmation candidate, in words: where it came from (the fit or a run)."""
    base = name.split("-", 1)[1] if name.startswith("r") and name[1:2].isdigit() else name
    if source == "observed":
        return f"observed {base}"  # a run the sweep trained
    if base == "proposal":
        return "fit's optimum"
    if base == "top_k_mean":
        return "fit's top-k mean"
    match = re.fullmatch(r"fit-(\d+)", base)
    return f"fit's candidate {int(match[1]) + 1}" if match else base


@dataclass(frozen=True)
class MeasuredCandidate:
    """One candidate of a confirmation verdict: its prediction and what the round measured.

    Attributes
    ----------
    source : str
        ``fit`` or ``observed`` (as :class:`Candidate`).
    mixture : dict of str to float
        Its weight per domain.
    predicted, predicted_std : float
        The fit's prediction at the proxy scale, and its typical error.
    observed_at_proxy_scale : float or None
        An observed candidate's loss in the sweep (the mean over its seeds).
    measured, measured_std : float or None
        The mean target loss of its confirmation runs and their seed-to-seed std (None
        without a finished run; the std with fewer than two).
    measured_losses : list of float
        The target loss of each finished confirmation run.
    gap_to_winner, gap_se : float or None
        How much worse than the winner it measured, and the standard error of that gap
        (None without a noise estimate); only for a measured candidate.
    beaten_beyond_noise : bool or None
        Whether the gap is above ``NOISE_SIGMAS`` standard errors (None for the winner,
        or without a noise estimate).
    """

    source: str
    mixture: dict[str, float]
    predicted: float
    predicted_std: float
    observed_at_proxy_scale: float | None = None
    measured: float | None = None
    measured_std: float | None = None
    measured_losses: list[float] = field(default_factory=list)
    gap_to_winner: float | None = None
    gap_se: float | None = None
    beaten_beyond_noise: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """As ``confirm``'s part of ``proposal.json`` holds it (the gaps: when measured)."""
        data = {"source": self.source, "mixture": self.mixture, "predicted": self.predicted,
                "predicted_std": self.predicted_std,
                "observed_at_proxy_scale": self.observed_at_proxy_scale,
                "measured": self.measured, "measured_std": self.measured_std,
                "measured_losses": self.measured_losses}
        if self.measured is not None:
            data.update(gap_to_winner=self.gap_to_winner, gap_se=self.gap_se,
                        beaten_beyond_noise=self.beaten_beyond_noise)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MeasuredCandidate:
        """Read back :meth:`to_dict` (missing keys: None)."""
        return cls(**{f.name: data.get(f.name) for f in fields(cls)
                      if f.name != "measured_losses"},
                   measured_losses=list(data.get("measured_losses") or []))


@dataclass(frozen=True)
class ConfirmationVerdict:
    """Which candidate of a confirmation round measured best, and by how much.

    ``to_dict()`` is the ``confirmation`` part of ``proposal.json``.

    Attributes
    ----------
    winner : str
        The candidate measured best (lowest mean target loss).
    winner_source : str
        Where the winner came from: ``fit`` or ``observed``.
    mixture : dict of str to float
        The winner's weights.
    measured : float
        The winner's mean target loss over its seeds.
    order : list of str
        The measured candidates, best first.
    noise_std : float or None
        The pooled seed-to-seed std of one run (None: no candidate had two seeds).
    runner_up : str or None
        The second best (None with one measured candidate).
    margin : float or None
        How much better the winner measured than the runner-up.
    margin_beyond_noise : bool or None
        Whether that margin is beyond the seed noise (None: no estimate, or no runner-up).
    candidates : dict of str to MeasuredCandidate
        Every candidate, measured or not.
    rounds, seeds : int or None
        How many rounds and seeds per candidate (set by the sweep's round,
        :meth:`raymix.workflows.confirm_state.ConfirmState.verdict`).
    scale : dict or None
        Where the round trained: ``{"at": "proxy"}``, or ``"confirm"`` with its model,
        steps and tokens.
    """

    winner: str
    winner_source: str
    mixture: dict[str, float]
    measured: float
    order: list[str]
    noise_std: float | None
    runner_up: str | None
    margin: float | None
    margin_beyond_noise: bool | None
    candidates: dict[str, MeasuredCandidate]
    rounds: int | None = None
    seeds: int | None = None
    scale: dict[str, Any] | None = None

    @property
    def at_larger_scale(self) -> bool:
        """Whether the round trained at its own, larger scale (not the proxies')."""
        return (self.scale or {}).get("at") == "confirm"

    def label(self, name: str) -> str:
        """Candidate ``name`` in words (the raw name when the verdict lacks it)."""
        row = self.candidates.get(name)
        return candidate_label(name, row.source if row is not None else None)

    def measured_candidates(self) -> dict[str, MeasuredCandidate]:
        """The candidates with a finished run, in :attr:`candidates` order."""
        return {name: c for name, c in self.candidates.items() if c.measured is not None}

    def to_dict(self) -> dict[str, Any]:
        """As ``proposal.json`` holds it (``rounds``, ``seeds``, ``scale``: when set)."""
        data = {"winner": self.winner, "winner_source": self.winner_source,
                "mixture": self.mixture, "measured": self.measured, "order": self.order,
                "noise_std": self.noise_std, "runner_up": self.runner_up,
                "margin": self.margin, "margin_beyond_noise": self.margin_beyond_noise,
                "candidates": {name: c.to_dict() for name, c in self.candidates.items()}}
        for key in ("rounds", "seeds", "scale"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConfirmationVerdict:
        """Read back :meth:`to_dict` (a ``proposal.json``'s ``confirmation``; keys an
        older one lacks are None)."""
        return cls(**{f.name: data.get(f.name) for f in fields(cls)
                      if f.name not in ("candidates", "order")},
                   order=list(data.get("order") or []),
                   candidates={name: MeasuredCandidate.from_dict(row)
                               for name, row in (data.get("candidates") or {}).items()})
