"""What the command line prints: a few lines per result, for a person at a terminal."""

from __future__ import annotations

from typing import Any

from raymix.formatting import format_number
from raymix.regression import FitResult
from raymix.scaling import holdout_summary


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


def summarise_mixmin(result: dict[str, Any]) -> str:
    """MixMin's weights, predicted loss and convergence, for the terminal."""
    weights = ", ".join(f"{d} {w:.3f}" for d, w in result["weights"].items())
    best = min(result["single_domain_target_loss"].items(), key=lambda kv: kv[1])
    state = "converged" if result["converged"] else "not converged (raise max_steps)"
    return (f"MixMin proposal for '{result['target']}': {weights}\n"
            f"predicted target loss {result['predicted_target_loss']:.4f} (best single domain: "
            f"{best[0]} {best[1]:.4f}); {state} after {result['steps']} steps, "
            f"gap {result['gap'][-1]:.2g}")


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
    if fitted.noise is not None:
        lines.append(f"run-to-run noise: std {format_number(fitted.noise.std, 5)} "
                     f"from {fitted.noise.mixtures} repeated mixtures")
    return "\n".join(lines)


def _confirmation_lines(verdict: dict) -> str:
    """The confirmation round's candidates, measured, best first."""
    larger = verdict.get("scale", {}).get("at") == "confirm"
    lines = ["measured in the confirmation round" + (" at its larger scale" if larger else "")
             + " (mean target loss over seeds; predicted at the proxy scale):"]
    for name in verdict["order"]:
        row = verdict["candidates"][name]
        std = row["measured_std"]
        lines.append(f"  {'*' if name == verdict['winner'] else ' '} {name:22s} "
                     f"{row['measured']:.4f} ± {format_number(std or 0.0, 4)}  "
                     f"(predicted {row['predicted']:.4f}, {row['source']})")
    unmeasured = [n for n, r in verdict["candidates"].items() if r["measured"] is None]
    if unmeasured:
        lines.append(f"    no finished run: {', '.join(unmeasured)}")
    return "\n".join(lines)


def summarise_proposal(proposal: dict, files: dict[str, str]) -> str:
    """A few lines for the terminal: the mixture, its prediction next to the baselines'.

    ``proposal`` is ``Proposal.to_dict()``; ``files`` what was written.
    """
    reg = proposal["regressor"]
    how = f"{proposal['n_runs']} runs; search {proposal['search']['method']}"
    confirmation = proposal.get("confirmation")
    if confirmation:
        how += (f"; confirmed: measured best of {len(confirmation['candidates'])} candidates x "
                f"{confirmation['seeds']} seeds")
    lines = [f"proposed mixture for target '{proposal['target']}' "
             f"({reg['name']}, CV Spearman {format_number(reg['cv_spearman'], 3)}, "
             f"CV MAE {format_number(reg['cv_mae'], 4)}, {how}):"]
    binding = {b["domain"]: b for b in proposal["constraints"]["binding"]}
    for domain, weight in sorted(proposal["mixture"].items(), key=lambda kv: -kv[1]):
        bound = binding.get(domain)
        note = (f"  (at {bound['bound']} bound: {bound['constraint']})"
                if bound and weight > 0 else "")
        lines.append(f"  {domain:20s} {weight:.3f}{note}")
    lines.append(f"predicted target loss: {proposal['predicted_target_loss']:.4f} "
                 f"± {proposal['predicted_std']:.4f}")
    if confirmation:
        lines.append(_confirmation_lines(confirmation))
    for name, base in proposal["baselines"].items():
        observed = base.get("observed_target_loss", base.get("extrapolated_target_loss"))
        kind = "observed" if "observed_target_loss" in base else "extrapolated"
        extra = f" ({kind} {observed:.4f}, {base.get('run')})" if observed is not None else ""
        lines.append(f"  vs {name:18s} {base['predicted_target_loss']:.4f}{extra}")
    lines.extend(f"WARNING: {w}" for w in proposal.get("warnings", []))
    if files:
        lines.append("files: " + ", ".join(files.values()))
    return "\n".join(lines)
