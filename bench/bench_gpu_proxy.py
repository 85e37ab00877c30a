"""Every GPU measurement of proxy training, side by side in one run of a few minutes.

Run from the repository root on a machine with an NVIDIA GPU (H100/H200), PyTorch,
transformers and Triton; no Ray, LightGBM, datasets or network is needed (raymix is read
from this checkout, not installed)::

    python -m pip install --no-deps .wheels/liger_kernel-*.whl && python bench/bench_gpu_proxy.py

(``.wheels/`` holds liger-kernel 0.8.5, fetched where there is a network with ``pip
download --no-deps liger-kernel==0.8.5 -d .wheels``; it needs only torch and Triton.
Without liger-kernel the script still runs, and says so: the trainer then uses its
chunked loss.) It writes ``bench/results/gpu_proxy.json`` (``--out``) after each part, so
a run stopped early keeps what it measured; ``--parts`` runs some parts only and keeps
the other parts' rows of an earlier record of the same device. By estimate (it has not
run on a GPU yet) it takes 6-9 minutes on an H100, most of it compilation
(``bench/gpu_checks.sh`` gives it 530 s). raymix's modules that it imports need torch,
transformers, numpy, pandas and PyYAML.

The proxies are RegMix's (Liu et al. 2024, "RegMix: Data Mixture as Regression",
sail-sg/regmix): "1M" is a Llama with 2 layers, 8 heads, width 256, MLP 512, a 50,432
vocabulary, 2,048-token sequences and 512 sequences per step (1M tokens); "60M" has 10
layers and width 768 (MLP 1,536). The tokens are random ids in the vocabulary: token
values do not change speed or memory. Evaluation is off (no validation sets). Parts:

- ``check``: the fused (liger-kernel), chunked and plain losses agree (loss, gradients)
  on 8,192 tokens x the 50k vocabulary, under bf16 autocast;
- ``a``: raymix's ``train_proxy`` on RegMix 1M at its full batch, everything ``auto``
  (micro-batch, loss, compile): tokens/s after the first step, and MFU;
- ``b``: the same batches through a bare compiled PyTorch loop (``torch.compile`` of the
  same Llama, micro-batched with gradient accumulation since the whole batch's logits do
  not fit, ``F.cross_entropy`` on the bf16 logits, fused AdamW): raymix / bare (goal
  >= 0.9);
- ``c``: ``train_proxy`` with the fused, chunked and plain losses at one micro-batch (the
  largest at which the plain loss fits, as for ``b``);
- ``d``: RegMix 60M at its full batch, everything ``auto``;
- ``e``: 2, 4 and 8 RegMix-1M proxies sharing the GPU, one process each (memory capped at
  1/k with ``torch.cuda.set_per_process_memory_fraction``, ``memory_gib`` = total / k),
  started together, their steps after the first timed from when all k have compiled:
  aggregate tokens/s;
- ``g``: 1, 2, 4 and 8 RegMix-1M proxies as one stacked group (``train_group``, one
  process, everything ``auto``): the group's tokens/s (``group_size`` in the row: what
  ``raymix plan`` prices a ``compute.models_per_trial`` group at). Each size compiles its
  own static graph in the one process (the second shape once fell back to eager);
- ``p``: where one RegMix-1M proxy's step time goes (``torch.profiler`` over a few steps
  after a warm-up run, everything ``auto``): device time of the output layer's GEMMs (a
  matrix product with a vocabulary-sized operand), the other GEMMs, the loss, the
  optimizer and the rest; kernel launches (count, and the CPU time spent launching) and
  the share of time spent waiting for batches.

MFU = tokens/s x FLOPs per token / the GPU's peak dense bf16 FLOP/s, with FLOPs per
token = 6 N + 12 x layers x hidden x seq_len (PaLM, appendix B), N = the output layer
(vocab x hidden, tied to the embedding: counted once) + every matrix of the layers.

``--device cpu`` runs every part at a shrunken size (the RegMix-1M shape at seq_len 128,
16 sequences, 3 steps; no liger-kernel; ``e`` with 2 processes) to check the script end
to end on a machine without a GPU; ``--quick`` is a smoke run (a few steps per part).

    python bench/bench_gpu_proxy.py [--quick] [--parts a,b,g,e,p,d,c,check] [--out PATH]
    python bench/bench_gpu_proxy.py --device cpu    # bench/results/gpu_proxy_cpu_smoke.json

The parts run in that order (the goals' numbers first), each written as it ends.
``bench/gpu_checks.sh`` is the prepared GPU run.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository: raymix is read from here
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from raymix.config import ModelConfig, TrainingConfig  # noqa: E402
from raymix.training.batches import MixtureBatches  # noqa: E402
from raymix.training.group import train_group  # noqa: E402
from raymix.training.loop import ProxyData, train_proxy  # noqa: E402
from raymix.training.loss import CHUNKED, FUSED, PLAIN, fused_available, lm_loss  # noqa: E402
from raymix.training.memory import GIB, micro_batch_for  # noqa: E402
from raymix.training.model import build_model  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PARTS = ("a", "b", "g", "e", "p", "d", "c", "check")  # in the order they run
VOCAB = 50_432  # RegMix's vocabulary size
REGMIX_1M = {"layers": 2, "hidden": 256, "heads": 8, "intermediate": 512, "seq_len": 2048}
REGMIX_60M = {"layers": 10, "hidden": 768, "heads": 8, "intermediate": 1536, "seq_len": 2048}
BATCH = 512  # sequences per step: 1M tokens at seq_len 2048
LR, WARMUP = 4e-4, 100  # RegMix's (the schedule does not change speed)
MIXTURE = {"a": 0.5, "b": 0.5}
# Peak dense bf16 FLOP/s (no sparsity), by a piece of torch.cuda.get_device_name(); the
# first match wins, so the more specific names come first.
PEAK_BF16 = (("H200", 989e12), ("H100 PCIe", 756e12), ("H100 NVL", 835e12),
             ("H100", 989e12), ("A100", 312e12))
PLAIN_MEMORY_SHARE = 0.85  # of the GPU, for the plain loss's micro-batch (estimate 0.87-1.07x)


# ----------------------------------------------------------------------------- settings


def settings(device: torch.device, quick: bool) -> dict:
    """Steps per part and the shapes, for the GPU or (shrunken) for the CPU."""
    if device.type == "cuda":
        # sized so that every part fits one device call of 10 minutes (bench/gpu_checks.sh)
        steps = {"a": 20, "b": 20, "c": 6, "d": 6, "e": 8, "g": 6, "p": 4}
        if quick:
            steps = {"a": 3, "b": 3, "c": 3, "d": 2, "e": 3, "g": 3, "p": 3}
        return {"steps": steps, "small": dict(REGMIX_1M), "large": dict(REGMIX_60M),
                "batch": BATCH, "large_batch": BATCH, "ks": (2,) if quick else (2, 4, 8),
                "groups": (1, 2) if quick else (1, 2, 4, 8), "domain_tokens": 4_000_000}
    steps = {"a": 3, "b": 3, "c": 3, "d": 2, "e": 3, "g": 3, "p": 3}
    if quick:
        steps = dict.fromkeys(steps, 2)
    return {"steps": steps, "small": {**REGMIX_1M, "seq_len": 128},
            "large": {**REGMIX_60M, "seq_len": 128}, "batch": 16, "large_batch": 4,
            "ks": (2,), "groups": (1, 2), "domain_tokens": 200_000}


def model_config(shape: dict) -> ModelConfig:
    return ModelConfig(**shape)


def training_config(steps: int, batch: int, **overrides) -> TrainingConfig:
    """RegMix's schedule at ``steps``, evaluation off (only at the last step, and there are
    no validation sets)."""
    return TrainingConfig(steps=steps, batch_size=batch, lr=LR,
                          warmup_steps=min(WARMUP, max(1, steps // 2)), eval_every=steps,
                          **overrides)


def random_data(vocab: int, tokens: int, seed: int = 0) -> ProxyData:
    """Two domains of random token ids; no validation sets, so no evaluation runs."""
    rng = np.random.default_rng(seed)
    train = {d: rng.integers(0, vocab, tokens).astype(np.uint16 if vocab <= 2**16 else np.int32)
             for d in MIXTURE}
    return ProxyData(train=train, valid={}, target_name="a", target_weights={"a": 1.0},
                     vocab_size=vocab)


def flops_per_token(shape: dict, vocab: int) -> float:
    """6 N + 12 x layers x hidden x seq_len (PaLM, appendix B); N counts the tied output
    layer once and every matrix of the layers (norms are negligible)."""
    h, i, layers = shape["hidden"], shape["intermediate"], shape["layers"]
    n = vocab * h + layers * (4 * h * h + 3 * h * i)
    return 6 * n + 12 * layers * h * shape["seq_len"]


def peak_flops(device: torch.device, override_tflops: float | None) -> float | None:
    """The device's peak dense bf16 FLOP/s: ``--peak-tflops``, else from ``PEAK_BF16``."""
    if override_tflops:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16 if key in name), None)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} torch thread(s)"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _fresh(device: torch.device, forget_compiled: bool = True) -> None:
    """Forget compiled code (unless not ``forget_compiled``) and free memory between runs,
    as in a new process (the compiler's on-disk cache stays), and restart the peak-memory
    count."""
    if forget_compiled:
        torch._dynamo.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / GIB
    return None


