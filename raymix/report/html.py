"""``index.html``: the report as one self-contained page with interactive figures.

:func:`write_html` draws what :func:`raymix.report.contents.report_contents` computed
(the same pieces ``report.md`` shows) with Plotly, and adds the runs as a table sorted
by clicking a header. The page needs no network: plotly.js is inlined once, the
sorting is a few lines of plain JavaScript. Sections, each present when its data is:

- ``#proposal``: the proposed mixture's predicted loss ± its uncertainty next to the
  baselines', its weights next to theirs and the prior's, the sensitivity of the
  predicted loss to each weight, and a confirmation round's measurements;
- ``#fit``: every regressor's cross-validated predictions against the actual loss,
  the chosen one's residuals;
- ``#interactions``: the domain interaction matrix of the Data Mixing Law;
- ``#scaling``: the step and size laws behind losses at a target scale;
- ``#validation``: a check at a larger scale (``raymix validate``);
- ``#runs``: every run: id, scale, seed, weights, final target loss.

The proposal's numbers are in the page as text too, for tools and tests: each weight
in ``<td data-mixture="proposed" data-domain="code" data-weight="0.3271...">`` and
the loss in ``#predicted-loss`` / ``#predicted-std`` (``data-value``), each attribute
the ``repr`` of the float in ``proposal.json`` (the visible text is rounded).
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from raymix.files import atomic_write_text
from raymix.formatting import format_number
from raymix.report.contents import (
    BASELINES,
    ReportContents,
    baseline_rows,
    confirmation_scale,
    gap_verdict,
    scaling_title,
    size_lines,
    std_source,
    step_panels,
    uncertainty_sentences,
    weight_series,
)
from raymix.scaling import backtest_summary, holdout_summary

HTML_REPORT = "index.html"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
MAX_CV_COLUMNS = 3

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 0 1em;
       color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
table.sortable th { cursor: pointer; background: #f4f4f4; user-select: none; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; }
.warning { background: #fff4e5; border-left: 4px solid #f0a000; padding: 0.4em 0.8em; }
.figure { margin: 0.8em 0; }
.scroll { max-height: 36em; overflow: auto; }
"""

SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var numeric = th.dataset.type === "number";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
        if (x === "" || y === "") { return (x === "") - (y === ""); }  // missing: last
        var order = numeric ? parseFloat(x) - parseFloat(y)
                            : x.localeCompare(y, undefined, {numeric: true});
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def write_html(contents: ReportContents, out_dir: Path) -> Path:
    """Write ``index.html`` into ``out_dir`` (which exists); returns its path."""
    page = _Page()
    sections = []
    if contents.proposal is not None:
        sections.append(_proposal_section(page, contents))
        if contents.proposal.get("objectives"):
            sections.append(_objectives_section(contents.proposal["objectives"]))
    sections.append(_fit_section(page, contents))
    if contents.interactions is not None:
        sections.append(_interaction_section(page, contents))
    if contents.scaling is not None:
        sections.append(_scaling_section(page, contents.scaling))
    if contents.validation is not None:
        sections.append(_validation_section(page, contents.validation))
    if contents.runs is not None:
        sections.append(_runs_section(contents.runs))
    nav = " ".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title, _ in sections)
    title = f"raymix report: {contents.target}"
    body = "\n".join(f'<section id="{sid}">\n<h2>{escape(heading)}</h2>\n{html}\n</section>'
                     for sid, heading, html in sections)
    text = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{escape(title)}</h1>\n<p>{contents.quality['n_runs']} runs fitted; report.md "
            f"beside this page holds the same numbers.</p>\n<nav>{nav}</nav>\n{body}\n"
            f"<script>{SORT_SCRIPT}</script>\n</body>\n</html>\n")
    path = out_dir / HTML_REPORT
    atomic_write_text(path, text)
    return path


