"""The batches a proxy trains on, and a thread that builds them ahead of use.

:class:`MixtureBatches` makes step ``i``'s batch of token windows, with domains in the
mixture's proportions; :class:`Prefetcher` builds the next batches in a background
thread (into pinned memory when they go to a GPU) while the current step runs, and
measures how long the training loop still waits for them.
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np
import torch

from raymix.config.schema import split_slot


class MixtureBatches:
    """Batches of token windows whose domains follow the mixture exactly over the run.

    Over the whole run, domain ``d`` supplies ``round(w_d * steps * batch_size)``
    sequences (largest-remainder rounding), in a shuffled order; each sequence starts at
    a uniformly random offset of that domain's training tokens.

    A schedule (``mixtures.phases``) names each domain once per phase (``web@1``,
    ``web@2``: :func:`raymix.config.schema.slot_name`), its weight the share of the whole
    run: phase ``p`` takes the run's first steps after phase ``p - 1`` in proportion to
    its slots' total, and inside it each slot supplies its share of the phase's sequences
    (shuffled within the phase only). Phases keep their share of any step count, so a
    schedule fixed at the proxies' steps stretches to a larger run's.
    """

    def __init__(self, train: dict[str, np.ndarray], mixture: dict[str, float],
                 steps: int, batch_size: int, seq_len: int, seed: int):
        self.arrays = [train[_domain_of(name, train)] for name in mixture]
        self.batch_size, self.seq_len = batch_size, seq_len
        self.rng = np.random.default_rng(seed)
        weights = np.array(list(mixture.values()), dtype=float)
        phase = np.array([split_slot(name)[1] or 0 if name not in train else 0
                          for name in mixture])
        orders = []
        phases = np.unique(phase)
        phase_steps = _apportion(np.array([weights[phase == p].sum() for p in phases]), steps)
        for p, n_steps in zip(phases, phase_steps):
            slots = np.flatnonzero(phase == p)
            counts = _apportion(weights[slots], n_steps * batch_size)
            order = np.repeat(slots, counts)
            self.rng.shuffle(order)
            orders.append(order)
        self.domain_of = np.concatenate(orders).reshape(steps, batch_size)
        self.window = np.arange(seq_len + 1)

    def __getitem__(self, step: int) -> torch.Tensor:
        rows = np.empty((self.batch_size, self.seq_len + 1), dtype=np.int64)
        for d in np.unique(self.domain_of[step]):
            slots = np.flatnonzero(self.domain_of[step] == d)
            tokens = self.arrays[d]
            starts = self.rng.integers(0, len(tokens) - self.seq_len - 1, size=len(slots))
            rows[slots] = tokens[starts[:, None] + self.window]
        return torch.from_numpy(rows)


def _domain_of(name: str, train: dict[str, np.ndarray]) -> str:
    """The domain whose tokens a mixture's column draws on: itself, or a slot's domain."""
    if name in train:
        return name
    domain, phase = split_slot(name)
    if phase is None or domain not in train:
        raise KeyError(f"the mixture names {name!r}, which is no domain of the data")
    return domain


def _apportion(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing to ``total`` in proportion to ``weights`` (largest remainder)."""
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(int)
    remainder = total - counts.sum()
    counts[np.argsort(-(exact - counts), kind="stable")[:remainder]] += 1
    return counts


class Prefetcher:
    """Step after step, the batches of ``batches``, built ``depth`` steps ahead in a thread.

    Each batch is copied to ``device`` without blocking (from pinned memory on a GPU), so
    the next batch is built and sent while the GPU computes. ``waited`` is the total time
    the loop spent blocked on a batch that was not ready yet (seconds).

    Use as a context manager: leaving it stops the thread, also after an error.
    """

    def __init__(self, batches, steps: int, device: torch.device, depth: int = 2):
        self.device = device
        self.waited = 0.0
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(batches, steps),
                                        name="raymix-batches", daemon=True)
        self._thread.start()

    def _produce(self, batches, steps: int) -> None:
        pin = self.device.type == "cuda"
        for step in range(steps):
            try:
                item = batches[step].pin_memory() if pin else batches[step]
            except Exception as exc:  # handed to the loop, which raises it
                item = exc
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if self._stop.is_set() or isinstance(item, Exception):
                return

    def next(self) -> torch.Tensor:
        """The next step's batch, on the device."""
        started = time.perf_counter()
        item = self._queue.get()
        self.waited += time.perf_counter() - started
        if isinstance(item, Exception):
            raise item
        return item.to(self.device, non_blocking=True)

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