def _rate(row: dict, flops: float, peak: float | None) -> dict:
    """Adds FLOPs per token and MFU to a row that has ``tokens_per_s``."""
    tps = row.get("tokens_per_s")
    row["flops_per_token"] = flops
    row["mfu"] = tps * flops / peak if tps and peak else None
    return row


# ----------------------------------------------------------------------------- the runs


def _row_head(part: str, name: str, runner: str, shape: dict, training: TrainingConfig,
              data: ProxyData, **extra) -> dict:
    """A row's description: the part, the runner, the shape and the settings asked for."""
    return {"part": part, "name": name, "runner": runner, **extra,
            "model": {**shape, "vocab_size": data.vocab_size},
            "batch_size": training.batch_size, "steps": training.steps,
            "asked": {"micro_batch_size": training.micro_batch_size, "loss": training.loss,
                      "compile": training.compile}}


def raymix_row(part: str, name: str, shape: dict, training: TrainingConfig, data: ProxyData,
               device: torch.device, peak: float | None,
               memory_gib: float | None = None) -> dict:
    """One ``train_proxy`` run, as a row: its record's speed fields, peak memory, MFU."""
    _fresh(device)
    row = _row_head(part, name, "raymix train_proxy", shape, training, data)
    started = time.perf_counter()
    try:
        record = train_proxy(MIXTURE, data, model_config(shape), training, device=device,
                             memory_gib=memory_gib)
    except Exception as exc:  # noqa: BLE001 - one failed row must not lose the others
        row["error"] = f"{type(exc).__name__}: {str(exc).strip()[:500]}"
        row["seconds"] = time.perf_counter() - started
        return row
    row.update(micro_batch_size=record.micro_batch_size, loss=record.loss,
               compiled=record.compiled, compile_seconds=record.compile_seconds,
               tokens_per_s=record.tokens_per_second,
               data_wait_fraction=record.data_wait_fraction,
               peak_memory_gib=_peak_gib(device), train_seconds=record.train_seconds,
               final_train_loss=record.final_train_loss, params=record.params,
               seconds=time.perf_counter() - started)
    return _rate(row, flops_per_token(shape, data.vocab_size), peak)


