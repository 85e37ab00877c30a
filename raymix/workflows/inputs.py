"""Where a workflow's runs come from: a sweep directory, or anyone's tables.

Every workflow (fit, propose, critical) takes a *source*: a :class:`SweepConfig` (its
sweep directory's ``mixtures.csv``, ``metrics.csv``, ``runs.csv`` and ``data.json``, so
no token cache is needed), wide :class:`~raymix.runs.Runs` from a CSV pair, or a long
:class:`~raymix.runs.LongRuns` table of checkpoints. :func:`runs_at_target` turns any of
them into the runs to fit, at the target scale when one is asked for: it fits the nested
step and size laws, which extrapolate every mixture there first.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from raymix.config import FitConfig, SweepConfig
from raymix.errors import ConfigNotice, UserError
from raymix.files import output_problem
from raymix.mixtures import schedule_groups
from raymix.regression import FitResult, fit_regressor
from raymix.runs import (
    PARAMS,
    RUN_COLUMN,
    TOKENS,
    DataInfo,
    LongRuns,
    ResultStore,
    Runs,
    SweepLayout,
    loss_column,
    read_long_runs,
    read_runs,
)
from raymix.scaling import (
    MixtureScalingLaw,
    TargetSize,
    backtest_scaling,
    rule_setting,
    settings_to_try,
)
from raymix.storage import refresh

RunsSource = SweepConfig | Runs | LongRuns


def load_results(cfg: SweepConfig) -> tuple[Runs, DataInfo]:
    """A sweep's runs (mixtures, metrics, target) and what they were trained on."""
    layout = SweepLayout(cfg.storage_path)
    refresh(layout.root)  # object storage: tables another node wrote since
    missing = [p.name for p in (layout.mixtures, layout.metrics) if not p.is_file()]
    if missing:
        raise UserError(f"{layout.root} has no {missing[0]}; run 'raymix sweep CONFIG' first",
                        field="compute.storage")
    info = ResultStore(layout.root).data_info()
    target = loss_column(cfg.target.name)
    try:
        runs = read_runs(layout.mixtures, layout.metrics, {target: 1.0}, id_column=RUN_COLUMN)
    except UserError as exc:
        raise UserError(f"the tables in {layout.root} do not fit this config ({exc}); was the "
                        "sweep run with another config?", field="compute.storage") from None
    if runs.domains != cfg.mixture_columns:
        raise UserError(f"{layout.mixtures} has domains {', '.join(runs.domains)}; the config "
                        "names others; use the config the sweep was run with",
                        field="data.domains")
    return runs, info


def load_long_results(cfg: SweepConfig) -> tuple[LongRuns, DataInfo]:
    """A sweep's every checkpoint of every size (``runs.csv``) and what it was trained on."""
    layout = SweepLayout(cfg.storage_path)
    refresh(layout.root)
    if not layout.runs_csv.is_file():
        raise UserError(f"{layout.root} has no {layout.runs_csv.name}; run 'raymix sweep "
                        "CONFIG' first", field="compute.storage")
    info = ResultStore(layout.root).data_info()
    target = loss_column(cfg.target.name)
    return read_long_runs(layout.runs_csv, {target: 1.0}, domains=cfg.mixture_columns), info


def check_output_path(output, field: str = "output") -> None:
    """Refuse, before any work, an output that cannot be written or must not be replaced
    (a symlink, a device, a FIFO or a folder is there, or its folder takes no file)."""
    if output is None:
        return
    problem = output_problem(output)
    if problem:
        raise UserError(f"{problem}; give another path (a new or regular file)", field=field)


def config_at(fit_config: FitConfig) -> TargetSize | None:
    """The target scale of ``fit.at``, or None for the proxies' own scale."""
    return TargetSize(**fit_config.at) if fit_config.at else None


def check_at(long: LongRuns, at: TargetSize) -> None:
    """The target scale must not lie below the runs: the laws extrapolate to larger scales.

    Below the smallest model trained and the fewest tokens of any checkpoint (in every
    dimension given) is refused; below in one of two dimensions is a notice, printed with
    the result: the prediction there leans on the law's shape far from where it was fitted.
    """
    frame = long.frame
    below = []
    if at.params is not None and at.params < frame[PARAMS].min():
        below.append(f"params={at.params:.4g} is below the smallest model trained "
                     f"({frame[PARAMS].min():.4g} non-embedding parameters)")
    if at.tokens is not None and at.tokens < frame[TOKENS].min():
        below.append(f"tokens={at.tokens:.4g} is below the first checkpoint of every run "
                     f"({frame[TOKENS].min():.4g} tokens)")
    given = (at.params is not None) + (at.tokens is not None)
    if below and len(below) == given:
        raise UserError(f"{' and '.join(below)}: the scaling laws extrapolate to larger "
                        "scales, not backwards; give a scale at or above the runs'",
                        field="at")
    if below:
        warnings.warn(ConfigNotice(f"the target scale {at}: {below[0]}; its prediction "
                                   "extrapolates backwards there"), stacklevel=2)


