"""The command line's own arguments: reading them, checking them before any work, and
naming the library's fields by the flags that set them."""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
from pathlib import Path

from raymix.config import (
    FitConfig,
    MlflowConfig,
    SweepConfig,
    TrackingConfig,
    WandbConfig,
    check_tracking,
    parse_overrides,
)
from raymix.errors import ConfigError, UserError
from raymix.files import check_not_input
from raymix.formatting import number_text
from raymix.scaling import TargetSize

SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}  # 100M, 1B, 2T

# the library names what is wrong by its arguments; the command line by its flags
FLAGS = {
    "config": "CONFIG",
    "mixtures": "--mixtures",
    "metrics": "--metrics",
    "targets": "--target",
    "id_column": "--id",
    "runs": "--runs",
    "domains": "--domains",
    "to_predict": "--predict",
    "at": "--at",
    "folds": "--folds",
    "regressors": "--regressor",
    "min_tokens": "--min-tokens",
    "constraints": "--constraints",
    "baseline": "--baseline",
    "domain": "--critical",
    "critical_share": "--critical",
    "throughput": "--throughput",
    "mlflow": "--mlflow",
    "mlflow_experiment": "--mlflow-experiment",
    "wandb": "--wandb",
    "wandb_mode": "--wandb-mode",
    "tensorboard": "--tensorboard",
    "overrides": "--set",
}
# ... and with a CONFIG, these are its fields
CONFIG_FIELDS = {"folds": "fit.cv_folds", "regressors": "fit.regressors",
                 "min_tokens": "fit.min_tokens"}
# keys of the config file named like an argument: a ConfigError about one is the file's
# (a stored config.yaml's ``overrides`` record), not the flag's
CONFIG_KEYS = {"overrides"}


def error_line(exc: UserError, args) -> str:
    """The one line a user mistake prints, naming the flag (or config field) to fix.

    With a CONFIG, settings such as the folds are its fields (``fit.cv_folds``,
    :data:`CONFIG_FIELDS`) unless their flag was given too.
    """
    field = exc.field
    if isinstance(exc, ConfigError) and (field not in FLAGS or field in CONFIG_KEYS):
        return str(exc)
    flag = FLAGS.get(field)
    from_config = (field in CONFIG_FIELDS and getattr(args, "config", None) is not None
                   and getattr(args, flag.lstrip("-"), None) is None)
    if from_config:
        return f"{CONFIG_FIELDS[field]}: {exc.problem}"
    if flag is not None:
        return f"{flag}: {exc.problem}"
    return str(exc)


# ----------------------------------------------------------------------------- option ranges
# Every numeric option has a range, checked by argparse as it reads the option (one line:
# ``raymix: error: argument --workers: must be ...``), before anything is read or started.
# Each is what a real use needs, with room: more is a typo or an attack (1e9 workers).
MAX_WORKERS = 1024  # Ray Data actors of `raymix tokenize` (a large cluster's CPUs)
MAX_FOLDS = 1000  # cross-validation folds (each refits every regressor)
MAX_SEED = 2**32 - 1  # numpy's seeds
MAX_SHARD_TOKENS = 10**11  # tokens per exported shard (200 GB of uint16)
MAX_TOKENS = 1e16  # training tokens (--min-tokens, --at tokens=): beyond any run made
MAX_PARAMS = 1e15  # model parameters (--at params=)
MAX_LOSS = 1e4  # a loss (--baseline), in nats or bits
MAX_MACHINES = 100_000  # CPUs or GPUs of a cluster (raymix init --cpus, --gpus)
MAX_GPU_MEMORY_GB = 4096  # one GPU's memory (raymix init --gpu-memory)
MAX_HOURS = 24 * 365  # a sweep's wall time (raymix init --hours)




