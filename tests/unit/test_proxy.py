"""Proxy training on real text (stdlib sources as bytes): schedule, batches, evaluation, record."""

import dataclasses
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from raymix.config import ModelConfig, TrainingConfig
from raymix.errors import UserError
from raymix.training.batches import MixtureBatches, _apportion
from raymix.training.loop import ProxyData, learning_rate, train_proxy


def _bytes_of(*names: str) -> np.ndarray:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    text = b"".join((stdlib / n).read_bytes() for n in names)
    return np.frombuffer(text, dtype=np.uint8).astype(np.uint16)


@pytest.fixture(scope="module")
def data() -> ProxyData:
    code = _bytes_of("argparse.py", "functools.py")
    prose = _bytes_of("pydoc_data/topics.py")
    return ProxyData(
        train={"code": code[:-4096], "prose": prose[:-4096]},
        valid={"code": code[-4096:], "prose": prose[-4096:]},
        target_name="mix", target_weights={"code": 0.25, "prose": 0.75}, vocab_size=256)


MODEL = ModelConfig(layers=1, hidden=32, heads=2, intermediate=64, seq_len=32)
TRAIN = TrainingConfig(steps=30, batch_size=8, lr=1e-2, warmup_steps=3, eval_every=10,
                       eval_tokens=1024)


def test_learning_rate_warms_up_then_decays():
    cfg = TrainingConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    lrs = [learning_rate(s, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(0.1, abs=0.01)


def test_batches_follow_the_mixture_exactly(data):
    batches = MixtureBatches(data.train, {"code": 0.3, "prose": 0.7}, steps=50, batch_size=8,
                             seq_len=16, seed=0)
    shares = np.bincount(batches.domain_of.ravel(), minlength=2) / batches.domain_of.size
    assert shares.tolist() == [0.3, 0.7]
    batch = batches[0]
    assert batch.shape == (8, 17)
    # each row is a real window of its domain's tokens
    for row, d in zip(batch.numpy(), batches.domain_of[0]):
        tokens = data.train[["code", "prose"][d]]
        start = np.flatnonzero(tokens[: len(tokens) - 16] == row[0])
        assert any(np.array_equal(tokens[s:s + 17], row) for s in start)


def test_apportion_sums_exactly():
    counts = _apportion(np.array([0.333, 0.333, 0.334]), 10)
    assert counts.sum() == 10 and counts.max() - counts.min() <= 1


def test_train_proxy_learns_and_records(data):
    evals = []
    record = train_proxy({"code": 0.5, "prose": 0.5}, data, MODEL, TRAIN, on_eval=evals.append)
    assert [e.step for e in record.evaluations] == [10, 20, 30] == [e.step for e in evals]
    first, last = record.evaluations[0], record.evaluations[-1]
    assert last.target_loss < first.target_loss < np.log(256) + 0.5
    expected = 0.25 * last.losses["code"] + 0.75 * last.losses["prose"]
    assert last.target_loss == pytest.approx(expected)
    assert record.final_target_loss == last.target_loss
    assert record.tokens_seen == 30 * 8 * 32
    assert record.params > record.non_embedding_params > 0


def test_train_proxy_is_deterministic_and_mixture_matters(data):
    a = train_proxy({"code": 1.0, "prose": 0.0}, data, MODEL, TRAIN)
    b = train_proxy({"code": 1.0, "prose": 0.0}, data, MODEL, TRAIN)
    c = train_proxy({"code": 0.0, "prose": 1.0}, data, MODEL, TRAIN)
    assert a.evaluations[-1].losses == b.evaluations[-1].losses
    assert a.mixture == {"code": 1.0}  # zero weights are dropped from the record
    # training only on code is better on code, only on prose better on prose
    la, lc = a.evaluations[-1].losses, c.evaluations[-1].losses
    assert la["code"] < lc["code"] and lc["prose"] < la["prose"]


def test_continual_pretraining_starts_from_a_saved_checkpoint(data, tmp_path):
    folder = tmp_path / "base"
    base = train_proxy({"prose": 1.0}, data, MODEL, TRAIN, save_to=str(folder))
    assert (folder / "config.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["base"]  # no partial folder left
    cpt = dataclasses.replace(TRAIN, init_from=str(folder))
    record = train_proxy({"code": 0.5, "prose": 0.5}, data, MODEL, cpt)
    # measured before training: the checkpoint's own final losses, the critical baseline
    assert record.initial_losses == pytest.approx(base.evaluations[-1].losses, abs=1e-5)
    assert record.initial_target_loss == pytest.approx(
        base.evaluations[-1].target_loss, abs=1e-5)
    # continual pretraining on code lowers the code loss below the prose-only start
    assert record.evaluations[-1].losses["code"] < record.initial_losses["code"]
    other_shape = dataclasses.replace(MODEL, hidden=64)
    with pytest.raises(UserError, match="training.init_from: .*hidden_size"):
        train_proxy({"code": 1.0}, data, other_shape, cpt)
