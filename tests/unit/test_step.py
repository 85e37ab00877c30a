"""How a training step runs: micro-batches, the loss, compilation, batches built ahead.

The gradient of a batch cut into micro-batches is the whole batch's; the chunked loss
trains the same proxy as the plain one; a compiled step trains the same proxy as an
eager one; a GPU that runs out of memory gives one clear error.
"""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY

from raymix.config import ModelConfig, TrainingConfig, load_config, parse_config
from raymix.errors import ConfigError
from raymix.training import loop
from raymix.training.batches import MixtureBatches, Prefetcher
from raymix.training.loop import (
    ProxyData,
    ProxyOutOfMemory,
    StepLoss,
    solo_forward,
    train_proxy,
)
from raymix.training.memory import check_memory, micro_batch_for
from raymix.training.model import build_model

CONFIGS = Path(__file__).resolve().parents[2] / "jobs" / "configs"
MODEL = ModelConfig(layers=2, hidden=32, heads=2, intermediate=64, seq_len=24)
VOCAB = 300


@pytest.fixture(scope="module")
def data() -> ProxyData:
    rng = np.random.default_rng(0)
    # a real-text stand-in is not needed for gradients: any token ids will do
    a, b = (rng.integers(0, VOCAB, 20_000).astype(np.uint16) for _ in range(2))
    return ProxyData(train={"a": a, "b": b}, valid={"a": a[:2000], "b": b[:2000]},
                     target_name="a", target_weights={"a": 1.0}, vocab_size=VOCAB)


