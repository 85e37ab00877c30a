"""Check a proposal at a larger scale: ``raymix validate CONFIG``.

A mixture that is best for tiny proxies is not always best for the large model (Data
Mixing Laws, appendix A; RegMix's rank correlation drops between 1M and 1B parameters).
This step trains the proposal and its baselines at the size and length of the config's
``validate`` section, as Tune trials with a few seeds each, and reports:

- the measured target loss of each mixture, mean and std over seeds, next to its
  predicted loss at that scale (the nested scaling laws when the sweep has several
  sizes, else the proxy-scale fit, said which). The mixtures: the proposal; the uniform,
  token-proportional and best observed ones; with several proxy sizes, what the base
  proxies alone would propose; and your own (``validate.mixtures``);
- whether the proposal beats each baseline by more than the seed-to-seed noise;
- whether the predicted ranking held (Spearman, and the two orders side by side);
- the prediction error (mean absolute and relative).

The mixtures and their predictions are fixed in ``plan.csv`` and ``predictions.json`` of
the validation folder on the first start, so a re-run resumes the same check (only
missing runs train) even if the sweep gained runs since.
"""

from __future__ import annotations

import dataclasses
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from raymix.config import BASE_SCALE, SweepConfig
from raymix.console import print_line
from raymix.data import prepare
from raymix.errors import UserError
from raymix.files import atomic_write_frame, atomic_write_text
from raymix.proposal.validated import GapCheck, MeasuredMixture, ValidationResult
from raymix.regression import NOISE_SIGMAS, gap_se, seed_noise
from raymix.report import plot_predicted_vs_actual
from raymix.report.markdown import validation_markdown
from raymix.runs import RUN_COLUMN, SCALE_COLUMN, SEED_COLUMN, ResultStore, SweepLayout
from raymix.scaling import JointScalingLaw, TargetSize
from raymix.sweep import train_plan
from raymix.sweep.cluster import check_local_resources
from raymix.sweep.experiment import check_experiment, start_experiment
from raymix.training import check_memory, non_embedding_params
from raymix.workflows.proposing import propose


def validation_config(cfg: SweepConfig) -> SweepConfig:
    """The sweep config at the validation scale, storing into the validation folder."""
    v = cfg.validate
    longer = cfg.with_steps(v.steps) if v.steps else cfg
    return dataclasses.replace(
        longer, name=f"{cfg.name}-validate", model=v.applied_to(cfg.model),
        training=dataclasses.replace(longer.training, save_checkpoint=False), scales=[],
        # fixed mixtures (the proposal, baselines), never an adaptive strategy
        mixtures=dataclasses.replace(longer.mixtures, repeats=0, strategy="random"),
        compute=dataclasses.replace(cfg.compute, storage=str(cfg.validate_path)))


def validation_scale(vcfg: SweepConfig, vocab_size: int) -> dict[str, float]:
    """Non-embedding parameters and training tokens of a validation run."""
    return {"params": float(non_embedding_params(vcfg.model)),
            "tokens": float(vcfg.training.tokens_per_run(vcfg.model.seq_len))}


def planned_validation_runs(cfg: SweepConfig) -> int:
    """How many runs ``raymix validate`` trains, known before the fit that picks the
    mixtures: the proposal, the three baselines (uniform, token-proportional, best
    observed), with several proxy sizes what the base proxies alone would propose, and
    ``validate.mixtures``; each with ``validate.seeds`` seeds (:func:`_predictions`)."""
    names = {"proposal", "uniform", "token_proportional", "best_observed",
             *cfg.validate.mixtures}
    if cfg.scales:
        names.add("proxy_scale_proposal")
    return len(names) * cfg.validate.seeds


