#!/usr/bin/env bash
# Issue 31's GPU measurements in one prepared run of under 10 minutes (the device tool's
# machine: PyTorch, transformers and Triton there, no Ray, no network; raymix runs from the
# checkout): bench/bench_gpu_proxy.py, every part, the goals' numbers first (RegMix-1M
# everything auto, the bare compiled loop, stacked groups of 1-8, 2/4/8 processes, the
# profile, RegMix-60M, the losses, the loss check), each part written as it ends, so a
# run cut short keeps what it measured. liger-kernel (the fused loss) is installed from
# .wheels/ when there (pip download --no-deps liger-kernel==0.8.5 -d .wheels, where there
# is a network); without it the bench says so and measures the chunked loss.
# Results go to $OUT (or bench/results without it); install the rates raymix plan reads
# afterwards, on the machine with the checkout: cp "$OUT"/gpu_proxy.json bench/results/ &&
# python bench/publish_rates.py. Usage: bash bench/gpu_checks.sh
set -u
cd "$(dirname "$0")/.."
out="${OUT:-bench/results}"
export PYTHONPATH="$PWD:${PYTHONPATH:-}"
if ! python3 -c "import liger_kernel" 2>/dev/null; then
    if ls .wheels/liger_kernel-*.whl >/dev/null 2>&1; then
        python3 -m pip install -q --no-deps --no-index .wheels/liger_kernel-*.whl 2>&1 | tail -1
    else
        echo "note: no .wheels/liger_kernel-*.whl: the fused loss is not measured"
    fi
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
timeout 530 python3 bench/bench_gpu_proxy.py --out "$out/gpu_proxy.json"
echo "bench exit: $?"
ls -la "$out"
