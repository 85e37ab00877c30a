"""``index.html``: the report as one self-contained page with interactive figures.

:func:`write_html` draws what :func:`raymix.report.contents.report_contents` computed
(the same pieces ``report.md`` shows) with Plotly, each figure once, and renders the
page from the Jinja2 templates in ``raymix/report/templates/`` (``base.html`` around
one template per section; autoescaped). The page needs no network: plotly.js is
inlined once in its head, the sorting of the run tables is a few lines of plain
JavaScript (``sort.js``). The one-line warnings (the proposal's, each objective's, a
check at scale the proposal lost) stand in a box at the top. Sections, each present
when its data is:

- ``#proposal``: the proposed mixture's predicted loss ± its uncertainty next to the
  baselines', its weights next to theirs and the prior's, the sensitivity of the
  predicted loss to each weight, and a confirmation round's candidates, named by
  where they came from, the winner marked ``proposed``;
- ``#objectives``: one proposal per objective and their trade-off;
- ``#fit``: every regressor's cross-validated predictions against the actual loss,
  the chosen one's residuals;
- ``#coverage``: which mixtures the runs trained (a row per run, best first), the
  proposal's row on top;
- ``#curves``: every run's target loss against tokens, a panel per scale;
- ``#interactions``: the domain interaction matrix of the Data Mixing Law;
- ``#scaling``: the step and size laws behind losses at a target scale;
- ``#validation``: a check at a larger scale (``raymix validate``);
- ``#runs``: every run (id, scale, seed, weights, final target loss), a table per scale.

Every domain has one colour in every figure (:func:`raymix.report.palette.domain_colours`).
The proposal's numbers are in the page as text too, for tools and tests: each weight
in ``<td data-mixture="proposed" data-domain="code" data-weight="0.3271...">`` and
the loss in ``#predicted-loss`` / ``#predicted-std`` (``data-value``), each attribute
the ``repr`` of the float in ``proposal.json`` (the visible text is rounded).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from markupsafe import Markup
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from raymix.files import atomic_write_text
from raymix.formatting import format_number
from raymix.proposal.proposer import Baseline
from raymix.proposal.validated import ValidationResult
from raymix.proposal.verdict import ConfirmationVerdict
from raymix.report.contents import (
    BASELINES,
    MAX_TRAINING_CURVES,
    ReportContents,
    axis_range,
    baseline_rows,
    bound_at,
    clamped,
    confirmation_scale,
    gap_verdict,
    group_rows,
    headline_warnings,
    prediction_range,
    run_roles,
    scale_label,
    scale_order,
    scaling_title,
    schedule_table,
    sensitivity_range,
    size_lines,
    std_source,
    step_panels,
    uncertainty_sentences,
    weight_series,
)
from raymix.report.palette import HIGHLIGHT, MUTED, TAB10, domain_colours
from raymix.scaling import backtest_summary, holdout_summary

HTML_REPORT = "index.html"
PALETTE = TAB10  # what is not a domain: folds, series, mixtures of a scaling law
MAX_CV_COLUMNS = 3
SCALE_COLUMN = "scale"


@dataclass
class Figure:
    """One figure of the page, drawn once: its name (``data-figure``) and its div."""

    name: str
    html: Markup


@dataclass
class Section:
    """One section of the page: its id, heading, template and what the template shows."""

    id: str
    title: str
    template: str
    context: dict[str, Any]


def _raw(value: Any) -> str:
    """The exact number for a data attribute (a float's repr is what JSON writes)."""
    return "" if value is None else repr(float(value))


TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("raymix.report", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
TEMPLATES.filters["num"] = format_number
TEMPLATES.filters["raw"] = _raw


def write_html(contents: ReportContents, out_dir: Path) -> Path:
    """Write ``index.html`` into ``out_dir`` (which exists); returns its path."""
    sections = []
    if contents.proposal is not None:
        sections.append(_proposal_section(contents))
        if contents.proposal.get("objectives"):
            sections.append(_objectives_section(contents.proposal["objectives"]))
    sections.append(_fit_section(contents))
    if contents.mixtures is not None:
        sections.append(_coverage_section(contents))
    if contents.curves is not None and len(contents.curves):
        sections.append(_curves_section(contents))
    if contents.interactions is not None:
        sections.append(_interaction_section(contents))
    if contents.scaling is not None:
        sections.append(_scaling_section(contents.scaling))
    if contents.validation is not None:
        sections.append(_validation_section(contents.validation))
    if contents.runs is not None:
        sections.append(_runs_section(contents))
    text = TEMPLATES.get_template("base.html").render(
        title=f"raymix report: {contents.target}", warnings=headline_warnings(contents),
        n_runs=contents.quality["n_runs"], sections=sections, plotly_js=Markup(get_plotlyjs()))
    path = out_dir / HTML_REPORT
    atomic_write_text(path, text)
    return path


def _figure(fig: go.Figure, name: str, height: int = 420) -> Figure:
    """A Plotly figure as the page's div (plotly.js is in the page's head, once)."""
    fig.update_layout(template="plotly_white", height=height,
                      margin={"l": 10, "r": 10, "t": 70, "b": 10},
                      legend={"font": {"size": 11}}, hoverlabel={"namelength": -1})
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"figure-{name}",
                      config={"displaylogo": False, "responsive": True})
    return Figure(name, Markup(div))


# ----------------------------------------------------------------------------- the proposal


def _proposal_section(contents: ReportContents) -> Section:
    proposal, sens = contents.proposal, contents.sensitivity
    bounds = proposal["constraints"]
    binding = bound_at(bounds["binding"], "domain")
    mixtures = {"proposed": proposal["mixture"],
                **{b: contents.baselines[b].mixture for b in BASELINES}}
    weights = {"header": ["domain", "proposed", *BASELINES, "lower", "upper",
                          "d loss / d weight"],
               "rows": [{"domain": d, "binding": binding.get(d),
                         "weights": [{"mixture": name, "value": float(m.get(d, 0.0))}
                                     for name, m in mixtures.items()],
                         "lower": bounds["lower"][d], "upper": bounds["upper"][d],
                         "slope": slope}
                        for d, slope in zip(sens.domains, sens.slopes)]}
    context = {"proposal": proposal, "std_source": std_source(proposal),
               "uncertainty": uncertainty_sentences(proposal),
               "baselines": baseline_rows(contents.baselines),
               "loss_figure": _figure(_loss_figure(proposal, contents.baselines),
                                      "proposal-loss", 380),
               "confirmation": (_confirmation(contents.confirmation)
                                if contents.confirmation is not None else None),
               "weights": weights,
               "groups": group_rows(proposal),
               "schedule": schedule_table(proposal),
               "group_header": ["group", "domains", "proposed", *BASELINES, "lower", "upper"],
               "weights_figure": _figure(_weights_figure(contents, sens.domains), "weights"),
               "sensitivity_figure": _figure(_sensitivity_figure(sens), "sensitivity",
                                             max(480, 24 * len(sens.domains) + 200))}
    return Section("proposal", "Proposed mixture", "proposal.html", context)


def _loss_figure(proposal: dict[str, Any], baselines: dict[str, Baseline]) -> go.Figure:
    """The proposal's predicted loss ± its uncertainty next to each baseline's."""
    names = ["proposed", *BASELINES]
    # (predicted, std, observed) of the proposal, then of each baseline
    entries = [(proposal["predicted_target_loss"], proposal["predicted_std"], None),
               *((b.predicted_target_loss, b.predicted_std, b.observed_target_loss)
                 for b in (baselines[name] for name in BASELINES))]
    fig = go.Figure(go.Scatter(
        x=names, y=[e[0] for e in entries], name="predicted ± std",
        mode="markers", error_y={"type": "data", "array": [e[1] for e in entries]},
        marker={"size": 12, "color": [PALETTE[0]] + [PALETTE[7]] * len(BASELINES)},
        customdata=[e[1] for e in entries],
        hovertemplate="%{x}: predicted %{y:.4f} ± %{customdata:.4f}<extra></extra>"))
    observed = [(n, e[2]) for n, e in zip(names, entries) if e[2] is not None]
    if observed:
        fig.add_trace(go.Scatter(x=[n for n, _ in observed], y=[v for _, v in observed],
                                 mode="markers", name="observed", marker={"size": 11,
                                 "symbol": "diamond", "color": HIGHLIGHT},
                                 hovertemplate="%{x}: observed %{y:.4f}<extra></extra>"))
    lows = [predicted - std for predicted, std, _ in entries]
    highs = [predicted + std for predicted, std, _ in entries]
    fig.update_yaxes(title_text="predicted target loss",
                     range=axis_range(lows + highs + [v for _, v in observed], 0.1))
    return fig


def _weights_figure(contents: ReportContents, domains: list[str]) -> go.Figure:
    series = weight_series(contents, domains)
    prior = contents.proposal["constraints"].get("prior")
    if prior and [prior.get(d, 0.0) for d in domains] != series["token_proportional"]:
        series["prior"] = [float(prior.get(d, 0.0)) for d in domains]
    fig = go.Figure([go.Bar(x=domains, y=weights, name=name, marker_color=PALETTE[i],
                            hovertemplate=f"{name}, %{{x}}: %{{y:.4f}}<extra></extra>")
                     for i, (name, weights) in enumerate(series.items())])
    fig.update_layout(barmode="group")
    fig.update_xaxes(tickangle=-45 if len(domains) > 8 else 0)
    fig.update_yaxes(title_text="weight")
    return fig


def _sensitivity_figure(s) -> go.Figure:
    """A curve per domain in its own colour; dotted (and clipped) above its bound."""
    colours = domain_colours(s.domains)
    fig = go.Figure()
    for i, d in enumerate(s.domains):
        inside = s.grid <= s.upper[i] + 1e-12
        fig.add_trace(go.Scatter(x=s.grid[inside], y=s.curves[i][inside], mode="lines", name=d,
                                 legendgroup=d, line={"color": colours[d], "width": 2},
                                 hovertemplate=f"{d} at %{{x:.3f}}: %{{y:.4f}}<extra></extra>"))
        if (~inside).any():  # from the bound on, so the dotted part joins the solid one
            beyond = s.grid >= s.grid[inside][-1] if inside.any() else ~inside
            fig.add_trace(go.Scatter(
                x=s.grid[beyond], y=s.curves[i][beyond], mode="lines", legendgroup=d,
                showlegend=False, line={"color": colours[d], "dash": "dot", "width": 1},
                opacity=0.6, hovertemplate=f"{d} at %{{x:.3f}} (above its bound): "
                                           "%{y:.4f}<extra></extra>"))
        fig.add_trace(go.Scatter(x=[s.mixture[i]], y=[s.predicted], mode="markers",
                                 legendgroup=d, showlegend=False,
                                 marker={"color": colours[d], "size": 9,
                                         "line": {"color": "white", "width": 1}},
                                 hovertemplate=f"{d}: proposed {s.mixture[i]:.4f}"
                                               "<extra></extra>"))
    fig.update_xaxes(title_text="weight of one domain (others rescaled)", range=[0, 1])
    fig.update_yaxes(title_text="predicted target loss", range=sensitivity_range(s))
    return fig


def _confirmation(verdict: ConfirmationVerdict) -> dict[str, Any]:
    """The confirmation round: each candidate measured again, best (the proposed) first."""
    rows = []
    for name in verdict.order:
        row = verdict.candidates[name]
        rows.append({"name": name, "label": verdict.label(name),
                     "winner": name == verdict.winner, "measured": row.measured,
                     "measured_std": row.measured_std, "predicted": row.predicted,
                     "gap": row.gap_to_winner,
                     "beyond": {True: " (beyond noise)", False: " (within noise)"}.get(
                         row.beaten_beyond_noise, "")})
    labels = [r["label"] + (" (proposed)" if r["winner"] else "") for r in rows]
    fig = go.Figure(go.Scatter(
        x=labels, y=[r["measured"] for r in rows], mode="markers",
        name="measured, mean ± std over seeds",
        marker={"size": 12, "color": [HIGHLIGHT if r["winner"] else PALETTE[0] for r in rows]},
        error_y={"type": "data", "array": [r["measured_std"] or 0.0 for r in rows]},
        hovertemplate="%{x}: measured %{y:.4f}<extra></extra>"))
    fig.update_yaxes(title_text="measured target loss")
    return {"scale": confirmation_scale(verdict), "seeds": verdict.seeds,
            "noise_std": verdict.noise_std, "rows": rows,
            "figure": _figure(fig, "confirmation", 360)}


def _objectives_section(result: dict[str, Any]) -> Section:
    """One proposal per objective (``ObjectiveProposals.to_dict()``) and the trade-off:
    each row's mixture predicted on each column's objective, and its excess there."""
    proposals, rows = result["objectives"], result["tradeoff"]["rows"]
    names = list(proposals)
    domains = list(next(iter(proposals.values()))["mixture"])
    context = {
        "chosen_on": result["chosen_on"], "regressors": result["regressors"],
        "domains": domains, "names": names,
        "objectives": [{"name": n, "predicted": proposals[n]["predicted_loss"],
                        "spearman": proposals[n]["regressor"]["cv_spearman"],
                        "weights": [proposals[n]["mixture"][d] for d in domains]}
                       for n in names],
        "tradeoff": [{"name": row, "cells": [
            {"predicted": c["predicted"], "excess": c["excess"],
             "percent": None if row == col else c["excess_percent"]}
            for col, c in rows[row].items()]} for row in names]}
    return Section("objectives", "One proposal per objective", "objectives.html", context)


# ----------------------------------------------------------------------------- the fit


def _fit_section(contents: ReportContents) -> Section:
    quality = contents.quality
    chosen = quality["regressor"]["name"]
    regressors = [{"name": name, "chosen": name == chosen,
                   "metrics": [(m.get(f"cv_{k}"), 3 if k in ("spearman", "pearson", "r2") else 4)
                               for k in ("spearman", "pearson", "mae", "rmse", "r2")]}
                  for name, m in quality["regressors"].items()]
    context = {"n_runs": quality["n_runs"], "chosen": chosen, "regressors": regressors,
               "noise": quality.get("noise_floor"), "target": contents.target,
               "cv_figure": _cv_figure(contents),
               "residual_figure": _figure(_residual_figure(contents), "residuals", 380)}
    return Section("fit", "How well the runs predict the target", "fit.html", context)


def _cv_figure(contents: ReportContents) -> Figure:
    results, y, ids = contents.ordered, contents.target_loss, contents.run_ids
    columns = min(len(results), MAX_CV_COLUMNS)
    rows = -(-len(results) // columns)
    fig = make_subplots(rows=rows, cols=columns, vertical_spacing=0.5 / rows,
                        horizontal_spacing=0.08,
                        subplot_titles=[f"{r.name}<br>Spearman {r.spearman:.3f}, MAE {r.mae:.4f}"
                                        for r in results])
    lo, hi = float(y.min()), float(y.max())
    folds = sorted({int(f) for r in results for f in np.unique(r.fold)})
    for k, result in enumerate(results):
        row, col = k // columns + 1, k % columns + 1
        bounds = prediction_range(y, result.predictions)
        shown, moved = clamped(result.predictions, bounds)
        for fold in folds:
            held = result.fold == fold
            fig.add_trace(go.Scatter(
                x=y[held], y=shown[held], mode="markers", name=f"fold {fold}",
                legendgroup=f"fold {fold}", showlegend=k == 0,
                # a prediction beyond the axis sits at its edge as a triangle
                marker={"color": PALETTE[fold % len(PALETTE)], "size": 6,
                        "symbol": np.where(moved[held], "triangle-up", "circle").tolist()},
                customdata=result.predictions[held],
                text=[ids[i] for i in np.flatnonzero(held)],
                hovertemplate="%{text}: actual %{x:.4f}, predicted %{customdata:.4f}"
                              "<extra></extra>"),
                row=row, col=col)
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", showlegend=False,
                                 line={"color": "grey", "dash": "dash", "width": 1},
                                 hoverinfo="skip"), row=row, col=col)
        fig.update_xaxes(title_text="actual", row=row, col=col)
        fig.update_yaxes(title_text="predicted", range=bounds, row=row, col=col)
    fig.update_annotations(font_size=11)
    return _figure(fig, "cv", 340 * rows)