def _predictions(cfg: SweepConfig, scale: dict[str, float], log) -> dict[str, Any]:
    """Propose, and predict every mixture to validate, at the validation scale if possible."""
    at = TargetSize(params=scale["params"], tokens=scale["tokens"]) if cfg.scales else None
    proposal = propose(cfg, at=at)
    mixtures = {"proposal": proposal.mixture,
                **{name: base.mixture for name, base in proposal.baselines.items()}}
    if at is not None:
        # what the base proxies alone would propose: does predicting at scale pick better?
        mixtures["proxy_scale_proposal"] = propose(
            cfg, fit_config=dataclasses.replace(cfg.fit, at={}), confirmed=False,
            search=dataclasses.replace(cfg.search, uncertainty=False)).mixture
    for name, weights in cfg.validate.mixtures.items():
        mixtures[name] = cfg.as_mixture(weights)
    X = np.array([[m[d] for d in proposal.domains] for m in mixtures.values()])
    mean, std = proposal.fit.predict(X)
    laws = ("joint scaling law" if isinstance(proposal.scaling, JointScalingLaw)
            else "nested step and size laws")
    where = (f"the validation scale ({laws})" if at is not None
             else "the proxy scale (the sweep has one model size: add `scales` to predict "
                  "at the validation scale)")
    log(f"[validate] predictions at {where}")
    noise = proposal.fit.noise  # the sweep's run-to-run noise, for gaps measured with one seed
    return {"predicted_at": where, "scale": scale, "regressor": proposal.to_dict()["regressor"],
            "noise_floor": None if noise is None else noise.std,
            "mixtures": {name: {"mixture": m, "predicted": float(mu), "predicted_std": float(sd)}
                         for (name, m), mu, sd in zip(mixtures.items(), mean, std)}}


