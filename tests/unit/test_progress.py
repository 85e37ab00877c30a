"""A sweep's progress lines, and the Tune callback that prints them."""

from __future__ import annotations

import builtins

from ray import cloudpickle

from raymix.sweep.progress import SweepProgress


def test_the_callback_pickles_where_print_was_replaced(monkeypatch, capsys):
    """Tune pickles its callbacks with the experiment. Ray's tqdm replaces builtins.print
    in the driver once a bar is shown; the default log must still pickle (it once held the
    original builtin, which pickle then could not find by name)."""
    monkeypatch.setattr(builtins, "print", lambda *args, **kwargs: None)
    progress = cloudpickle.loads(cloudpickle.dumps(SweepProgress(total=2, already_done=0)))
    monkeypatch.undo()
    progress.log("[sweep] a line")
    assert capsys.readouterr().out == "[sweep] a line\n"


def test_the_aggregator_line_keeps_its_numbers_in_order():
    """p99 and max print alike: a p99 that is the max must not print above it."""
    from bench_sweep_load import aggregator_line

    from raymix.sweep.aggregator import AggregatorLoad
    from raymix.sweep.runner import describe_load

    load = AggregatorLoad(stored=90, held=300, add_ms_median=1.26, add_ms_p99=37.4,
                          add_ms_max=37.4, start_rss_mib=567.2, rss_mib=616.0, peak_rss_mib=678.9)
    parsed = aggregator_line([describe_load(load)])
    assert parsed["add_ms_median"] <= parsed["add_ms_p99"] <= parsed["add_ms_max"] == 37.4
    assert (parsed["stored"], parsed["records_held"]) == (90, 300)
