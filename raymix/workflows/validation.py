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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from raymix.config.schema import BASE_SCALE, SweepConfig, override_model
from raymix.data.tokenize import prepare
from raymix.errors import UserError
from raymix.files import atomic_write_text
from raymix.runs.store import (
    RUN_COLUMN,
    SCALE_COLUMN,
    SEED_COLUMN,
    ResultStore,
    atomic_write_frame,
)
from raymix.sweep.runner import check_experiment, start_experiment, train_plan
from raymix.training.loop import non_embedding_params

FIGURE = "validate.png"
SIGNIFICANCE_SE = 2.0  # a measured gap counts when above 2 standard errors of the difference


def validation_config(cfg: SweepConfig) -> SweepConfig:
    """The sweep config at the validation scale, storing into the validation folder."""
    v = cfg.validate
    training = cfg.training.with_steps(v.steps) if v.steps else cfg.training
    return dataclasses.replace(
        cfg, name=f"{cfg.name}-validate", model=override_model(cfg.model, v),
        training=dataclasses.replace(training, save_checkpoint=False), scales=[],
        mixtures=dataclasses.replace(cfg.mixtures, repeats=0),
        # the validation trains fixed mixtures (the proposal, baselines), never a search
        search=dataclasses.replace(cfg.search, strategy="random"),
        compute=dataclasses.replace(cfg.compute, storage=str(cfg.validate_path)))


def validation_scale(vcfg: SweepConfig, vocab_size: int) -> dict[str, float]:
    """Non-embedding parameters and training tokens of a validation run."""
    return {"params": float(non_embedding_params(vcfg.model, vocab_size)),
            "tokens": float(vcfg.training.tokens_per_run(vcfg.model.seq_len))}


def _predictions(cfg: SweepConfig, scale: dict[str, float], log) -> dict[str, Any]:
    """Propose, and predict every mixture to validate, at the validation scale if possible."""
    from raymix.scaling.nested import Scale
    from raymix.workflows.proposing import propose_with_fit

    at = Scale(params=scale["params"], tokens=scale["tokens"]) if cfg.scales else None
    result, proposal = propose_with_fit(cfg, at=at)
    mixtures = {"proposal": result["mixture"],
                **{name: base["mixture"] for name, base in result["baselines"].items()}}
    if at is not None:
        # what the base proxies alone would propose: does predicting at scale pick better?
        proxy_result, _ = propose_with_fit(cfg, fit_config=dataclasses.replace(cfg.fit, at={}))
        mixtures["proxy_scale_proposal"] = proxy_result["mixture"]
    for name, weights in cfg.validate.mixtures.items():
        total = sum(weights.values())
        mixtures[name] = {d: weights.get(d, 0.0) / total for d in cfg.domain_names}
    X = np.array([[m[d] for d in proposal.domains] for m in mixtures.values()])
    mean, std = proposal.fit.predict(X)
    where = ("the validation scale (nested step and size laws)" if at is not None
             else "the proxy scale (the sweep has one model size: add `scales` to predict "
                  "at the validation scale)")
    log(f"[validate] predictions at {where}")
    return {"predicted_at": where, "scale": scale, "regressor": result["regressor"],
            "mixtures": {name: {"mixture": m, "predicted": float(mu), "predicted_std": float(sd)}
                         for (name, m), mu, sd in zip(mixtures.items(), mean, std)}}


