"""The config's values, and how its sections fit together.

:func:`check_config` runs on every config :mod:`raymix.config.parse` builds: positive
sizes, names, known methods, weights that can sum to 1, a target that names domains,
and so on. Each problem is a :class:`~raymix.errors.ConfigError` naming the field and the
fix. Checks that need more than the config are made where that is at hand, before any
work: the sources exist (:func:`raymix.data.check_sources`), every proxy fits the memory
a trial gets (:func:`raymix.training.check_memory`), the repetition cap leaves a mixture
(:func:`raymix.mixtures.build_constraints`).
"""

from __future__ import annotations

import importlib.util
import re

from raymix.config.schema import (
    AT_KEYS,
    BASE_SCALE,
    CHECKPOINTS,
    CONFIRM_SCALE,
    LOSSES,
    MIXTURE_METHODS,
    MODEL_FIELDS,
    REGRESSOR_NAMES,
    SCALING_LAWS,
    SEARCH_METHODS,
    STRATEGIES,
    TOKEN_DTYPES,
    WANDB_MODES,
    ModelConfig,
    ModelOverrides,
    SearchConfig,
    SweepConfig,
    family_key,
    shown,
    task_key,
)
from raymix.errors import ConfigError
from raymix.storage import is_uri, uri_problem

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
NAME_RULE = "must start with a letter and use letters, digits, '_', '-', '.'"
SUM_SLACK = 1e-9  # bounds that sum to 1 within this meet the simplex


def _check(ok: bool, field_name: str, problem: str) -> None:
    if not ok:
        raise ConfigError(field_name, problem)


def check_config(cfg: SweepConfig) -> None:
    """Check the values and the consistency between sections."""
    _check(bool(NAME_PATTERN.match(cfg.name)), "name",
           f"must be a word of letters, digits, '_', '-' or '.' (got {cfg.name!r})")
    _check_data(cfg)
    _check_target(cfg)
    _check_model(cfg.model, "model")
    _check_training(cfg)
    _check_mixtures(cfg)
    _check_compute(cfg)
    _check_scales(cfg)
    _check_validation(cfg)
    _check_confirm(cfg)
    _check_init(cfg)
    _check_fit(cfg)
    check_search(cfg.search, cfg.domain_names, "search")
    check_tracking(cfg)


def _check_data(cfg: SweepConfig) -> None:
    names = cfg.domain_names
    _check(bool(cfg.data.domains), "data.domains",
           "must be a non-empty list of {name, source} entries")
    for i, d in enumerate(cfg.data.domains):
        _check(bool(NAME_PATTERN.match(d.name)), f"data.domains[{i}].name",
               f"{NAME_RULE} (got {d.name!r})")
        _check(d.name not in names[:i], f"data.domains[{i}].name",
               f"duplicate domain {d.name!r}; give each domain a unique name")
        _check(bool(d.source.strip()), f"data.domains[{i}].source", "must name a source")
        _check(d.max_tokens is None or d.max_tokens > 0, f"data.domains[{i}].max_tokens",
               "must be positive or left out")
        _check(d.dtype is None or d.dtype in TOKEN_DTYPES, f"data.domains[{i}].dtype",
               f"must be one of {', '.join(TOKEN_DTYPES)} (got {shown(d.dtype)})")
    _check(len(names) >= 2, "data.domains", "list at least 2 domains to mix")

    tok = cfg.data.tokenizer
    _check(tok.path is not None or tok.vocab_size >= 257, "data.tokenizer.vocab_size",
           f"must be at least 257 (the 256 byte symbols + 1) (got {tok.vocab_size})")
    _check(tok.vocab_size <= 1_000_000, "data.tokenizer.vocab_size", "must be at most 1,000,000")
    _check(tok.sample_bytes > 0, "data.tokenizer.sample_bytes", "must be positive")
    _check(0 < cfg.data.valid_fraction < 0.5, "data.valid_fraction",
           f"must be between 0 and 0.5 (got {cfg.data.valid_fraction})")
    _check(cfg.data.max_valid_tokens > 0, "data.max_valid_tokens", "must be positive")
    _check(cfg.data.max_text_bytes is None or cfg.data.max_text_bytes > 0,
           "data.max_text_bytes", "must be positive or null")