def bare_row(part: str, shape: dict, training: TrainingConfig, data: ProxyData, micro: int,
             device: torch.device, peak: float | None, compile: bool) -> dict:
    """The minimum a training step needs, on the batches ``train_proxy`` would read.

    ``torch.compile`` of the forward pass and ``F.cross_entropy`` on the logits (bf16
    autocast on a GPU; the loss itself runs in float32, as autocast does for it), backward
    over micro-batches of ``micro`` sequences, fused AdamW. No schedule, clipping or
    prefetching; the batches are made and moved to the device before the clock starts.
    Tokens/s after the first step (which compiles), as ``train_proxy`` counts them.
    """
    _fresh(device)
    row = {"part": part, "name": "bare compiled PyTorch loop" if compile else
           "bare PyTorch loop", "runner": "bare", "model": {**shape, "vocab_size":
                                                              data.vocab_size},
           "batch_size": training.batch_size, "steps": training.steps,
           "micro_batch_size": micro, "loss": "F.cross_entropy", "compiled": compile}
    sampler = MixtureBatches(data.train, MIXTURE, training.steps, training.batch_size,
                             shape["seq_len"], seed=training.seed)
    batches = [sampler[s].to(device) for s in range(training.steps)]
    started = time.perf_counter()
    try:
        model = build_model(model_config(shape), data.vocab_size, training.seed).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=training.lr, betas=(0.9, 0.95),
                                      weight_decay=training.weight_decay,
                                      fused=device.type == "cuda")

        def forward_loss(part: torch.Tensor) -> torch.Tensor:
            with torch.autocast(device.type, dtype=torch.bfloat16,
                                enabled=device.type == "cuda"):
                logits = model(input_ids=part[:, :-1]).logits
                return F.cross_entropy(logits.reshape(-1, logits.size(-1)),
                                       part[:, 1:].reshape(-1))

        step_fn = torch.compile(forward_loss) if compile else forward_loss

        def step(batch: torch.Tensor) -> torch.Tensor:
            parts = batch.split(micro)
            total = torch.zeros((), device=device)
            for part in parts:
                loss = step_fn(part)
                (loss / len(parts)).backward()
                total += loss.detach()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return total / len(parts)

        _sync(device)
        first = time.perf_counter()
        loss = step(batches[0])
        loss.item()
        steady_started = time.perf_counter()
        for batch in batches[1:]:
            loss = step(batch)
        final = loss.item()  # waits for the GPU
        steady = time.perf_counter() - steady_started
    except Exception as exc:  # noqa: BLE001 - one failed row must not lose the others
        row["error"] = f"{type(exc).__name__}: {str(exc).strip()[:500]}"
        row["seconds"] = time.perf_counter() - started
        return row
    tokens = (training.steps - 1) * training.batch_size * shape["seq_len"]
    row.update(compile_seconds=steady_started - first if compile else None,
               tokens_per_s=tokens / steady if training.steps > 1 else None,
               data_wait_fraction=None, peak_memory_gib=_peak_gib(device),
               final_train_loss=final, seconds=time.perf_counter() - started)
    return _rate(row, flops_per_token(shape, data.vocab_size), peak)


