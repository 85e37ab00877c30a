"""The config's values, and how its sections fit together.

:func:`check_config` runs on every config :mod:`raymix.config.parse` builds: the
schema's ranges (:class:`~raymix.config.schema.Range`, for a config built in Python too),
names of at most 64 characters, known methods, weights that can sum to 1, a target that
names domains, the product bounds (evaluations per run, runs in all, the search's work, a
proxy's parameters), and so on. Each problem is a :class:`~raymix.errors.ConfigError`
naming the field and the fix. Checks that need more than the config are made where that
is at hand, before any work: the sources exist (:func:`raymix.data.check_sources`), every
proxy fits the memory a trial gets (:func:`raymix.training.check_memory`), the
repetition cap leaves a mixture (:func:`raymix.mixtures.build_constraints`); what the
sweep's end would refuse is checked by ``raymix plan``
(:func:`raymix.workflows.costing.check_sweep_end`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import re
import typing
from typing import Any

from raymix.config.counts import non_embedding_params
from raymix.config.schema import (
    AT_KEYS,
    BASE_SCALE,
    CHECKPOINTS,
    CONFIRM_SCALE,
    GROUP_SEPARATOR,
    LOSSES,
    MAX_NAME,
    MAX_PARAMS,
    MIXTURE_DRAWS,
    MODEL_FIELDS,
    REGRESSOR_NAMES,
    SCALING_LAWS,
    SEARCH_METHODS,
    STRATEGIES,
    TOKEN_DTYPES,
    TRACKER_CLIENTS,
    WANDB_MODES,
    ModelConfig,
    ModelOverrides,
    Range,
    SearchConfig,
    SweepConfig,
    family_key,
    group_children,
    shown,
    split_slot,
    task_key,
)
from raymix.errors import ConfigError
from raymix.storage import is_uri, uri_problem

NAME_PATTERN = re.compile(rf"^[A-Za-z][A-Za-z0-9_.-]{{0,{MAX_NAME - 1}}}$")
NAME_RULE = (f"must start with a letter and use letters, digits, '_', '-', '.' (at most "
             f"{MAX_NAME} characters)")
SUM_SLACK = 1e-9  # bounds that sum to 1 within this meet the simplex
# product bounds: what the ranges of single fields allow together, capped at what a real
# sweep needs (each refused in one line naming the fields, before anything starts)
MAX_EVALUATIONS = 10_000  # per run: training.steps / training.eval_every
MAX_PLANNED_RUNS = 1_000_000  # every run of a sweep, its confirmation rounds and validate
MAX_SEARCH_WORK = 1_000_000_000  # search.draws x search.restarts
MAX_PROXY_PARAMS = 1e11  # non-embedding parameters of any proxy size: a proxy, not a frontier model


def _check(ok: bool, field_name: str, problem: str) -> None:
    if not ok:
        raise ConfigError(field_name, problem)


def shown_key(name: str) -> str:
    """A mapping's key as a field name shows it: whole up to :data:`MAX_NAME` characters,
    else cut (``target.domains.<key>`` never echoes a huge key)."""
    return name if len(name) <= MAX_NAME else shown(name, MAX_NAME)


def check_name(value: str, field_name: str, rule: str = NAME_RULE) -> None:
    """A name (of the config, a domain, a task, a scale...): a word of at most
    :data:`MAX_NAME` characters; the error echoes it cut (:func:`shown`)."""
    _check(bool(NAME_PATTERN.match(value)), field_name, f"{rule} (got {shown(value)})")


def check_ranges(section: Any, where: str = "") -> None:
    """Check every value of ``section`` (a config dataclass, walked down) against the
    :class:`~raymix.config.schema.Range` its field declares.

    The parser's pydantic schema applies the same ranges to YAML; this applies them to a
    section built in Python (``SearchConfig(bootstrap=0)`` given to
    :func:`raymix.propose_mixture`), so the schema stays the one source of the bounds.
    ``where`` prefixes the field names (``search``, ``constraints``).
    """
    for name, hint in _hints(type(section)).items():
        value = getattr(section, name)
        field_name = f"{where}.{name}" if where else name
        if value is None:
            continue
        if dataclasses.is_dataclass(value):
            check_ranges(value, field_name)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if dataclasses.is_dataclass(item):
                    check_ranges(item, f"{field_name}[{i}]")
        else:
            _check_value(value, hint, field_name)


def _check_value(value: Any, hint: Any, field_name: str) -> None:
    """``value`` (a number, or a mapping of them, nested) against the ranges in ``hint``."""
    if isinstance(value, dict):
        inner = _value_hint(hint)
        for k, v in value.items():
            _check_value(v, inner, f"{field_name}.{shown_key(str(k))}")
        return
    for rule in _ranges(hint):
        try:
            rule.check(value)
        except ValueError as exc:
            raise ConfigError(field_name, str(exc)) from None


@functools.cache
def _hints(cls) -> dict[str, Any]:
    return {k: v for k, v in typing.get_type_hints(cls, include_extras=True).items()
            if k in {f.name for f in dataclasses.fields(cls)}}


def _value_hint(hint: Any) -> Any:
    """A mapping's values' annotation (through ``| None``)."""
    for arg in (hint, *typing.get_args(hint)):
        if typing.get_origin(arg) is dict:
            return typing.get_args(arg)[1]
    return None


def _ranges(hint: Any) -> list[Range]:
    """The ranges in an annotation: its own, through ``| None`` and nested aliases."""
    if hint is None:
        return []
    found = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Range)]
    for arg in typing.get_args(hint):
        if typing.get_origin(arg) is not dict:
            found += _ranges(arg) if arg is not type(None) else []
    return found


def check_config(cfg: SweepConfig) -> None:
    """Check the values and the consistency between sections.

    Each value within its field's range (:func:`check_ranges`: the parser's schema made
    the same check on YAML), then what one field cannot say alone: names, fields that
    depend on each other, and the product bounds (evaluations per run, runs in all, the
    search's work, the proxies' parameters).
    """
    check_ranges(cfg)
    check_name(cfg.name, "name")
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
    _check_sizes(cfg)
    check_search(cfg.search, cfg.domain_names, "search", cfg.domain_groups)
    check_tracking(cfg)


def _check_groups(cfg: SweepConfig) -> None:
    """Group paths are words joined by '/', never a domain's name."""
    names = set(cfg.domain_names)
    for i, d in enumerate(cfg.data.domains):
        if d.group is None:
            continue
        where = f"data.domains[{i}].group"
        for part in d.group.split(GROUP_SEPARATOR):
            check_name(part, where, f"must be names joined by '{GROUP_SEPARATOR}' (web or "
                       f"web/science), each of which {NAME_RULE}")
    for group in cfg.domain_groups:
        _check(group not in names, "data.domains",
               f"{group!r} names both a group and a domain; rename one of them")


