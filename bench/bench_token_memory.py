"""A trial's memory with a large domain: read in place (token shards) against the object store.

Writes one domain of --gb GB of token ids (uint16 .npy shards of 100M tokens; random ids
below a 4,096-token vocabulary: the data path is what is measured) and a small second one,
then trains the same tiny proxy on them in a Ray task, twice per corpus size:

- in place (``data.read_in_place`` auto or true): the trial receives
  :class:`~raymix.data.shards.TokenShards` (paths and offsets) and maps the files itself;
- object store (``data.read_in_place: false``, and text sources' prepared arrays under
  auto): the driver loads the arrays and ``ray.put``s them, as ``tune.with_parameters``
  does; the trial gets zero-copy views of the object store's shared memory.

Each trial runs in a fresh worker process (``max_calls=1``) and reports its resident
memory when it started, its peak, and at its end by kind: anonymous (its own heap),
file-backed (mapped shards: clean page cache the kernel can drop) and shared (the object
store's pages it touched). The bench also records the bytes each path sends through the
object store and the driver's peak memory. Before each trial the page cache is dropped
when the bench may (root on Linux), so the shards are read cold, as a corpus of hundreds of
GB would be. Sizes: --gb and a tenth of it, to show what grows with the corpus.

    python bench/bench_token_memory.py [--gb 2] [--steps 60]

Writes bench/results/token_memory.json (quoted in docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import resource
import shutil
import time

import numpy as np
from common import bench_parser, fresh_folder, machine, write_record

VOCAB = 4_096
SHARD_TOKENS = 100_000_000


def make_domain(folder, tokens: int, seed: int):
    """``tokens`` random ids as .npy shards in ``folder`` (written a shard at a time)."""
    from raymix.data.shards import read_token_source

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for n, start in enumerate(range(0, tokens, SHARD_TOKENS)):
        count = min(SHARD_TOKENS, tokens - start)
        np.save(folder / f"shard-{n:05d}.npy", rng.integers(0, VOCAB, count, dtype=np.uint16))
    return read_token_source(str(folder), folder, None, "bench")


def rss_mib(kind: str = "VmRSS") -> float:
    """This process's resident memory (MiB): all (VmRSS), or RssAnon / RssFile / RssShmem."""
    for line in open("/proc/self/status"):
        if line.startswith(kind + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def drop_page_cache() -> bool:
    """Drop the kernel's clean page cache (root on Linux only); whether it was dropped."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
        return True
    except OSError:
        return False


def train_and_measure(data, steps: int) -> dict:
    """In a fresh worker: train a tiny proxy on ``data``; this process's memory."""
    import torch

    from raymix.config import ModelConfig, TrainingConfig
    from raymix.training import train_proxy

    torch.set_num_threads(1)
    started = rss_mib()
    model = ModelConfig(layers=2, hidden=64, heads=4, intermediate=256, seq_len=256)
    training = TrainingConfig(steps=steps, batch_size=8, lr=0.003, warmup_steps=steps // 4,
                              eval_every=steps // 3, eval_tokens=4096)
    t0 = time.perf_counter()
    record = train_proxy({"big": 0.7, "small": 0.3}, data, model, training)
    return {"rss_at_start_mib": started,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "end_anon_mib": rss_mib("RssAnon"), "end_file_mib": rss_mib("RssFile"),
            "end_shared_mib": rss_mib("RssShmem"),
            "train_seconds": time.perf_counter() - t0,
            "final_target_loss": record.final_target_loss}


def main() -> None:
    parser = bench_parser(__doc__, out="token_memory.json", work="bench-tokens")
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()

    import ray

    from raymix.data.shards import TokenShards
    from raymix.sweep.trial import trial_tokens
    from raymix.training import ProxyData

    work = fresh_folder(args.work)
    started = time.perf_counter()
    small = make_domain(work / "small", 2_000_000, seed=1)
    valid = np.random.default_rng(2).integers(0, VOCAB, 65_536, dtype=np.uint16)
    rows = []
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=int((args.gb + 1.5) * 2**30))
    try:
        measure = ray.remote(num_cpus=1, max_calls=1)(train_and_measure)
        for gb in (args.gb / 10, args.gb):
            big = make_domain(work / f"big-{gb:g}", int(gb * 2**30) // 2, seed=0)
            in_place = ProxyData(train={"big": TokenShards(big.shards),
                                        "small": TokenShards(small.shards)},
                                 valid={"big": valid, "small": valid, "target": valid},
                                 target_name="target", target_weights={"target": 1.0},
                                 vocab_size=VOCAB)
            for path in ("in place", "object store"):
                setting = "true" if path == "in place" else "false"  # data.read_in_place
                data = dataclasses.replace(in_place, train={
                    d: trial_tokens(t, setting) for d, t in in_place.train.items()})
                sent = len(pickle.dumps(data, protocol=5)) / 2**20  # what ray.put stores
                ref = ray.put(data)
                cold = drop_page_cache()
                out = ray.get(measure.remote(ref, args.steps))
                rows.append({"corpus_gb": round(gb, 3), "path": path,
                             "sent_through_object_store_mib": round(sent, 3),
                             "page_cache_dropped": cold,
                             **{k: round(v, 1) for k, v in out.items()}})
                print(rows[-1], flush=True)
                del ref, data
            shutil.rmtree(work / f"big-{gb:g}")
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    write_record(args.out, {
        "benchmark": "a trial's memory with a large domain: read in place vs object store",
        "machine": machine(), "steps": args.steps, "rows": rows,
        "driver_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }, seconds=time.perf_counter() - started)


if __name__ == "__main__":
    main()
