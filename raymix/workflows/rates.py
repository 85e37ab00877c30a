"""Measured training speeds: what ``raymix plan`` times a sweep's proxies at.

A measurement is one proxy shape's training tokens per second on one device, as
``bench/bench_proxy_speed.py`` (one shape, ``raymix_tokens_per_s`` over repeats) and
``bench/bench_gpu_proxy.py`` (``rows`` of shapes and devices) write them.

Where they come from:

- by default the copies shipped with raymix, in :data:`MEASURED_RATES`
  (``raymix/workflows/measured_rates/``, package data: an installed wheel has them too),
  the first of :data:`RESULT_FILES` with a measurement of the right device;
- ``raymix plan --throughput FILE``: any result file of those benchmarks
  (:func:`read_measurements`), e.g. one measured on your own machine.

To refresh the shipped copies, run the benchmark (its result goes to ``bench/results``),
then ``python bench/publish_rates.py``, which copies it here with its vocabulary
recorded (a packaged copy has no repository beside it to read the config from).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from raymix.config import ModelConfig, TokenizerConfig
from raymix.config.counts import flops_per_token
from raymix.errors import UserError
from raymix.files import input_problem

# the shipped measurements (package data), and their files, most specific first
MEASURED_RATES = Path(__file__).resolve().parent / "measured_rates"
RESULT_FILES = ("gpu_proxy.json", "proxy_speed_gpu.json", "proxy_speed.json")
# the vocabulary of a measurement that does not record one: the benchmarks train the demo
# config's proxy (docs/benchmarks.md)
BENCH_VOCAB = 2048
# where raymix is imported from (a checkout, or site-packages): a file shown relative to it
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Measurement:
    """A measured training speed of one proxy shape on one device.

    ``processes`` proxies trained on the device at once (``tokens_per_s`` is then their
    sum); ``group_size`` proxies trained as one stacked model in each (``tokens_per_s``:
    the whole group's); ``auto`` is whether raymix's loop chose its micro-batch, loss and
    compilation itself, as a sweep with the defaults does.
    """

    file: str
    device: str
    gpu: bool
    model: ModelConfig
    vocab_size: int
    vocab_from: str
    tokens_per_s: float
    name: str = ""
    processes: int = 1
    auto: bool = True
    group_size: int = 1

    @property
    def flops_per_s(self) -> float:
        """The achieved FLOP rate: tokens/s x the shape's training FLOPs per token."""
        return self.tokens_per_s * flops_per_token(self.model, self.vocab_size)

    def label(self) -> str:
        m = self.model
        what = f" ({self.name})" if self.name else ""
        if self.group_size > 1 and f"group of {self.group_size}" not in self.name:
            what += f" (a group of {self.group_size})"
        return (f"{self.file}{what}: {self.device}, {m.layers} layers x {m.hidden} hidden, "
                f"seq_len {m.seq_len}, vocab {self.vocab_size} ({self.vocab_from}): "
                f"{self.tokens_per_s:,.0f} tokens/s = {_flop_rate(self.flops_per_s)}")


def _flop_rate(flops_per_s: float) -> str:
    if flops_per_s >= 1e12:
        return f"{flops_per_s / 1e12:.3g} TFLOP/s"
    return f"{flops_per_s / 1e9:.3g} GFLOP/s"


def read_measurements(path: str | Path, vocab_size: int = BENCH_VOCAB) -> list[Measurement]:
    """The measurements in a benchmark result: ``bench/bench_proxy_speed.py``'s (one
    shape, ``raymix_tokens_per_s`` over repeats) or a list of rows (``rows``, each with
    ``device``, ``model`` and ``tokens_per_s``, as ``bench/bench_gpu_proxy.py`` writes).
    Rows of another loop than raymix's (``runner``), rows that failed (``error``) and one
    process's share of a device (a ``sharing`` row without ``processes``) are left out.

    A measurement that does not say its vocabulary takes that of the config it names
    (``config``, in the repository or the working folder), else ``vocab_size`` (the
    demo's, which the benchmarks train), said so in ``vocab_from``.

    Raises
    ------
    UserError
        Naming ``throughput``: the file is missing, not JSON, or holds no measurement.
    """
    path = Path(path)
    problem = input_problem(path)
    if problem and problem != "missing":  # a FIFO would block the read
        raise UserError(f"{path} is {problem}; give a result file of "
                        "bench/bench_proxy_speed.py or bench/bench_gpu_proxy.py",
                        field="throughput")
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"cannot read {path} ({exc.strerror or exc}); give a result of "
                        "bench/bench_proxy_speed.py or bench/bench_gpu_proxy.py",
                        field="throughput") from None
    except ValueError as exc:
        raise UserError(f"{path} is not JSON ({exc})", field="throughput") from None
    rows = _rows(data)
    found = [m for row in rows if (m := _measurement(row, data, path, vocab_size)) is not None]
    if not found:
        raise UserError(f"{path} holds no measurement (rows with a model shape and "
                        "tokens_per_s, or raymix_tokens_per_s); give a result of "
                        "bench/bench_proxy_speed.py or bench/bench_gpu_proxy.py",
                        field="throughput")
    return found


