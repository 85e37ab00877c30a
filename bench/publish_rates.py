"""Copy the measured training speeds into raymix's package data, for ``raymix plan``.

``raymix plan`` times each proxy at a measured speed (:mod:`raymix.workflows.rates`): the
copies shipped in ``raymix/workflows/measured_rates/``. After running
``bench/bench_proxy_speed.py`` (writes ``bench/results/proxy_speed.json``; with
``--out bench/results/proxy_speed_gpu.json`` on a GPU) or ``bench/bench_gpu_proxy.py``
(``bench/results/gpu_proxy.json``), run

    python bench/publish_rates.py

to copy each of those results that exists. A copy is the result as written, plus its
vocabulary (``vocab_size``) read from the config it names, where the result records
none and the config is in the repository: the installed package has no repository
beside it to read it from. A result whose config is not here is copied as is (``raymix
plan`` then assumes the demo's vocabulary, and says so).
"""

from __future__ import annotations

import json

from common import RESULTS, ROOT, relative

from raymix.workflows.rates import MEASURED_RATES, RESULT_FILES, config_vocab


def with_vocabulary(result: dict) -> dict:
    """``result`` with the ``vocab_size`` of the config it names, where it records none."""
    config = ROOT / str(result.get("config", ""))
    if "vocab_size" in result or not result.get("config") or not config.is_file():
        return result
    return {**result, "vocab_size": config_vocab(config)}


def main() -> None:
    MEASURED_RATES.mkdir(exist_ok=True)
    for name in RESULT_FILES:
        source = RESULTS / name
        if not source.is_file():
            continue
        result = json.loads(source.read_text())
        copy = with_vocabulary(result) if isinstance(result, dict) else result
        (MEASURED_RATES / name).write_text(json.dumps(copy, indent=1) + "\n")
        print(f"{relative(source)} -> {relative(MEASURED_RATES / name)}")


if __name__ == "__main__":
    main()