def _plan(cfg: SweepConfig, predictions: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name, entry in predictions["mixtures"].items():
        for j in range(cfg.validate.seeds):
            rows.append({RUN_COLUMN: f"{name}-s{j}", SEED_COLUMN: cfg.training.seed + j,
                         SCALE_COLUMN: BASE_SCALE, "mixture_name": name, **entry["mixture"]})
    return pd.DataFrame(rows)


def run_validation(cfg: SweepConfig, *, log=print) -> dict[str, Any]:
    """Train the proposal and baselines at the validation scale; compare with predictions.

    Returns the comparison (also written as ``validate.json`` and ``validate.md`` in the
    validation folder, ``validate.storage`` or ``<compute.storage>/validate``).
    """
    vcfg = validation_config(cfg)
    prepared = prepare(cfg, log=log)
    folder = vcfg.storage_path
    scale = validation_scale(vcfg, prepared.vocab_size)
    proxy = {"params": float(non_embedding_params(cfg.model, prepared.vocab_size)),
             "tokens": float(cfg.training.tokens_per_run(cfg.model.seq_len))}
    # refusals first (changed settings, no sweep to predict from), writes after
    check_experiment(vcfg, prepared, storage_field="validate.storage")
    predictions_path, plan_path = folder / "predictions.json", folder / "plan.csv"
    resuming = plan_path.is_file() and predictions_path.is_file()
    if resuming:
        predictions = json.loads(predictions_path.read_text())
        plan = pd.read_csv(plan_path)
        log(f"[validate] resuming the check fixed in {plan_path}")
    else:
        predictions = _predictions(cfg, scale, log)
        plan = _plan(vcfg, predictions)
    start_experiment(vcfg, prepared, storage_field="validate.storage")
    if not resuming:
        atomic_write_text(predictions_path, json.dumps(predictions, indent=1))
        atomic_write_frame(plan, plan_path)  # after predictions.json: both or neither
    log(f"[validate] {len(predictions['mixtures'])} mixtures x {vcfg.validate.seeds} seeds at "
        f"{scale['params']:.3g} parameters, {scale['tokens']:.3g} tokens "
        f"({scale['params'] / proxy['params']:.1f}x the proxy's parameters, "
        f"{scale['tokens'] / proxy['tokens']:.1f}x its tokens)")
    train_plan(vcfg, prepared, plan.drop(columns="mixture_name"), log=log,
               storage_field="validate.storage")
    measured = _measured(folder, plan)
    result = compare(predictions, measured)
    result["proxy_scale"] = proxy
    atomic_write_text(folder / "validate.json", json.dumps(result, indent=1))
    _plot(result, folder / FIGURE)
    atomic_write_text(folder / "validate.md",
                      summarise_validation(result) + f"\n![predicted vs measured]({FIGURE})\n")
    result["files"] = {"json": str(folder / "validate.json"), "report": str(folder / "validate.md")}
    return result


def _plot(result: dict[str, Any], path: Path) -> None:
    from raymix.report.scaling_plots import plot_predicted_vs_actual

    done = {n: t for n, t in result["mixtures"].items() if t["measured"] is not None}
    plot_predicted_vs_actual([t["predicted"] for t in done.values()],
                             [t["measured"] for t in done.values()], path, labels=list(done),
                             title=f"validation at {result['scale']['params']:.3g} params, "
                                   f"{result['scale']['tokens']:.3g} tokens")


def _measured(folder: Path, plan: pd.DataFrame) -> dict[str, list[float]]:
    """Final target loss of every finished validation run, grouped by mixture name."""
    records = ResultStore(folder).load_all()
    losses: dict[str, list[float]] = {}
    for _, row in plan.iterrows():
        record = records.get(row[RUN_COLUMN])
        if record is None or record["status"] != "ok":
            continue
        losses.setdefault(row["mixture_name"], []).append(
            record["evaluations"][-1]["target_loss"])
    if not losses:
        raise UserError(f"validate: no validation run in {folder} finished; see the errors above")
    return losses


def compare(predictions: dict[str, Any], measured: dict[str, list[float]]) -> dict[str, Any]:
    """Measured against predicted: errors, the proposal's gaps and the ranking."""
    table = {}
    for name, entry in predictions["mixtures"].items():
        losses = measured.get(name, [])
        mean = float(np.mean(losses)) if losses else None
        table[name] = {**entry, "measured": mean, "measured_losses": losses,
                       "measured_std": float(np.std(losses, ddof=1)) if len(losses) > 1 else None,
                       "error": None if mean is None else mean - entry["predicted"]}
    done = {n: t for n, t in table.items() if t["measured"] is not None}
    errors = np.array([t["error"] for t in done.values()])
    measured_values = np.array([t["measured"] for t in done.values()])
    predicted_order = sorted(done, key=lambda n: done[n]["predicted"])
    measured_order = sorted(done, key=lambda n: done[n]["measured"])
    rho = (float(spearmanr([done[n]["predicted"] for n in done], measured_values)[0])
           if len(done) >= 3 else None)
    return {
        "predicted_at": predictions["predicted_at"], "scale": predictions["scale"],
        "regressor": predictions["regressor"], "mixtures": table,
        "proposal_vs": _proposal_gaps(table),
        "proposal_best": bool(measured_order and measured_order[0] == "proposal"),
        "ranking": {"predicted": predicted_order, "measured": measured_order,
                    "held": predicted_order == measured_order, "spearman": rho},
        "prediction_error": {"mae": float(np.mean(np.abs(errors))),
                             "mean": float(np.mean(errors)),
                             "mape_percent": float(np.mean(np.abs(errors) / measured_values) * 100)},
    }


def _proposal_gaps(table: dict[str, dict]) -> dict[str, dict]:
    """Measured gap of each baseline to the proposal, and whether it exceeds seed noise.

    The noise of a difference of two means is taken from the pooled seed-to-seed std of
    every mixture (each has only a few seeds, too few for its own std).
    """
    mine = table.get("proposal", {})
    if mine.get("measured") is None:
        return {}
    spreads = [np.var(t["measured_losses"], ddof=1) for t in table.values()
               if len(t["measured_losses"]) > 1]
    pooled = float(np.sqrt(np.mean(spreads))) if spreads else None
    out = {}
    for name, other in table.items():
        if name == "proposal" or other["measured"] is None:
            continue
        gap = other["measured"] - mine["measured"]
        se = (pooled * np.sqrt(1 / len(other["measured_losses"]) + 1 / len(mine["measured_losses"]))
              if pooled is not None else None)
        out[name] = {"measured_gap": gap, "predicted_gap": other["predicted"] - mine["predicted"],
                     "noise_se": se,
                     "significant": None if se is None else bool(abs(gap) > SIGNIFICANCE_SE * se),
                     "proposal_better": gap > 0}
    return out


def summarise_validation(result: dict[str, Any]) -> str:
    """The comparison as a short Markdown table and verdict."""
    scale = result["scale"]
    lines = [f"# Validation at {scale['params']:.3g} parameters, {scale['tokens']:.3g} tokens",
             "", f"Predictions at {result['predicted_at']}; regressor "
             f"{result['regressor']['name']}.", "",
             "| mixture | predicted | measured (mean ± std over seeds) | error |",
             "|---|---|---|---|"]
    for name, t in result["mixtures"].items():
        measured = ("not run" if t["measured"] is None else
                    f"{t['measured']:.4f} ± {t['measured_std'] or 0:.4f} ({len(t['measured_losses'])})")
        error = "" if t["error"] is None else f"{t['error']:+.4f}"
        lines.append(f"| {name} | {t['predicted']:.4f} | {measured} | {error} |")
    lines += ["", "Proposal against each baseline (measured gap > 0: the proposal is better):", ""]
    for name, g in result["proposal_vs"].items():
        verdict = ("beats it" if g["proposal_better"] else "loses to it")
        noise = ("" if g["significant"] is None else
                 " (beyond seed noise)" if g["significant"] else " (within seed noise)")
        lines.append(f"- {name}: measured gap {g['measured_gap']:+.4f}, predicted "
                     f"{g['predicted_gap']:+.4f}: the proposal {verdict}{noise}")
    ranking, err = result["ranking"], result["prediction_error"]
    rho = "n/a" if ranking["spearman"] is None else f"{ranking['spearman']:.3f}"
    lines += ["", f"Predicted order: {' < '.join(ranking['predicted'])}",
              f"Measured order:  {' < '.join(ranking['measured'])}",
              f"Ranking held: {'yes' if ranking['held'] else 'no'} (Spearman {rho}).",
              f"Prediction error: MAE {err['mae']:.4f} ({err['mape_percent']:.2f}%), "
              f"mean {err['mean']:+.4f} (measured - predicted)."]
    return "\n".join(lines) + "\n"