class _Page:
    """The page's figures: plotly.js goes inline with the first one only."""

    def __init__(self) -> None:
        self.inlined = False

    def figure(self, fig: go.Figure, name: str, height: int = 420) -> str:
        fig.update_layout(template="plotly_white", height=height,
                          margin={"l": 10, "r": 10, "t": 70, "b": 10},
                          legend={"font": {"size": 11}}, hoverlabel={"namelength": -1})
        fig.update_xaxes(automargin=True)
        fig.update_yaxes(automargin=True)
        div = fig.to_html(full_html=False, include_plotlyjs=not self.inlined,
                          div_id=f"figure-{name}",
                          config={"displaylogo": False, "responsive": True})
        self.inlined = True
        return f'<div class="figure" data-figure="{name}">{div}</div>'


def _raw(value: Any) -> str:
    """The exact number for a data attribute (a float's repr is what JSON writes)."""
    return "" if value is None else repr(float(value))


def _cell(number: float | None, digits: int = 4, **data: str) -> str:
    """A rounded number; ``data`` become its ``data-*`` attributes."""
    attrs = "".join(f' data-{k.replace("_", "-")}="{escape(str(v))}"' for k, v in data.items())
    return f"<td{attrs}>{format_number(number, digits)}</td>"


def _table(header: list[str], rows: list[str], table_id: str = "", sortable: bool = False,
           types: list[str] | None = None) -> str:
    cells = "".join(f'<th data-type="{t}">{escape(h)}</th>'
                    for h, t in zip(header, types or ["text"] * len(header)))
    attrs = (f' id="{table_id}"' if table_id else "") + (' class="sortable"' if sortable else "")
    return (f"<table{attrs}>\n<thead><tr>{cells}</tr></thead>\n<tbody>\n" + "\n".join(rows)
            + "\n</tbody>\n</table>")


# ----------------------------------------------------------------------------- the proposal


def _proposal_section(page: _Page, contents: ReportContents) -> tuple[str, str, str]:
    proposal, sens = contents.proposal, contents.sensitivity
    search = proposal["search"]
    parts = [f"<p>Search: <b>{escape(search['method'])}</b>. Predicted target loss "
             f'<b><span id="predicted-loss" data-value="{_raw(proposal["predicted_target_loss"])}">'
             f"{format_number(proposal['predicted_target_loss'])}</span></b> ± "
             f'<span id="predicted-std" data-value="{_raw(proposal["predicted_std"])}">'
             f"{format_number(proposal['predicted_std'])}</span> "
             f"({escape(std_source(proposal))}).</p>"]
    parts += [f'<p class="uncertainty">{escape(s)}</p>' for s in uncertainty_sentences(proposal)]
    parts += [f'<p class="warning">{escape(w)}</p>' for w in proposal.get("warnings", [])]
    rows = ['<tr data-mixture="proposed"><td><b>proposed</b></td>'
            + _cell(proposal["predicted_target_loss"],
                    value=_raw(proposal["predicted_target_loss"]))
            + _cell(proposal["predicted_std"]) + "<td></td><td></td></tr>"]
    for base in baseline_rows(proposal):
        run = f" (run {escape(str(base.run))})" if base.run is not None else ""
        rows.append(f'<tr data-mixture="{base.name}"><td>{base.name}{run}</td>'
                    + _cell(base.predicted, value=_raw(base.predicted)) + _cell(base.std)
                    + f"<td>{format_number(base.gap)}{base.noise}</td>"
                    + _cell(base.seen) + "</tr>")
    parts.append(_table(["mixture", "predicted target loss", "±", "gap to proposal", "observed"],
                        rows, "proposal-losses"))
    parts.append(page.figure(_loss_figure(proposal), "proposal-loss", 380))
    if proposal.get("confirmation"):
        parts.append(_confirmation_html(page, proposal["confirmation"]))
    parts.append("<h3>Weights</h3>")
    parts.append(_weights_table(proposal, sens.domains, sens.slopes))
    parts.append(page.figure(_weights_figure(proposal, sens.domains), "weights"))
    parts.append("<h3>Sensitivity</h3><p>Predicted target loss as one domain's weight moves "
                 "(the others rescaled to keep their proportions); dotted: above the domain's "
                 "bound; dots: the proposed weights.</p>")
    parts.append(page.figure(_sensitivity_figure(sens), "sensitivity"))
    return "proposal", "Proposed mixture", "\n".join(parts)