def _plan(cfg: SweepConfig, predictions: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name, entry in predictions["mixtures"].items():
        for j in range(cfg.validate.seeds):
            rows.append({RUN_COLUMN: f"{name}-s{j}", SEED_COLUMN: cfg.training.seed + j,
                         SCALE_COLUMN: BASE_SCALE, "mixture_name": name, **entry["mixture"]})
    return pd.DataFrame(rows)


def run_validation(cfg: SweepConfig, *, log=print_line) -> ValidationResult:
    """Train the proposal and baselines at the validation scale; compare with predictions.

    Parameters
    ----------
    cfg : SweepConfig
        A config whose sweep has run; its ``validate`` section sets the scale.
    log : callable, default=print_line
        Receives the progress lines (the default prints them).

    Returns
    -------
    ValidationResult
        Also written as ``validate.json`` and ``validate.md`` (with ``validate.png``) in
        the validation folder, ``validate.storage`` or ``<compute.storage>/validate``.
    """
    check_memory(cfg)
    check_local_resources(cfg)  # a trial this machine cannot run would wait forever
    vcfg = validation_config(cfg)
    prepared = prepare(cfg, log=log)
    layout = SweepLayout(vcfg.storage_path)
    scale = validation_scale(vcfg, prepared.vocab_size)
    proxy = {"params": float(non_embedding_params(cfg.model)),
             "tokens": float(cfg.training.tokens_per_run(cfg.model.seq_len))}
    # refusals first (changed settings, no sweep to predict from), writes after
    with _in_validate_storage():
        check_experiment(vcfg, prepared)
    resuming = layout.plan.is_file() and layout.predictions.is_file()
    if resuming:
        predictions = json.loads(layout.predictions.read_text())
        plan = pd.read_csv(layout.plan)
        log(f"[validate] resuming the check fixed in {layout.plan}")
    else:
        predictions = _predictions(cfg, scale, log)
        plan = _plan(vcfg, predictions)
    with _in_validate_storage():
        start_experiment(vcfg, prepared)
    if not resuming:
        atomic_write_text(layout.predictions, json.dumps(predictions, indent=1))
        atomic_write_frame(plan, layout.plan)  # after predictions.json: both or neither
    log(f"[validate] {len(predictions['mixtures'])} mixtures x {vcfg.validate.seeds} seeds at "
        f"{scale['params']:.3g} parameters, {scale['tokens']:.3g} tokens "
        f"({scale['params'] / proxy['params']:.1f}x the proxy's parameters, "
        f"{scale['tokens'] / proxy['tokens']:.1f}x its tokens)")
    with _in_validate_storage():
        train_plan(vcfg, prepared, plan.drop(columns="mixture_name"), log=log)
    result = compare(predictions, _measured(layout.root, plan))
    result.proxy_scale = proxy
    atomic_write_text(layout.validation_json, json.dumps(result.to_dict(), indent=1))
    _plot(result, layout.validation_figure)
    atomic_write_text(layout.validation_report, validation_markdown(result)
                      + f"\n![predicted vs measured]({layout.validation_figure.name})\n")
    result.files = {"json": str(layout.validation_json),
                    "report": str(layout.validation_report)}
    return result


@contextmanager
def _in_validate_storage():
    """The sweep's steps name their folder ``compute.storage`` in errors; run on the
    validation's config, that folder is ``validate.storage``."""
    try:
        yield
    except UserError as exc:
        raise exc.renamed("compute.storage", "validate.storage") from None


def _plot(result: ValidationResult, path: Path) -> None:
    done = result.measured_mixtures()
    plot_predicted_vs_actual([t.predicted for t in done.values()],
                             [t.measured for t in done.values()], path, labels=list(done),
                             title=f"validation at {result.scale['params']:.3g} params, "
                                   f"{result.scale['tokens']:.3g} tokens")


def _measured(folder: Path, plan: pd.DataFrame) -> dict[str, list[float]]:
    """Final target loss of every finished validation run, grouped by mixture name."""
    records = ResultStore(folder).load_all()
    losses: dict[str, list[float]] = {}
    for _, row in plan.iterrows():
        record = records.get(row[RUN_COLUMN])
        if record is None or not record.ok:
            continue
        losses.setdefault(row["mixture_name"], []).append(record.final_target_loss)
    if not losses:
        raise UserError(f"no validation run in {folder} finished; see the errors above",
                        field="validate")
    return losses


def compare(predictions: dict[str, Any], measured: dict[str, list[float]]) -> ValidationResult:
    """Measured against predicted: errors, the proposal's gaps and the ranking."""
    table = {}
    for name, entry in predictions["mixtures"].items():
        losses = measured.get(name, [])
        mean = float(np.mean(losses)) if losses else None
        table[name] = MeasuredMixture(
            entry["mixture"], entry["predicted"], entry.get("predicted_std"), measured=mean,
            measured_losses=losses,
            measured_std=float(np.std(losses, ddof=1)) if len(losses) > 1 else None,
            error=None if mean is None else mean - entry["predicted"])
    done = {n: t for n, t in table.items() if t.measured is not None}
    errors = np.array([t.error for t in done.values()])
    measured_values = np.array([t.measured for t in done.values()])
    predicted_order = sorted(done, key=lambda n: done[n].predicted)
    measured_order = sorted(done, key=lambda n: done[n].measured)
    rho = (float(spearmanr([done[n].predicted for n in done], measured_values)[0])
           if len(done) >= 3 else None)
    return ValidationResult(
        predicted_at=predictions["predicted_at"], scale=predictions["scale"],
        regressor=predictions["regressor"], mixtures=table,
        proposal_vs=_proposal_gaps(table, predictions.get("noise_floor")),
        proposal_best=bool(measured_order and measured_order[0] == "proposal"),
        ranking={"predicted": predicted_order, "measured": measured_order,
                 "held": predicted_order == measured_order, "spearman": rho},
        prediction_error={"mae": float(np.mean(np.abs(errors))),
                          "mean": float(np.mean(errors)),
                          "mape_percent": float(np.mean(np.abs(errors) / measured_values) * 100)})


def _proposal_gaps(table: dict[str, MeasuredMixture],
                   sweep_noise: float | None) -> dict[str, GapCheck]:
    """Measured gap of each baseline to the proposal, and whether it exceeds the noise.

    The noise of one run is the pooled seed-to-seed std of every mixture measured with
    several seeds (each has only a few, too few for its own std); with one seed each, the
    sweep's noise floor (``sweep_noise``, from its repeated mixtures). Without either, no
    gap is judged (``significant`` None): a single seed has no noise of its own.
    """
    mine = table.get("proposal")
    if mine is None or mine.measured is None:
        return {}
    noise = seed_noise(t.measured_losses for t in table.values())
    if noise is not None:
        source = "seeds"
    else:
        noise, source = sweep_noise, None if sweep_noise is None else "sweep noise floor"
    out = {}
    for name, other in table.items():
        if name == "proposal" or other.measured is None:
            continue
        gap = other.measured - mine.measured
        se = (gap_se(noise, len(other.measured_losses), len(mine.measured_losses))
              if noise is not None else None)
        out[name] = GapCheck(measured_gap=gap, predicted_gap=other.predicted - mine.predicted,
                             noise_se=se, noise_from=source,
                             significant=None if se is None else bool(abs(gap) > NOISE_SIGMAS * se),
                             proposal_better=gap > 0)
    return out
