"""The proposal: the mixture to train the large model on, found under real constraints.

- :mod:`~raymix.proposal.search`: the search of the bounded simplex for the mixture a
  fitted regressor predicts best (``search.method``: simulate, exact, tpe, cmaes,
  pessimistic);
- :mod:`~raymix.proposal.proposer`: fit, search and compare with the baselines:
  :class:`Proposal`;
- :mod:`~raymix.proposal.uncertainty`: bootstrap refits of the regressor: the proposal's
  90% interval, P(it beats each baseline) and its weights' spread
  (:class:`ProposalUncertainty`);
- :mod:`~raymix.proposal.objectives`: one proposal per objective (domain, task, their
  average) and what each costs on the others (Olmix's trade-off);
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
from raymix.proposal.objectives import ObjectiveProposals, propose_objectives
from raymix.proposal.proposer import Proposal, fit_warnings, propose_mixture
from raymix.proposal.search import SearchResult, search_mixture
from raymix.proposal.uncertainty import ProposalUncertainty, bootstrap_uncertainty

__all__ = ["CriticalProportion", "MixMinResult", "ObjectiveProposals", "Proposal",
           "ProposalUncertainty", "SearchResult", "bootstrap_uncertainty", "critical_from_runs",
           "critical_proportion", "fit_warnings", "mixmin", "mixture_loss", "propose_mixture",
           "propose_objectives", "search_mixture"]