def _loss_figure(proposal: dict[str, Any]) -> go.Figure:
    """The proposal's predicted loss ± its uncertainty next to each baseline's."""
    names = ["proposed", *BASELINES]
    entries = [proposal, *(proposal["baselines"][b] for b in BASELINES)]
    fig = go.Figure(go.Scatter(
        x=names, y=[e["predicted_target_loss"] for e in entries], name="predicted ± std",
        mode="markers", error_y={"type": "data", "array": [e["predicted_std"] for e in entries]},
        marker={"size": 12, "color": [PALETTE[0]] + [PALETTE[7]] * len(BASELINES)},
        customdata=[e["predicted_std"] for e in entries],
        hovertemplate="%{x}: predicted %{y:.4f} ± %{customdata:.4f}<extra></extra>"))
    observed = [(n, e.get("observed_target_loss", e.get("extrapolated_target_loss")))
                for n, e in zip(names, entries)]
    observed = [(n, v) for n, v in observed if v is not None]
    if observed:
        fig.add_trace(go.Scatter(x=[n for n, _ in observed], y=[v for _, v in observed],
                                 mode="markers", name="observed", marker={"size": 11,
                                 "symbol": "diamond", "color": PALETTE[3]},
                                 hovertemplate="%{x}: observed %{y:.4f}<extra></extra>"))
    lows = [e["predicted_target_loss"] - e["predicted_std"] for e in entries]
    highs = [e["predicted_target_loss"] + e["predicted_std"] for e in entries]
    pad = 0.1 * (max(highs) - min(lows) or 1.0)
    fig.update_yaxes(title_text="predicted target loss", range=[min(lows) - pad, max(highs) + pad])
    return fig


def _weights_table(proposal: dict[str, Any], domains: list[str], slopes: np.ndarray) -> str:
    bounds = proposal["constraints"]
    binding = {b["domain"]: b for b in bounds["binding"]}
    header = ["domain", "proposed", *BASELINES, "lower", "upper", "d loss / d weight"]
    rows = []
    for d, slope in zip(domains, slopes):
        mark = (f" (at {binding[d]['bound']} bound: {escape(binding[d]['constraint'])})"
                if d in binding else "")
        cells = [_cell(proposal["mixture"][d], mixture="proposed", domain=d,
                       weight=_raw(proposal["mixture"][d]))]
        cells += [_cell(proposal["baselines"][b]["mixture"].get(d, 0.0), mixture=b, domain=d,
                        weight=_raw(proposal["baselines"][b]["mixture"].get(d, 0.0)))
                  for b in BASELINES]
        cells += [_cell(bounds["lower"][d]), _cell(bounds["upper"][d]), _cell(slope)]
        rows.append(f'<tr data-domain="{escape(d)}"><td>{escape(d)}{mark}</td>'
                    + "".join(cells) + "</tr>")
    return _table(header, rows, "proposal-weights")


def _weights_figure(proposal: dict[str, Any], domains: list[str]) -> go.Figure:
    series = weight_series(proposal, domains)
    prior = proposal["constraints"].get("prior")
    if prior and [prior.get(d, 0.0) for d in domains] != series["token_proportional"]:
        series["prior"] = [float(prior.get(d, 0.0)) for d in domains]
    fig = go.Figure([go.Bar(x=domains, y=weights, name=name, marker_color=PALETTE[i],
                            hovertemplate=f"{name}, %{{x}}: %{{y:.4f}}<extra></extra>")
                     for i, (name, weights) in enumerate(series.items())])
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="weight")
    return fig


