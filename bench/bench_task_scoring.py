"""Scoring a proxy on downstream tasks: items per second, and bf16 against float32 (no Ray).

Builds the built-in tasks (cloze and multiple choice cut from Python's language
reference), a byte-level BPE trained on the reference's text, and a demo-sized proxy
trained for a few steps on the reference's tokens. Then scores every item
(``continuation_logprobs``) on ``--device``: with the trainer's autocast (bf16 on CUDA)
and in float32, and reports each task's bits per byte both ways, their difference, and
items scored per second. (The proxy trains on the reference itself: what is measured is
the arithmetic and the speed of scoring, not a score to compare.)

    python bench/bench_task_scoring.py [--device cuda] [--steps 200]

Writes bench/results/task_scoring.json (name the device with every number you quote).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import bench_parser, machine, write_record
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaForCausalLM

from raymix.config import ModelConfig, TrainingConfig
from raymix.data.builtin import builtin_documents
from raymix.data.tasks import BUILTIN_TASKS, EOT, builtin_task, task_windows
from raymix.training import ProxyData, train_proxy
from raymix.training.loop import autocast
from raymix.training.tasks import TaskWindows, bits_per_byte, continuation_logprobs

MODEL = ModelConfig(layers=2, hidden=64, heads=4, intermediate=256, seq_len=128)


def main() -> None:
    parser = bench_parser(__doc__, out="task_scoring.json")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--windows", type=int, default=64)
    args = parser.parse_args()
    device = torch.device(args.device)
    cache = Path(tempfile.mkdtemp(prefix="raymix-tasks-"))
    docs = builtin_documents("python_reference", cache)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(docs, trainers.BpeTrainer(
        vocab_size=2048, special_tokens=[EOT], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokens = np.array([t for d in docs for t in tokenizer.encode(d).ids], dtype=np.uint16)
    tasks = {name: TaskWindows(**task_windows(builtin_task(name, cache), tokenizer,
                                              MODEL.seq_len, name)) for name in BUILTIN_TASKS}
    data = ProxyData(train={"reference": tokens}, valid={"reference": tokens[-20_000:]},
                     target_name="reference", target_weights={"reference": 1.0},
                     vocab_size=tokenizer.get_vocab_size())
    folder = cache / "model"
    train_proxy({"reference": 1.0}, data, MODEL,
                TrainingConfig(steps=args.steps, batch_size=16, warmup_steps=args.steps // 10,
                               eval_every=args.steps, eval_tokens=4096),
                device=device, save_to=str(folder))
    model = LlamaForCausalLM.from_pretrained(folder).to(device)  # the trained proxy

    def fp32(dev):
        return contextlib.nullcontext()

    out = {"benchmark": "task scoring: bits per byte with the trainer's autocast vs float32",
           "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
           "host": machine(), "steps": args.steps, "tasks": {}}
    for name, task in tasks.items():
        row = {"items": len(task)}
        for label, context in (("autocast", autocast), ("float32", fp32)):
            continuation_logprobs(model, task, device, args.windows, context)  # warm up
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            logprobs = continuation_logprobs(model, task, device, args.windows, context)
            seconds = time.perf_counter() - start
            row[label] = {"bits_per_byte": bits_per_byte(logprobs, task.nbytes),
                          "items_per_second": len(task) / seconds}
        row["difference"] = row["autocast"]["bits_per_byte"] - row["float32"]["bits_per_byte"]
        out["tasks"][name] = row
        print(f"{name}: {row['autocast']['bits_per_byte']:.4f} bpb (autocast) vs "
              f"{row['float32']['bits_per_byte']:.4f} (float32), difference "
              f"{row['difference']:+.5f}; {row['autocast']['items_per_second']:,.0f} items/s",
              flush=True)
    write_record(args.out, out)


if __name__ == "__main__":
    main()