def _check_data(cfg: SweepConfig) -> None:
    names = cfg.domain_names
    _check(bool(cfg.data.domains), "data.domains",
           "must be a non-empty list of {name, source} entries")
    for i, d in enumerate(cfg.data.domains):
        check_name(d.name, f"data.domains[{i}].name")
        _check(d.name not in names[:i], f"data.domains[{i}].name",
               f"duplicate domain {d.name!r}; give each domain a unique name")
        _check(bool(d.source.strip()), f"data.domains[{i}].source", "must name a source")
        _check(d.dtype is None or d.dtype in TOKEN_DTYPES, f"data.domains[{i}].dtype",
               f"must be one of {', '.join(TOKEN_DTYPES)} (got {shown(d.dtype)})")
    _check(len(names) >= 2, "data.domains", "list at least 2 domains to mix")
    _check_groups(cfg)

    tok = cfg.data.tokenizer
    _check(tok.path is not None or tok.vocab_size >= 257, "data.tokenizer.vocab_size",
           f"must be at least 257 (the 256 byte symbols + 1) (got {tok.vocab_size})")


def _check_target(cfg: SweepConfig) -> None:
    t, names = cfg.target, cfg.domain_names
    given = [k for k in ("source", "domains", "tasks") if getattr(t, k) is not None]
    _check(len(given) == 1, "target",
           "give exactly one of 'target.source' (a validation corpus), 'target.domains' "
           "(weights over training domains) or 'target.tasks' (downstream tasks)"
           + (f"; got {' and '.join(given)}" if given else ""))
    _check_objectives(cfg)
    check_name(t.name, "target.name")
    if t.domains is not None:
        for d in t.domains:
            _check(d in names, f"target.domains.{shown_key(d)}",
                   f"names no training domain; choose from {', '.join(names)}")
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
        where = f"target.objectives.{shown_key(name)}"
        _check(bool(name.strip()), "target.objectives", "an objective's name is empty")
        _check(len(name) <= MAX_NAME, where, f"an objective's name has at most {MAX_NAME} "
               f"characters (got {len(name):,})")
        _check(bool(weights), where, "give its metrics and weights, e.g. {code: 1.0}")
        for metric in weights:
            _check(metric.removesuffix("_loss") in metrics, where,
                   f"{shown(metric)} is no metric the sweep records; choose from "
                   f"{', '.join(dict.fromkeys(metrics))}")
        _check(sum(weights.values()) > 0, where, "the weights must not all be 0")