def _sensitivity_figure(s) -> go.Figure:
    fig = go.Figure()
    for i, d in enumerate(s.domains):
        colour = PALETTE[i % len(PALETTE)]
        inside = s.grid <= s.upper[i] + 1e-12
        fig.add_trace(go.Scatter(x=s.grid[inside], y=s.curves[i][inside], mode="lines", name=d,
                                 legendgroup=d, line={"color": colour},
                                 hovertemplate=f"{d} at %{{x:.3f}}: %{{y:.4f}}<extra></extra>"))
        if (~inside).any():
            fig.add_trace(go.Scatter(
                x=s.grid[~inside], y=s.curves[i][~inside], mode="lines", legendgroup=d,
                showlegend=False, line={"color": colour, "dash": "dot"}, opacity=0.6,
                hovertemplate=f"{d} at %{{x:.3f}} (above its bound): %{{y:.4f}}<extra></extra>"))
        fig.add_trace(go.Scatter(x=[s.mixture[i]], y=[s.predicted], mode="markers",
                                 legendgroup=d, showlegend=False,
                                 marker={"color": colour, "size": 9},
                                 hovertemplate=f"{d}: proposed %{{x:.4f}}<extra></extra>"))
    fig.update_xaxes(title_text="weight of one domain (others rescaled)")
    fig.update_yaxes(title_text="predicted target loss")
    return fig


def _confirmation_html(page: _Page, verdict: dict[str, Any]) -> str:
    """The confirmation round: each candidate measured again, best first."""
    parts = ["<h3>Confirmation round</h3>",
             f"<p>The proposal is the candidate that measured best when trained again at "
             f"{escape(confirmation_scale(verdict))} with {verdict['seeds']} new seeds each "
             f"(seed noise: std {format_number(verdict['noise_std'])} per run). Predictions "
             "are at the proxy scale.</p>"]
    rows = []
    for name in verdict["order"]:
        row = verdict["candidates"][name]
        beyond = {True: " (beyond noise)", False: " (within noise)"}.get(
            row.get("beaten_beyond_noise"), "")
        label = f"<b>{escape(name)}</b>" if name == verdict["winner"] else escape(name)
        rows.append(f'<tr data-candidate="{escape(name)}"><td>{label}</td>'
                    f"<td>{escape(row['source'])}</td>"
                    + _cell(row["measured"], value=_raw(row["measured"]))
                    + _cell(row["measured_std"] or 0.0) + _cell(row["predicted"])
                    + f"<td>{format_number(row['gap_to_winner'])}{beyond}</td></tr>")
    parts.append(_table(["candidate", "source", "measured (mean)", "± std", "predicted",
                         "gap to the winner"], rows, "confirmation"))
    order = verdict["order"]
    fig = go.Figure(go.Scatter(
        x=order, y=[verdict["candidates"][n]["measured"] for n in order], mode="markers",
        name="measured, mean ± std over seeds", marker={"size": 11, "color": PALETTE[0]},
        error_y={"type": "data",
                 "array": [verdict["candidates"][n]["measured_std"] or 0.0 for n in order]},
        hovertemplate="%{x}: measured %{y:.4f}<extra></extra>"))
    fig.update_yaxes(title_text="measured target loss")
    parts.append(page.figure(fig, "confirmation", 360))
    return "\n".join(parts)


# ----------------------------------------------------------------------------- the fit


def _fit_section(page: _Page, contents: ReportContents) -> tuple[str, str, str]:
    quality, target = contents.quality, contents.target
    chosen = quality["regressor"]["name"]
    parts = [f"<p>{quality['n_runs']} runs; regressor <b>{escape(chosen)}</b> was chosen by "
             "cross-validated Spearman (how well it ranks mixtures it was not fitted on).</p>"]
    rows = []
    for name, m in quality["regressors"].items():
        label = f"<b>{escape(name)}</b> (chosen)" if name == chosen else escape(name)
        cells = "".join(_cell(m.get(f"cv_{k}"), 3 if k in ("spearman", "pearson", "r2") else 4)
                        for k in ("spearman", "pearson", "mae", "rmse", "r2"))
        rows.append(f'<tr data-regressor="{escape(name)}"><td>{label}</td>{cells}</tr>')
    parts.append(_table(["regressor", "Spearman", "Pearson", "MAE", "RMSE", "R²"], rows,
                        "regressors"))
    noise = quality.get("noise_floor")
    if noise:
        parts.append(f"<p>Run-to-run noise, from {noise['mixtures']} mixtures repeated with "
                     f"other seeds ({noise['runs']} runs): std {format_number(noise['std'])}; "
                     "differences below "
                     f"{format_number(noise['min_meaningful_difference'])} are not "
                     "meaningful.</p>")
    parts.append(f"<h3>Cross-validated predictions of <code>{escape(target)}</code></h3>")
    parts.append(_cv_figure(page, contents))
    parts.append("<h3>Residuals of the chosen regressor</h3>")
    parts.append(page.figure(_residual_figure(contents), "residuals", 380))
    return "fit", "How well the runs predict the target", "\n".join(parts)