def _residual_figure(contents: ReportContents) -> go.Figure:
    chosen, y, ids = contents.fitted.chosen, contents.target_loss, contents.run_ids
    residuals = y - chosen.predictions
    fig = go.Figure()
    noise = contents.noise_std
    if noise:
        fig.add_hrect(y0=-2 * noise, y1=2 * noise, fillcolor="grey", opacity=0.15,
                      line_width=0)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="±2 std run noise",
                                 marker={"color": "lightgrey", "size": 12, "symbol": "square"}))
    for fold in np.unique(chosen.fold):
        held = chosen.fold == fold
        fig.add_trace(go.Scatter(
            x=chosen.predictions[held], y=residuals[held], mode="markers", name=f"fold {fold}",
            marker={"color": PALETTE[int(fold) % len(PALETTE)], "size": 6},
            text=[ids[i] for i in np.flatnonzero(held)],
            hovertemplate="%{text}: predicted %{x:.4f}, actual − predicted %{y:.4f}"
                          "<extra></extra>"))
    fig.add_hline(y=0, line_color="grey", line_width=1)
    fig.update_xaxes(title_text=f"cross-validated prediction ({chosen.name})")
    fig.update_yaxes(title_text="actual − predicted")
    return fig



# ----------------------------------------------------------------------------- the runs


