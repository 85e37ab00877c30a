"""The same answer from the same config: an adaptive sweep in synchronous batches
(``mixtures.batch_size``) trained twice on real local Ray clusters, one trial at a time and
two at once, chooses bit-identical mixtures and measures bit-identical losses (so the fit
and the proposal, seeded, are the same too)."""

from __future__ import annotations

import pytest
from conftest import experiment_counts, finish, raymix_cli, write_config

FILES = ("mixtures.csv", "metrics.csv", "runs.csv")  # runs.csv: every evaluation


@pytest.mark.slow  # two sweeps: 2 to 2.6 min on 2 busy cores
def test_an_adaptive_sweep_in_batches_gives_the_same_mixtures_on_one_slot_and_two(tmp_path,
                                                                                 cache_dir):
    sweeps = {}
    for name, compute in (("one", {"max_concurrent": 1}), ("two", {"max_concurrent": 2})):
        folder = tmp_path / name
        folder.mkdir()
        config = write_config(folder, cache_dir,
                              mixtures={"count": 6, "repeats": 0, "strategy": "bayesopt",
                                        "initial_runs": 2, "batch_size": 2},
                              compute=compute)
        out = finish(raymix_cli("sweep", str(config), "--no-propose"))
        assert "then batches of 2, each once the runs before it are in" in out
        sweeps[name] = (folder / "sweep", out)

    (one, one_out), (two, two_out) = sweeps["one"], sweeps["two"]
    # one trial at a time, then up to two: whether Tune overlaps two tiny trials depends on
    # the machine's load (tests/unit/test_strategy.py feeds every arrival order for certain)
    assert experiment_counts(one_out.splitlines(), "adaptive")[0]["at_once"] == 1
    assert experiment_counts(two_out.splitlines(), "adaptive")[0]["at_once"] <= 2
    for name in FILES:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert len((one / "mixtures.csv").read_text().splitlines()) == 1 + 6
    assert (one / "strategy.json").read_bytes() == (two / "strategy.json").read_bytes()