def _cv_figure(page: _Page, contents: ReportContents) -> str:
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
        for fold in folds:
            held = result.fold == fold
            fig.add_trace(go.Scatter(
                x=y[held], y=result.predictions[held], mode="markers", name=f"fold {fold}",
                legendgroup=f"fold {fold}", showlegend=k == 0,
                marker={"color": PALETTE[fold % len(PALETTE)], "size": 6},
                text=[ids[i] for i in np.flatnonzero(held)],
                hovertemplate="%{text}: actual %{x:.4f}, predicted %{y:.4f}<extra></extra>"),
                row=row, col=col)
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", showlegend=False,
                                 line={"color": "grey", "dash": "dash", "width": 1},
                                 hoverinfo="skip"), row=row, col=col)
        fig.update_xaxes(title_text="actual", row=row, col=col)
        fig.update_yaxes(title_text="predicted", row=row, col=col)
    fig.update_annotations(font_size=11)
    return page.figure(fig, "cv", 340 * rows)


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


def _interaction_section(page: _Page, contents: ReportContents) -> tuple[str, str, str]:
    t = contents.interactions
    limit = float(np.abs(t.to_numpy()).max()) or 1.0
    fig = go.Figure(go.Heatmap(
        z=t.to_numpy(), x=[str(c) for c in t.columns], y=list(t.index), colorscale="RdBu",
        reversescale=True, zmin=-limit, zmax=limit, colorbar={"title": {"text": "t_ij"}},
        hovertemplate="training on %{x}, loss %{y}: t = %{z:.4f}<extra></extra>"))
    fig.update_xaxes(title_text="training domain j", tickangle=-45)
    fig.update_yaxes(title_text="validation metric i", autorange="reversed")
    text = ("<p>One Data Mixing Law L_i = c_i + k_i exp(Σ_j t_ij r_j) per validation metric, "
            "fitted on all runs; t_ij &lt; 0 (blue): training on domain j lowers loss i.</p>")
    height = max(360, 28 * t.shape[0] + 200)
    return "interactions", "Domain interactions", text + page.figure(fig, "interactions", height)


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


