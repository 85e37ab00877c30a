"""The strategies' registry: one name per strategy, the config's names, and adding one."""

import json

import numpy as np
import pytest
from conftest import TINY

from raymix.config import STRATEGIES as CONFIG_NAMES
from raymix.config import parse_config
from raymix.errors import ConfigError, UserError
from raymix.mixtures import STRATEGIES, MixtureStrategy, make_strategy, restore_strategy

DOMAINS = ["a", "b", "c"]


def sweep_config(strategy: str):
    return parse_config({**TINY, "mixtures": {**TINY["mixtures"], "strategy": strategy}})


def test_the_registry_holds_the_names_a_config_may_give():
    # raymix.config sits below raymix.mixtures, so it keeps the names itself
    assert tuple(STRATEGIES) == CONFIG_NAMES
    for name, cls in STRATEGIES.items():
        assert issubclass(cls, MixtureStrategy) and cls.name == name


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_a_strategy_is_adaptive_exactly_when_its_config_is(name):
    assert STRATEGIES[name].adaptive == sweep_config(name).is_adaptive


def test_an_unknown_name_gives_the_configs_one_line_error():
    with pytest.raises(ConfigError) as lookup:
        make_strategy("grid", DOMAINS)
    with pytest.raises(ConfigError) as config:
        sweep_config("grid")
    assert str(lookup.value) == str(config.value) == (
        "config field 'mixtures.strategy': must be one of random, bayesopt, design (got 'grid')")


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_a_saved_strategy_comes_back_as_its_own_class(name):
    strategy = make_strategy(name, DOMAINS, seed=1, initial=2, pool_size=64)
    strategy.suggest(2)
    restored = restore_strategy(json.loads(json.dumps(strategy.to_dict())))
    assert type(restored) is type(strategy)
    np.testing.assert_array_equal(restored.suggest(2), strategy.suggest(2))


def test_a_saved_state_of_an_unknown_strategy_is_refused_in_one_line():
    state = {**make_strategy("random", DOMAINS).to_dict(), "strategy": "grid"}
    with pytest.raises(UserError, match="no strategy raymix knows \\('grid'\\); start a new"):
        restore_strategy(state)


class CentreStrategy(MixtureStrategy):
    """A strategy in a few lines: always the prior (what a new file in
    raymix/mixtures/strategies/ holds)."""

    name = "centre"
    adaptive = True

    def _rows(self, n, rng):
        return np.tile(self.box.prior, (n, 1))


def test_adding_a_strategy_is_a_class_and_its_registry_entry(monkeypatch):
    monkeypatch.setitem(STRATEGIES, CentreStrategy.name, CentreStrategy)
    strategy = make_strategy("centre", DOMAINS, prior=[1, 1, 2])
    np.testing.assert_allclose(strategy.suggest(2), [[0.25, 0.25, 0.5]] * 2)
    restored = restore_strategy(json.loads(json.dumps(strategy.to_dict())))
    assert isinstance(restored, CentreStrategy) and len(restored.suggested) == 2
