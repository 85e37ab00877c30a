"""Where a sweep that reuses an earlier one's runs draws its new proxies (``mixtures.reuse``).

The old runs already cover the old domains; they all have weight 0 on a new domain, and
a split domain's parts in one fixed ratio. The new proxies are drawn as usual
(:func:`raymix.mixtures.sample_mixtures`), around a prior in which those changed domains
hold at least the share ``focus`` (:func:`focused_prior`), so that most of them vary the weights
the old runs cannot tell apart.
"""

from __future__ import annotations

from collections.abc import Mapping


def focused_prior(prior: Mapping[str, float], changed: list[str],
                  focus: float) -> dict[str, float]:
    """``prior`` with the domains ``changed`` holding at least ``focus`` of it together.

    Parameters
    ----------
    prior : dict of str to float
        Domain -> token share (sums to 1); its order is kept.
    changed : list of str
        The new domains and the parts of split ones.
    focus : float
        Their least share, in [0, 1); each keeps its share within the changed domains,
        and every other domain within the rest. Where they hold it already (or 0, or no
        changed domain): ``prior`` as is.

    Returns
    -------
    dict of str to float
    """
    inside = sum(prior[d] for d in changed)
    if not changed or inside <= 0 or inside >= focus:
        return dict(prior)
    return {d: (focus * w / inside if d in changed else (1 - focus) * w / (1 - inside))
            for d, w in prior.items()}