def _check_tasks(tasks) -> None:
    """Names, families and weights of ``target.tasks`` (their files: raymix.data.tasks)."""
    _check(bool(tasks), "target.tasks", "list at least one task: {name, path[, family, "
           "weight]}")
    seen: set[str] = set()
    for i, task in enumerate(tasks):
        where = f"target.tasks[{i}]"
        check_name(task.name, f"{where}.name")
        _check(task.name not in seen, f"{where}.name",
               f"duplicate task {task.name!r}; give each task a unique name")
        seen.add(task.name)
        if task.family is not None:
            check_name(task.family, f"{where}.family")
        _check(bool(task.path.strip()), f"{where}.path",
               "must name a JSONL file of items (or builtin:<task>)")
    _check(sum(task.weight for task in tasks) > 0, "target.tasks",
           "the tasks' weights must not all be 0")


def _check_model(m: ModelConfig, where: str) -> None:
    _check(m.hidden % m.heads == 0, f"{where}.heads", f"must divide the hidden size ({m.hidden})")
    _check((m.hidden // m.heads) % 2 == 0, f"{where}.heads",
           "hidden / heads must be even (rotary embeddings)")
    params = non_embedding_params(m)
    _check(params <= MAX_PROXY_PARAMS, f"{where}.layers",
           f"{where}.layers x hidden x intermediate make {params:.3g} non-embedding "
           f"parameters, above the {MAX_PROXY_PARAMS:.0e} a proxy may have; make the "
           "proxy smaller")


def _check_overrides(entry: ModelOverrides, base: ModelConfig, where: str) -> None:
    _check_model(entry.applied_to(base), where)


def evaluations(steps: int, eval_every: int | None) -> int:
    """How many evaluations a run of ``steps`` makes (``len(training.eval_steps)``),
    counted without listing them."""
    every = eval_every or max(1, steps // 4)
    return -(-steps // every)  # ceil: every ``every`` steps before the last, and the last


def _check_training(cfg: SweepConfig) -> None:
    tr = cfg.training
    _check(tr.warmup_steps < tr.steps, "training.warmup_steps",
           f"must be below training.steps ({tr.steps})")
    count = evaluations(tr.steps, tr.eval_every)
    _check(count <= MAX_EVALUATIONS, "training.eval_every",
           f"training.steps / training.eval_every make {count:,} evaluations a run, above "
           f"{MAX_EVALUATIONS:,}; raise training.eval_every to at least "
           f"{-(-tr.steps // MAX_EVALUATIONS):,}")
    _check(count >= 3, "training.eval_every",
           f"gives only {count} evaluations; use at most training.steps // 3")
    micro = tr.micro_batch_size
    if micro != "auto":
        _check(micro <= tr.batch_size and tr.batch_size % micro == 0,
               "training.micro_batch_size",
               f"must divide training.batch_size ({tr.batch_size}) evenly, or be auto "
               f"(got {micro})")
    _check(tr.loss in LOSSES, "training.loss",
           f"must be one of {', '.join(LOSSES)} (got {shown(tr.loss)})")


def _check_mixtures(cfg: SweepConfig) -> None:
    mx, names = cfg.mixtures, cfg.domain_names
    _check(mx.draw in MIXTURE_DRAWS, "mixtures.draw",
           f"must be one of {', '.join(MIXTURE_DRAWS)} (got {shown(mx.draw)})")
    _check(mx.draw != "per_domain" or cfg.target.domains is None, "mixtures.draw",
           "per_domain (MixMin) scores mixtures on a target corpus or tasks; give "
           "target.source or target.tasks, or use dirichlet with target.domains")
    _check(mx.min_strength <= mx.max_strength, "mixtures.min_strength",
           "must be at most mixtures.max_strength")
    _check(mx.weight_floor < 1 / len(names), "mixtures.weight_floor",
           f"must be in [0, 1/{len(names)})")
    _check(mx.repeats <= mx.count, "mixtures.repeats",
           f"must be between 0 and mixtures.count ({mx.count})")
    _check(mx.strategy in STRATEGIES, "mixtures.strategy",
           f"must be one of {', '.join(STRATEGIES)} (got {shown(mx.strategy)})")
    _check(not cfg.is_adaptive or mx.draw != "per_domain", "mixtures.strategy",
           f"{mx.strategy} chooses the mixtures itself, while mixtures.draw per_domain "
           "trains one proxy per domain (MixMin); use mixtures.strategy: random with it, or "
           "another mixtures.draw")
    _check(mx.initial_runs is None or mx.initial_runs <= mx.count,
           "mixtures.initial_runs", f"must be between 1 and mixtures.count ({mx.count})")
    _check(mx.batch_size is None or mx.batch_size <= mx.count, "mixtures.batch_size",
           f"must be between 1 and mixtures.count ({mx.count}), or null (got {mx.batch_size})")
    _check(mx.by_group != "true" or bool(cfg.domain_groups), "mixtures.by_group",
           "is true but no domain has a group; give data.domains groups, or set it to auto")
    _check(mx.by_group != "true" or mx.draw != "per_domain", "mixtures.by_group",
           "is true but mixtures.draw per_domain trains one mixture per domain, drawn at no "
           "level; set mixtures.draw to dirichlet or uniform, or by_group to auto")
    if mx.reuse is not None:
        _check_reuse(cfg)
    if mx.phases:
        _check_phases(cfg)


MAX_PHASES = 16  # phases of a schedule (each adds a column per domain to every fit)


def _check_phases(cfg: SweepConfig) -> None:
    """``mixtures.phases``: increasing steps inside a run, for a random draw of whole
    schedules over flat domains."""
    mx, steps = cfg.mixtures, cfg.training.steps
    edges = [0, *mx.phases, steps]
    _check(all(a < b for a, b in zip(edges, edges[1:])), "mixtures.phases",
           f"must be increasing steps between 1 and training.steps - 1 ({steps - 1}), where "
           f"each next phase starts, e.g. [{steps * 3 // 4}] (got {mx.phases})")
    _check(len(mx.phases) < MAX_PHASES, "mixtures.phases",
           f"makes {len(mx.phases) + 1} phases, above {MAX_PHASES}; give fewer boundaries")
    _check(not cfg.domain_groups, "mixtures.phases",
           "schedules over domains in groups are not supported yet; remove the domains' "
           "groups or mixtures.phases")
    _check(mx.strategy == "random" and mx.draw != "per_domain", "mixtures.phases",
           "draws whole schedules up front; use mixtures.strategy: random with "
           "mixtures.draw dirichlet or uniform")
    _check(mx.reuse is None, "mixtures.phases",
           "cannot reuse an earlier sweep's runs yet; remove mixtures.reuse or mixtures.phases")
    shortest = min(b - a for a, b in zip(edges, edges[1:]))
    for where, other in (("validate.steps", cfg.validate.steps),
                         ("confirm.steps", cfg.confirm.steps)):
        # a schedule keeps each phase's share of another step count: none may get no step
        _check(other is None or other * shortest >= steps, where,
               f"gives the shortest phase ({shortest} of training.steps' {steps}) less than one "
               f"step; use at least {-(-steps // shortest)} steps")


def _check_reuse(cfg: SweepConfig) -> None:
    """``mixtures.reuse``: an earlier sweep other than this one, a random draw for the new
    proxies, and splits into this config's domains, each part named once."""
    reuse, names = cfg.mixtures.reuse, cfg.domain_names
    _check(bool(reuse.storage.strip()), "mixtures.reuse.storage",
           "must name the earlier sweep's storage (its compute.storage: a folder or URI)")
    _check(cfg.reuse_location != cfg.storage_location, "mixtures.reuse.storage",
           "is this sweep's own compute.storage; give the earlier sweep's, and a new "
           "compute.storage folder for this one")
    _check(cfg.mixtures.strategy == "random" and cfg.mixtures.draw != "per_domain",
           "mixtures.reuse", "draws the new proxies up front around the changed domains; use "
           "mixtures.strategy: random with mixtures.draw dirichlet or uniform")
    placed: set[str] = set()
    for old, parts in (reuse.split or {}).items():
        where = f"mixtures.reuse.split.{shown_key(old)}"
        _check(bool(parts), where, "list its parts here: [new_a, new_b] (one: a rename)")
        for part in parts:
            _check(part in names, where, f"{part!r} is not a domain of data.domains; list "
                   "the names the old domain's parts have here")
            _check(part not in placed, where, f"{part!r} is a part of two old domains; give "
                   "each part one old domain")
            placed.add(part)
        _check(old not in names or old in parts, where,
               f"{old!r} is still a domain of data.domains; list it among its parts, or "
               "rename it here")


def _check_compute(cfg: SweepConfig) -> None:
    c = cfg.compute
    for field, location in (("compute.storage", c.storage), ("validate.storage",
                                                             cfg.validate.storage)):
        if location and is_uri(location):  # its form; whether it takes writes: at the sweep
            problem = uri_problem(location)
            _check(problem is None, field, problem or "")
    _check(c.gpus_per_trial <= 1 or float(c.gpus_per_trial).is_integer(),
           "compute.gpus_per_trial", "must be 0, a fraction <= 1 (e.g. 0.25) or a whole number "
           f"(got {c.gpus_per_trial:g})")


def _check_scales(cfg: SweepConfig) -> None:
    names = [BASE_SCALE, CONFIRM_SCALE]
    for i, scale in enumerate(cfg.scales):
        where = f"scales[{i}]"
        check_name(scale.name, f"{where}.name")
        _check(scale.name not in names, f"{where}.name",
               f"{scale.name!r} is taken ({BASE_SCALE!r} is the model section's size, "
               f"{CONFIRM_SCALE!r} the confirmation round's); "
               "give each scale a unique name")
        names.append(scale.name)
        _check(any(getattr(scale, k) is not None for k in MODEL_FIELDS), where,
               "changes no model field; set at least one of " + ", ".join(MODEL_FIELDS))
        _check_overrides(scale, cfg.model, where)
        _check(scale.mixtures is None or scale.mixtures <= cfg.mixtures.count,
               f"{where}.mixtures", f"must be between 1 and mixtures.count ({cfg.mixtures.count})")


def _check_validation(cfg: SweepConfig) -> None:
    v = cfg.validate
    _check_overrides(v, cfg.model, "validate")
    for name, weights in v.mixtures.items():
        where = f"validate.mixtures.{shown_key(name)}"
        check_name(name, where, "must be a simple name (letters, digits, '_', '-', '.'; at "
                   f"most {MAX_NAME} characters)")
        names = cfg.domain_names
        slots = [c for c in cfg.mixture_columns if c not in names]
        for d in weights:
            _check(d in names or d in slots, f"{where}.{shown_key(d)}",
                   f"names no domain; choose from {', '.join(names)}"
                   + (f" (or a domain in a phase: {slots[0]}, ...)" if slots else ""))
        _check(sum(weights.values()) > 0, where, "weights must not all be 0")
        if any(d in slots for d in weights):
            _check(all(d in slots for d in weights), where,
                   "names both domains and domains in a phase (web@2); give one mixture for "
                   "every phase (domains) or each phase its own (domain@phase)")
            for p in range(1, len(cfg.phase_fractions) + 1):
                _check(sum(w for d, w in weights.items() if split_slot(d)[1] == p) > 0, where,
                       f"gives phase {p} no weight; name at least one domain@{p}")


def _check_confirm(cfg: SweepConfig) -> None:
    c = cfg.confirm
    _check_overrides(c, cfg.model, "confirm")
    _check(c.candidates + c.observed >= 2,
           "confirm.candidates", "confirm.candidates + confirm.observed must be at least 2 "
           "(or set confirm.rounds: 0)")


def planned_runs(cfg: SweepConfig) -> int:
    """Every run the config asks for, at most: the sweep's (its mixtures, their repeats
    with ``repeat_seeds`` other seeds, each scale's), its confirmation rounds' and
    ``raymix validate``'s (as :func:`raymix.sweep.plan.planned_runs`,
    :func:`raymix.workflows.confirmation.runs_per_round` and
    :func:`raymix.workflows.validation.planned_validation_runs` count them; MixMin's
    sweep trains one proxy per domain and no round)."""
    mx, c, v = cfg.mixtures, cfg.confirm, cfg.validate
    if mx.draw == "per_domain":
        sweep, rounds = len(cfg.data.domains), 0
    else:
        sweep = mx.count + mx.repeats * mx.repeat_seeds + sum(s.mixtures or mx.count
                                                             for s in cfg.scales)
        rounds = c.rounds * (c.candidates + c.observed) * c.seeds
    validate = (5 + len(v.mixtures)) * v.seeds  # the proposal, baselines, your mixtures
    return sweep + rounds + validate


def _check_sizes(cfg: SweepConfig) -> None:
    """The product bound on runs in all (:func:`planned_runs`), naming the largest term."""
    runs = planned_runs(cfg)
    mx, c = cfg.mixtures, cfg.confirm
    if runs > MAX_PLANNED_RUNS:  # name the largest term
        terms = {"mixtures.repeat_seeds": mx.repeats * mx.repeat_seeds,
                 "mixtures.count": mx.count * (1 + len(cfg.scales)),
                 "confirm.rounds": c.rounds * (c.candidates + c.observed) * c.seeds,
                 "validate.seeds": (5 + len(cfg.validate.mixtures)) * cfg.validate.seeds}
        field = max(terms, key=terms.get)
        _check(False, field,
               f"the config plans {runs:,} runs (mixtures.count x (1 + repeats x "
               f"repeat_seeds) and scales, confirm.rounds x (candidates + observed) x "
               f"seeds, validate's), above {MAX_PLANNED_RUNS:,}; lower {field}")


def _check_init(cfg: SweepConfig) -> None:
    path = cfg.training.init_from
    if path is None:
        return
    folder = cfg.resolve(path)
    _check((folder / "config.json").is_file(), "training.init_from",
           f"{shown(str(folder))} is not a saved model (no config.json); give a folder written "
           "by save_pretrained, e.g. <storage>/checkpoints/<run> of a sweep with save_checkpoint")
    _check(any(folder.glob("*.safetensors")), "training.init_from",
           f"{shown(str(folder))} holds no .safetensors weights; raymix loads no pickled "
           "weights (pytorch_model.bin): save the model again with "
           "save_pretrained(safe_serialization=True)")


def _check_fit(cfg: SweepConfig) -> None:
    f = cfg.fit
    for k, value in f.at.items():
        _check(k in AT_KEYS, f"fit.at.{shown_key(k)}",
               f"unknown key; use {' and/or '.join(AT_KEYS)}")
        _check(k != "params" or value <= MAX_PARAMS, "fit.at.params",
               f"must be at most {MAX_PARAMS:.0e} parameters (got {value:g})")
    _check(f.law in SCALING_LAWS, "fit.law",
           f"must be one of {', '.join(SCALING_LAWS)} (got {shown(f.law)})")
    _check(f.checkpoints in ("auto", *CHECKPOINTS), "fit.checkpoints",
           f"must be one of auto, {', '.join(CHECKPOINTS)} (got {shown(f.checkpoints)})")
    for i, r in enumerate(f.regressors):
        _check(r in REGRESSOR_NAMES, f"fit.regressors[{i}]",
               f"unknown regressor {shown(r)}; choose from {', '.join(REGRESSOR_NAMES)}")
        _check(r not in f.regressors[:i], f"fit.regressors[{i}]", f"{r!r} is listed twice")
    _check(bool(f.regressors), "fit.regressors", "name at least one regressor")


def check_search(s: SearchConfig, names: list[str], where: str = "search",
                 groups: dict[str, list[str]] | None = None) -> None:
    """Check a search section (or constraints file) against the domain ``names``.

    ``where`` prefixes the field names in errors (``search`` in a sweep config,
    ``constraints`` in a stand-alone constraints file). With ``groups`` (the config's
    :func:`~raymix.config.schema.domain_groups`) ``min_weight``, ``max_weight`` and
    ``fixed_weight`` may also name a group, bounding its total weight. Checks that need
    token counts (the repetition cap) happen in :func:`raymix.mixtures.build_constraints`.
    """
    groups = groups or {}
    check_ranges(s, where)
    _check(s.method in SEARCH_METHODS, f"{where}.method",
           f"must be one of {', '.join(SEARCH_METHODS)} (got {shown(s.method)})")
    _check(s.top_k <= s.draws, f"{where}.top_k",
           f"must be between 1 and {where}.draws")
    work = s.draws * s.restarts
    _check(work <= MAX_SEARCH_WORK, f"{where}.restarts",
           f"{where}.draws x {where}.restarts is {work:,}, above {MAX_SEARCH_WORK:,}; "
           "lower one of them")
    for k in ("min_weight", "max_weight", "fixed_weight", "available_tokens", "prior"):
        bounded = [*names, *groups] if k.endswith("_weight") else names
        what = "domain or group" if bounded is not names and groups else "domain"
        for d in getattr(s, k):
            _check(d in bounded, f"{where}.{k}.{shown_key(d)}",
                   f"names no {what}; choose from {', '.join(bounded)}")
    if s.prior:
        _check(set(s.prior) == set(names), f"{where}.prior",
               f"give a weight for every domain ({', '.join(names)}) or leave it out")
        _check(sum(s.prior.values()) > 0, f"{where}.prior", "weights must not all be 0")
    if s.available_tokens:
        missing = [d for d in names if d not in s.available_tokens]
        first = shown_key(missing[0]) if missing else ""
        _check(not missing, f"{where}.available_tokens.{first}",
               "missing; give every domain's token count or leave available_tokens out")
    for d in s.fixed_weight:
        for k in ("min_weight", "max_weight"):
            _check(d not in getattr(s, k), f"{where}.{k}.{shown_key(d)}",
                   "the domain also has a fixed_weight; keep one of the two")
    lower = {d: w for d, w in {**s.min_weight, **s.fixed_weight}.items() if d in names}
    fixed = sum(w for d, w in s.fixed_weight.items() if d in names)
    k = "fixed_weight" if fixed > 1 + SUM_SLACK else "min_weight"
    _check(sum(lower.values()) <= 1 + SUM_SLACK, f"{where}.{k}",
           f"minimum and fixed weights sum to {sum(lower.values()):.3g} > 1; lower them")
    for d, lo in s.min_weight.items():
        hi = s.max_weight.get(d, 1.0)
        _check(lo <= hi, f"{where}.min_weight.{shown_key(d)}",
               f"is above {where}.max_weight.{shown_key(d)} ({hi})")
    upper = {d: s.fixed_weight.get(d, s.max_weight.get(d, 1.0)) for d in names}
    _check(sum(upper.values()) >= 1 - SUM_SLACK, f"{where}.max_weight",
           f"maximum (and fixed) weights sum to {sum(upper.values()):.3g} < 1, so no mixture "
           "can meet them; raise some max_weight (a domain without one may take up to 1)")
    if groups:
        bounds = {**s.min_weight, **s.fixed_weight}, {**s.max_weight, **s.fixed_weight}
        check_group_bounds(s, group_children(names, groups), *bounds, where)


def group_bounds_problem(
    children: dict[str, list[str]], lower: dict[str, float], upper: dict[str, float]
) -> tuple[str, str, float] | None:
    """Where bounds on a domain tree's sums leave no mixture; None when one exists.

    Bottom-up, each node's total can reach ``[sum of its children's lows, sum of their
    highs]`` cut to its own bounds (the top's are [1, 1]); the tree is feasible exactly
    when no cut is empty (sums of intervals are intervals).

    Parameters
    ----------
    children : dict of str to list of str
        :func:`~raymix.config.schema.group_children` (``""`` is the top).
    lower, upper : dict of str to float
        Bounds by domain or group name; a name left out is bounded by 0 and 1.

    Returns
    -------
    (node, side, reach) or None
        ``side`` is ``"lower"`` when the node's lower bound is above the most its children
        can hold (``reach``), ``"upper"`` when its upper bound is below the least
        (``reach``); ``node`` is ``""`` for the top (the mixture's sum of 1).
    """
    reach: dict[str, tuple[float, float]] = {}

    def bounds(name: str) -> tuple[float, float]:
        return reach.get(name, (lower.get(name, 0.0), upper.get(name, 1.0)))

    for node in reversed(children):  # every group after its subgroups
        lo = sum(bounds(c)[0] for c in children[node])
        hi = sum(bounds(c)[1] for c in children[node])
        own_lo, own_hi = (1.0, 1.0) if node == "" else bounds(node)
        if own_lo > hi + SUM_SLACK:
            return node, "lower", hi
        if own_hi < lo - SUM_SLACK:
            return node, "upper", lo
        reach[node] = max(own_lo, lo), min(own_hi, hi)
    return None


def check_group_bounds(s: SearchConfig, children: dict[str, list[str]],
                       lower: dict[str, float], upper: dict[str, float],
                       where: str = "search") -> None:
    """Raise a ConfigError naming the setting to change when the group bounds meet no mixture.

    ``lower`` and ``upper`` bound domains and groups (:func:`group_bounds_problem`):
    the search's settings, or the box after the repetition cap.
    """
    problem = group_bounds_problem(children, lower, upper)
    if problem is None:
        return
    node, side, reach = problem
    if node == "":
        key = "max_weight" if side == "lower" else "min_weight"
        raise ConfigError(f"{where}.{key}",
                          f"the groups' and domains' {key}s (and fixed weights) let the weights "
                          f"sum to at most {reach:.3g} < 1, so no mixture meets them; raise some"
                          if side == "lower" else
                          f"the groups' and domains' {key}s (and fixed weights) sum to "
                          f"{reach:.3g} > 1 at the top level; lower some")
    if side == "lower":
        key = "fixed_weight" if node in s.fixed_weight else "min_weight"
        raise ConfigError(f"{where}.{key}.{shown_key(node)}",
                          f"{lower[node]:.3g} is more than the group's domains may hold together "
                          f"({reach:.3g}, by their max_weight, fixed_weight or repetition "
                          f"cap); lower it or raise theirs")
    if upper.get(node, 1.0) >= 1.0:  # no bound of its own: its members' minimums pass 1
        raise ConfigError(f"{where}.min_weight",
                          f"the minimum (and fixed) weights inside group {node!r} sum to "
                          f"{reach:.3g} > 1; lower some")
    key = "fixed_weight" if node in s.fixed_weight else "max_weight"
    raise ConfigError(f"{where}.{key}.{shown_key(node)}",
                      f"{upper[node]:.3g} is less than the group's domains' minimum weights "
                      f"({reach:.3g}); raise it or lower theirs")


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
    :mod:`raymix.tracking`), not here: a config stays valid while a server is down.
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
    if t.wandb is not None:
        _check(bool(t.wandb.project.strip()), "tracking.wandb.project", "must name a project")
        _check(t.wandb.mode is None or t.wandb.mode in WANDB_MODES, "tracking.wandb.mode",
               f"must be one of {', '.join(WANDB_MODES)} (got {shown(t.wandb.mode)})")
    for name, (module, shown_as) in TRACKER_CLIENTS.items():  # each tracker asked for
        if getattr(t, name):
            _check(installed(module), f"tracking.{name}",
                   f"{shown_as} is not installed; {TRACKING_INSTALL}")
