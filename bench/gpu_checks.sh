#!/usr/bin/env bash
# Every GPU measurement of the current work in one short run (the device tool's machine:
# PyTorch, transformers and Triton there, no Ray; raymix runs from the checkout):
#   1. task scoring: bits per byte with the trainer's bf16 autocast against float32;
#   2. stacked groups against solo proxies (issue 18's bench, never run on a GPU before).
# Results go to $OUT (or bench/results without it). Usage: bash bench/gpu_checks.sh
set -u
cd "$(dirname "$0")/.."
out="${OUT:-bench/results}"
export PYTHONPATH="$PWD:${PYTHONPATH:-}"
python3 -c "import liger_kernel" 2>/dev/null ||
    python3 -m pip install -q --no-deps --no-index .wheels/liger_kernel-*.whl 2>&1 | tail -1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
timeout 120 python3 bench/bench_task_scoring.py --steps 200 --out "$out/task_scoring.json"
timeout 200 python3 bench/bench_gpu_stacked.py --only demo --groups 8 32 128 \
    --out "$out/gpu_stacked_demo.json"
timeout 180 python3 bench/bench_gpu_stacked.py --only regmix --regmix-groups 8 32 \
    --out "$out/gpu_stacked_regmix.json"
ls -la "$out"