def loss_check(device: torch.device, vocab: int, hidden: int) -> dict:
    """Loss and gradients of the fused and chunked losses against the plain one.

    8,192 tokens (2,048 on a CPU) of random hidden states, float32 parameters, under bf16
    autocast on a GPU (as the trainer runs), float32 on a CPU. Relative gradient error:
    ``|g - g_plain| / |g_plain|`` (Frobenius norms).
    """
    tokens = 8192 if device.type == "cuda" else 2048
    g = torch.Generator().manual_seed(0)
    h0 = torch.randn(tokens, hidden, generator=g).to(device)
    w0 = (torch.randn(vocab, hidden, generator=g) * 0.02).to(device)
    t = torch.randint(0, vocab, (tokens,), generator=g).to(device)
    kinds = [PLAIN, CHUNKED] + ([FUSED] if device.type == "cuda" and fused_available() else [])
    out = {}
    for kind in kinds:
        h, w = h0.clone().requires_grad_(), w0.clone().requires_grad_()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            value = lm_loss(h, w, t, kind)
        gh, gw = torch.autograd.grad(value, (h, w))
        out[kind] = (float(value.detach()), gh.float(), gw.float())
    plain = out[PLAIN]
    result = {"tokens": tokens, "hidden": hidden, "vocab_size": vocab,
              "autocast_bf16": device.type == "cuda", "plain_loss": plain[0]}
    for kind in kinds[1:]:
        value, gh, gw = out[kind]
        result[kind] = {
            "loss": value, "loss_abs_diff": abs(value - plain[0]),
            "grad_hidden_rel_err": float((gh - plain[1]).norm() / plain[1].norm()),
            "grad_weight_rel_err": float((gw - plain[2]).norm() / plain[2].norm())}
    if FUSED not in kinds:
        result[FUSED] = ("not checked: " + ("no CUDA device" if device.type != "cuda"
                                            else "liger-kernel is not installed"))
    return result


# ----------------------------------------------------------------------------- groups (g)


def group_row(size: int, shape: dict, training: TrainingConfig, data: ProxyData,
              device: torch.device, peak: float | None) -> dict:
    """``size`` proxies as one stacked group (``train_group``, everything ``auto``): the
    whole group's tokens/s after the first step, as ``raymix plan`` prices a group. The
    compiled code of the sizes before stays (one process compiles every size, as a
    sweep's trial process may)."""
    _fresh(device, forget_compiled=False)
    row = _row_head("g", f"RegMix 1M, a group of {size}, everything auto",
                    "raymix train_group", shape, training, data, group_size=size)
    started = time.perf_counter()
    try:
        records = train_group([MIXTURE] * size, list(range(size)), data, model_config(shape),
                              training, device=device)
    except Exception as exc:  # noqa: BLE001 - one failed row must not lose the others
        row["error"] = f"{type(exc).__name__}: {str(exc).strip()[:500]}"
        row["seconds"] = time.perf_counter() - started
        return row
    record = records[0]
    each = record.tokens_per_second  # one model's: the group trains size times as many
    row.update(micro_batch_size=record.micro_batch_size, loss=record.loss,
               compiled=record.compiled, compile_seconds=record.compile_seconds,
               tokens_per_s=each * size if each else None, per_model_tokens_per_s=each,
               data_wait_fraction=record.data_wait_fraction,
               peak_memory_gib=_peak_gib(device), train_seconds=record.train_seconds,
               final_train_loss=[r.final_train_loss for r in records],
               seconds=time.perf_counter() - started)
    return _rate(row, flops_per_token(shape, data.vocab_size), peak)


# ----------------------------------------------------------------------------- profile (p)

GEMM_OPS = ("aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm", "aten::matmul")
GEMM_KERNEL_WORDS = ("gemm", "xmma", "cutlass", "cublas", "sm90_", "sm80_", "ampere_")
LOSS_WORDS = ("cross_entropy", "log_softmax", "logsumexp", "nll", "liger", "softmax")
OPTIMIZER_WORDS = ("adam", "multi_tensor", "foreach", "optimizer")
LAUNCH_EVENTS = ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC", "cudaGraphLaunch")