def whole_number(low: int, high: int):
    """An argparse ``type=``: a whole number from ``low`` to ``high`` (``1e3`` is read as
    1000), else one line naming the range."""
    def parse(text: str) -> int:
        try:
            value = float(text.replace("_", ""))
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value.is_integer() and low <= value <= high):
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {number_text(low)} to {number_text(high)} "
                f"(got {text[:40]!r})")
        return int(value)

    parse.__name__ = "whole number"
    return parse


def number_in(low: float, high: float, *, above: bool = True):
    """An argparse ``type=``: a number above ``low`` (or from ``low``, with ``above``
    False) up to ``high``; ``1B``, ``100M`` are read too. NaN and infinities are refused."""
    def parse(text: str) -> float:
        match = re.fullmatch(r"([0-9.eE+-]+)\s*([kKmMbBgGtT]?)", text.strip())
        try:
            value = float(match.group(1)) * SUFFIXES.get(match.group(2).lower(), 1.0)
        except (AttributeError, ValueError):
            value = math.nan
        inside = (value > low if above else value >= low) and value <= high
        if not (math.isfinite(value) and inside):
            word = "above" if above else "from"
            raise argparse.ArgumentTypeError(
                f"must be a number {word} {number_text(low)} up to {number_text(high)} "
                f"(got {text[:40]!r})")
        return value

    parse.__name__ = "number"
    return parse


