"""What the command line prints: a few lines per result, for a person at a terminal."""

from __future__ import annotations

import json
from typing import Any

from raymix.formatting import duration_text, finite, format_number
from raymix.proposal import Proposal, ProposalUncertainty
from raymix.proposal.mixmin import MixMinProposal
from raymix.proposal.verdict import ConfirmationVerdict
from raymix.regression import FitResult
from raymix.regression.groups import GROUP_FEATURE_REGRESSORS
from raymix.report.contents import GroupRow, bound_at, group_rows
from raymix.scaling import backtest_summary, holdout_summary
from raymix.storage import location_of


def json_text(data: Any) -> str:
    """``data`` as JSON text that any parser reads: non-finite numbers are null, and
    ``allow_nan=False`` makes sure no other one gets through."""
    return json.dumps(finite(data), indent=1, allow_nan=False)


def summarise_critical(result: dict[str, Any]) -> str:
    """The critical share, the baseline it keeps and the law behind it, for the terminal."""
    law = result["law"]
    tokens = "the last checkpoint" if result["tokens"] is None else f"{result['tokens']:.4g} tokens"
    lines = [f"critical proportion of '{result['domain']}' for target '{result['target']}' "
             f"at {tokens}: {result['proportion']:.4f} "
             f"(original data {1 - result['proportion']:.4f})",
             f"loss before continual pretraining: {result['baseline']:.4f}; law L(r) = "
             f"{law['c']:.4f} + {law['k']:.4g} * exp({law['t']:.4g} r)"]
    if result.get("message"):
        lines.append(f"note: {result['message']}")
    return "\n".join(lines)


def summarise_mixmin(result: MixMinProposal) -> str:
    """MixMin's weights, predicted loss and convergence, for the terminal."""
    weights = ", ".join(f"{d} {w:.3f}" for d, w in result.weights.items())
    best, best_loss = result.best_single_domain
    state = "converged" if result.converged else "not converged (raise max_steps)"
    return (f"MixMin proposal for '{result.target}': {weights}\n"
            f"predicted target loss {result.predicted_target_loss:.4f} (best single domain: "
            f"{best} {best_loss:.4f}); {state} after {result.steps} steps, "
            f"gap {result.gap[-1]:.2g}")


def summarise_scaling(stages: dict[str, Any]) -> str:
    """The nested laws in a few lines: target scale, held-out checks, what was left out."""
    at = stages["target_scale"]
    kind = "joint scaling law" if "shared" in stages else "nested scaling laws"
    lines = [f"{kind}: {stages['n_predicted']} of {stages['n_mixtures']} mixtures "
             f"predicted at {at['params']:.4g} params ({at['params_from']}), "
             f"{at['tokens']:.4g} tokens ({at['tokens_from']})"]
    for stage in ("step", "size"):
        holdout = stages[stage].get("holdout")
        if holdout:
            lines.append(f"  {stage} law held-out check: {holdout_summary(holdout)}")
        elif stages[stage].get("skipped"):
            lines.append(f"  {stage} law: skipped ({stages[stage]['reason']})")
    if "shared" in stages:
        shared = stages["shared"]
        lines.append(f"  {stages['law']}; E {shared['E']:.4g}, alpha {shared['alpha']:.3g}, "
                     f"beta {shared['beta']:.3g} shared by every mixture")
    lines += [f"  note: {note}" for note in stages["notes"]]
    if "backtest" in stages:  # fit.law / share_exponents / checkpoints left auto
        lines += [f"  {line}" for line in backtest_summary(stages["backtest"])]
    return "\n".join(lines)


def summarise_fit(fitted: FitResult) -> str:
    """One line per regressor, the chosen one marked; the noise floor if measured."""
    lines = []
    for r in fitted.results:
        mark = "*" if r.name == fitted.chosen.name else " "
        lines.append(f"{mark} {r.name:34s} cv_spearman={format_number(r.spearman, 4)} "
                     f"cv_pearson={format_number(r.pearson, 4)} cv_mae={format_number(r.mae, 5)} "
                     f"cv_r2={format_number(r.r2, 4)}")
    lines.append(f"chosen: {fitted.chosen.name} ({fitted.n_runs} runs)")
    if fitted.groups:
        lines.append(f"{', '.join(sorted(GROUP_FEATURE_REGRESSORS))} also saw the totals of "
                     f"the groups {', '.join(fitted.groups)}")
    if fitted.noise is not None:
        lines.append(f"run-to-run noise: std {format_number(fitted.noise.std, 5)} "
                     f"from {fitted.noise.mixtures} repeated mixtures")
    return "\n".join(lines)