def _coverage_section(contents: ReportContents) -> Section:
    """Which mixtures the runs trained: a row per run (best first), a column per domain,
    the cell its weight, a strip of the runs' losses beside; the proposal in a row of its
    own on top. Reads at any number of runs and domains (a run is a thin band of colour),
    unlike a scatter of a 2-D projection."""
    mixtures, y = contents.mixtures, contents.target_loss
    domains = [str(c) for c in mixtures.columns]
    order = np.argsort(y, kind="stable")
    labels = [str(mixtures.index[i]) for i in order]
    height = int(np.clip(3 * len(labels) + 260, 420, 1000))
    proposal = contents.proposal
    top = max(0.05, 36 / height) if proposal is not None else 0.0
    fig = make_subplots(rows=2 if proposal is not None else 1, cols=2, shared_xaxes=True,
                        column_widths=[0.9, 0.1], horizontal_spacing=0.01,
                        vertical_spacing=0.02,
                        row_heights=[top, 1 - top] if proposal is not None else None)
    rows = [(labels, mixtures.to_numpy(float)[order], y[order])]
    if proposal is not None:
        rows.insert(0, (["★ proposed"], [[proposal["mixture"].get(d, 0.0) for d in domains]],
                        [proposal["predicted_target_loss"]]))
    for k, (names, weights, losses) in enumerate(rows):
        fig.add_trace(go.Heatmap(z=weights, x=domains, y=names, coloraxis="coloraxis",
                                 hovertemplate="%{y}, %{x}: weight %{z:.3f}<extra></extra>"),
                      row=k + 1, col=1)
        fig.add_trace(go.Heatmap(z=np.asarray(losses, dtype=float)[:, None],
                                 x=["target loss"], y=names, coloraxis="coloraxis2",
                                 hovertemplate="%{y}: target loss %{z:.4f}<extra></extra>"),
                      row=k + 1, col=2)
        fig.update_yaxes(autorange="reversed", row=k + 1)
        fig.update_yaxes(showticklabels=False, row=k + 1, col=2)
    many = len(labels) > 60
    fig.update_yaxes(showticklabels=not many, row=len(rows), col=1,
                     title_text=f"{len(labels)} runs, lowest loss at the top" if many else None)
    fig.update_xaxes(tickangle=-45 if len(domains) > 8 else 0, row=len(rows))
    fig.update_layout(
        coloraxis={"colorscale": "Viridis", "cmin": 0, "cmax": 1,
                   "colorbar": {"title": {"text": "weight"}, "len": 0.45, "y": 0.75}},
        # the loss range given: on its own Plotly centres it on the one-cell top row
        coloraxis2={"colorscale": "RdYlGn", "reversescale": True,
                    "cmin": min(min(r[2]) for r in rows), "cmax": max(max(r[2]) for r in rows),
                    "colorbar": {"title": {"text": "loss"}, "len": 0.45, "y": 0.22}})
    text = [{"text": f"Each row is a run's mixture ({len(y)} runs, lowest target loss at the "
                     "top), each column a domain; the strip on the right is the run's loss"
                     + ("; the row above them, the proposed mixture (its loss predicted)."
                        if proposal is not None else "."), "note": False},
            {"text": "A column that stays dark was rarely trained on; a proposal whose "
                     "weights no row near the top resembles lies where the fit "
                     "extrapolates.", "note": True}]
    return Section("coverage", "Mixtures the runs covered", "figure.html",
                   {"text": text, "figure": _figure(fig, "coverage", height)})


