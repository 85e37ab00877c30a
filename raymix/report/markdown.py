"""A Markdown report of a fit (and a proposal): how well the regressors predict, what they propose.

:func:`write_markdown` writes ``report.md`` and the figures beside it, from what
:func:`raymix.report.contents.report_contents` computed:

- ``cv_fit.png``: cross-validated predicted vs actual target loss, one panel per
  regressor (the chosen one first), points coloured by fold;
- ``residuals.png``: the chosen regressor's out-of-fold residuals against its
  prediction, with the run-to-run noise band where repeated runs measured it;
- ``interaction.png``: the domain interaction matrix ``t_ij`` of the Data Mixing Law
  fitted to each validation metric (how training on domain j moves loss i);
- with a proposal, ``weights.png`` (proposed vs baseline weight of each domain) and
  ``sensitivity.png`` (predicted loss as each domain's weight moves away from the
  proposal, the others rescaled to keep the sum at 1).

Figures are drawn on :class:`matplotlib.figure.Figure` objects (Agg, no pyplot state),
and every file is written atomically, so a crash never leaves a half-written report.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from raymix.files import atomic_write_bytes
from raymix.formatting import format_number
from raymix.proposal.validated import ValidationResult
from raymix.proposal.verdict import ConfirmationVerdict
from raymix.report.contents import (
    BASELINES,
    GroupRow,
    ReportContents,
    baseline_rows,
    bound_at,
    confirmation_scale,
    gap_verdict,
    group_rows,
    scaling_title,
    schedule_table,
    std_source,
    uncertainty_sentences,
)
from raymix.report.figures import (
    cv_figure,
    interaction_figure,
    residual_figure,
    save_figure,
    sensitivity_figure,
    weights_figure,
)
from raymix.report.scaling_plots import plot_size_laws, plot_step_laws
from raymix.scaling import backtest_summary, holdout_summary

CV_FIGURE = "cv_fit.png"
RESIDUAL_FIGURE = "residuals.png"
STEP_FIGURE = "step_laws.png"
SIZE_FIGURE = "size_laws.png"
INTERACTION_FIGURE = "interaction.png"
WEIGHTS_FIGURE = "weights.png"
SENSITIVITY_FIGURE = "sensitivity.png"
MARKDOWN_REPORT = "report.md"


def _md(text: Any) -> str:
    """A name (a domain's, a run's, an objective's...) as Markdown text: HTML's special
    characters escaped (a Markdown viewer renders raw HTML, so a domain called
    ``<img onerror=...>`` would run in it) and the table separator ``|`` too."""
    return html.escape(str(text), quote=False).replace("|", "\\|")


def _code(text: Any) -> str:
    """A name as a code span: shown as written (raw HTML is not read inside one), with no
    backtick that would end the span early."""
    return "`" + str(text).replace("`", "'").replace("\n", " ") + "`"


def _fit_markdown(quality: dict[str, Any], target: str) -> list[str]:
    chosen = quality["regressor"]["name"]
    lines = [f"## How well the runs predict {_code(target)}", "",
             f"{quality['n_runs']} runs; regressor **{chosen}** was chosen by cross-validated "
             "Spearman (how well it ranks mixtures it was not fitted on).", "",
             "| regressor | Spearman | Pearson | MAE | RMSE | R² |", "|---|---|---|---|---|---|"]
    for name, m in quality["regressors"].items():
        label = f"**{name}** (chosen)" if name == chosen else name
        cells = [format_number(m.get(f"cv_{k}"), 3 if k in ("spearman", "pearson", "r2") else 4)
                 for k in ("spearman", "pearson", "mae", "rmse", "r2")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    noise = quality.get("noise_floor")
    if noise:
        lines += ["", f"Run-to-run noise, from {noise['mixtures']} mixtures repeated with "
                  f"other seeds ({noise['runs']} runs): std {format_number(noise['std'])}; "
                  "differences below "
                  f"{format_number(noise['min_meaningful_difference'])} are not meaningful."]
    else:
        lines += ["", "No mixture was repeated with another seed, so run-to-run noise is "
                  "unmeasured (set `mixtures.repeats` in the sweep config to measure it)."]
    lines += ["", f"![cross-validated predictions]({CV_FIGURE})", "",
              f"![residuals]({RESIDUAL_FIGURE})", ""]
    return lines


def _proposal_markdown(contents: ReportContents, domains: Sequence[str],
                       slopes: np.ndarray) -> list[str]:
    proposal = contents.proposal
    lines = [
        "# Proposed mixture", "",
        f"Search: **{contents.search.method}**. Predicted target loss "
        f"**{format_number(proposal['predicted_target_loss'])}** "
        f"± {format_number(proposal['predicted_std'])} ({std_source(proposal)}).", "",
        *[f"{sentence}\n" for sentence in uncertainty_sentences(proposal)],
        *[f"> **Warning:** {_md(w)}\n" for w in proposal.get("warnings", [])],
        "| mixture | predicted target loss | ± | gap to proposal | observed |",
        "|---|---|---|---|---|",
        f"| **proposed** | {format_number(proposal['predicted_target_loss'])} | "
        f"{format_number(proposal['predicted_std'])} | | |",
    ]
    for base in baseline_rows(contents.baselines):
        run = f" (run {_md(base.run)})" if base.run else ""
        lines.append(f"| {base.name}{run} | {format_number(base.predicted)} | "
                     f"{format_number(base.std)} | {format_number(base.gap)}{base.noise} | "
                     f"{format_number(base.seen)} |")
    if contents.confirmation is not None:
        lines += _confirmation_markdown(contents.confirmation)
    bounds = proposal["constraints"]
    binding = bound_at(bounds["binding"], "domain")
    lines += ["", "## Weights", "",
              "| domain | proposed | " + " | ".join(BASELINES) + " | lower | upper | "
              "d loss / d weight |", "|---" * (len(BASELINES) + 5) + "|"]
    for d, slope in zip(domains, slopes):
        weights = [proposal["mixture"][d]]
        weights += [contents.baselines[b].mixture[d] for b in BASELINES]
        weights += [bounds["lower"][d], bounds["upper"][d]]
        mark = (f" (at {binding[d]['bound']} bound: {_md(binding[d]['constraint'])})"
                if d in binding else "")
        lines.append(f"| {_md(d)}{mark} | " + " | ".join(format_number(w) for w in weights)
                     + f" | {format_number(slope)} |")
    lines += _schedule_markdown(proposal)
    lines += _groups_markdown(group_rows(proposal))
    lines += ["", f"![proposed vs baseline weights]({WEIGHTS_FIGURE})", "",
              f"![sensitivity]({SENSITIVITY_FIGURE})", ""]
    return lines


def _schedule_markdown(proposal: dict[str, Any]) -> list[str]:
    """A schedule's phases side by side (nothing for one mixture)."""
    header, rows = schedule_table(proposal)
    if not rows:
        return []
    return ["", "## Schedule", "", "Each phase's own mixture (the weights above are each "
            "domain's share of the whole run in a phase; their slopes are per unit of the "
            "phase's own mixture).", "",
            "| " + " | ".join(header) + " |", "|---" * len(header) + "|",
            *("| " + _md(row[0]) + " | " + " | ".join(format_number(w) for w in row[1:]) + " |"
              for row in rows)]


def _groups_markdown(rows: list[GroupRow]) -> list[str]:
    """The groups' total weights next to the baselines' (nothing without groups)."""
    if not rows:
        return []
    lines = ["", "## Groups", "", "Total weight of each group's domains.", "",
             "| group | domains | proposed | " + " | ".join(BASELINES) + " | lower | upper |",
             "|---" * (len(BASELINES) + 5) + "|"]
    for row in rows:
        mark = (f" (at {row.binding['bound']} bound: {_md(row.binding['constraint'])})"
                if row.binding else "")
        lines.append(f"| {_md(row.name)}{mark} | {_md(', '.join(row.domains))} | "
                     + " | ".join(format_number(w) for w in
                                  [row.proposed, *row.baselines, row.lower, row.upper]) + " |")
    return lines


def _objectives_markdown(result: dict[str, Any], domains: Sequence[str]) -> list[str]:
    """One proposal per objective (``ObjectiveProposals.to_dict()``) and the trade-off."""
    proposals, rows = result["objectives"], result["tradeoff"]["rows"]
    names = list(proposals)
    lines = ["## One proposal per objective", "",
             f"Each objective fitted and searched under the same constraints (regressors "
             f"chosen on {_code(result['chosen_on'])}: {', '.join(result['regressors'])}).", "",
             "| objective | predicted loss | CV Spearman | "
             + " | ".join(_md(d) for d in domains) + " |",
             "|---" * (len(domains) + 3) + "|"]
    for name in names:
        p = proposals[name]
        lines.append(f"| {_md(name)} | {format_number(p['predicted_loss'])} | "
                     f"{format_number(p['regressor']['cv_spearman'], 3)} | "
                     + " | ".join(format_number(p["mixture"][d], 3) for d in domains) + " |")
    lines += ["", "What each mixture costs on the others: row = the mixture proposed for an "
              "objective, column = the objective it is predicted on; each cell is the "
              "predicted loss and its excess over the column's own proposal.", "",
              "| proposed for | " + " | ".join(_md(n) for n in names) + " |",
              "|---" * (len(names) + 1) + "|"]
    for row in names:
        cells = [f"**{format_number(c['predicted'])}**" if row == col else
                 f"{format_number(c['predicted'])} ({c['excess_percent']:+.1f}%)"
                 for col, c in rows[row].items()]
        lines.append(f"| {_md(row)} | " + " | ".join(cells) + " |")
    lines += [*(f"\n> **Warning:** {_md(w)}" for w in result.get("warnings", [])), ""]
    return lines


def _confirmation_markdown(verdict: ConfirmationVerdict) -> list[str]:
    """The confirmation round: each candidate measured again, best first."""
    where = confirmation_scale(verdict)
    lines = ["", "## Confirmation round", "",
             f"The proposal is the candidate that measured best when trained again at {where} "
             f"with {verdict.seeds} new seeds each (seed noise: std "
             f"{format_number(verdict.noise_std)} per run). Predictions are at the proxy "
             "scale.", "",
             "| candidate | source | measured (mean ± std) | predicted | gap to the winner |",
             "|---|---|---|---|---|"]
    for name in verdict.order:
        row = verdict.candidates[name]
        beyond = {True: " (beyond noise)", False: " (within noise)"}.get(
            row.beaten_beyond_noise, "")
        label = f"{_md(verdict.label(name))} (`{name}`)"
        shown = f"**{label}**, proposed" if name == verdict.winner else label
        lines.append(f"| {shown} | "
                     f"{_md(row.source)} | {format_number(row.measured)} ± "
                     f"{format_number(row.measured_std or 0.0)} | "
                     f"{format_number(row.predicted)} | "
                     f"{format_number(row.gap_to_winner)}{beyond} |")
    return lines


# ----------------------------------------------------------------------------- entry point


def write_markdown(contents: ReportContents, out_dir: Path) -> Path:
    """Write ``report.md`` and its PNG figures into ``out_dir`` (which exists).

    Returns
    -------
    Path
        The path of ``report.md``.
    """
    y = contents.target_loss
    save_figure(cv_figure(contents.ordered, y), out_dir / CV_FIGURE)
    save_figure(residual_figure(contents.fitted.chosen, y, contents.noise_std),
                out_dir / RESIDUAL_FIGURE)
    lines: list[str] = []
    proposal, sensitivity = contents.proposal, contents.sensitivity
    if proposal is not None and sensitivity is not None:
        save_figure(weights_figure(contents, sensitivity.domains), out_dir / WEIGHTS_FIGURE)
        save_figure(sensitivity_figure(sensitivity), out_dir / SENSITIVITY_FIGURE)
        lines += _proposal_markdown(contents, sensitivity.domains, sensitivity.slopes)
        if proposal.get("objectives"):
            lines += _objectives_markdown(proposal["objectives"], sensitivity.domains)
    else:
        lines += [f"# Fit of {_code(contents.target)}", ""]
    lines += _fit_markdown(contents.quality, contents.target)
    if contents.interactions is not None:
        save_figure(interaction_figure(contents.interactions), out_dir / INTERACTION_FIGURE)
        lines += ["## Domain interactions", "",
                  "One Data Mixing Law per validation metric, fitted on all runs; "
                  "t_ij < 0: training on domain j lowers loss i.", "",
                  f"![interaction matrix]({INTERACTION_FIGURE})", ""]
    if contents.scaling is not None:
        lines += _scaling_section(contents.scaling, out_dir)
    lines += ["The same report with interactive figures, the runs and any check at a larger "
              "scale: [index.html](index.html).", ""]
    report = out_dir / MARKDOWN_REPORT
    atomic_write_bytes(report, "\n".join(lines).encode())
    return report


def _scaling_section(law, out_dir: Path) -> list[str]:
    """Plots of the step and size laws, and their held-out checks."""
    stages = law.stages_
    at = stages["target_scale"]
    lines = [f"## {scaling_title(stages)}", "",
             f"Losses extrapolated to {at['params']:.4g} non-embedding parameters "
             f"({at['params_from']}) and {at['tokens']:.4g} tokens ({at['tokens_from']}); "
             f"{stages['n_predicted']} of {stages['n_mixtures']} mixtures predicted.", ""]
    plot_step_laws(law, out_dir / STEP_FIGURE)
    lines += [f"![step laws]({STEP_FIGURE})", ""]
    for stage in ("step", "size"):
        holdout = stages[stage].get("holdout")
        if holdout:
            lines.append(f"- {stage} law, held-out check ({holdout['what']}): "
                         f"{holdout_summary(holdout)}")
    if not stages["size"].get("skipped"):
        plot_size_laws(law, out_dir / SIZE_FIGURE)
        lines += ["", f"![size laws]({SIZE_FIGURE})"]
    lines += [f"- {_md(note)}" for note in stages["notes"]]
    if "backtest" in stages:  # the settings chosen by a backtest (raymix.scaling.backtest)
        summary = backtest_summary(stages["backtest"])
        lines += ["", f"- {summary[0]}"]
        if len(summary) > 1:
            lines += ["", "```", *summary[1:], "```"]
    return lines + [""]


def validation_markdown(result: ValidationResult) -> str:
    """A check at a larger scale (``raymix validate``): a Markdown table, a verdict."""
    scale = result.scale
    lines = [f"# Validation at {scale['params']:.3g} parameters, {scale['tokens']:.3g} tokens",
             "", f"Predictions at {result.predicted_at}; regressor "
             f"{result.regressor['name']}.", "",
             "| mixture | predicted | measured (mean ± std over seeds) | error |",
             "|---|---|---|---|"]
    for name, t in result.mixtures.items():
        measured = ("not run" if t.measured is None else
                    f"{t.measured:.4f} ± {t.measured_std or 0:.4f} "
                    f"({len(t.measured_losses)})")
        error = "" if t.error is None else f"{t.error:+.4f}"
        lines.append(f"| {_md(name)} | {t.predicted:.4f} | {measured} | {error} |")
    lines += ["", "Proposal against each baseline (measured gap > 0: the proposal is better):", ""]
    for name, g in result.proposal_vs.items():
        lines.append(f"- {_md(name)}: measured gap {g.measured_gap:+.4f}, predicted "
                     f"{g.predicted_gap:+.4f}: {gap_verdict(g)}")
    ranking, err = result.ranking, result.prediction_error
    rho = "n/a" if ranking["spearman"] is None else f"{ranking['spearman']:.3f}"
    lines += ["", f"Predicted order: {' < '.join(_md(n) for n in ranking['predicted'])}",
              f"Measured order:  {' < '.join(_md(n) for n in ranking['measured'])}",
              f"Ranking held: {'yes' if ranking['held'] else 'no'} (Spearman {rho}).",
              f"Prediction error: MAE {err['mae']:.4f} ({err['mape_percent']:.2f}%), "
              f"mean {err['mean']:+.4f} (measured - predicted)."]
    return "\n".join(lines) + "\n"