def _check_target(cfg: SweepConfig) -> None:
    t, names = cfg.target, cfg.domain_names
    given = [key for key in ("source", "domains", "tasks") if getattr(t, key) is not None]
    _check(len(given) == 1, "target",
           "give exactly one of 'target.source' (a validation corpus), 'target.domains' "
           "(weights over training domains) or 'target.tasks' (downstream tasks)"
           + (f"; got {' and '.join(given)}" if given else ""))
    _check_objectives(cfg)
    _check(bool(NAME_PATTERN.match(t.name)), "target.name",
           f"must be a simple name (got {t.name!r})")
    if t.domains is not None:
        for d, w in t.domains.items():
            _check(d in names, f"target.domains.{d}",
                   f"names no training domain; choose from {', '.join(names)}")
            _check(w >= 0, f"target.domains.{d}", f"weight must be >= 0 (got {w})")
        _check(sum(t.domains.values()) > 0, "target.domains", "weights must not all be 0")
        return
    _check(t.name not in names, "target.name",
           f"{t.name!r} is also a training domain; use 'target.domains' for that")
    if t.source is not None:
        _check(bool(t.source.strip()), "target.source", "must name a source")
    else:
        _check_tasks(t.tasks)


def _check_objectives(cfg: SweepConfig) -> None:
    """``target.objectives``: each a name and weights over metrics the sweep records."""
    t = cfg.target
    if t.objectives is None:
        return
    metrics = [*cfg.domain_names, t.name, *(task_key(task.name) for task in t.tasks or []),
               *(family_key(task.family_name) for task in t.tasks or [])]
    _check(bool(t.objectives), "target.objectives",
           "give {name: {metric: weight}}, or leave it out for the default objectives")
    for name, weights in t.objectives.items():
        where = f"target.objectives.{name}"
        _check(bool(name.strip()), "target.objectives", "an objective's name is empty")
        _check(bool(weights), where, "give its metrics and weights, e.g. {code: 1.0}")
        for metric, w in weights.items():
            _check(metric.removesuffix("_loss") in metrics, where,
                   f"{metric!r} is no metric the sweep records; choose from "
                   f"{', '.join(dict.fromkeys(metrics))}")
            _check(w >= 0, where, f"the weight of {metric!r} must be >= 0 (got {w})")
        _check(sum(weights.values()) > 0, where, "the weights must not all be 0")


def _check_tasks(tasks) -> None:
    """Names, families and weights of ``target.tasks`` (their files: raymix.data.tasks)."""
    _check(bool(tasks), "target.tasks", "list at least one task: {name, path[, family, "
           "weight]}")
    seen: set[str] = set()
    for i, task in enumerate(tasks):
        where = f"target.tasks[{i}]"
        _check(bool(NAME_PATTERN.match(task.name)), f"{where}.name",
               f"{NAME_RULE} (got {task.name!r})")
        _check(task.name not in seen, f"{where}.name",
               f"duplicate task {task.name!r}; give each task a unique name")
        seen.add(task.name)
        _check(task.family is None or bool(NAME_PATTERN.match(task.family)),
               f"{where}.family", f"{NAME_RULE} (got {task.family!r})")
        _check(bool(task.path.strip()), f"{where}.path",
               "must name a JSONL file of items (or builtin:<task>)")
        _check(task.weight >= 0, f"{where}.weight", f"must be >= 0 (got {task.weight})")
        _check(task.max_items is None or task.max_items > 0, f"{where}.max_items",
               "must be positive or left out")
    _check(sum(task.weight for task in tasks) > 0, "target.tasks",
           "the tasks' weights must not all be 0")


