"""RegMix's own proxy config, shrunk to fit a CPU, through the code path it takes on a GPU.

jobs/configs/regmix-1m.yaml with its model's width, depth, heads and 50k vocabulary kept
and only the sequence and batch shrunk: micro-batches (gradient accumulation), the
chunked loss over several chunks of logits, and the step compiled and not.
"""

import dataclasses
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch

from raymix.config import load_config
from raymix.training import loss as lossmod
from raymix.training.loop import ProxyData, train_proxy

CONFIG = Path(__file__).resolve().parents[2] / "jobs" / "configs" / "regmix-1m.yaml"


def _text_tokens() -> np.ndarray:
    """Real text (Python's standard library) as byte tokens, inside the 50k vocabulary."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    text = b"".join((stdlib / n).read_bytes() for n in ("argparse.py", "pydoc_data/topics.py"))
    return np.frombuffer(text, dtype=np.uint8).astype(np.uint16)


@pytest.mark.slow
def test_regmix_1m_shrunk_trains_with_micro_batches_chunked_loss_and_compile():
    cfg = load_config(CONFIG)
    vocab = cfg.data.tokenizer.vocab_size
    model = dataclasses.replace(cfg.model, seq_len=256)
    # 32 sequences a step in micro-batches of 16: 4,096 tokens, two chunks of logits
    assert 16 * 256 > lossmod.chunk_tokens(vocab)
    training = dataclasses.replace(cfg.training, steps=6, batch_size=32, micro_batch_size=16,
                                   warmup_steps=1, eval_every=2, eval_tokens=1024)
    tokens = _text_tokens()
    data = ProxyData(train={"text": tokens[:-20_000]}, valid={"text": tokens[-20_000:]},
                     target_name="text", target_weights={"text": 1.0}, vocab_size=vocab)
    records = {}
    for compile in ("false", "true"):
        run = dataclasses.replace(training, compile=compile)
        records[compile] = train_proxy({"text": 1.0}, data, model, run,
                                       device=torch.device("cpu"))
    eager, compiled = records["false"], records["true"]
    assert eager.params == 2 * (4 * 256 * 256 + 3 * 256 * 512 + 2 * 256) + vocab * 256 + 256
    assert (eager.micro_batch_size, eager.loss, eager.compiled) == (16, "chunked", False)
    assert (compiled.micro_batch_size, compiled.compiled) == (16, True)
    assert compiled.compile_seconds > 0 and compiled.tokens_per_second > 0
    # learns: from ln(50432) = 10.8 towards a byte-level loss
    losses = [e.target_loss for e in eager.evaluations]
    assert losses[-1] < losses[0] < 10.8
    for a, b in zip(eager.evaluations, compiled.evaluations, strict=True):
        assert a.target_loss == pytest.approx(b.target_loss, abs=2e-3)