def _auto_or_bool(value) -> bool | str:
    """``fit.share_exponents`` as given in YAML (``"true"``, ``"false"``, ``"auto"``) or
    Python (a bool): a bool, or ``"auto"``."""
    return value if value == "auto" else value in (True, "true")


def law_at_target(long: LongRuns, at: TargetSize, fit_config: FitConfig) -> MixtureScalingLaw:
    """The scaling laws of ``long`` (``fit_config.law``), extrapolated to ``at``.

    Each of ``fit.law``, ``fit.share_exponents`` and ``fit.checkpoints`` left ``auto`` is
    chosen by a backtest (:func:`raymix.scaling.backtest_scaling`): the settings they leave open
    are fitted on the runs without their largest sizes and/or latest checkpoints, at the
    ratio of extrapolation nearest the one asked for, and the one that predicts the held-out
    runs best is used. Explicit values skip it. Its table is ``stages_["backtest"]``.
    """
    check_at(long, at)
    law, checkpoints = fit_config.law, fit_config.checkpoints
    share = _auto_or_bool(fit_config.share_exponents)
    settings = settings_to_try(law, share, checkpoints)
    fallback = rule_setting(long, law, share, checkpoints)
    result = None
    if len(settings) > 1:
        result = backtest_scaling(long, at, settings, fallback, fit_config.min_tokens)
        setting = result.chosen
    else:
        setting = settings[0]
    try:
        fitted = setting.make(fit_config.min_tokens).fit(long, at)
    except UserError as exc:
        if result is None or setting == fallback:
            raise
        # the winner on the held-out part cannot reach the target on all the runs
        fitted = fallback.make(fit_config.min_tokens).fit(long, at)
        result.note = (f"the backtest's choice ({setting}) cannot be fitted on all the runs "
                       f"({str(exc).split(';')[0]}); using the rule ({fallback})")
        result.chosen = fallback
    if result is not None:
        fitted.stages_["backtest"] = result.to_dict()
    return fitted


@dataclass
class FitInputs:
    """What a fit needs: the runs, what they were trained on, the settings, the laws."""

    runs: Runs
    info: DataInfo | None  # a sweep's: the token prior and counts
    fit_config: FitConfig
    scaling: MixtureScalingLaw | None  # when the losses were extrapolated to a target size
    groups: dict[str, list[str]] | None = None  # a sweep's mixture_groups: group features

    def fit(self) -> FitResult:
        """Cross-validate the regressors of ``fit_config`` on the runs; refit the best."""
        settings = self.fit_config
        fitted = fit_regressor(self.runs.mixtures, self.runs.objective, settings.regressors,
                               settings.cv_folds, settings.seed, settings.ensemble,
                               groups=self.groups)
        fitted.scaling = self.scaling
        return fitted


def runs_at_target(source: RunsSource, fit_config: FitConfig | None = None,
                  at: TargetSize | None = None) -> FitInputs:
    """The runs to fit and the fit settings: loaded, and at the target scale ``at`` if
    given, where the scaling laws are fitted first (:func:`law_at_target`) and predict them.

    ``fit_config`` defaults to a sweep config's ``fit`` section, else ``FitConfig()``;
    ``at`` to a sweep config's ``fit.at``. :class:`~raymix.runs.LongRuns` are always
    extrapolated (to the largest trained scale when ``at`` is None).
    """
    if isinstance(source, SweepConfig):
        fit_config = fit_config or source.fit
        at = at if at is not None else config_at(fit_config)
        if at is None:
            runs, info = load_results(source)
            return FitInputs(runs, info, fit_config, None, source.mixture_groups)
        long, info = load_long_results(source)
    elif isinstance(source, LongRuns):
        fit_config, long, info = fit_config or FitConfig(), source, None
        at = at or TargetSize()
    elif isinstance(source, Runs):
        if at is not None:
            raise UserError("a target scale needs checkpoints at several scales; give the runs "
                            "as a long table (read_long_runs) instead of a mixtures/metrics "
                            "pair", field="at")
        return FitInputs(source, None, fit_config or FitConfig(), None,
                         schedule_groups(source.mixtures))
    else:
        raise TypeError("source must be a SweepConfig (raymix.load_config), Runs "
                        "(raymix.read_runs) or LongRuns (raymix.read_long_runs)")
    law = law_at_target(long, at, fit_config)
    runs = law.to_runs()
    groups = source.mixture_groups if isinstance(source, SweepConfig) \
        else schedule_groups(runs.mixtures)
    return FitInputs(runs, info, fit_config, law, groups)