def _curves_section(contents: ReportContents) -> Section:
    """Every run's target loss against tokens, a panel per scale: the runs the proposal
    singles out (the confirmation round's, the best observed) in colour, the others thin
    grey; at most :data:`MAX_TRAINING_CURVES` of those, evenly by final loss."""
    curves = contents.curves
    scales = scale_order(curves["scale"])
    roles = run_roles(contents, curves["run"].unique())
    others = [c for c in TAB10 if c not in (HIGHLIGHT, TAB10[7])]  # red and grey are taken
    role_colours = dict(zip(sorted(set(roles.values()) - {"proposed"}), others * 3))
    role_colours["proposed"] = HIGHLIGHT
    fig = make_subplots(rows=1, cols=len(scales), subplot_titles=[
        f"{scale_label(s)}" for s in scales], horizontal_spacing=0.08)
    notes, shown_roles = [], set()
    for k, scale in enumerate(scales):
        part = curves[curves["scale"] == scale]
        finals = part.groupby("run", sort=False)["loss"].last().sort_values()
        others = [r for r in finals.index if r not in roles]
        if len(others) > MAX_TRAINING_CURVES:
            picks = np.unique(np.linspace(0, len(others) - 1, MAX_TRAINING_CURVES).round())
            notes.append(f"{scale_label(scale)}: {MAX_TRAINING_CURVES} of {len(others)} runs "
                         "drawn (evenly by final loss, the best and worst included)")
            others = [others[int(i)] for i in picks]
        runs = [(r, None) for r in others] + [(r, roles[r]) for r in finals.index if r in roles]
        for run, role in runs:  # the highlighted last, on top
            one = part[part["run"] == run]
            colour = MUTED if role is None else role_colours[role]
            fig.add_trace(go.Scatter(
                x=one["tokens"], y=one["loss"], mode="lines+markers" if role else "lines",
                name=role or "other runs", legendgroup=role or "other",
                showlegend=(role or "other") not in shown_roles,
                line={"color": colour, "width": 2.5 if role else 1},
                marker={"size": 5}, opacity=1.0 if role else 0.6,
                hovertemplate=f"{run}" + (f" ({role})" if role else "")
                              + ": %{x:.4g} tokens, loss %{y:.4f}<extra></extra>"),
                row=1, col=k + 1)
            shown_roles.add(role or "other")
        fig.update_xaxes(title_text="tokens", type="log", row=1, col=k + 1)
        fig.update_yaxes(range=_curves_range(part, finals), row=1, col=k + 1)
    fig.update_yaxes(title_text=f"{contents.target}", row=1, col=1)
    text = [{"text": "Target loss at each evaluation of every run (thin grey), the runs of "
                     "the confirmation round and the best observed run in colour (the "
                     "proposed's in red). Losses of different scales are in separate "
                     "panels.", "note": False}]
    text += [{"text": n, "note": True} for n in notes]
    return Section("curves", "Training curves", "figure.html",
                   {"text": text, "figure": _figure(fig, "curves", 460)})