def _gradients(batch: torch.Tensor, micro: int, loss: str) -> dict[str, torch.Tensor]:
    model = build_model(MODEL, VOCAB, seed=0)
    StepLoss(solo_forward(model, loss, torch.device("cpu")), compile=False).accumulate(batch, micro)
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("loss", ["plain", "chunked"])
def test_micro_batches_give_the_whole_batch_gradient(data, loss):
    batch = MixtureBatches(data.train, {"a": 0.5, "b": 0.5}, 1, 12, MODEL.seq_len, seed=0)[0]
    whole = _gradients(batch, 12, "plain")
    for micro in (6, 3, 1):
        parts = _gradients(batch, micro, loss)
        for name, grad in whole.items():
            torch.testing.assert_close(parts[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_a_run_in_micro_batches_trains_the_same_proxy(data):
    base = TrainingConfig(steps=12, batch_size=8, warmup_steps=2, eval_every=4,
                          eval_tokens=480, loss="plain", compile="false")
    whole = train_proxy({"a": 0.3, "b": 0.7}, data, MODEL, base)
    for changes in ({"micro_batch_size": 2}, {"micro_batch_size": 4, "loss": "chunked"}):
        other = train_proxy({"a": 0.3, "b": 0.7}, data, MODEL,
                            dataclasses.replace(base, **changes))
        assert other.micro_batch_size == changes["micro_batch_size"]
        assert other.loss == changes.get("loss", "plain")
        for x, y in zip(other.evaluations, whole.evaluations, strict=True):
            assert x.target_loss == pytest.approx(y.target_loss, abs=1e-4)
    assert whole.micro_batch_size == 8 and whole.compiled is False
    assert whole.tokens_per_second > 0 and 0 <= whole.data_wait_fraction < 1


def test_auto_micro_batch_is_the_largest_divisor_that_fits():
    training = TrainingConfig(batch_size=512)
    regmix = ModelConfig(layers=2, hidden=256, heads=8, intermediate=512, seq_len=2048)
    assert micro_batch_for(regmix, training, 50432, None, gpu=True) == 512  # memory unknown
    assert micro_batch_for(regmix, training, 50432, 80, gpu=True) == 512
    assert micro_batch_for(regmix, training, 50432, 20, gpu=True) == 256
    assert micro_batch_for(regmix, training, 50432, 0.01, gpu=True) == 1  # refused later
    fixed = dataclasses.replace(training, micro_batch_size=32)
    assert micro_batch_for(regmix, fixed, 50432, 20, gpu=True) == 32


@pytest.mark.parametrize("name", ["regmix-1m.yaml", "regmix-60m.yaml"])
def test_regmix_configs_fit_an_80_gb_gpu_in_micro_batches(name):
    cfg = load_config(CONFIGS / name)
    check_memory(cfg)  # accepted
    whole = dataclasses.replace(cfg, training=dataclasses.replace(cfg.training,
                                                                  micro_batch_size=512))
    with pytest.raises(ConfigError, match="micro-batch of 512 x seq_len 2048"):
        check_memory(whole)  # the whole batch at once would not fit


def test_a_proxy_that_cannot_fit_even_one_sequence_is_refused():
    cfg = parse_config({**TINY, "model": {**TINY["model"], "hidden": 4096, "heads": 32,
                                          "intermediate": 16384, "layers": 48},
                        "training": {**TINY["training"], "micro_batch_size": "auto"},
                        "compute": {"gpus_per_trial": 0.25, "gpu_memory_gb": 16}})
    with pytest.raises(ConfigError, match="a micro-batch of 1 x"):
        check_memory(cfg)


@pytest.mark.parametrize("value, problem", [
    (3, "must divide training.batch_size"), (0, "must be 1 to"), ("half", "whole number or auto"),
])
def test_bad_micro_batch_sizes_are_refused(value, problem):
    with pytest.raises(ConfigError, match=problem):
        parse_config({**TINY, "training": {**TINY.get("training", {}), "batch_size": 8,
                                           "micro_batch_size": value}})


@pytest.mark.parametrize("key, value, problem", [
    ("loss", "fast", "must be one of auto, fused, chunked, plain"),
    ("compile", "yes", "must be true, false or auto"),
])
def test_bad_loss_and_compile_are_refused(key, value, problem):
    with pytest.raises(ConfigError, match=problem):
        parse_config({**TINY, "training": {**TINY.get("training", {}), key: value}})


def test_compile_setting_reads_yaml_booleans():
    cfg = parse_config({**TINY, "training": {**TINY.get("training", {}), "compile": True}})
    assert cfg.training.compile == "true"
    assert loop.compile_step("auto", torch.device("cpu")) is False
    assert loop.compile_step("auto", torch.device("cuda")) is True


def test_a_gpu_out_of_memory_becomes_one_clear_error(data, monkeypatch):
    def out_of_memory(self, batch, micro):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB. GPU 0 "
                                     "has a total capacity of 79.1 GiB\nmore detail")

    monkeypatch.setattr(StepLoss, "accumulate", out_of_memory)
    training = TrainingConfig(steps=6, batch_size=4, warmup_steps=1, micro_batch_size=2)
    with pytest.raises(ProxyOutOfMemory, match="micro-batch of 2 sequences .*Tried to allocate "
                                               "3.00 GiB.*training.micro_batch_size lower"):
        train_proxy({"a": 1.0}, data, MODEL, training)


def test_batches_built_ahead_arrive_in_order_and_errors_reach_the_loop(data):
    sampler = MixtureBatches(data.train, {"a": 1.0}, 5, 2, 8, seed=0)
    same = MixtureBatches(data.train, {"a": 1.0}, 5, 2, 8, seed=0)
    expected = [same[s] for s in range(5)]
    with Prefetcher(sampler, 5, torch.device("cpu")) as prefetch:
        got = [prefetch.next() for _ in range(5)]
    for x, y in zip(got, expected, strict=True):
        assert torch.equal(x, y)

    class Broken:
        def __getitem__(self, step):
            raise ValueError("no tokens")

    with Prefetcher(Broken(), 3, torch.device("cpu")) as prefetch, \
            pytest.raises(ValueError, match="no tokens"):
        prefetch.next()
    with Prefetcher(sampler, 5, torch.device("cpu")):
        pass  # leaving early stops the thread (a diverged run leaves mid-way)


def test_a_compilation_that_fails_trains_eagerly_after_a_one_line_notice(data, monkeypatch,
                                                                         capsys):
    def broken_compile(fn, **kwargs):
        def compiled(*args):
            raise RuntimeError("inductor: no C++ compiler found\nlong details")
        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    training = TrainingConfig(steps=6, batch_size=4, warmup_steps=1, eval_every=2,
                              eval_tokens=240, compile="true", loss="plain")
    record = train_proxy({"a": 1.0}, data, MODEL, training)
    eager = train_proxy({"a": 1.0}, data, MODEL, dataclasses.replace(training, compile="false"))
    notice = capsys.readouterr().err.strip().splitlines()
    assert notice == ["raymix: note: torch.compile failed (RuntimeError: inductor: no C++ "
                      "compiler found); training without compiling"]
    assert record.compiled is False and record.compile_seconds is None
    assert record.final_target_loss == pytest.approx(eager.final_target_loss, abs=1e-6)