def schedule_lines(schedule: list[dict]) -> list[str]:
    """A schedule's phases side by side: each phase's own mixture, a row per domain."""
    head = ("", *(f"phase {p['phase']} ({p['share']:.0%} of steps)" for p in schedule))
    domains = list(schedule[0]["mixture"])
    rows = [head, *((d, *(f"{p['mixture'][d]:.3f}" for p in schedule)) for d in domains)]
    return ["schedule (each phase's own mixture):",
            *_table(rows, right=tuple(range(1, len(head))))]


def _group_lines(groups: list[GroupRow]) -> list[str]:
    """The proposal's total weight per group, its bounds where set, and its domains."""
    rows = []
    for g in groups:
        bounds = f"[{g.lower:.3g}, {g.upper:.3g}]" if g.bounded else ""
        note = (f"at {g.binding['bound']} bound: {g.binding['constraint']}" if g.binding
                else "")
        rows.append((g.name, f"{g.proposed:.3f}", bounds, ", ".join(g.domains), note))
    return ["groups (total weight):", *_table(rows, right=(1,))]


def _confirmation_lines(verdict: ConfirmationVerdict) -> str:
    """The confirmation round's candidates, measured, best first."""
    lines = ["measured in the confirmation round"
             + (" at its larger scale" if verdict.at_larger_scale else "")
             + " (mean target loss over seeds; predicted at the proxy scale):"]
    for name in verdict.order:
        row = verdict.candidates[name]
        lines.append(f"  {'*' if name == verdict.winner else ' '} {name:22s} "
                     f"{row.measured:.4f} ± {format_number(row.measured_std or 0.0, 4)}  "
                     f"(predicted {row.predicted:.4f}, {row.source})")
    unmeasured = [n for n, r in verdict.candidates.items() if r.measured is None]
    if unmeasured:
        lines.append(f"    no finished run: {', '.join(unmeasured)}")
    return "\n".join(lines)


def summarise_proposal(proposal: Proposal) -> str:
    """A few lines for the terminal: the mixture, its prediction next to the baselines',
    and what was written (``proposal.files``)."""
    reg = proposal.fit.quality()["regressor"]
    how = f"{proposal.fit.n_runs} runs; search {proposal.search.method}"
    confirmation = proposal.confirmation
    if confirmation:
        how += (f"; confirmed: measured best of {len(confirmation.candidates)} candidates x "
                f"{confirmation.seeds} seeds")
    lines = [f"proposed mixture for target '{proposal.target}' "
             f"({reg['name']}, CV Spearman {format_number(reg['cv_spearman'], 3)}, "
             f"CV MAE {format_number(reg['cv_mae'], 4)}, {how}):"]
    binding = bound_at(proposal.constraints.binding(proposal.weights), "domain")
    for domain, weight in sorted(proposal.mixture.items(), key=lambda kv: -kv[1]):
        bound = binding.get(domain)
        note = (f"  (at {bound['bound']} bound: {bound['constraint']})"
                if bound and weight > 0 else "")
        lines.append(f"  {domain:20s} {weight:.3f}{note}")
    schedule = proposal.schedule()
    if schedule:
        lines += schedule_lines(schedule)
    if proposal.fit.groups:
        lines += _group_lines(group_rows(proposal.to_dict()))
    lines.append(f"predicted target loss: {proposal.predicted_target_loss:.4f} "
                 f"± {proposal.predicted_std:.4f}")
    if proposal.uncertainty is not None:
        lines += uncertainty_lines(proposal.uncertainty)
    if confirmation:
        lines.append(_confirmation_lines(confirmation))
    for name, base in proposal.written_baselines.items():
        observed = base.observed_target_loss
        extra = (f" ({base.loss_kind} {observed:.4f}, {base.run})"
                 if observed is not None else "")
        lines.append(f"  vs {name:18s} {base.predicted_target_loss:.4f}{extra}")
    lines.extend(f"WARNING: {w}" for w in proposal.warnings)
    if proposal.files:
        # a sweep on object storage: where its files are (not their local mirror)
        lines.append("files: " + ", ".join(location_of(f) for f in proposal.files.values()))
    return "\n".join(lines)


