"""A compiled step: each shape of a stacked group compiles a static graph of its own, kept
in raymix's cache (the second shape of a process once compiled a dynamic graph, which
failed in Inductor on a GPU and fell back to eager)."""

from __future__ import annotations

import dataclasses
import os

import torch
from test_proxy import MODEL, TRAIN, data  # noqa: F401  (the fixture: real text as bytes)

from raymix.training import loop, train_proxy
from raymix.training.group import train_group

MIXTURES = [{"code": 0.8, "prose": 0.2}, {"code": 0.3, "prose": 0.7}, {"code": 0.5, "prose": 0.5}]
COMPILED = dataclasses.replace(TRAIN, steps=2, eval_every=2, eval_tokens=64, compile="true")


def record_graphs(monkeypatch) -> list[tuple[list[str], set[tuple[int, ...]]]]:
    """Every graph ``torch.compile`` makes from now on, caught before Inductor (a backend
    that records it and runs it eagerly): its symbolic sizes and its inputs' shapes."""
    graphs = []

    def recording_backend(gm: torch.fx.GraphModule, example_inputs):
        # a dynamic graph's sizes are symbols of its shape environment (before the fix the
        # second shape's had two: the batch's model axis and its storage's size)
        shape_env = torch._guards.TracingContext.get().fake_mode.shape_env
        symbolic = sorted(str(symbol) for symbol in shape_env.backed_var_to_val)
        shapes = {tuple(x.shape) for x in example_inputs if isinstance(x, torch.Tensor)}
        graphs.append((symbolic, shapes))
        return gm.forward

    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile",
                        lambda fn, **kw: real_compile(fn, **{**kw, "backend": recording_backend}))
    torch.compiler.reset()
    return graphs


def test_a_second_group_shape_in_one_process_compiles_a_static_graph(data,  # noqa: F811
                                                                      monkeypatch):
    """Groups of 2, then 3, then 2 again: two static graphs, the third group reuses the
    first's."""
    graphs = record_graphs(monkeypatch)
    torch.set_num_threads(1)
    try:
        for size in (2, 3, 2):
            records = train_group(MIXTURES[:size], list(range(size)), data, MODEL, COMPILED,
                                  device=torch.device("cpu"))
            assert records[0].compiled and records[0].status == "ok"
    finally:
        torch.compiler.reset()
    assert len(graphs) == 2  # the third group (a shape seen before) compiled nothing
    assert [symbolic for symbolic, _ in graphs] == [[], []]  # no size is symbolic
    assert any(shape[0] == 3 for shape in graphs[1][1])


def test_a_later_run_of_a_shape_in_the_process_compiles_nothing(data,  # noqa: F811
                                                                monkeypatch):
    """Solo runs of one shape (a trial process's runs, one after another; each a new model
    and new batches) compile one graph between them."""
    graphs = record_graphs(monkeypatch)
    torch.set_num_threads(1)
    try:
        for seed in (0, 1):
            record = train_proxy(MIXTURES[0], data, MODEL,
                                 dataclasses.replace(COMPILED, seed=seed),
                                 device=torch.device("cpu"))
            assert record.compiled
    finally:
        torch.compiler.reset()
    assert len(graphs) == 1 and graphs[0][0] == []


def test_compiled_code_is_kept_in_raymix_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("RAYMIX_CACHE", str(tmp_path))
    assert loop.use_compile_cache() == tmp_path / "inductor"
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "inductor")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    assert loop.use_compile_cache() == tmp_path / "mine"  # the user's own setting wins


def test_torchs_own_default_is_not_taken_for_the_users_setting(monkeypatch, tmp_path):
    """Importing torch._dynamo sets TORCHINDUCTOR_CACHE_DIR to torch's default: raymix's
    folder still wins over that; a folder that cannot be made leaves torch's default."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())
    monkeypatch.setenv("RAYMIX_CACHE", str(tmp_path))
    assert loop.use_compile_cache() == tmp_path / "inductor"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("RAYMIX_CACHE", str(tmp_path / "file"))  # no folder can be made there
    assert loop.use_compile_cache() is None
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == default_cache_dir()
