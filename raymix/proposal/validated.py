"""A proposal checked at a larger scale: what ``raymix validate`` measured, typed.

:func:`raymix.workflows.validation.run_validation` trains the proposal, the baselines and
your own mixtures at a larger scale and makes a :class:`ValidationResult`: one
:class:`MeasuredMixture` per mixture (predicted against measured) and one
:class:`GapCheck` per other mixture (the proposal's measured gap to it, against the
noise). ``validate.json`` holds its ``to_dict()``; the reports read a stored one back with
:meth:`ValidationResult.from_dict`. It lives here, below the reports, so they can read it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MeasuredMixture:
    """One mixture of the check: its prediction at the larger scale and what it measured.

    Attributes
    ----------
    mixture : dict of str to float
        Its weight per domain.
    predicted, predicted_std : float
        The prediction at the validation scale, and its typical error.
    measured, measured_std : float or None
        The mean target loss over its seeds and their std (None without a finished run;
        the std with fewer than two).
    measured_losses : list of float
        Each finished run's target loss.
    error : float or None
        ``measured - predicted``.
    """

    mixture: dict[str, float]
    predicted: float
    predicted_std: float | None = None
    measured: float | None = None
    measured_losses: list[float] = field(default_factory=list)
    measured_std: float | None = None
    error: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MeasuredMixture:
        """Read back a ``validate.json`` row (missing keys: None)."""
        return cls(mixture=data["mixture"], predicted=data["predicted"],
                   predicted_std=data.get("predicted_std"), measured=data.get("measured"),
                   measured_losses=list(data.get("measured_losses") or []),
                   measured_std=data.get("measured_std"), error=data.get("error"))


@dataclass(frozen=True)
class GapCheck:
    """The proposal against one other mixture at the larger scale.

    Attributes
    ----------
    measured_gap, predicted_gap : float
        The other's loss minus the proposal's, measured and predicted (> 0: the proposal
        is better).
    noise_se : float or None
        The standard error of the measured gap (None: no noise to judge it by).
    noise_from : str or None
        Where the noise came from: ``seeds`` or ``sweep noise floor``.
    significant : bool or None
        Whether the measured gap is beyond the noise (None: not judged).
    proposal_better : bool
        Whether the proposal measured lower.
    """

    measured_gap: float
    predicted_gap: float
    noise_se: float | None
    noise_from: str | None
    significant: bool | None
    proposal_better: bool

    @property
    def proposal_lost(self) -> bool:
        """Whether the other mixture measured better, beyond the noise."""
        return bool(self.significant) and not self.proposal_better

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GapCheck:
        """Read back a ``validate.json`` gap (one without ``noise_from``: ``seeds``)."""
        return cls(measured_gap=data["measured_gap"], predicted_gap=data["predicted_gap"],
                   noise_se=data.get("noise_se"), noise_from=data.get("noise_from", "seeds"),
                   significant=data.get("significant"),
                   proposal_better=data.get("proposal_better"))


@dataclass
class ValidationResult:
    """Measured against predicted, at the validation scale (``raymix validate``).

    Attributes
    ----------
    scale, proxy_scale : dict
        ``params`` and ``tokens`` of a validation run, and of a proxy.
    predicted_at : str
        Where the predictions come from (the nested laws at this scale, or the proxies').
    regressor : dict
        The regressor behind the predictions and its CV scores.
    mixtures : dict of str to MeasuredMixture
        Per mixture (``proposal``, the baselines, your own): predicted and measured.
    proposal_vs : dict of str to GapCheck
        Per other measured mixture: the proposal's measured and predicted gap to it, and
        whether the measured gap is beyond the noise.
    proposal_best : bool
        Whether the proposal measured best.
    ranking : dict
        The predicted and measured orders, whether they agree, their Spearman.
    prediction_error : dict
        ``mae``, ``mean`` (measured - predicted) and ``mape_percent``.
    files : dict of str to str
        ``json`` and ``report``: where the check was written.
    """

    predicted_at: str
    scale: dict[str, float]
    regressor: dict[str, Any]
    mixtures: dict[str, MeasuredMixture]
    proposal_vs: dict[str, GapCheck]
    proposal_best: bool
    ranking: dict[str, Any]
    prediction_error: dict[str, float]
    proxy_scale: dict[str, float] | None = None
    files: dict[str, str] = field(default_factory=dict)

    def measured_mixtures(self) -> dict[str, MeasuredMixture]:
        """The mixtures with a finished run."""
        return {name: m for name, m in self.mixtures.items() if m.measured is not None}

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON data (what ``validate.json`` holds)."""
        out = dataclasses.asdict(self)
        out.pop("files")
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationResult:
        """Read back :meth:`to_dict` (a ``validate.json``)."""
        return cls(predicted_at=data["predicted_at"], scale=data["scale"],
                   regressor=data["regressor"],
                   mixtures={name: MeasuredMixture.from_dict(row)
                             for name, row in data["mixtures"].items()},
                   proposal_vs={name: GapCheck.from_dict(gap)
                                for name, gap in (data.get("proposal_vs") or {}).items()},
                   proposal_best=data.get("proposal_best"), ranking=data["ranking"],
                   prediction_error=data["prediction_error"],
                   proxy_scale=data.get("proxy_scale"))