def summarise_objectives(result: dict[str, Any], files: dict[str, str]) -> str:
    """The proposal per objective and the trade-off matrix, for the terminal.

    ``result`` is ``ObjectiveProposals.to_dict()``: row ``[i]`` is the mixture proposed
    for objective ``i``, column ``[j]`` its predicted loss on objective ``j``, as the
    excess over ``j``'s own proposal in percent (the diagonal: ``j``'s own loss).
    """
    proposals, rows = result["objectives"], result["tradeoff"]["rows"]
    names = list(proposals)
    lines = [f"one proposal per objective ({len(names)}; regressors chosen on "
             f"'{result['chosen_on']}': {', '.join(result['regressors'])}):"]
    table = [("", "objective", "own loss", "CV Spearman", "largest weights")]
    for i, name in enumerate(names):
        p = proposals[name]
        top = sorted(p["mixture"].items(), key=lambda kv: -kv[1])[:3]
        table.append((f"[{i + 1}]", name, f"{p['predicted_loss']:.4f}",
                      format_number(p["regressor"]["cv_spearman"], 3),
                      ", ".join(f"{d} {w:.2f}" for d, w in top)))
    lines += _table(table, right=(2, 3))
    lines.append("trade-off: the mixture of row [i] on objective [j], % above [j]'s own "
                 "proposal:")
    matrix = [("proposed for", *(f"[{j + 1}]" for j in range(len(names))))]
    for i, row in enumerate(names):
        matrix.append((f"[{i + 1}] {row}"[:24],
                       *("-" if i == j else f"{rows[row][col]['excess_percent']:+.1f}"
                         for j, col in enumerate(names))))
    lines += _table(matrix, right=tuple(range(1, len(names) + 1)))
    lines.extend(f"WARNING: [{i + 1}] {name}: {w}" for i, name in enumerate(names)
                 for w in proposals[name]["warnings"])
    lines.extend(f"WARNING: {w}" for w in result.get("warnings", []))
    if files:
        lines.append("files: " + ", ".join(location_of(f) for f in files.values()))
    return "\n".join(lines)


WIDEST = 5  # domains whose weight spread the terminal shows


def uncertainty_lines(u: ProposalUncertainty) -> list[str]:
    """The bootstrap's interval, P(beats each baseline) and weight spread (indented lines)."""
    (lo, hi), (run_lo, run_hi) = u.interval, u.run_interval
    beats = ", ".join(f"{name.replace('_', ' ')} {p:.2f}" for name, p in u.p_beats.items())
    widest = sorted(u.weights.items(), key=lambda kv: kv[1][0] - kv[1][1])[:WIDEST]
    spread = ", ".join(f"{d} {w_lo:.2f}-{w_hi:.2f}" for d, (w_lo, w_hi) in widest)
    if len(u.weights) > WIDEST:
        spread += f" (the {WIDEST} widest of {len(u.weights)})"
    lines = [f"  {u.level:.0%} interval: {lo:.4f} to {hi:.4f} (one run measured: {run_lo:.4f} "
             f"to {run_hi:.4f}); {u.refits} bootstrap refits of {u.regressor}",
             f"  P(proposal beats): {beats}",
             f"  weights across refits ({(1 - u.level) / 2:.0%}-{(1 + u.level) / 2:.0%}): "
             f"{spread}; their optima lie {u.mean_distance:.0%} (total variation) from "
             "the proposal on average"]
    return lines + ([f"  note: {u.note}"] if u.note else [])