def _curves_range(part: pd.DataFrame, finals: pd.Series) -> list[float] | None:
    """The loss axis of one panel: every final loss, and the curves down to it, up to
    where most runs are after their first evaluation (a first evaluation's loss, far
    above, would flatten the end of every curve)."""
    later = part[part.groupby("run").cumcount() > 0]["loss"]
    top = float(np.quantile(later, 0.95)) if len(later) else float(part["loss"].max())
    return axis_range([part["loss"].min(), finals.max(), top])


def _interaction_section(contents: ReportContents) -> Section:
    t = contents.interactions
    limit = float(np.abs(t.to_numpy()).max()) or 1.0
    fig = go.Figure(go.Heatmap(
        z=t.to_numpy(), x=[str(c) for c in t.columns], y=list(t.index), colorscale="RdBu",
        reversescale=True, zmin=-limit, zmax=limit, colorbar={"title": {"text": "t_ij"}},
        hovertemplate="training on %{x}, loss %{y}: t = %{z:.4f}<extra></extra>"))
    fig.update_xaxes(title_text="training domain j", tickangle=-45)
    fig.update_yaxes(title_text="validation metric i", autorange="reversed")
    text = [{"text": "One Data Mixing Law L_i = c_i + k_i exp(Σ_j t_ij r_j) per validation "
                     "metric, fitted on all runs; t_ij < 0 (blue): training on domain j lowers "
                     "loss i.", "note": False}]
    height = max(360, 28 * t.shape[0] + 200)
    return Section("interactions", "Domain interactions", "figure.html",
                   {"text": text, "figure": _figure(fig, "interactions", height)})


