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