def _rows(data: Any) -> list[dict]:
    if isinstance(data, list):
        return [row for row in data if isinstance(row, dict)]
    if not isinstance(data, dict):
        return []
    if isinstance(data.get("rows"), list):
        return [row for row in data["rows"] if isinstance(row, dict)]
    return [data]


def _measurement(row: dict, top: Any, path: Path, vocab_size: int) -> Measurement | None:
    """One row as a measurement, or None where it lacks a shape or a speed, or is not of
    raymix's loop alone on its device (or of ``processes`` of them)."""
    name = str(row.get("name", ""))
    runner = row.get("runner")
    if ("error" in row or (isinstance(runner, str) and "raymix" not in runner)
            or ("sharing" in name and "processes" not in row)):
        return None
    shape = row.get("model")
    speed = row.get("tokens_per_s", row.get("raymix_tokens_per_s"))
    if isinstance(speed, list):
        speed = [s for s in speed if _is_number(s)]
        speed = float(np.median(speed)) if speed else None
    if not isinstance(shape, dict) or not _is_number(speed) or speed <= 0:
        return None
    try:
        model = ModelConfig(**{k: int(shape[k]) for k in ("layers", "hidden", "intermediate",
                                                          "seq_len")},
                            heads=int(shape.get("heads", 1)))
    except (KeyError, TypeError, ValueError):
        return None
    if min(model.layers, model.hidden, model.intermediate, model.seq_len) <= 0:
        return None
    device = str(row.get("device", top.get("device", "") if isinstance(top, dict) else ""))
    vocab, vocab_from = _vocab(shape, row, top, path, vocab_size)
    processes = row.get("processes", 1)
    group = row.get("group_size", 1)
    asked = row.get("asked")
    return Measurement(file=_shown(path), device=device or "unknown device",
                       gpu="cpu" not in device.lower() and device != "", model=model,
                       vocab_size=vocab, vocab_from=vocab_from, tokens_per_s=float(speed),
                       name=name, processes=int(processes) if _is_number(processes) else 1,
                       group_size=int(group) if _is_number(group) and group >= 1 else 1,
                       auto=not isinstance(asked, dict)
                       or all(v == "auto" for v in asked.values()))


def _vocab(shape: dict, row: dict, top: Any, path: Path, default: int) -> tuple[int, str]:
    for source in (shape, row, top if isinstance(top, dict) else {}):
        if _is_number(source.get("vocab_size")):
            return int(source["vocab_size"]), "recorded"
    config = row.get("config", top.get("config") if isinstance(top, dict) else None)
    if isinstance(config, str):
        # a path in the repository: bench/results/x.json is two folders below its root
        parents = path.resolve().parents
        for root in (parents[min(2, len(parents) - 1)], Path.cwd()):
            try:
                return config_vocab(root / config), config
            except (OSError, ValueError, TypeError, AttributeError, yaml.YAMLError):
                continue
    return default, f"not recorded: assumed {default}, the demo config's"


def config_vocab(config: Path) -> int:
    """The vocabulary size the sweep config at ``config`` sets (``data.tokenizer.vocab_size``,
    else the default), read from its YAML without checking the rest of it: a benchmark's
    config, named by its result. Raises what reading or an odd YAML raises."""
    raw = yaml.safe_load(config.read_text())
    tokenizer = raw.get("data", {}).get("tokenizer") or {}
    return int(tokenizer.get("vocab_size", TokenizerConfig.vocab_size))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shown(path: Path) -> str:
    """``path`` relative to the working folder or to where raymix is imported from (the
    shipped measurements: ``raymix/workflows/measured_rates/...``), where inside one."""
    for root in (Path.cwd(), _PACKAGE_ROOT):
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)


def default_measurements(gpu: bool) -> list[Measurement]:
    """The shipped measurements of the right device: those of the first of
    :data:`RESULT_FILES` in :data:`MEASURED_RATES` that has any (none: nothing measured)."""
    for name in RESULT_FILES:
        path = MEASURED_RATES / name
        if not path.is_file():
            continue
        try:
            found = [m for m in read_measurements(path) if m.gpu == gpu]
        except UserError:  # a result being written, or of another form: not one to use
            continue
        if found:
            return found
    return []