# ----------------------------------------------------------------------------- scaling laws


def _line_traces(line, colour: str, showlegend: bool) -> list[go.Scatter]:
    traces = [go.Scatter(x=line.x, y=line.y, mode="markers", name=line.label,
                         legendgroup=line.label, showlegend=showlegend,
                         marker={"color": colour, "size": 6},
                         hovertemplate=f"{line.label}: %{{x:.4g}}, loss %{{y:.4f}}"
                                       "<extra></extra>")]
    if line.fit_x is not None:
        traces.append(go.Scatter(x=line.fit_x, y=line.fit_y, mode="lines", legendgroup=line.label,
                                 showlegend=False, line={"color": colour, "width": 1},
                                 hoverinfo="skip"))
    if line.target is not None:
        traces.append(go.Scatter(
            x=[line.target[0]], y=[line.target[1]], mode="markers", legendgroup=line.label,
            showlegend=False, marker={"color": "white", "size": 10,
                                      "line": {"color": colour, "width": 2}},
            hovertemplate=f"{line.label} at the target: %{{x:.4g}}, %{{y:.4f}}<extra></extra>"))
    return traces


def _scaling_section(law) -> Section:
    stages = law.stages_
    at = stages["target_scale"]
    intro = (f"Losses extrapolated to {at['params']:.4g} non-embedding parameters "
             f"({at['params_from']}) and {at['tokens']:.4g} tokens ({at['tokens_from']}); "
             f"{stages['n_predicted']} of {stages['n_mixtures']} mixtures predicted.")
    checks = [f"{stage} law, held-out check ({stages[stage]['holdout']['what']}): "
             f"{holdout_summary(stages[stage]['holdout'])}"
             for stage in ("step", "size") if stages[stage].get("holdout")]
    checks += list(stages["notes"])
    backtest = backtest_summary(stages["backtest"]) if "backtest" in stages else None
    panels = step_panels(law)
    fig = make_subplots(rows=1, cols=len(panels), horizontal_spacing=0.06,
                        subplot_titles=[f"{params:.3g} params" for params, _ in panels])
    for k, (_, lines) in enumerate(panels):
        for i, line in enumerate(lines):
            for trace in _line_traces(line, PALETTE[i % len(PALETTE)], k == 0):
                fig.add_trace(trace, row=1, col=k + 1)
        fig.update_xaxes(type="log", title_text="tokens", row=1, col=k + 1)
    fig.update_yaxes(title_text=law.target_, row=1, col=1)
    context = {"intro": intro, "checks": checks, "backtest": backtest,
               "at_tokens": f"{law.at_.tokens:.3g}", "at_params": f"{law.at_.params:.3g}",
               "step_figure": _figure(fig, "step-laws", 400), "size_figure": None,
               "size_lines": []}
    if not stages["size"].get("skipped"):
        lines = size_lines(law)
        fig = go.Figure([trace for i, line in enumerate(lines)
                         for trace in _line_traces(line, PALETTE[i % len(PALETTE)], True)])
        fig.update_xaxes(type="log", title_text="non-embedding parameters")
        fig.update_yaxes(title_text=f"{law.target_} at {law.at_.tokens:.3g} tokens")
        context.update(size_figure=_figure(fig, "size-laws", 400), size_lines=lines)
    return Section("scaling", scaling_title(stages), "scaling.html", context)