def _scaling_section(page: _Page, law) -> tuple[str, str, str]:
    stages = law.stages_
    at = stages["target_scale"]
    parts = [f"<p>Losses extrapolated to {at['params']:.4g} non-embedding parameters "
             f"({escape(str(at['params_from']))}) and {at['tokens']:.4g} tokens "
             f"({escape(str(at['tokens_from']))}); {stages['n_predicted']} of "
             f"{stages['n_mixtures']} mixtures predicted.</p>"]
    checks = [f"<li>{stage} law, held-out check ({escape(stages[stage]['holdout']['what'])}): "
              f"{escape(holdout_summary(stages[stage]['holdout']))}</li>"
              for stage in ("step", "size") if stages[stage].get("holdout")]
    notes = [f"<li>{escape(note)}</li>" for note in stages["notes"]]
    if checks or notes:
        parts.append("<ul>" + "".join(checks + notes) + "</ul>")
    if "backtest" in stages:  # the settings chosen by a backtest (raymix.scaling.backtest)
        summary = backtest_summary(stages["backtest"])
        parts.append(f"<p>{escape(summary[0])}</p>")
        if len(summary) > 1:
            parts.append(f'<pre id="backtest">{escape(chr(10).join(summary[1:]))}</pre>')
    panels = step_panels(law)
    fig = make_subplots(rows=1, cols=len(panels), horizontal_spacing=0.06,
                        subplot_titles=[f"{params:.3g} params" for params, _ in panels])
    for k, (_, lines) in enumerate(panels):
        for i, line in enumerate(lines):
            for trace in _line_traces(line, PALETTE[i % len(PALETTE)], k == 0):
                fig.add_trace(trace, row=1, col=k + 1)
        fig.update_xaxes(type="log", title_text="tokens", row=1, col=k + 1)
    fig.update_yaxes(title_text=law.target_, row=1, col=1)
    parts.append(f"<h3>Step laws E + B / tokens^β (hollow: at {law.at_.tokens:.3g} tokens)</h3>")
    parts.append(page.figure(fig, "step-laws", 400))
    if not stages["size"].get("skipped"):
        lines = size_lines(law)
        fig = go.Figure([trace for i, line in enumerate(lines)
                         for trace in _line_traces(line, PALETTE[i % len(PALETTE)], True)])
        fig.update_xaxes(type="log", title_text="non-embedding parameters")
        fig.update_yaxes(title_text=f"{law.target_} at {law.at_.tokens:.3g} tokens")
        parts.append(f"<h3>Size laws E + A / N^α (hollow: at {law.at_.params:.3g} "
                     "params)</h3>")
        if not lines:
            parts.append("<p>No size law: every mixture was trained at the target size.</p>")
        parts.append(page.figure(fig, "size-laws", 400))
    return "scaling", scaling_title(stages), "\n".join(parts)


# ----------------------------------------------------------------------------- validate, runs


def _objectives_section(result: dict[str, Any]) -> tuple[str, str, str]:
    """One proposal per objective (``ObjectiveProposals.to_dict()``) and the trade-off:
    each row's mixture predicted on each column's objective, and its excess there."""
    proposals, rows = result["objectives"], result["tradeoff"]["rows"]
    names = list(proposals)
    domains = list(next(iter(proposals.values()))["mixture"])
    parts = [f"<p>Each objective fitted and searched under the same constraints (regressors "
             f"chosen on {escape(result['chosen_on'])}: "
             f"{escape(', '.join(result['regressors']))}).</p>",
             _table(["objective", "predicted loss", "CV Spearman", *domains],
                    [f'<tr data-objective="{escape(n)}"><td>{escape(n)}</td>'
                     + _cell(proposals[n]["predicted_loss"])
                     + _cell(proposals[n]["regressor"]["cv_spearman"], 3)
                     + "".join(_cell(proposals[n]["mixture"][d], 3, weight=_raw(
                         proposals[n]["mixture"][d])) for d in domains) + "</tr>"
                     for n in names], "objectives-table"),
             "<p>Row: the mixture proposed for an objective; column: the objective it is "
             "predicted on; each cell: the predicted loss and its excess over the column's "
             "own proposal.</p>"]
    cells = []
    for row in names:
        tds = "".join(f'<td data-excess="{_raw(c["excess"])}">'
                      f'{format_number(c["predicted"])}'
                      + ("" if row == col else f" ({c['excess_percent']:+.1f}%)") + "</td>"
                      for col, c in rows[row].items())
        cells.append(f'<tr data-objective="{escape(row)}"><td>{escape(row)}</td>{tds}</tr>')
    parts.append(_table(["proposed for", *names], cells, "tradeoff-table"))
    parts += [f'<p class="warning">{escape(w)}</p>' for w in result.get("warnings", [])]
    return "objectives", "One proposal per objective", "\n".join(parts)


