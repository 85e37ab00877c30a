"""The strategies: how a sweep chooses its proxies' mixtures (``mixtures.strategy``).

Each strategy is a :class:`MixtureStrategy` (:mod:`~raymix.mixtures.strategies.base`) in a
file of its own, and :data:`STRATEGIES` names them:

``random`` (:mod:`~raymix.mixtures.strategies.random`)
    RegMix's Dirichlet draws; not adaptive, so a sweep draws its whole plan up front.
``bayesopt`` (:mod:`~raymix.mixtures.strategies.bayesopt`)
    Random draws, then a Gaussian process picks each batch (GP-BUCB).
``design`` (:mod:`~raymix.mixtures.strategies.design`)
    A space-filling design, then the same Gaussian-process batches.

Adding a strategy: a file ``<name>.py`` here whose ``STRATEGY`` is a
:class:`MixtureStrategy` subclass that sets ``name`` and ``adaptive`` and writes
``_rows(n, rng)``, and ``"<name>"`` in :data:`raymix.config.STRATEGIES`, the names a
config may give: that tuple is the registry (the config layer, below this one, checks the
names; this module imports the file of each).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from raymix.config import STRATEGIES as NAMES
from raymix.errors import ConfigError, UserError
from raymix.mixtures.strategies.base import STATE_VERSION, MixtureStrategy
from raymix.mixtures.strategies.bayesopt import BayesOptStrategy
from raymix.mixtures.strategies.design import DesignStrategy
from raymix.mixtures.strategies.random import RandomStrategy

# name -> class: the file <name>.py of each name the config allows, and its STRATEGY
STRATEGIES: dict[str, type[MixtureStrategy]] = {
    name: importlib.import_module(f"{__name__}.{name}").STRATEGY for name in NAMES
}


def strategy_class(name: str) -> type[MixtureStrategy]:
    """The strategy called ``name``.

    Raises
    ------
    ConfigError
        Naming ``mixtures.strategy`` when there is none of that name (the config's own
        check says the same).
    """
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        raise ConfigError("mixtures.strategy",
                          f"must be one of {', '.join(STRATEGIES)} (got {name!r})") from None


def make_strategy(strategy: str, domains: Sequence[str], lower=None, upper=None,
                  **settings) -> MixtureStrategy:
    """A new strategy of the name ``strategy`` (the settings: :class:`MixtureStrategy`)."""
    return strategy_class(strategy)(domains, lower, upper, **settings)


def restore_strategy(state: dict[str, Any]) -> MixtureStrategy:
    """Rebuild a strategy saved by :meth:`MixtureStrategy.to_dict`; it continues exactly."""
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise UserError(f"not a saved sampler state of version {STATE_VERSION}; "
                        "start a new sweep folder")
    name = state.get("strategy")
    if name not in STRATEGIES:
        raise UserError(f"saved sampler state names no strategy raymix knows ({name!r}); "
                        "start a new sweep folder")
    return STRATEGIES[name].from_dict(state)


__all__ = ["STRATEGIES", "BayesOptStrategy", "DesignStrategy", "MixtureStrategy",
           "RandomStrategy", "make_strategy", "restore_strategy", "strategy_class"]