def time_breakdown(events, device: torch.device, vocab: int, steps: int) -> dict:
    """Where a profiled run's time went, from ``prof.key_averages(group_by_input_shape=True)``.

    GEMMs are the matrix-product operators (their kernels' device time), those with a
    vocabulary-sized operand the output layer's; the loss and the optimizer are the
    kernels named for them (Inductor names a fused kernel by its operators); the rest is
    every other kernel. On a CPU the operators' own CPU time stands in for kernels."""
    cuda = device.type == "cuda"
    buckets = dict.fromkeys(("output_layer_gemm", "other_gemm", "loss", "optimizer", "other"),
                            0.0)
    total = launch_us = 0.0
    launches = 0
    kernels = []
    for e in events:
        key = e.key
        name = key.lower()
        on_device = cuda and e.device_type != torch.autograd.DeviceType.CPU
        if key in LAUNCH_EVENTS:
            launches += e.count
            launch_us += e.self_cpu_time_total
            continue
        if key in GEMM_OPS:  # operators: their kernels' time (no double count below)
            t = e.self_device_time_total if cuda else e.self_cpu_time_total
            bucket = "output_layer_gemm" if str(vocab) in str(e.input_shapes) else "other_gemm"
            buckets[bucket] += t
            if not cuda:
                total += t
            continue
        if cuda and not on_device:
            continue  # an operator: its kernels are counted as kernels
        t = e.self_device_time_total if cuda else e.self_cpu_time_total
        if t <= 0:
            continue
        total += t
        kernels.append((t, key))
        if cuda and any(w in name for w in GEMM_KERNEL_WORDS):
            continue  # counted with its operator
        if any(w in name for w in LOSS_WORDS):
            buckets["loss"] += t
        elif any(w in name for w in OPTIMIZER_WORDS):
            buckets["optimizer"] += t
        else:
            buckets["other"] += t
    if cuda:  # GEMM kernels launched outside a GEMM operator (none expected) are "other"
        gemm_kernels = sum(t for t, key in kernels
                           if any(w in key.lower() for w in GEMM_KERNEL_WORDS))
        buckets["other"] += max(0.0, gemm_kernels - buckets["output_layer_gemm"]
                                - buckets["other_gemm"])
    per_step = {k: v / 1000 / steps for k, v in buckets.items()}
    return {"time_per_step_ms": per_step,
            "shares": {k: v / total if total else None for k, v in buckets.items()},
            "busy_ms_per_step": total / 1000 / steps,
            "kernel_launches_per_step": launches / steps,
            "launch_cpu_ms_per_step": launch_us / 1000 / steps,
            "top": [{"name": key[:100], "ms_per_step": t / 1000 / steps}
                    for t, key in sorted(kernels, reverse=True)[:12]]}


def profile_row(shape: dict, training: TrainingConfig, data: ProxyData,
                device: torch.device) -> dict:
    """One proxy's steps under ``torch.profiler`` (everything ``auto``), after a two-step
    warm-up run that compiles (its graph is reused), summarised by :func:`time_breakdown`."""
    from torch.profiler import ProfilerActivity, profile

    _fresh(device)
    row = {"part": "p", "name": "RegMix 1M, where the time goes (torch.profiler)",
           "runner": "torch.profiler over train_proxy", "model": {**shape, "vocab_size":
                                                                  data.vocab_size},
           "batch_size": training.batch_size, "steps": training.steps}
    started = time.perf_counter()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda"
                                           else [])
    try:
        train_proxy(MIXTURE, data, model_config(shape),
                    dataclasses.replace(training, steps=2, eval_every=2), device=device)
        with profile(activities=activities, record_shapes=True) as prof:
            record = train_proxy(MIXTURE, data, model_config(shape), training, device=device)
            _sync(device)
        events = prof.key_averages(group_by_input_shape=True)
    except Exception as exc:  # noqa: BLE001 - one failed row must not lose the others
        row["error"] = f"{type(exc).__name__}: {str(exc).strip()[:500]}"
        row["seconds"] = time.perf_counter() - started
        return row
    wall_ms = record.train_seconds * 1000 / training.steps
    row.update(time_breakdown(events, device, data.vocab_size, training.steps),
               micro_batch_size=record.micro_batch_size, loss=record.loss,
               compiled=record.compiled, wall_ms_per_step=wall_ms,
               data_wait_fraction=record.data_wait_fraction,
               profiled_tokens_per_s=record.tokens_per_second,
               seconds=time.perf_counter() - started)
    row["device_busy_fraction"] = row["busy_ms_per_step"] / wall_ms if wall_ms else None
    return row


# ----------------------------------------------------------------------------- sharing (e)


def _wait_for_all(barrier: Path, stage: str, index: int, k: int, timeout: float = 600) -> None:
    """Marks this process at ``stage`` and waits until all ``k`` processes are there."""
    (barrier / f"{stage}-{index}").touch()
    deadline = time.time() + timeout
    while len(list(barrier.glob(f"{stage}-*"))) < k:
        if time.time() > deadline:
            raise TimeoutError(f"not all {k} processes reached {stage} in {timeout:.0f} s")
        time.sleep(0.01)