def add_set_argument(parser) -> None:
    """``--set KEY=VALUE``, repeatable, on a command that reads a CONFIG (``args.overrides``,
    a list; pass it to :func:`raymix.config.load_config`)."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="change one of the CONFIG's values for this command, e.g. --set "
             "training.steps=100 or --set data.domains[0].max_tokens=1e6 (repeat for more; "
             "VALUE is read as YAML; relative paths start at the CONFIG's folder, as the "
             "file's do; a sweep records them in its config.yaml)")


def set_flags(overrides) -> list[str]:
    """The ``--set`` arguments that give ``overrides`` to another raymix command (a job's),
    after checking that each is ``KEY=VALUE`` with a known section.

    ``["training.steps=100"]`` -> ``["--set", "training.steps=100"]``; quote each with
    :func:`shlex.quote` for a shell.

    Raises
    ------
    UserError
        On ``overrides`` (``--set``), as :func:`raymix.config.parse_overrides`.
    """
    return [arg for override in parse_overrides(overrides) for arg in ("--set", override.text)]


def parse_at(spec: str) -> TargetSize:
    """``"params=1e8,tokens=2e9"`` (either may be left out; 1B, 100M, 2T are read too).

    Raises
    ------
    UserError
        Naming ``at`` and the fix.
    """
    usage = "give the target scale as params=N,tokens=D (either may be left out), e.g. " \
            "--at params=1e9,tokens=2e10"
    values: dict[str, float] = {}
    parts = [p.strip() for p in str(spec).split(",") if p.strip()]
    if not parts:
        raise UserError(usage, field="at")
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in ("params", "tokens"):
            raise UserError(f"{spec!r}: {part!r} is not params=N or tokens=D; {usage}",
                            field="at")
        if key in values:
            raise UserError(f"{spec!r}: {key} is given twice", field="at")
        values[key] = _positive_number(value.strip(), key, spec)
    return TargetSize(**values)


def _positive_number(text: str, key: str, spec: str) -> float:
    high = MAX_PARAMS if key == "params" else MAX_TOKENS
    try:
        return number_in(0, high)(text)
    except argparse.ArgumentTypeError as exc:
        raise UserError(f"{spec[:80]!r}: {key} {exc}, e.g. 1e9 or 1B", field="at") from None


def check_output(path, option: str) -> None:
    """Fail before any work when the output cannot be written (no half-done runs): what
    the library checks (:func:`~raymix.workflows.inputs.check_output_path`: a folder that
    takes a new file, an output that is new or a regular file), and its folder must exist."""
    from raymix.workflows.inputs import check_output_path  # pandas: only when asked

    check_output_path(path, field=option)
    parent = Path(path).expanduser().parent.resolve()
    if not parent.is_dir():
        raise UserError(f"{option}: folder {str(parent)!r} does not exist; create it first")


def add_force_argument(parser) -> None:
    """``--force`` on a command that writes a report (``args.force``)."""
    parser.add_argument(
        "--force", action="store_true",
        help="replace files in the report folder named like the report's (index.html, "
             "report.md, the figures) even when no earlier raymix report wrote them")


def check_report(path, force: bool, option: str | None = "--report") -> None:
    """The report folder ``path`` takes every file of the report, and none of them
    replaces a user's file (:func:`raymix.report.writer.check_report_folder`)."""
    from raymix.report.writer import check_report_folder  # matplotlib: only when asked

    check_report_folder(path, force=force, field=option)


def report_paths(folder) -> list[Path]:
    """Every file a report in ``folder`` may write (None: none)."""
    from raymix.report.writer import REPORT_FILES, REPORT_MARKER

    if folder is None:
        return []
    return [Path(folder).expanduser() / name for name in (*REPORT_FILES, REPORT_MARKER)]


def check_outputs_are_not_inputs(outputs: dict, inputs: dict) -> None:
    """No output of a command may be one of its inputs (one shared check,
    :func:`raymix.files.check_not_input`): ``outputs`` maps each output flag to its files,
    ``inputs`` each input's name (flag) to its path."""
    for option, paths in outputs.items():
        check_not_input(paths, inputs, field=option)


def replace_fit(fit_config: FitConfig, **changes) -> FitConfig:
    """``fit_config`` with the given fields changed (None values are ignored)."""
    return dataclasses.replace(fit_config, **{k: v for k, v in changes.items() if v is not None})


# raymix sweep's tracking flags (argument name) -> the config field each sets
TRACKING_FIELDS = {"mlflow": "tracking.mlflow.tracking_uri",
                   "mlflow_experiment": "tracking.mlflow.experiment",
                   "wandb": "tracking.wandb.project", "wandb_mode": "tracking.wandb.mode",
                   "tensorboard": "tracking.tensorboard"}


def with_tracking_flags(cfg: SweepConfig, args) -> SweepConfig:
    """``cfg`` with ``raymix sweep``'s tracking flags applied over its ``tracking:`` section,
    checked as the section is (a problem with a value a flag gave names the flag).

    Raises
    ------
    UserError
        ``--mlflow-experiment`` / ``--wandb-mode`` without a tracker to apply to, or a
        value :func:`~raymix.config.check_tracking` refuses.
    """
    t = cfg.tracking
    mlflow, wandb = t.mlflow, t.wandb
    if args.mlflow is not None:
        mlflow = MlflowConfig(args.mlflow, mlflow.experiment if mlflow else None)
    if args.mlflow_experiment is not None:
        if mlflow is None:
            raise UserError("give --mlflow URI too (or tracking.mlflow in the config)",
                            field="mlflow_experiment")
        mlflow = dataclasses.replace(mlflow, experiment=args.mlflow_experiment)
    if args.wandb is not None:
        wandb = dataclasses.replace(wandb, project=args.wandb) if wandb else WandbConfig(
            args.wandb)
    if args.wandb_mode is not None:
        if wandb is None:
            raise UserError("give --wandb PROJECT too (or tracking.wandb in the config)",
                            field="wandb_mode")
        wandb = dataclasses.replace(wandb, mode=args.wandb_mode)
    tracking = TrackingConfig(mlflow, wandb, t.tensorboard or args.tensorboard)
    changed = dataclasses.replace(cfg, tracking=tracking)
    try:
        check_tracking(changed)
    except ConfigError as exc:
        given = [name for name, field in TRACKING_FIELDS.items()
                 if getattr(args, name) and exc.field in (field, field.rpartition(".")[0])]
        if given:
            raise UserError(exc.problem, field=given[0]) from None
        raise
    return changed