def _check_model(m: ModelConfig, where: str) -> None:
    for key in ("layers", "hidden", "heads", "intermediate", "seq_len"):
        _check(getattr(m, key) > 0, f"{where}.{key}", "must be a positive whole number")
    _check(m.hidden % m.heads == 0, f"{where}.heads", f"must divide the hidden size ({m.hidden})")
    _check((m.hidden // m.heads) % 2 == 0, f"{where}.heads",
           "hidden / heads must be even (rotary embeddings)")


def _check_overrides(entry: ModelOverrides, base: ModelConfig, where: str) -> None:
    for key in MODEL_FIELDS:
        value = getattr(entry, key)
        _check(value is None or value > 0, f"{where}.{key}", "must be a positive whole number")
    _check_model(entry.applied_to(base), where)


MAX_MIXTURES = 100_000  # mixtures.count: each is a proxy run
MAX_CANDIDATES = 10_000_000  # search.candidates: simulated mixtures, held in memory at once
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds
MAX_MODELS_PER_TRIAL = 1024  # compute.models_per_trial: proxies stacked in one trial


def check_seed(value: int, field: str) -> None:
    """A seed must be a whole number from 0 to 2**32 - 1 (what numpy accepts)."""
    _check(0 <= value <= MAX_SEED, field, f"must be between 0 and {MAX_SEED:,} (got {value})")


def _check_training(cfg: SweepConfig) -> None:
    tr = cfg.training
    for field_name, value in (("training.seed", tr.seed), ("mixtures.seed", cfg.mixtures.seed),
                              ("fit.seed", cfg.fit.seed),
                              ("data.seed", cfg.data.seed)):
        check_seed(value, field_name)
    for key in ("steps", "batch_size", "eval_tokens"):
        _check(getattr(tr, key) > 0, f"training.{key}", "must be a positive whole number")
    _check(tr.lr > 0, "training.lr", "must be positive")
    _check(0 <= tr.warmup_steps < tr.steps, "training.warmup_steps",
           f"must be >= 0 and below training.steps ({tr.steps})")
    _check(0 <= tr.min_lr_ratio <= 1, "training.min_lr_ratio", "must be between 0 and 1")
    _check(tr.weight_decay >= 0, "training.weight_decay", "must be >= 0")
    _check(tr.eval_every is None or 0 < tr.eval_every, "training.eval_every", "must be positive")
    _check(len(tr.eval_steps) >= 3, "training.eval_every",
           f"gives only {len(tr.eval_steps)} evaluations; use at most training.steps // 3")
    micro = tr.micro_batch_size
    if micro != "auto":
        _check(0 < micro <= tr.batch_size and tr.batch_size % micro == 0,
               "training.micro_batch_size",
               f"must divide training.batch_size ({tr.batch_size}) evenly, or be auto "
               f"(got {micro})")
    _check(tr.loss in LOSSES, "training.loss",
           f"must be one of {', '.join(LOSSES)} (got {tr.loss!r})")


def _check_mixtures(cfg: SweepConfig) -> None:
    mx, names = cfg.mixtures, cfg.domain_names
    _check(1 <= mx.count <= MAX_MIXTURES, "mixtures.count",
           f"must be between 1 and {MAX_MIXTURES:,} (got {mx.count:,})")
    _check(mx.method in MIXTURE_METHODS, "mixtures.method",
           f"must be one of {', '.join(MIXTURE_METHODS)} (got {mx.method!r})")
    _check(mx.method != "per_domain" or cfg.target.domains is None, "mixtures.method",
           "per_domain (MixMin) scores mixtures on a target corpus or tasks; give "
           "target.source or target.tasks, or use dirichlet with target.domains")
    _check(mx.temperature > 0, "mixtures.temperature", "must be positive")
    _check(0 < mx.min_strength <= mx.max_strength, "mixtures.min_strength",
           "must be positive and at most mixtures.max_strength")
    _check(mx.num_strengths >= 1, "mixtures.num_strengths", "must be at least 1")
    _check(mx.max_epochs > 0, "mixtures.max_epochs", "must be positive")
    _check(0 <= mx.min_weight < 1 / len(names), "mixtures.min_weight",
           f"must be in [0, 1/{len(names)})")
    _check(0 <= mx.repeats <= mx.count, "mixtures.repeats",
           f"must be between 0 and mixtures.count ({mx.count})")
    _check(mx.repeat_seeds >= 1, "mixtures.repeat_seeds", "must be at least 1")
    _check(mx.strategy in STRATEGIES, "mixtures.strategy",
           f"must be one of {', '.join(STRATEGIES)} (got {mx.strategy!r})")
    _check(mx.strategy == "random" or mx.method != "per_domain", "mixtures.strategy",
           f"{mx.strategy} chooses the mixtures itself, while mixtures.method per_domain "
           "trains one proxy per domain (MixMin); use mixtures.strategy: random with it, or "
           "another mixtures.method")
    _check(mx.initial_runs is None or 1 <= mx.initial_runs <= mx.count,
           "mixtures.initial_runs", f"must be between 1 and mixtures.count ({mx.count})")
    _check(mx.exploration >= 0, "mixtures.exploration", f"must be >= 0 (got {mx.exploration})")
    _check(mx.batch_size is None or 1 <= mx.batch_size <= mx.count, "mixtures.batch_size",
           f"must be between 1 and mixtures.count ({mx.count}), or null (got {mx.batch_size})")


def _check_compute(cfg: SweepConfig) -> None:
    c = cfg.compute
    for field, location in (("compute.storage", c.storage), ("validate.storage",
                                                             cfg.validate.storage)):
        if location and is_uri(location):  # its form; whether it takes writes: at the sweep
            problem = uri_problem(location)
            _check(problem is None, field, problem or "")
    _check(c.cpus_per_trial > 0, "compute.cpus_per_trial", "must be positive")
    _check(c.gpus_per_trial >= 0 and (c.gpus_per_trial <= 1
                                      or float(c.gpus_per_trial).is_integer()),
           "compute.gpus_per_trial", "must be 0, a fraction <= 1 (e.g. 0.25) or a whole number "
           f"(got {c.gpus_per_trial:g})")
    _check(c.max_concurrent is None or c.max_concurrent >= 1, "compute.max_concurrent",
           "must be at least 1 or null")
    _check(c.max_retries >= 0, "compute.max_retries", "must be >= 0")
    _check(c.num_cpus is None or c.num_cpus >= 1, "compute.num_cpus", "must be at least 1")
    _check(c.models_per_trial == "auto" or 1 <= c.models_per_trial <= MAX_MODELS_PER_TRIAL,
           "compute.models_per_trial",
           f"must be between 1 and {MAX_MODELS_PER_TRIAL}, or auto (got {c.models_per_trial})")
    for key in ("gpu_memory_gb", "memory_per_trial_gb"):
        value = getattr(c, key)
        _check(value is None or value > 0, f"compute.{key}", "must be positive (GiB) or null")


def _check_scales(cfg: SweepConfig) -> None:
    names = [BASE_SCALE, CONFIRM_SCALE]
    for i, scale in enumerate(cfg.scales):
        where = f"scales[{i}]"
        _check(bool(NAME_PATTERN.match(scale.name)), f"{where}.name",
               f"{NAME_RULE} (got {scale.name!r})")
        _check(scale.name not in names, f"{where}.name",
               f"{scale.name!r} is taken ({BASE_SCALE!r} is the model section's size, "
               f"{CONFIRM_SCALE!r} the confirmation round's); "
               "give each scale a unique name")
        names.append(scale.name)
        _check(any(getattr(scale, k) is not None for k in MODEL_FIELDS), where,
               "changes no model field; set at least one of " + ", ".join(MODEL_FIELDS))
        _check_overrides(scale, cfg.model, where)
        _check(scale.mixtures is None or 1 <= scale.mixtures <= cfg.mixtures.count,
               f"{where}.mixtures", f"must be between 1 and mixtures.count ({cfg.mixtures.count})")


def _check_validation(cfg: SweepConfig) -> None:
    v = cfg.validate
    _check_overrides(v, cfg.model, "validate")
    _check(v.steps is None or v.steps >= 3, "validate.steps", "must be at least 3")
    _check(v.seeds >= 1, "validate.seeds", "must be at least 1")
    for name, weights in v.mixtures.items():
        where = f"validate.mixtures.{name}"
        _check(bool(NAME_PATTERN.match(name)), where,
               "must be a simple name (letters, digits, '_', '-', '.')")
        for d, w in weights.items():
            _check(d in cfg.domain_names, f"{where}.{d}",
                   f"names no domain; choose from {', '.join(cfg.domain_names)}")
            _check(w >= 0, f"{where}.{d}", f"must be >= 0 (got {w})")
        _check(sum(weights.values()) > 0, where, "weights must not all be 0")


def _check_confirm(cfg: SweepConfig) -> None:
    c = cfg.confirm
    _check_overrides(c, cfg.model, "confirm")
    _check(c.rounds >= 0, "confirm.rounds", "must be >= 0 (0: no confirmation round)")
    _check(c.candidates >= 0 and c.observed >= 0 and c.candidates + c.observed >= 2,
           "confirm.candidates", "confirm.candidates + confirm.observed must be at least 2 "
           "(or set confirm.rounds: 0)")
    _check(c.candidates <= 20 and c.observed <= 20, "confirm.candidates",
           "must be at most 20 (and so confirm.observed): each is trained confirm.seeds times")
    _check(2 <= c.seeds <= 20, "confirm.seeds", "must be between 2 and 20 (the noise of a "
           "mean needs two seeds)")
    _check(c.steps is None or c.steps >= 3, "confirm.steps", "must be at least 3")
    _check(0 <= c.min_distance < 1, "confirm.min_distance", "must be in [0, 1) (total variation)")


def _check_init(cfg: SweepConfig) -> None:
    path = cfg.training.init_from
    if path is None:
        return
    folder = cfg.resolve(path)
    _check((folder / "config.json").is_file(), "training.init_from",
           f"{str(folder)!r} is not a saved model (no config.json); give a folder written by "
           "save_pretrained, e.g. <storage>/checkpoints/<run> of a sweep with save_checkpoint")
    _check(any(folder.glob("*.safetensors")), "training.init_from",
           f"{str(folder)!r} holds no .safetensors weights; raymix loads no pickled weights "
           "(pytorch_model.bin): save the model again with "
           "save_pretrained(safe_serialization=True)")


def _check_fit(cfg: SweepConfig) -> None:
    f = cfg.fit
    for key, value in f.at.items():
        _check(key in AT_KEYS, f"fit.at.{key}", f"unknown key; use {' and/or '.join(AT_KEYS)}")
        _check(value > 0, f"fit.at.{key}", f"must be positive (got {value})")
    _check(f.min_tokens is None or f.min_tokens > 0, "fit.min_tokens", "must be positive or null")
    _check(f.law in SCALING_LAWS, "fit.law",
           f"must be one of {', '.join(SCALING_LAWS)} (got {f.law!r})")
    _check(f.checkpoints in ("auto", *CHECKPOINTS), "fit.checkpoints",
           f"must be one of auto, {', '.join(CHECKPOINTS)} (got {f.checkpoints!r})")
    for i, r in enumerate(f.regressors):
        _check(r in REGRESSOR_NAMES, f"fit.regressors[{i}]",
               f"unknown regressor {r!r}; choose from {', '.join(REGRESSOR_NAMES)}")
        _check(r not in f.regressors[:i], f"fit.regressors[{i}]", f"{r!r} is listed twice")
    _check(bool(f.regressors), "fit.regressors", "name at least one regressor")
    _check(f.cv_folds >= 2, "fit.cv_folds", "must be at least 2")


def check_search(s: SearchConfig, names: list[str], where: str = "search") -> None:
    """Check a search section (or constraints file) against the domain ``names``.

    ``where`` prefixes the field names in errors (``search`` in a sweep config,
    ``constraints`` in a stand-alone constraints file). Checks that need token counts
    (the repetition cap) happen in :func:`raymix.mixtures.build_constraints`.
    """
    _check(s.method in SEARCH_METHODS, f"{where}.method",
           f"must be one of {', '.join(SEARCH_METHODS)} (got {s.method!r})")
    _check(1 <= s.candidates <= MAX_CANDIDATES, f"{where}.candidates",
           f"must be between 1 and {MAX_CANDIDATES:,} (got {s.candidates:,})")
    check_seed(s.seed, f"{where}.seed")
    _check(1 <= s.top_k <= s.candidates, f"{where}.top_k",
           f"must be between 1 and {where}.candidates")
    _check(s.trials >= 1, f"{where}.trials", "must be at least 1")
    _check(s.restarts >= 1, f"{where}.restarts", "must be at least 1")
    _check(s.target_tokens is None or s.target_tokens > 0, f"{where}.target_tokens",
           "must be positive or null")
    _check(s.max_epochs > 0, f"{where}.max_epochs", "must be positive")
    _check(s.kl_weight >= 0, f"{where}.kl_weight", f"must be >= 0 (got {s.kl_weight})")
    _check(s.pessimism >= 0, f"{where}.pessimism", f"must be >= 0 (got {s.pessimism})")
    _check(s.bootstrap >= 2, f"{where}.bootstrap",
           f"must be at least 2 (got {s.bootstrap}); to skip the bootstrap set "
           f"{where}.uncertainty: false")
    for key in ("min_weight", "max_weight", "fixed_weight", "available_tokens", "prior"):
        for d, w in getattr(s, key).items():
            _check(d in names, f"{where}.{key}.{d}",
                   f"names no domain; choose from {', '.join(names)}")
            if key in ("min_weight", "max_weight", "fixed_weight"):
                _check(0 <= w <= 1, f"{where}.{key}.{d}", f"must be between 0 and 1 (got {w})")
            else:
                _check(w >= 0, f"{where}.{key}.{d}", f"must be >= 0 (got {w})")
    if s.prior:
        _check(set(s.prior) == set(names), f"{where}.prior",
               f"give a weight for every domain ({', '.join(names)}) or leave it out")
        _check(sum(s.prior.values()) > 0, f"{where}.prior", "weights must not all be 0")
    if s.available_tokens:
        missing = [d for d in names if d not in s.available_tokens]
        _check(not missing, f"{where}.available_tokens.{missing[0] if missing else ''}",
               "missing; give every domain's token count or leave available_tokens out")
    for d in s.fixed_weight:
        for key in ("min_weight", "max_weight"):
            _check(d not in getattr(s, key), f"{where}.{key}.{d}",
                   "the domain also has a fixed_weight; keep one of the two")
    lower = {**s.min_weight, **s.fixed_weight}
    key = "fixed_weight" if sum(s.fixed_weight.values()) > 1 + SUM_SLACK else "min_weight"
    _check(sum(lower.values()) <= 1 + SUM_SLACK, f"{where}.{key}",
           f"minimum and fixed weights sum to {sum(lower.values()):.3g} > 1; lower them")
    for d, lo in s.min_weight.items():
        hi = s.max_weight.get(d, 1.0)
        _check(lo <= hi, f"{where}.min_weight.{d}", f"is above {where}.max_weight.{d} ({hi})")
    upper = {d: s.fixed_weight.get(d, s.max_weight.get(d, 1.0)) for d in names}
    _check(sum(upper.values()) >= 1 - SUM_SLACK, f"{where}.max_weight",
           f"maximum (and fixed) weights sum to {sum(upper.values()):.3g} < 1, so no mixture "
           "can meet them; raise some max_weight (a domain without one may take up to 1)")


# the schemes of an MLflow tracking URI that need no server of raymix's own choosing: a
# server, or a database (MLflow 3 keeps no file store)
MLFLOW_FILE_STORE_FIX = "give a database such as sqlite:///runs/mlflow.db, or an MLflow server " \
                        "(http://host:5000)"
TRACKING_INSTALL = "pip install 'raymix[tracking]'"


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_tracking(cfg: SweepConfig) -> None:
    """The ``tracking:`` section: URIs, modes, and that each tracker asked for is installed.

    Whether a tracker's server can be reached is seen when the sweep starts (a warning,
    :mod:`raymix.sweep.tracking`), not here: a config stays valid while a server is down.
    """
    t = cfg.tracking
    if t.mlflow is not None:
        uri = t.mlflow.tracking_uri.strip()
        _check(bool(uri), "tracking.mlflow.tracking_uri", f"must name a tracking URI; "
               f"{MLFLOW_FILE_STORE_FIX}")
        scheme = uri.partition("://")[0].lower() if "://" in uri else ""
        _check(scheme not in ("", "file"), "tracking.mlflow.tracking_uri",
               f"{uri!r} is a folder: MLflow 3 keeps no file store; {MLFLOW_FILE_STORE_FIX}")
        _check(t.mlflow.experiment is None or bool(t.mlflow.experiment.strip()),
               "tracking.mlflow.experiment", "must be a name, or left out (the sweep's name)")
        _check(installed("mlflow"), "tracking.mlflow",
               f"MLflow is not installed; {TRACKING_INSTALL}")
    if t.wandb is not None:
        _check(bool(t.wandb.project.strip()), "tracking.wandb.project", "must name a project")
        _check(t.wandb.mode is None or t.wandb.mode in WANDB_MODES, "tracking.wandb.mode",
               f"must be one of {', '.join(WANDB_MODES)} (got {shown(t.wandb.mode)})")
        _check(installed("wandb"), "tracking.wandb",
               f"wandb is not installed; {TRACKING_INSTALL}")
    if t.tensorboard:
        _check(installed("tensorboardX"), "tracking.tensorboard",
               f"tensorboardX is not installed; {TRACKING_INSTALL}")