def summarise_cost(preview: dict[str, Any]) -> str:
    """``raymix plan``: the proxies, the runs of each command, their cost and time.

    ``preview`` is :meth:`raymix.workflows.costing.CostPreview.to_dict`.
    """
    trial, rate = preview["trial"], preview["rate"]
    unit = rate["device_hours"]
    lines = [f"raymix plan {preview['name']}: what the sweep will train and cost "
             "(nothing starts)", "", *_trial_lines(trial), ""]
    header = ("size", "shape L x H/I, seq", "params", "non-emb.", "FLOPs/token", "steps",
              "tokens/run", "FLOPs/run", "micro", "memory", "time/run")
    rows = [header]
    for p in preview["proxies"]:
        m = p["model"]
        fits = {True: "", False: " TOO BIG", None: ""}[p["fits"]]
        rows.append((p["size"], f"{m['layers']} x {m['hidden']}/{m['intermediate']}, "
                                f"{m['seq_len']}",
                     _si(p["params"]), _si(p["non_embedding_params"]),
                     _si(p["flops_per_token"]),
                     str(p["steps"]), _si(p["train_tokens"]), _si(p["flops"]),
                     str(p["micro_batch"]), _gib(p["memory_gib"]) + fits,
                     _duration(p["seconds"])))
    lines += _table(rows)
    lines += ["", "runs"]
    gpu = preview["device"] == "gpu"
    rows = [("command", "what", "size", "runs", "FLOPs", unit)
            + ((f"at {rate['assumed_mfu']:.0%} MFU",) if gpu else ())]
    for command in preview["commands"]:
        groups = [g for g in preview["groups"] if g["command"] == command["command"]]
        at_most = any(g["at_most"] for g in groups)
        for i, g in enumerate([*groups, {**command, "what": "total", "size": "",
                                         "at_most": at_most}]):
            rows.append((command["command"] if i == 0 else "", g["what"], g["size"],
                         ("<= " if g["at_most"] else "") + str(g["runs"]), _si(g["flops"]),
                         _hours(g["device_hours"]))
                        + ((_hours(g["device_hours_at_assumed_mfu"]),) if gpu else ()))
    lines += _table(rows, right=(3, 4, 5, 6))
    lines += ["", "wall time (each wave: its work over the trials at once, at least its "
                  "longest run)"]
    for command in preview["commands"]:
        for w in command["wall"]:
            lines.append(f"  {command['command']:16s} {_duration(w['seconds']):>8s}  with "
                         f"{w['slots']:g} trial{'s' * (w['slots'] != 1)} at once on {w['on']}")
    lines += ["", "micro-batch: " + "; ".join(dict.fromkeys(p["micro_batch_from"]
                                                         for p in preview["proxies"]))]
    by_memory = [f"{p['size']} {p['per_gpu_by_memory']}" for p in preview["proxies"]
                 if p["per_gpu_by_memory"] is not None]
    if by_memory:
        lines.append("proxies per GPU by memory: " + ", ".join(by_memory))
    if rate["measured"]:
        lines += ["time from (each size: the measured shape nearest in FLOPs per token, or an"
                  " assumed MFU):"]
        lines += [f"  {source}" for source in rate["sources"]]
    elif rate["assumed"]:
        lines.append(f"time at {rate['assumed']}")
    else:
        lines.append("time: no measured speed for this device; give --throughput FILE")
    lines += [f"note: {note}" for note in preview["notes"]]
    refusal = preview["refusal"]
    if refusal:
        lines.append(f"REFUSED: raymix sweep would stop before starting ({refusal['field']})")
    return "\n".join(lines)


def _trial_lines(trial: dict[str, Any]) -> list[str]:
    """What a trial gets, and how many fit on a GPU or a node."""
    memory = (f"{trial['memory_gib']:.3g} GiB of memory ({trial['memory_from']})"
              if trial["memory_gib"] else "memory not given (compute.gpu_memory_gb or "
                                         "compute.memory_per_trial_gb): not checked")
    if trial["gpus"]:
        packed = (f"{trial['per_gpu']} trial{'s' * (trial['per_gpu'] > 1)} per GPU"
                  if trial.get("per_gpu") else f"{trial['gpus']:g} GPUs per trial")
        return [f"each trial: {trial['cpus']:g} CPU, {trial['gpus']:g} GPU ({packed}); {memory}"]
    node, per = trial["node"], trial["per_node"]
    fit = f"{per['by_cpus']} by CPUs ({node['cpus']} CPUs, {node['cpus_from']})"
    if per["by_memory"] is not None:
        fit += f", {per['by_memory']} by compute.memory_per_trial_gb ({node['memory_gib']:.0f} GiB)"
    return [f"each trial: {trial['cpus']:g} CPU, no GPU; {memory}",
            f"trials per node: {fit}"]


def _table(rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> list[str]:
    """Rows as aligned columns, two spaces apart, indented; ``right`` columns right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                             for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
            for row in rows]


def _si(value: float | None) -> str:
    """1.77M, 4.35T: three significant digits and an SI prefix."""
    if value is None:
        return "n/a"
    for prefix, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6),
                          ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{prefix}"
    return f"{value:.3g}"


_duration = duration_text  # one rule for every duration shown


def _gib(gib: float) -> str:
    return f"{gib * 1024:.0f} MiB" if gib < 1 else f"{gib:.3g} GiB"


def _hours(hours: float | None) -> str:
    if hours is None:
        return "n/a"
    return f"{hours:,.0f}" if hours >= 100 else f"{hours:.3g}"
