"""The proposal: the mixture to train the large model on, found under real constraints.

- :mod:`~raymix.proposal.search`: the search of the bounded simplex for the mixture a
  fitted regressor predicts best (``search.method``: simulate, exact, tpe, cmaes,
  pessimistic);
- :mod:`~raymix.proposal.proposer`: fit, search and compare with the baselines:
  :class:`Proposal`;
- :mod:`~raymix.proposal.mixmin`: MixMin's convex mixture of per-domain proxies;
- :mod:`~raymix.proposal.critical_share`: how much of a new domain continual
  pretraining can take before the original data's loss rises.
"""

from raymix.proposal.critical_share import (
    CriticalProportion,
    critical_from_runs,
    critical_proportion,
)
from raymix.proposal.mixmin import MixMinResult, mixmin, mixture_loss
from raymix.proposal.proposer import Proposal, fit_warnings, propose_mixture
from raymix.proposal.search import SearchResult, search_mixture

__all__ = ["CriticalProportion", "MixMinResult", "Proposal", "SearchResult",
           "critical_from_runs", "critical_proportion", "fit_warnings", "mixmin",
           "mixture_loss", "propose_mixture", "search_mixture"]
