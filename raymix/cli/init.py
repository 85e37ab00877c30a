"""``raymix init DIR SOURCE [SOURCE ...]``: start a sweep from data of your own.

Writes ``DIR/sweep.yaml`` (:func:`raymix.workflows.initialising.init_sweep`), then prints
what ``raymix plan`` prints for it and the commands to run next.
"""

from __future__ import annotations

import argparse

from raymix.cli.arguments import (
    MAX_GPU_MEMORY_GB,
    MAX_HOURS,
    MAX_MACHINES,
    number_in,
    whole_number,
)
from raymix.config.schema import TOKEN_DTYPES
from raymix.errors import ConfigError, UserError

# init_sweep names what is wrong by its arguments; the command line by its flags
FLAGS = {
    "folder": "DIR",
    "sources": "SOURCE",
    "target": "--target",
    "target_domains": "--target-domains",
    "tokenizer": "--tokenizer",
    "text_field": "--text-field",
    "dtype": "--dtype",
    "cpus": "--cpus",
    "gpus": "--gpus",
    "gpu_memory_gb": "--gpu-memory",
    "hours": "--hours",
    "name": "--name",
}


def add_init_parser(commands) -> None:
    """Add ``raymix init`` to the subcommands ``commands`` (an argparse subparsers action)."""
    p = commands.add_parser(
        "init", help="write DIR/sweep.yaml for your own data: one domain per folder or file, "
                     "sized for this machine or a GPU cluster",
        description="Write DIR/sweep.yaml, a commented sweep config for your own data, with "
                    "proxies and a number of mixtures that fit the machine and the time "
                    "given; then print what it costs (raymix plan).")
    p.add_argument("folder", metavar="DIR",
                   help="where sweep.yaml goes (created if missing; never overwritten); the "
                        "sweep's runs/ go there too")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="one domain each: a folder or file of text, .jsonl/.json, .parquet, "
                        ".npy or .bin token shards, or a Megatron .bin/.idx; named by its stem, "
                        "or give NAME=PATH")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--target", metavar="[NAME=]PATH",
                        help="held-out text whose loss the sweep minimises (target.source; "
                             "default: the mean validation loss of the domains)")
    target.add_argument("--target-domains", metavar="a,b|a=0.7,b=0.3",
                        help="minimise the validation loss of these domains (weighted)")
    p.add_argument("--tokenizer", metavar="TOKENIZER.json",
                   help="the tokenizer that made token shards (default: train a byte-level "
                        "BPE on the text)")
    p.add_argument("--text-field", default="text", metavar="NAME",
                   help="the column of .jsonl/.parquet records that holds the text "
                        "(default text)")
    p.add_argument("--dtype", choices=TOKEN_DTYPES, help="the dtype of raw .bin token shards")
    p.add_argument("--cpus", type=whole_number(1, MAX_MACHINES), metavar="N",
                   help="CPUs for the trials (default: this machine's; with --gpus: the "
                        "cluster's, shared among the GPU trials)")
    p.add_argument("--gpus", type=whole_number(1, MAX_MACHINES), metavar="N",
                   help="size the sweep for a GPU cluster of N GPUs (default: CPUs only)")
    p.add_argument("--gpu-memory", type=number_in(0, MAX_GPU_MEMORY_GB), metavar="GB",
                   dest="gpu_memory_gb",
                   help="with --gpus: each GPU's memory, to check the proxies fit")
    p.add_argument("--hours", type=number_in(0, MAX_HOURS), metavar="H",
                   help="the wall time raymix sweep may take (default 1)")
    p.add_argument("--name", help="the sweep's name (default: DIR's name)")


def run_init(args: argparse.Namespace) -> int:
    """Write the config, print its plan and what to run next."""
    from raymix.cli.summaries import summarise_cost
    from raymix.config import load_config
    from raymix.workflows.costing import cost_preview
    from raymix.workflows.initialising import init_sweep

    try:
        result = init_sweep(args.folder, args.sources, target=args.target,
                            target_domains=args.target_domains, tokenizer=args.tokenizer,
                            text_field=args.text_field, dtype=args.dtype, cpus=args.cpus,
                            gpus=args.gpus, gpu_memory_gb=args.gpu_memory_gb,
                            hours=args.hours, name=args.name)
    except UserError as exc:
        if isinstance(exc, ConfigError) or exc.field not in FLAGS:
            raise  # a config field: the line the config itself would give
        raise UserError(exc.problem, field=FLAGS[exc.field]) from None
    path = result.path
    print(f"raymix init: wrote {path}")
    for line in result.summary():
        print(f"  {line}")
    print()
    print(summarise_cost(cost_preview(load_config(path)).to_dict()))
    print()
    print("next:")
    print(f"  raymix plan {path}      # this estimate again, after any edit")
    print(f"  raymix sweep {path}     # run it here (it resumes when run again)")
    print(f"  raymix submit {path} --address http://HEAD:8265 "
          "--set compute.storage=s3://BUCKET/PREFIX   # or as a job on a Ray cluster (DIR "
          "travels with the job; the data must be on the cluster)")
    return 0
