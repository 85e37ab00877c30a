"""Tokenization throughput: one process against Ray Data with 2 workers, on the same text.

The input is the built-in corpus (its six domains and the target, real text) written as
JSONL files and repeated until it holds at least --mb MB (default 200), in --files files.
Both paths tokenize every file into a shard with the same tokenizer (a byte-level BPE of
2,048 tokens trained by raymix's prepare on the corpus); the bench checks that the shards
are byte-identical and records tokens per second of each, measured one after the other on
the same machine.

Note: the tokenizers library already encodes a batch on all cores (its Rayon threads), so
one process is not one core; raymix's Ray Data workers encode on one thread each (one CPU
each, as Ray reserves). Run with ``TOKENIZERS_PARALLELISM=false`` (and another --out) to
compare one thread against workers of one thread.

    python bench/bench_tokenize.py [--mb 200] [--files 16] [--workers 2]

Writes bench/results/tokenize.json (quoted in docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from common import DEMO_CONFIG, bench_parser, fresh_folder, machine, write_record


def write_corpus(folder: Path, megabytes: float, files: int) -> float:
    """The built-in corpus as ``files`` JSONL files, repeated to ``megabytes``; MB written."""
    from raymix.config import load_config
    from raymix.data.sources import read_documents

    cfg = load_config(DEMO_CONFIG)
    docs = []
    for source in [d.source for d in cfg.data.domains] + [cfg.target.source]:
        docs += read_documents(source, base_dir=Path(cfg.base_dir), cache_dir=cfg.cache_path,
                               max_bytes=None, field_name="bench")
    lines = [json.dumps({"text": d}) + "\n" for d in docs]
    size = sum(len(x.encode()) for x in lines)
    repeats = max(1, int(-(-megabytes * 1e6 // size)))
    folder.mkdir(parents=True)
    handles = [open(folder / f"part-{i:03d}.jsonl", "w") for i in range(files)]
    for r in range(repeats):
        for n, line in enumerate(lines):
            handles[(r * len(lines) + n) % files].write(line)
    for h in handles:
        h.close()
    return repeats * size / 1e6


def main() -> None:
    parser = bench_parser(__doc__, out="tokenize.json", work="bench-tokenize")
    parser.add_argument("--mb", type=float, default=200)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from raymix.config import load_config
    from raymix.data import prepare
    from raymix.data.tokenize_shards import tokenize_to_shards
    from raymix.sweep.cluster import ray_session

    work = fresh_folder(args.work)
    started = time.perf_counter()
    megabytes = write_corpus(work / "src", args.mb, args.files)
    tokenizer = prepare(load_config(DEMO_CONFIG), log=lambda _: None).path / "tokenizer.json"
    rows = {}
    for name, workers in (("one process", 0), (f"Ray Data, {args.workers} workers",
                                               args.workers)):
        out = work / f"out-{workers}"
        t0 = time.perf_counter()
        if workers:
            with ray_session(None, workers):
                t1 = time.perf_counter()  # the cluster's start is not tokenizing
                manifest = tokenize_to_shards(str(work / "src"), tokenizer, out, workers=workers)
        else:
            t1 = t0
            manifest = tokenize_to_shards(str(work / "src"), tokenizer, out)
        seconds = time.perf_counter() - t1
        rows[name] = {"seconds": round(seconds, 1), "tokens": manifest["tokens"],
                      "tokens_per_second": round(manifest["tokens"] / seconds),
                      "mb_per_second": round(megabytes / seconds, 2),
                      "cluster_start_seconds": round(t1 - t0, 1)}
        print(name, rows[name], flush=True)
    names = sorted(p.name for p in (work / "out-0").glob("*.npy"))
    identical = all((work / "out-0" / n).read_bytes() ==
                    (work / f"out-{args.workers}" / n).read_bytes() for n in names)
    write_record(args.out, {
        "benchmark": "tokenization throughput: one process vs Ray Data",
        "machine": machine(), "cpus": os.cpu_count(), "text_mb": round(megabytes, 1),
        "files": args.files, "tokenizer": "demo's byte-level BPE, 2,048 tokens",
        "rows": rows, "shards_byte_identical": identical,
        "ray_data_speedup": round(rows[f"Ray Data, {args.workers} workers"]["tokens_per_second"]
                                  / rows["one process"]["tokens_per_second"], 2),
    }, seconds=time.perf_counter() - started)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