# ----------------------------------------------------------------------------- validate, runs


def _validation_section(result: ValidationResult) -> Section:
    """A check at a larger scale (``raymix validate``)."""
    scale = result.scale
    rows = [{"name": name, "predicted": t.predicted, "measured": t.measured,
             "measured_std": t.measured_std, "seeds": len(t.measured_losses),
             "error": t.error} for name, t in result.mixtures.items()]
    verdicts = [f"{name}: measured gap {g.measured_gap:+.4f}, predicted "
                f"{g.predicted_gap:+.4f}: {gap_verdict(g)}"
                for name, g in result.proposal_vs.items()]
    ranking, err = result.ranking, result.prediction_error
    rho = "n/a" if ranking["spearman"] is None else f"{ranking['spearman']:.3f}"
    summary = [f"Predicted order: {' < '.join(ranking['predicted'])}",
               f"Measured order: {' < '.join(ranking['measured'])}",
               f"Ranking held: {'yes' if ranking['held'] else 'no'} (Spearman {rho}). "
               f"Prediction error: MAE {err['mae']:.4f} ({err['mape_percent']:.2f}%), mean "
               f"{err['mean']:+.4f} (measured − predicted)."]
    done = result.measured_mixtures()
    values = [t.measured for t in done.values()] + [t.predicted for t in done.values()]
    fig = go.Figure([go.Scatter(
        x=[t.measured for t in done.values()], y=[t.predicted for t in done.values()],
        mode="markers+text", text=list(done), textposition="top center", name="mixtures",
        marker={"size": 10, "color": PALETTE[0]},
        hovertemplate="%{text}: measured %{x:.4f}, predicted %{y:.4f}<extra></extra>"),
        go.Scatter(x=[min(values), max(values)], y=[min(values), max(values)], mode="lines",
                   name="predicted = measured", hoverinfo="skip",
                   line={"color": "grey", "dash": "dash", "width": 1})])
    fig.update_xaxes(title_text="measured target loss")
    fig.update_yaxes(title_text="predicted target loss")
    context = {"intro": f"At {scale['params']:.3g} parameters, {scale['tokens']:.3g} tokens; "
                        f"predictions at {result.predicted_at}, regressor "
                        f"{result.regressor['name']}.",
               "rows": rows, "verdicts": verdicts, "summary": summary,
               "figure": _figure(fig, "validation", 420)}
    return Section("validation", "Check at a larger scale (raymix validate)", "validation.html",
                   context)