def _validation_section(page: _Page, result: dict[str, Any]) -> tuple[str, str, str]:
    """A check at a larger scale (``ValidationResult.to_dict()``)."""
    scale = result["scale"]
    parts = [f"<p>At {scale['params']:.3g} parameters, {scale['tokens']:.3g} tokens; "
             f"predictions at {escape(str(result['predicted_at']))}, regressor "
             f"{escape(result['regressor']['name'])}.</p>"]
    rows = []
    for name, t in result["mixtures"].items():
        measured = ("<td>not run</td><td></td>" if t["measured"] is None else
                    _cell(t["measured"], value=_raw(t["measured"]))
                    + _cell(t["measured_std"] or 0.0))
        rows.append(f'<tr data-mixture="{escape(name)}"><td>{escape(name)}</td>'
                    + _cell(t["predicted"]) + measured
                    + f"<td>{len(t['measured_losses'])}</td>"
                    + ("<td></td>" if t["error"] is None else f"<td>{t['error']:+.4f}</td>")
                    + "</tr>")
    parts.append(_table(["mixture", "predicted", "measured (mean)", "± std", "seeds", "error"],
                        rows, "validation-table"))
    verdicts = [f"<li>{escape(name)}: measured gap {g['measured_gap']:+.4f}, predicted "
                f"{g['predicted_gap']:+.4f}: {escape(gap_verdict(g))}</li>"
                for name, g in result["proposal_vs"].items()]
    ranking, err = result["ranking"], result["prediction_error"]
    rho = "n/a" if ranking["spearman"] is None else f"{ranking['spearman']:.3f}"
    parts.append("<p>Proposal against each baseline (measured gap &gt; 0: the proposal is "
                 "better):</p><ul>" + "".join(verdicts) + "</ul>")
    parts.append(f"<p>Predicted order: {escape(' < '.join(ranking['predicted']))}<br>"
                 f"Measured order: {escape(' < '.join(ranking['measured']))}<br>"
                 f"Ranking held: {'yes' if ranking['held'] else 'no'} (Spearman {rho}). "
                 f"Prediction error: MAE {err['mae']:.4f} ({err['mape_percent']:.2f}%), mean "
                 f"{err['mean']:+.4f} (measured − predicted).</p>")
    done = {n: t for n, t in result["mixtures"].items() if t["measured"] is not None}
    values = [t["measured"] for t in done.values()] + [t["predicted"] for t in done.values()]
    fig = go.Figure([go.Scatter(
        x=[t["measured"] for t in done.values()], y=[t["predicted"] for t in done.values()],
        mode="markers+text", text=list(done), textposition="top center", name="mixtures",
        marker={"size": 10, "color": PALETTE[0]},
        hovertemplate="%{text}: measured %{x:.4f}, predicted %{y:.4f}<extra></extra>"),
        go.Scatter(x=[min(values), max(values)], y=[min(values), max(values)], mode="lines",
                   name="predicted = measured", hoverinfo="skip",
                   line={"color": "grey", "dash": "dash", "width": 1})])
    fig.update_xaxes(title_text="measured target loss")
    fig.update_yaxes(title_text="predicted target loss")
    parts.append(page.figure(fig, "validation", 420))
    return "validation", "Check at a larger scale (raymix validate)", "\n".join(parts)


def _runs_section(runs) -> tuple[str, str, str]:
    """Every run as a table sorted by clicking a header (missing values sort last)."""
    header = [str(c) for c in runs.columns]
    types = ["number" if runs[c].dtype.kind in "fiu" else "text" for c in runs.columns]
    rows = []
    for record in runs.itertuples(index=False):
        cells = []
        for value, kind in zip(record, types):
            missing = value is None or (isinstance(value, float) and np.isnan(value))
            if missing:
                cells.append('<td data-value=""></td>')
            elif kind == "number" and isinstance(value, float):
                cells.append(f'<td data-value="{_raw(value)}">{format_number(value)}</td>')
            else:
                cells.append(f'<td data-value="{escape(str(value))}">{escape(str(value))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    text = (f"<p>{len(runs)} runs; click a header to sort by it (again: the other way).</p>"
            f'<div class="scroll">{_table(header, rows, "runs-table", True, types)}</div>')
    return "runs", "Runs", text