def _hold_after_first_step(barrier: Path, index: int, k: int, marks: dict) -> None:
    """Makes ``train_proxy`` (in this process only) wait, before its second step, until
    every process has finished its first step (compilation), so that the ``k`` proxies'
    timed steps run at the same time. ``marks`` receives the release time and the time
    spent waiting for batches after it."""
    from raymix.training import loop

    class HeldPrefetcher(loop.Prefetcher):
        def next(self) -> torch.Tensor:
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 2:
                _wait_for_all(barrier, "compiled", index, k)
                marks["released"] = time.time()
            started = time.perf_counter()
            item = super().next()
            if self.calls >= 2:
                marks["waited"] = marks.get("waited", 0.0) + time.perf_counter() - started
            return item

    loop.Prefetcher = HeldPrefetcher


def child(spec: dict) -> dict:
    """One of ``k`` proxies sharing a device (part e), in its own process.

    Caps this process's GPU memory at 1/k and gives ``train_proxy`` 1/k of it; starts
    training when all ``k`` processes are ready, and times the steps after the first one
    from the moment all ``k`` have finished their first step (which compiles) to the end
    of training (``tokens_per_s``; the record's own rate, which includes that wait, is
    ``record_tokens_per_s``).
    """
    device = torch.device(spec["device"])
    k, index = spec["k"], spec["index"]
    memory_gib = None
    if device.type == "cuda":
        torch.cuda.set_per_process_memory_fraction(1 / k, device)
        memory_gib = torch.cuda.get_device_properties(device).total_memory / GIB / k
    else:
        torch.set_num_threads(1)
    data = random_data(spec["vocab"], spec["domain_tokens"], seed=index)
    training = training_config(spec["steps"], spec["batch"], seed=index,
                               compile=spec["compile"])
    barrier, marks = Path(spec["barrier"]), {}
    _hold_after_first_step(barrier, index, k, marks)
    _wait_for_all(barrier, "ready", index, k)
    row = raymix_row("e", f"{k} proxies sharing the device: #{index}", spec["shape"],
                     training, data, device, None, memory_gib=memory_gib)
    ended = time.time()
    (barrier / f"compiled-{index}").touch()  # a run that failed early holds no one up
    row["process_peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if "error" in row or "released" not in marks:
        return row
    window = ended - marks["released"]
    row.update(record_tokens_per_s=row["tokens_per_s"],
               tokens_per_s=(training.steps - 1) * training.batch_size * spec["shape"][
                   "seq_len"] / window,
               data_wait_fraction=marks.get("waited", 0.0) / window,
               window=(marks["released"], ended))
    return row


def sharing_rows(k: int, shape: dict, steps: int, batch: int, device: torch.device,
                 domain_tokens: int, compile: str, peak: float | None) -> list[dict]:
    """``k`` child processes of this script, started together; their rows and a summary.

    The aggregate is the sum of the processes' tokens/s over their timed steps, which
    start together (:func:`child`); ``overlap`` is the share of the mean timed window
    during which all ``k`` trained at once (near 1: the sum is what the device does with
    ``k`` proxies at a time).
    """
    env = dict(os.environ)
    # k compilers at once: split the CPU's cores between them
    env.setdefault("TORCHINDUCTOR_COMPILE_THREADS", str(max(1, (os.cpu_count() or 1) // k)))
    with tempfile.TemporaryDirectory() as barrier:
        procs = []
        for index in range(k):
            spec = {"device": str(device), "k": k, "index": index, "shape": shape,
                    "steps": steps, "batch": batch, "vocab": VOCAB, "compile": compile,
                    "domain_tokens": domain_tokens, "barrier": barrier}
            procs.append(subprocess.Popen(
                [sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        rows = []
        for index, proc in enumerate(procs):
            out, err = proc.communicate()
            try:
                rows.append(json.loads(out.strip().splitlines()[-1]))
            except (IndexError, json.JSONDecodeError):
                rows.append({"part": "e", "name": f"{k} proxies sharing the device: #{index}",
                             "error": f"exit {proc.returncode}: {err.strip()[-1500:]}"})
    rates = [r.get("tokens_per_s") for r in rows]
    summary = {"part": "e", "name": f"{k} proxies sharing the device: aggregate",
               "runner": f"{k} x raymix train_proxy, one process each",
               "model": {**shape, "vocab_size": VOCAB}, "batch_size": batch, "steps": steps,
               "processes": k, "micro_batch_size": [r.get("micro_batch_size") for r in rows],
               "loss": [r.get("loss") for r in rows],
               "compile_seconds": [r.get("compile_seconds") for r in rows],
               "data_wait_fraction": [r.get("data_wait_fraction") for r in rows],
               "peak_memory_gib": [r.get("peak_memory_gib") for r in rows],
               "tokens_per_s": sum(rates) if all(rates) else None}
    windows = [r["window"] for r in rows if "window" in r]
    if all(rates) and len(windows) == k:
        common = min(end for _, end in windows) - max(start for start, _ in windows)
        summary["overlap"] = max(0.0, common) / float(np.mean([e - s for s, e in windows]))
    _rate(summary, flops_per_token(shape, VOCAB), peak)
    return rows + [summary]


# ----------------------------------------------------------------------------- main


def write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")


def earlier_parts(path: Path, device: str, parts: list[str]) -> dict:
    """What an earlier record at ``path`` of the same device measured in the parts not run
    now: its rows of them, and its loss check."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {"rows": []}
    if not isinstance(earlier, dict) or earlier.get("device") != device:
        return {"rows": []}
    kept = {"rows": [r for r in earlier.get("rows", []) if r.get("part") not in parts]}
    if "check" not in parts and "loss_check" in earlier:
        kept["loss_check"] = earlier["loss_check"]
    return kept


def summarise(result: dict) -> None:
    """Ratios between rows: raymix / bare, and each loss against the plain one."""
    done = [r for r in result["rows"] if r.get("tokens_per_s")]
    bare = next((r for r in done if r["part"] == "b"), None)
    auto = next((r for r in done if r["part"] == "a"), None)
    ratios = {}
    if bare and auto:
        ratios["raymix_auto_over_bare"] = auto["tokens_per_s"] / bare["tokens_per_s"]
    c_rows = {r["loss"]: r for r in done if r["part"] == "c"}
    if bare and PLAIN in c_rows:
        ratios["raymix_plain_over_bare_same_micro"] = (c_rows[PLAIN]["tokens_per_s"]
                                                       / bare["tokens_per_s"])
    for loss in (FUSED, CHUNKED):
        if loss in c_rows and PLAIN in c_rows:
            ratios[f"{loss}_over_plain"] = (c_rows[loss]["tokens_per_s"]
                                            / c_rows[PLAIN]["tokens_per_s"])
    for r in result["rows"]:
        if r["part"] == "e" and r.get("processes") and r.get("tokens_per_s") and auto:
            ratios[f"sharing_{r['processes']}_over_one"] = (r["tokens_per_s"]
                                                            / auto["tokens_per_s"])
        if r["part"] == "g" and r.get("tokens_per_s") and auto:
            ratios[f"group_{r['group_size']}_over_one"] = r["tokens_per_s"] / auto["tokens_per_s"]
    result["ratios"] = ratios


def show(row: dict, elapsed: float) -> None:
    """One line per row, as the run goes."""
    if "error" in row:
        print(f"[{elapsed:6.0f} s] {row['part']}: {row['name']}: FAILED {row['error'][:300]}",
              flush=True)
        return
    if row["part"] == "p":
        shares = ", ".join(f"{k} {v:.0%}" for k, v in row["shares"].items() if v is not None)
        print(f"[{elapsed:6.0f} s] p: {row['wall_ms_per_step']:.1f} ms a step, busy "
              f"{row['busy_ms_per_step']:.1f} ms ({shares}); "
              f"{row['kernel_launches_per_step']:.0f} launches a step "
              f"({row['launch_cpu_ms_per_step']:.1f} ms CPU); data wait "
              f"{row['data_wait_fraction'] or 0:.1%}", flush=True)
        return
    tps, mfu = row.get("tokens_per_s"), row.get("mfu")
    peak = row.get("peak_memory_gib")
    comp = row.get("compile_seconds")
    print(f"[{elapsed:6.0f} s] {row['part']}: {row['name']}: micro {row.get('micro_batch_size')}"
          f", loss {row.get('loss')}, "
          + (f"{tps:,.0f} tokens/s" if tps else "tokens/s -")
          + (f", MFU {mfu:.3f}" if mfu else "")
          + (f", first step {comp:.1f} s" if isinstance(comp, float) else "")
          + (f", peak {peak:.1f} GiB" if isinstance(peak, float) else "")
          + (f", overlap {row['overlap']:.2f}" if "overlap" in row else ""), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    parser.add_argument("--device", default=None, help="cuda (default when there is one) or cpu")
    parser.add_argument("--quick", action="store_true", help="a smoke run: a few steps per part")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated, of {','.join(PARTS)} (default: all)")
    parser.add_argument("--compile", choices=("auto", "true", "false"), default="auto",
                        help="training.compile, and whether the bare loop compiles "
                             "(auto: on CUDA only)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's peak dense bf16 TFLOP/s, for MFU (default: from "
                             "the device's name)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the JSON record (default bench/results/gpu_proxy.json; on a "
                             "CPU gpu_proxy_cpu_smoke.json)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one process of part e
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))), flush=True)
        return

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cpu":
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts {unknown}; choose from {','.join(PARTS)}")
    out = args.out or RESULTS / ("gpu_proxy.json" if device.type == "cuda"
                                 else "gpu_proxy_cpu_smoke.json")
    cfg = settings(device, args.quick)
    steps, small, large, batch = cfg["steps"], cfg["small"], cfg["large"], cfg["batch"]
    compile = args.compile == "true" or (args.compile == "auto" and device.type == "cuda")
    peak = peak_flops(device, args.peak_tflops)
    name = device_name(device)
    notes = []
    if device.type == "cuda" and not fused_available():
        notes.append("liger-kernel is not installed: the loss 'auto' is the chunked one and "
                     "the fused loss is not measured (pip install --no-deps "
                     ".wheels/liger_kernel-*.whl); torch.compile unrolls the chunked loss's "
                     "loop, so compiling a large micro-batch takes longer")
    if device.type == "cpu":
        notes.append("CPU smoke run at a shrunken size (seq_len 128, small batches): checks "
                     "that the script runs, not GPU speed")
    if peak is None and device.type == "cuda":
        notes.append(f"no peak FLOP/s known for {name!r}: MFU not computed (--peak-tflops)")
    for note in notes:
        print(f"note: {note}", flush=True)
    try:
        liger = importlib.metadata.version("liger-kernel")
    except importlib.metadata.PackageNotFoundError:
        liger = None
    import transformers

    result = {
        "benchmark": "proxy training on one GPU: raymix vs a bare compiled loop, losses, "
                     "RegMix 1M and 60M, proxies sharing a GPU",
        "device": name, "torch": torch.__version__, "transformers": transformers.__version__,
        "liger_kernel": liger, "peak_bf16_flops": peak, "quick": args.quick,
        "flops_per_token": "6 N + 12 layers hidden seq_len (PaLM appendix B), N = vocab x "
                           "hidden (tied) + layers x (4 hidden^2 + 3 hidden intermediate)",
        "tokens": "random ids in the vocabulary", "notes": notes, "ratios": {},
        "seconds": {}, **earlier_parts(out, name, parts),
    }
    started = time.perf_counter()
    data = random_data(VOCAB, cfg["domain_tokens"])
    total_gib = (torch.cuda.get_device_properties(device).total_memory / GIB
                 if device.type == "cuda" else None)
    small_cfg = model_config(small)
    # the plain loss's micro-batch (b, c): the largest divisor of the batch at which raymix's
    # estimate of the plain loss fits most of the GPU; on a CPU half the batch
    if total_gib:
        plain_micro = micro_batch_for(small_cfg, training_config(1, batch, loss=PLAIN), VOCAB,
                                      PLAIN_MEMORY_SHARE * total_gib, gpu=True)
    else:
        plain_micro = max(1, batch // 2)

    def run_part(part: str, fn) -> None:
        if part not in parts:
            return
        part_started = time.perf_counter()
        print(f"[{part_started - started:6.0f} s] part {part} ...", flush=True)
        for row in fn():
            if "device" not in row:
                row["device"] = name
            result["rows"].append(row)
            show(row, time.perf_counter() - started)
        result["seconds"][part] = time.perf_counter() - part_started
        summarise(result)
        result["seconds"]["total"] = time.perf_counter() - started
        write(out, result)

    def check():
        result["loss_check"] = loss_check(device, VOCAB, small["hidden"])
        print(json.dumps(result["loss_check"]), flush=True)
        return []

    # the goals' numbers first (a run stopped early keeps them), the loss check last
    run_part("a", lambda: [raymix_row(
        "a", "RegMix 1M, raymix, everything auto", small,
        training_config(steps["a"], batch, compile=args.compile), data, device, peak)])
    run_part("b", lambda: [bare_row(
        "b", small, training_config(steps["b"], batch), data, plain_micro, device, peak,
        compile)])
    run_part("g", lambda: [group_row(
        size, small, training_config(steps["g"], batch, compile=args.compile), data, device,
        peak) for size in cfg["groups"]])
    run_part("e", lambda: [row for k in cfg["ks"] for row in sharing_rows(
        k, small, steps["e"], batch, device, cfg["domain_tokens"], args.compile, peak)])
    run_part("p", lambda: [profile_row(
        small, training_config(steps["p"], batch, compile=args.compile), data, device)])
    run_part("d", lambda: [raymix_row(
        "d", "RegMix 60M, raymix, everything auto", large,
        training_config(steps["d"], cfg["large_batch"], compile=args.compile), data, device,
        peak)])
    losses = [FUSED] if device.type == "cuda" and fused_available() else []
    run_part("c", lambda: [raymix_row(
        "c", f"RegMix 1M, raymix, loss {loss} at micro-batch {plain_micro}", small,
        training_config(steps["c"], batch, micro_batch_size=plain_micro, loss=loss,
                        compile=args.compile), data, device, peak)
        for loss in [*losses, CHUNKED, PLAIN]])
    run_part("check", check)
    print(json.dumps({"ratios": result["ratios"], "seconds": result["seconds"]}, indent=1))
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