def _runs_section(contents: ReportContents) -> Section:
    """Every run, a sortable table per scale (losses of two scales are not comparable):
    the proxies' first, the confirmation round's last. Missing values sort last."""
    runs = contents.runs
    scales = scale_order(runs[SCALE_COLUMN]) if SCALE_COLUMN in runs else [None]
    roles = run_roles(contents, runs.iloc[:, 0])
    groups = []
    for k, scale in enumerate(scales):
        part = runs if scale is None else runs[runs[SCALE_COLUMN] == scale]
        groups.append({"scale": "" if scale is None else scale,
                       "label": "Runs" if scale is None else scale_label(scale).capitalize(),
                       "id": "runs-table" if k == 0 else f"runs-table-{k + 1}",
                       **_run_rows(part, roles)})
    return Section("runs", "Runs", "runs.html", {"total": len(runs), "groups": groups})


def _run_rows(runs: pd.DataFrame, roles: dict[str, str]) -> dict[str, Any]:
    """A table of runs: its header, column types and rows of (sort value, text) cells;
    a run the proposal singles out says so after its id."""
    types = ["number" if runs[c].dtype.kind in "fiu" else "text" for c in runs.columns]
    rows = []
    for record in runs.itertuples(index=False):
        cells = []
        for j, (value, kind) in enumerate(zip(record, types)):
            if value is None or (isinstance(value, float) and np.isnan(value)):
                cells.append(("", ""))
            elif kind == "number" and isinstance(value, float):
                cells.append((_raw(value), format_number(value)))
            else:
                role = roles.get(str(value)) if j == 0 else None
                cells.append((str(value), f"{value} ({role})" if role else str(value)))
        rows.append(cells)
    return {"header": [str(c) for c in runs.columns], "types": types, "rows": rows}
