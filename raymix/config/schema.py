"""The config's schema: one dataclass per section of the sweep YAML.

These are plain dataclasses, importable without the parser (a GPU benchmark of the
trainer needs only :class:`ModelConfig` and :class:`TrainingConfig`).
:mod:`raymix.config.parse` builds them from YAML with pydantic, following the
annotations: ``Int``, ``Float``, ``Bool`` and ``Str`` are the YAML scalar rules below,
and every section refuses unknown keys. :mod:`raymix.config.checks` then checks the
values and how the sections fit together.

Example (see jobs/configs/demo.yaml for a complete one)::

    name: demo
    data:
      domains:
        - {name: code, source: "builtin:code"}
        - {name: drama, source: "builtin:drama"}
    target:
      name: python_reference
      source: "builtin:python_reference"
    mixtures: {count: 48}
    compute: {storage: runs/demo}
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from raymix.formatting import number_text
from raymix.storage import is_uri, local_folder, user_cache_dir

# built by raymix.regression.make_regressor; "auto" cross-validates the others and picks
REGRESSOR_NAMES = ("ridge", "loglinear", "lightgbm", "lightgbm_regmix", "mixing_law",
                   "implicit_law", "gp")
SEARCH_METHODS = ("auto", "simulate", "exact", "tpe", "cmaes", "pessimistic")
MIXTURE_DRAWS = ("dirichlet", "uniform", "per_domain")  # mixtures.draw
# how a sweep chooses its mixtures: the strategies' registry. Each name is a file
# raymix/mixtures/strategies/<name>.py, which that package imports for its STRATEGY class.
STRATEGIES = ("random", "bayesopt", "design")
BASE_SCALE = "base"  # the name of the ``model`` section's size in a multi-scale sweep
CONFIRM_SCALE = "confirm"  # the size of a confirmation round that trains another scale
AT_KEYS = ("params", "tokens")
CHECKPOINTS = ("all", "final")  # which checkpoints the step laws see (fit.checkpoints)
# how losses are extrapolated to a target scale (fit.law): step law then size law per
# mixture (nested), one L(N, D) per mixture with shared E and exponents (joint), or auto:
# the one a backtest on the runs chooses (without one: nested with 3 sizes or more, else joint)
SCALING_LAWS = ("auto", "nested", "joint")
LOSSES = ("auto", "fused", "chunked", "plain")  # training.loss
TOKEN_DTYPES = ("uint16", "uint32", "int32", "int64")  # of raw .bin token shards
WANDB_MODES = ("online", "offline", "disabled")  # tracking.wandb.mode
MODEL_FIELDS = ("layers", "hidden", "heads", "intermediate")  # what a scale may change
# the sections of the YAML, in the order a config is written (beside them: name, overrides)
SECTIONS = ("data", "target", "model", "training", "mixtures", "compute", "fit", "search",
            "scales", "validate", "confirm", "tracking")


# ----------------------------------------------------------------------------- YAML scalars


def _number_from_string(value: Any) -> Any:
    """YAML 1.1 reads ``1e9`` (no dot) as a string; take it as the number it means."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: an error never echoes a huge value."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _whole_number(value: Any) -> int:
    value = _number_from_string(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a whole number (got {shown(value)})")
    return value


def _number(value: Any) -> float:
    value = _number_from_string(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number (got {shown(value)})")
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number (got {shown(value)})")
    return float(value)


def _true_or_false(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false (got {shown(value)})")
    return value


def _whole_number_or_auto(value: Any) -> int | str:
    if value == "auto":
        return value
    try:
        return _whole_number(value)
    except ValueError:
        raise ValueError(f"must be a whole number or auto (got {shown(value)})") from None


def _auto_or_bool(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value in ("auto", "true", "false"):
        return value
    raise ValueError(f"must be true, false or auto (got {shown(value)})")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string (got {shown(value)})")
    return value


class Scalar:
    """How one kind of YAML scalar becomes a config value (a pydantic validator).

    ``convert`` takes the YAML value and returns the field's value, or raises
    ``ValueError`` with the message the user sees after the field's name. pydantic
    calls ``__get_pydantic_core_schema__`` when :mod:`raymix.config.parse` builds its
    validator, so this module itself does not import pydantic.
    """

    def __init__(self, convert):
        self.convert = convert

    def __get_pydantic_core_schema__(self, source, handler):
        from pydantic_core import core_schema

        return core_schema.no_info_plain_validator_function(self.convert)


Int = Annotated[int, Scalar(_whole_number)]
Float = Annotated[float, Scalar(_number)]
Bool = Annotated[bool, Scalar(_true_or_false)]
Str = Annotated[str, Scalar(_text)]
IntOrAuto = Annotated[int | str, Scalar(_whole_number_or_auto)]
AutoBool = Annotated[str, Scalar(_auto_or_bool)]  # "auto", "true" or "false"


@dataclass(frozen=True)
class Range:
    """The values a numeric field may take: ``low <= value <= high`` (a pydantic validator).

    Written beside the field's scalar rule, ``Annotated[Int, Range(1, 10_000_000)]``, so
    the bounds live on the schema: the parser refuses a value outside them in one line
    naming the field, docs/config.md's config table is made from them
    (:func:`raymix.config.table.config_table`) and the fuzz tests draw values in and out
    of them. ``low_open`` excludes ``low`` itself (``temperature`` must be above 0),
    ``high_open`` excludes ``high``. ``why`` says what the
    bound is for, in the table. A value that is not a number (``auto``) is left to the
    field's scalar rule.
    """

    low: float
    high: float
    low_open: bool = False
    why: str = ""
    high_open: bool = False

    def contains(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        """``> 0 and <= 10`` or ``1 to 10,000,000``: the range in the config table's words."""
        if self.low_open or self.high_open:
            low = f"{'>' if self.low_open else '>='} {number_text(self.low)}"
            high = f"{'<' if self.high_open else '<='} {number_text(self.high)}"
            return f"{low} and {high}"
        return f"{number_text(self.low)} to {number_text(self.high)}"

    def check(self, value: Any) -> Any:
        if isinstance(value, (int, float)) and not self.contains(value):
            got = f"{float(value):g}" if abs(value) >= 1e15 else shown(value)
            raise ValueError(f"must be {self.describe()} (got {got})")
        return value

    def __get_pydantic_core_schema__(self, source, handler):
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self.check, handler(source))




# ----------------------------------------------------------------------------- the bounds

# Each numeric field's range, chosen from what a real sweep needs: a proxy is a small
# model trained briefly, many times. Shared kinds of value get one alias each, so a seed
# or a weight has one range wherever it appears.
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds
MAX_NAME = 64  # characters of any name: the config's, a domain's, a task's, a scale's...
MAX_STEPS = 10_000_000
MAX_MIXTURES = 100_000  # mixtures.count: each is a proxy run
MAX_DRAWS = 10_000_000  # search.draws: simulated mixtures, drawn in chunks
MAX_MODELS_PER_TRIAL = 1024  # compute.models_per_trial: proxies stacked in one trial
MAX_TOKENS = 1e16  # any token count: ten times the largest pretraining corpora
MAX_PARAMS = 1e15  # fit.at.params: a target model's parameters
MAX_WEIGHT = 1e6  # relative weights (normalised to sum to 1)

Seed = Annotated[Int, Range(0, MAX_SEED, why="numpy's and torch's seeds")]
Weight = Annotated[Float, Range(0, MAX_WEIGHT, why="relative: normalised to sum to 1")]
Share = Annotated[Float, Range(0, 1, why="a share of the mixture")]
Tokens = Annotated[Float, Range(0, MAX_TOKENS, why="ten times the largest corpora")]
Layers = Annotated[Int, Range(1, 256)]
Hidden = Annotated[Int, Range(1, 65_536)]
Heads = Annotated[Int, Range(1, 4096, why="must divide hidden")]
Intermediate = Annotated[Int, Range(1, 262_144)]
Steps = Annotated[Int, Range(1, MAX_STEPS)]
LongerSteps = Annotated[Int, Range(3, MAX_STEPS, why="three evaluations at least")]
Count = Annotated[Int, Range(1, MAX_MIXTURES, why="each is a proxy run")]


class Section:
    """Base of every section: pydantic refuses keys a section does not have."""

    __pydantic_config__ = {"extra": "forbid"}


# ----------------------------------------------------------------------------- data


@dataclass
class DomainConfig(Section):
    """One training domain.

    ``source`` is one of: ``builtin:<name>`` (the built-in demo corpus), a folder of
    ``.txt``/``.md``/``.py``... files, a ``.jsonl``/``.json`` or ``.parquet`` file (or a
    folder of them), or ``hf:<dataset name>[:<config>]`` when a hub is reachable. Or
    tokens already made (read in place, :mod:`raymix.data.shards`): ``.npy`` token
    shards, raw ``.bin`` shards of ``dtype``, or a Megatron ``.bin`` + ``.idx`` dataset;
    ``data.tokenizer.path`` then names the tokenizer that made them.
    ``max_tokens`` caps how many of its tokens are prepared (its token budget).
    ``group`` places the domain in a tree of domains (source -> topic -> quality):
    ``web`` or, a level deeper, ``web/science``. A YAML may instead nest the domains
    under ``{group: web, domains: [...]}`` entries; both read the same
    (:func:`domain_groups`). Mixtures are drawn a level at a time and the search may
    bound a group's total weight (``search.min_weight: {web: 0.3}``).
    """

    name: Str  # what the tables and the proposal call the domain
    source: Str  # builtin:<name>, a folder, .jsonl/.json/.parquet, hf:<name>, token shards
    text_field: Str = "text"  # the text's key in .jsonl/.json/.parquet records
    max_tokens: Annotated[Int, Range(1, MAX_TOKENS)] | None = None  # its token budget
    dtype: Str | None = None  # of raw .bin token shards: uint16, uint32, int32 or int64
    group: Str | None = None  # its group, a path from the tree's top: web or web/science


GROUP_SEPARATOR = "/"  # between the levels of a group's path (web/science)


def domain_groups(domains: list[DomainConfig]) -> dict[str, list[str]]:
    """Every group of the domain tree, at every level, and the domains under it.

    Parameters
    ----------
    domains : list of DomainConfig

    Returns
    -------
    dict of str to list of str
        Group path -> the names of the domains in it or in its subgroups, in config
        order; groups in the order they first appear, a group before its subgroups
        (``{"web": [...], "web/science": [...]}``). Empty when no domain has a group.
    """
    groups: dict[str, list[str]] = {}
    for d in domains:
        if not d.group:
            continue
        parts = d.group.split(GROUP_SEPARATOR)
        for level in range(1, len(parts) + 1):
            groups.setdefault(GROUP_SEPARATOR.join(parts[:level]), []).append(d.name)
    return groups


def group_children(names: list[str], groups: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each node of the domain tree and its children one level down.

    Parameters
    ----------
    names : list of str
        The domains (leaves), in config order.
    groups : dict of str to list of str
        :func:`domain_groups`: every group path and the domains under it.

    Returns
    -------
    dict of str to list of str
        ``""`` (the top) and each group path -> its subgroups and the domains directly in
        it, in the order they first appear (``{"": ["web", "code"], "web": ["web/science",
        "news"], ...}``). A domain sits in the deepest group that holds it.
    """
    children: dict[str, list[str]] = {"": []}
    for name in names:
        path = max((g for g, members in groups.items() if name in members),
                   key=lambda g: g.count(GROUP_SEPARATOR), default="")
        parent = ""
        for level, part in enumerate(path.split(GROUP_SEPARATOR) if path else []):
            node = part if not level else f"{parent}{GROUP_SEPARATOR}{part}"
            if node not in children:
                children[parent].append(node)
                children[node] = []
            parent = node
        children[parent].append(name)
    return children


PHASE_SEPARATOR = "@"  # between a domain and its phase in a schedule's columns (web@2)


def slot_name(domain: str, phase: int) -> str:
    """The column of ``domain`` in phase ``phase`` (from 1) of a schedule: ``web@2``."""
    return f"{domain}{PHASE_SEPARATOR}{phase}"


def split_slot(name: str) -> tuple[str, int | None]:
    """``("web", 2)`` for ``web@2``; ``(name, None)`` for a plain domain."""
    domain, sep, phase = name.rpartition(PHASE_SEPARATOR)
    if sep and domain and phase.isascii() and phase.isdigit() and int(phase) > 0:
        return domain, int(phase)
    return name, None


def phase_slots(domains: list[str], phases: int) -> list[str]:
    """A schedule's columns, phase by phase: each domain in phase 1, then in phase 2, ..."""
    return [slot_name(d, p) for p in range(1, phases + 1) for d in domains]


def phase_groups(domains: list[str], phases: int) -> dict[str, list[str]]:
    """Each domain and its slots in every phase (``{"web": ["web@1", "web@2"]}``): the
    groups whose totals are each domain's share of a schedule's whole run."""
    return {d: [slot_name(d, p) for p in range(1, phases + 1)] for d in domains}


def stretched_phases(boundaries: list[int], steps: int, new_steps: int) -> list[int]:
    """``mixtures.phases`` given for ``steps`` at ``new_steps`` (each phase keeps its share,
    rounded; a run trains its schedule's own shares, so only the rounding is lost)."""
    return [max(1, min(new_steps - 1, int(round(b * new_steps / steps)))) for b in boundaries]


def phase_fractions(boundaries: list[int], steps: int) -> list[float]:
    """Each phase's share of ``steps`` when new phases start at ``boundaries``.

    Parameters
    ----------
    boundaries : list of int
        Increasing steps in (0, steps) where a phase starts (``mixtures.phases``).
    steps : int
        Steps of the run the boundaries are given in (``training.steps``).

    Returns
    -------
    list of float
        ``len(boundaries) + 1`` shares summing to 1; [] without boundaries.
    """
    if not boundaries:
        return []
    edges = [0, *boundaries, steps]
    return [(b - a) / steps for a, b in zip(edges, edges[1:])]


@dataclass
class TokenizerConfig(Section):
    """Train a byte-level BPE (``vocab_size``) or load ``path`` (a tokenizer.json)."""

    # the byte-level BPE trained on the domains
    vocab_size: Annotated[Int, Range(1, 1_000_000, why="at least 257 for a BPE trained "
                                     "here (the 256 bytes + 1)")] = 4096
    path: Str | None = None  # a tokenizer.json to load instead
    # per domain, for training the BPE
    sample_bytes: Annotated[Int, Range(1, 100_000_000_000)] = 4_000_000


@dataclass
class DataConfig(Section):
    domains: list[DomainConfig]
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    # where prepared data goes (relative: to the YAML's folder); default: the user's cache,
    # shared by every config (prepared data is keyed by content), see SweepConfig.cache_path
    cache_dir: Str | None = None
    # each domain's held-out tail (capped by max_valid_tokens)
    valid_fraction: Annotated[Float, Range(0.0001, 0.5, high_open=True)] = 0.05
    # per domain; validation beyond this is wasted eval time
    max_valid_tokens: Annotated[Int, Range(1, 10_000_000_000)] = 65_536
    # per domain read from its source
    max_text_bytes: Annotated[Int, Range(1, MAX_TOKENS)] | None = 8_000_000
    seed: Seed = 0  # of the documents a token source's max_tokens draws
    # how trials get training tokens: auto reads token sources in place (memory map) and
    # sends raymix's own prepared arrays through Ray's object store; true reads both in
    # place (cache_dir on storage every node reaches); false sends both through the store
    read_in_place: AutoBool = "auto"


def task_key(name: str) -> str:
    """A task's name in a record's losses (bits per byte): ``task:<name>``. The colon is
    never in a domain's name, so it cannot clash with a validation set."""
    return f"task:{name}"


def family_key(name: str) -> str:
    """A task family's name in a record's losses (its tasks' weighted bits per byte)."""
    return f"family:{name}"


@dataclass
class TaskConfig(Section):
    """One downstream task of a task target: a JSONL file of items, scored in bits per byte
    of each item's gold continuation (:mod:`raymix.data.tasks`).

    An item is ``{"context": ..., "continuation": ...}`` (cloze / completion) or
    ``{"query": ..., "choices": [...], "gold": <index or the gold choice>}`` (multiple
    choice, scored on the gold choice). ``path`` may be ``builtin:<task>``
    (:data:`raymix.data.tasks.BUILTIN_TASKS`).
    """

    name: Str  # its loss is task:<name>
    path: Str  # a JSONL file of items, or builtin:<task>
    family: Str | None = None  # default: the task's own name
    weight: Weight = 1.0  # its share of the target loss
    max_items: Annotated[Int, Range(1, 100_000_000)] | None = None  # the file's first items only

    @property
    def family_name(self) -> str:
        return self.family or self.name


@dataclass
class TargetConfig(Section):
    """What loss the sweep minimises.

    One of ``domains`` (a weighted set of training domains' validation splits, e.g.
    ``{code: 0.7, docs: 0.3}``), ``source`` (a separate validation corpus that is
    not a training domain), or ``tasks`` (downstream tasks: the weighted bits per byte
    of their gold continuations), named ``name``. ``objectives`` names the losses to propose
    one mixture each for (``raymix propose --per-objective``).
    """

    name: Str = "target"  # the target loss's name
    source: Str | None = None  # a validation corpus that is not a training domain
    text_field: Str = "text"  # the text's key in the corpus's records
    domains: dict[Str, Weight] | None = None  # or weights over training domains
    tasks: list[TaskConfig] | None = None  # or downstream tasks
    # objectives to propose one mixture each for, and their trade-off (raymix/proposal/
    # objectives.py): {name: {metric: weight}}, a metric being a training domain's
    # validation loss, task:<name>, family:<name> or the target's name. Set, `propose` and
    # `sweep` do it; unset, `propose --per-objective` takes each target domain or task
    # and their average
    objectives: dict[Str, dict[Str, Weight]] | None = None


# ----------------------------------------------------------------------------- the proxy


@dataclass
class ModelConfig(Section):
    """The proxy: a tiny Llama built with transformers.LlamaConfig, tied embeddings."""

    layers: Layers = 2  # transformer blocks
    hidden: Hidden = 128  # the model's width
    heads: Heads = 4  # attention heads
    intermediate: Intermediate = 512  # the MLP's width
    seq_len: Annotated[Int, Range(2, 131_072)] = 128  # tokens per training sequence


@dataclass(kw_only=True)
class ModelOverrides(Section):
    """Model fields that another size changes; those left out keep ``model``'s values."""

    layers: Layers | None = None  # default: model.layers
    hidden: Hidden | None = None  # default: model.hidden
    heads: Heads | None = None  # default: model.heads
    intermediate: Intermediate | None = None  # default: model.intermediate

    def applied_to(self, base: ModelConfig) -> ModelConfig:
        """``base`` with the model fields set here (those not None)."""
        changes = {k: getattr(self, k) for k in MODEL_FIELDS if getattr(self, k) is not None}
        return dataclasses.replace(base, **changes)


@dataclass
class TrainingConfig(Section):
    steps: Steps = 200  # optimizer steps of one run
    batch_size: Annotated[Int, Range(1, 65_536)] = 16  # sequences per step
    # AdamW's peak learning rate
    lr: Annotated[Float, Range(1e-8, 10, why="smaller trains nothing")] = 3e-3
    # linear warmup, then cosine decay
    warmup_steps: Annotated[Int, Range(0, MAX_STEPS, why="below training.steps")] = 20
    min_lr_ratio: Annotated[Float, Range(0, 1)] = 0.1  # cosine decays to lr * min_lr_ratio
    weight_decay: Annotated[Float, Range(0, 100)] = 0.1  # AdamW's
    # the gradient norm's clip
    grad_clip: Annotated[Float, Range(1e-4, 1e6, why="a clip at or near 0 stops training; "
                                      "0 or below is no setting")] = 1.0
    # default: steps // 4 (so at least 3 evals + the last)
    eval_every: Annotated[Int, Range(1, MAX_STEPS, why="at most 10,000 evaluations a run")] \
        | None = None
    # per validation set and evaluation
    eval_tokens: Annotated[Int, Range(1, 1_000_000_000)] = 16_384
    seed: Seed = 0
    # continual pretraining: start from this checkpoint (a save_pretrained folder, e.g. a
    # run's checkpoint from save_checkpoint) instead of a random initialisation
    init_from: Str | None = None
    save_checkpoint: Bool = False  # keep each run's final model in <storage>/checkpoints/
    # How a step runs (raymix/training/): the batch in micro-batches of this many sequences,
    # gradients accumulated (auto: the largest divisor of batch_size that fits the trial's
    # memory by raymix's estimate; the whole batch when the memory is not known); the
    # loss without the whole batch's logits (auto: fused on CUDA when liger-kernel is
    # installed, else chunked; plain holds every logit); torch.compile of the step (auto:
    # on for CUDA; a compilation that fails falls back to eager with a notice).
    micro_batch_size: Annotated[IntOrAuto, Range(1, 65_536, why="divides batch_size")] = "auto"
    loss: Str = "auto"  # auto | fused | chunked | plain (LOSSES)
    compile: AutoBool = "auto"

    @property
    def eval_steps(self) -> list[int]:
        every = self.eval_every or max(1, self.steps // 4)
        points = list(range(every, self.steps, every))
        return points + [self.steps]

    def tokens_per_run(self, seq_len: int) -> int:
        return self.steps * self.batch_size * seq_len

    def with_steps(self, steps: int) -> TrainingConfig:
        """The same schedule stretched to ``steps``: warmup and evaluations scale along."""
        ratio = steps / self.steps
        every = self.eval_every or max(1, self.steps // 4)
        return dataclasses.replace(self, steps=steps,
                                   warmup_steps=int(round(self.warmup_steps * ratio)),
                                   eval_every=max(1, int(round(every * ratio))))


@dataclass(kw_only=True)
class ScaleConfig(ModelOverrides):
    """One more proxy size of a multi-scale sweep (for the nested scaling laws).

    The model fields left out keep the base ``model``'s values. ``mixtures`` trains only
    the first that many of the sweep's mixtures at this size (default: all of them).
    """

    name: Str  # the size's name in the tables (not base or confirm)
    # the first this many of the sweep's mixtures (default: all)
    mixtures: Annotated[Int, Range(1, MAX_MIXTURES, why="at most mixtures.count")] | None = None


@dataclass(kw_only=True)
class ValidationConfig(ModelOverrides):
    """``raymix validate``: train the proposal and baselines at a larger scale.

    The model fields left out keep the proxy ``model``'s values; ``steps`` (default:
    ``training.steps``) sets the tokens, with warmup and evaluations scaled along.
    Each mixture is trained with ``seeds`` seeds. ``mixtures`` adds mixtures of your
    own to compare (``{name: {domain: weight}}``, normalised to sum to 1).
    """

    steps: LongerSteps | None = None  # default: training.steps
    seeds: Annotated[Int, Range(1, 100)] = 2  # each mixture trained with this many seeds
    # mixtures of your own to compare: {name: {domain: weight}}
    mixtures: dict[Str, dict[Str, Weight]] = field(default_factory=dict)
    storage: Str | None = None  # default: <compute.storage>/validate


@dataclass(kw_only=True)
class ConfirmConfig(ModelOverrides):
    """The confirmation round that ends a sweep: the proposal is what measured best.

    The fit's ``candidates`` best distinct mixtures (its proposal, the RegMix top-k
    average, then the best-predicted mixtures at least ``min_distance`` apart, in total
    variation) and the ``observed`` best mixtures the sweep trained are trained again
    with ``seeds`` new seeds each; the proposal is the one with the lowest mean target
    loss. The model fields and ``steps`` set a larger confirmation scale (left out: the
    proxy's). ``rounds`` > 1 repeats fit -> candidates -> confirm, each round's runs
    (at the proxy scale) joining the fit. ``rounds: 0`` proposes the fit's best unconfirmed.
    """

    rounds: Annotated[Int, Range(0, 100)] = 1  # 0: propose the fit's best unconfirmed
    # the fit's best distinct mixtures
    candidates: Annotated[Int, Range(0, 20, why="each is trained confirm.seeds times")] = 3
    # the best mixtures the sweep trained
    observed: Annotated[Int, Range(0, 20, why="each is trained confirm.seeds times")] = 2
    # new seeds for each
    seeds: Annotated[Int, Range(2, 20, why="the noise of a mean needs two seeds")] = 3
    steps: LongerSteps | None = None  # default: training.steps
    # total variation
    min_distance: Annotated[Float, Range(0, 1, high_open=True)] = 0.05

    def changes_scale(self) -> bool:
        """Whether the confirmation trains another size or length than the proxies."""
        return self.steps is not None or any(getattr(self, k) is not None for k in MODEL_FIELDS)


# ----------------------------------------------------------------------------- the sweep


@dataclass
class ReuseConfig(Section):
    """An earlier sweep's runs, reused when the domains changed (``mixtures.reuse``).

    Its runs of the base size become runs of this sweep (``reused-<run id>``): a domain
    new here has weight 0 in them, a split domain's weight goes to its parts by their
    share of the prepared tokens (a renamed domain is a split into one), and a run with
    more than ``max_dropped_weight`` on a domain this config drops is left out (the others
    are renormalised). The sweep's new proxies are drawn around a prior in which the new
    and split domains hold the share ``focus`` (:mod:`raymix.sweep.reuse`).
    """

    storage: Str  # the earlier sweep's storage: its folder or URI (its compute.storage)
    split: dict[Str, list[Str]] | None = None  # old domain -> its parts here (one: renamed)
    # runs with more weight than this on dropped domains are left out
    max_dropped_weight: Annotated[Float, Range(0, 1, high_open=True)] = 0.05
    # the least share the new and split domains hold of the prior new proxies are drawn around
    focus: Annotated[Float, Range(0, 1, high_open=True)] = 0.5


@dataclass
class MixturesConfig(Section):
    """Which mixtures the proxies train on.

    ``strategy`` says how the sweep chooses them: ``random`` draws every mixture up
    front (RegMix: Dirichlet around the token prior, ``draw`` and the settings below),
    ``bayesopt`` lets a Gaussian process of the runs so far pick each next mixture, and
    ``design`` starts with a space-filling batch, then goes on as bayesopt
    (:mod:`raymix.mixtures.strategies`). Adaptive strategies keep inside the ``search``
    section's bounds, where the proposal may land.
    """

    count: Count = 48  # mixtures, each a proxy run
    draw: Str = "dirichlet"  # or "uniform", or "per_domain": one proxy per domain (MixMin)
    # prior ** temperature, renormalised
    temperature: Annotated[Float, Range(0, 100, low_open=True)] = 0.5
    # Dirichlet strengths (concentrations) drawn from
    min_strength: Annotated[Float, Range(0.001, 10_000)] = 0.1
    max_strength: Annotated[Float, Range(0.001, 10_000)] = 5.0
    num_strengths: Annotated[Int, Range(1, 1000)] = 15  # strengths between the two
    # the proxies' repetition cap: w_i * tokens_per_run <= proxy_max_epochs * tokens_i
    proxy_max_epochs: Annotated[Float, Range(1e-6, 1e6)] = 15.0
    # drawn weights below it are set to 0
    weight_floor: Annotated[Float, Range(0, 1, high_open=True, why="below 1 / domains")] = 2e-4
    seed: Seed = 0
    # run-to-run noise: the first `repeats` mixtures are trained again with
    # `repeat_seeds` other seeds, so fits can tell real differences from noise
    repeats: Annotated[Int, Range(0, MAX_MIXTURES, why="at most mixtures.count")] = 0
    repeat_seeds: Annotated[Int, Range(1, 100)] = 2  # other seeds of each repeated mixture
    strategy: Str = "random"  # random | bayesopt | design
    # runs before the GP takes over; default max(8, count // 4)
    initial_runs: Annotated[Int, Range(1, MAX_MIXTURES, why="at most mixtures.count")] \
        | None = None
    # the GP's lower confidence bound: mean - exploration * std
    exploration: Annotated[Float, Range(0, 100)] = 1.0
    # adaptive strategies: null suggests each mixture as a trial slot frees (the slots stay
    # busy; the mixtures depend on the order results arrive); a number suggests the
    # initial runs, then batches of this many, each once every run before it is in:
    # the same config gives the same mixtures on any cluster (raymix/sweep/strategy.py)
    batch_size: Annotated[Int, Range(1, MAX_MIXTURES, why="at most mixtures.count")] \
        | None = None
    # with domains in groups: draw a level at a time (a Dirichlet over the top level's
    # groups and domains, then within each group); auto: when data.domains has groups
    by_group: AutoBool = "auto"
    # an earlier sweep's runs, mapped to these domains, kept as this sweep's runs
    # (mixtures.count is then the number of new proxies); null: none
    reuse: ReuseConfig | None = None
    # multi-phase mixtures: the steps (of training.steps) where a new phase's mixture
    # starts, e.g. [240] of 320: each proxy trains a schedule of len + 1 mixtures (its
    # columns web@1, web@2, ...), and the proposal is a schedule; []: one mixture a run
    phases: list[Annotated[Int, Range(1, MAX_STEPS, why="a step inside training.steps")]] \
        = field(default_factory=list)


@dataclass
class ComputeConfig(Section):
    storage: Str = "runs/sweep"  # the sweep directory: a folder or s3://, gs://...
    # CPUs each trial asks Ray for
    cpus_per_trial: Annotated[Float, Range(0.01, 1024, why="Ray's granularity is 0.0001; "
                                           "a node has at most about 1,000")] = 1.0
    # fractional: 0.25 packs 4 proxies per GPU
    gpus_per_trial: Annotated[Float, Range(0, 8, why="a node's GPUs at most; a fraction <= 1 "
                                           "or a whole number")] = 0.0
    # default: as many as the cluster fits
    max_concurrent: Annotated[Int, Range(1, 100_000)] | None = None
    max_retries: Annotated[Int, Range(0, 100)] = 2  # of a failed trial
    address: Str | None = None  # Ray address; None starts (or joins) a local cluster
    num_cpus: Annotated[Int, Range(1, 100_000)] | None = None  # for a local cluster only
    # the memory a trial gets, checked against every proxy size before anything starts
    # (raymix/training/memory.py): one GPU's memory (GiB; a trial gets gpus_per_trial of
    # it), or for CPU trials the RAM each may use (GiB; also asked of Ray for placement)
    gpu_memory_gb: Annotated[Float, Range(0.01, 10_000)] | None = None
    memory_per_trial_gb: Annotated[Float, Range(0.01, 100_000)] | None = None
    # proxies one trial trains together as one stacked model (raymix/training/group.py):
    # a number, or auto (as many as the trial's memory holds, at most 128 on a GPU and 8
    # on CPUs, and no more than keeps every trial slot busy)
    models_per_trial: Annotated[IntOrAuto, Range(1, MAX_MODELS_PER_TRIAL)] = 1


# ----------------------------------------------------------------------------- fit and proposal


@dataclass
class FitConfig(Section):
    """Which regressors are cross-validated; the best (or their ensemble) is used."""

    # cross-validated; the best (or an ensemble) is used
    regressors: list[Str] = field(
        default_factory=lambda: ["ridge", "loglinear", "lightgbm", "mixing_law", "gp"])
    ensemble: Bool = True  # average the best few when that cross-validates better
    # of the cross-validation
    cv_folds: Annotated[Int, Range(2, 100, why="at most the runs of the sweep's first fit")] = 5
    seed: Seed = 0
    # the target scale {params: non-embedding parameters, tokens: training tokens}: when
    # set, losses are first extrapolated there by the nested step and size laws
    at: dict[Str, Annotated[Float, Range(1, MAX_TOKENS,
                                         why="params <= 1e15, tokens <= 1e16")]] = \
        field(default_factory=dict)
    # law, share_exponents and checkpoints left auto are chosen by a backtest at the ratio
    # of extrapolation asked for (raymix.scaling.backtest); explicit values skip it
    checkpoints: Str = "auto"  # step-law points: auto, every evaluation, or each run's "final"
    share_exponents: AutoBool = "auto"  # one step exponent per size, one size exponent overall
    # step laws skip earlier checkpoints (the warm-up)
    min_tokens: Annotated[Float, Range(1, MAX_TOKENS)] | None = None
    law: Str = "auto"  # auto | nested | joint (see SCALING_LAWS)


@dataclass
class SearchConfig(Section):
    """The proposal's search: its constraints and its method.

    The same keys make up a stand-alone constraints file (``raymix propose --constraints
    FILE``). Bounds: ``min_weight``/``max_weight``/``fixed_weight`` per domain or per group
    of domains (its total weight), and the repetition cap ``w_i * target_tokens <=
    max_epochs * tokens_i`` when ``target_tokens`` is set (``available_tokens`` gives
    ``tokens_i`` where no sweep data does). ``kl_weight`` adds ``kl_weight * KL(w ||
    prior)`` to the objective. ``method``: ``simulate`` (RegMix: average the ``top_k`` best
    of ``draws`` random mixtures), ``exact`` (multi-start gradient optimisation, for
    differentiable regressors), ``tpe``/``cmaes`` (Optuna, ``trials`` evaluations),
    ``pessimistic`` (a regressor with a predictive std, gp: the lowest ``mean + pessimism *
    std`` among draws, the runs and draws around the best runs), or ``auto`` (``exact``
    where the regressor has gradients, else ``simulate``).

    A sweep whose ``mixtures.strategy`` is adaptive proposes by default as it chose its
    mixtures: ``fit.regressors: [gp]`` and ``method: pessimistic``, unless the config
    sets them (:func:`raymix.config.parse.parse_config`).
    """

    method: Str = "auto"  # auto: exact where the regressor has gradients, else simulate
    # simulate: draws inside the bounds, the top_k best averaged
    draws: Annotated[Int, Range(1, MAX_DRAWS)] = 100_000
    top_k: Annotated[Int, Range(1, MAX_DRAWS, why="at most draws")] = 100
    # TPE's cost grows with the trials: 1000 on 17 domains take ~30 s
    trials: Annotated[Int, Range(1, 10_000, why="TPE's cost grows faster than the trials")] = 400
    restarts: Annotated[Int, Range(1, 10_000)] = 32  # exact: starts of the optimisation
    # token budget of the target run (repetition cap)
    target_tokens: Annotated[Int, Range(1, MAX_TOKENS)] | None = None
    # with target_tokens: no domain repeated more often in the target run
    max_epochs: Annotated[Float, Range(1e-6, 1e6)] = 4.0
    min_weight: dict[Str, Share] = field(default_factory=dict)  # per domain or group
    max_weight: dict[Str, Share] = field(default_factory=dict)  # per domain or group
    fixed_weight: dict[Str, Share] = field(default_factory=dict)  # per domain or group
    # each domain's tokens for the repetition cap (default: the sweep's data)
    available_tokens: dict[Str, Tokens] = field(default_factory=dict)
    # the KL term's prior (default: token shares)
    prior: dict[Str, Weight] = field(default_factory=dict)
    # adds kl_weight * KL(w || prior) to the objective
    kl_weight: Annotated[Float, Range(0, 1e6)] = 0.0
    seed: Seed = 0
    # method pessimistic: minimise mean + pessimism * std
    pessimism: Annotated[Float, Range(0, 100)] = 1.0
    # the proposal's uncertainty: `bootstrap` refits of the chosen regressor on resampled
    # runs give a 90% interval, P(beats each baseline) and the weights' spread
    # (raymix/proposal/uncertainty.py); false skips it
    uncertainty: Bool = True
    # refits of the bootstrap
    bootstrap: Annotated[Int, Range(2, 10_000, why="to skip it set uncertainty: false")] = 100


# ----------------------------------------------------------------------------- tracking


@dataclass
class MlflowConfig(Section):
    """Log to MLflow: one MLflow run per proxy run, and one for the sweep.

    ``tracking_uri``: an MLflow server (``http://host:5000``) or a database such as
    ``sqlite:///runs/mlflow.db`` (a relative path starts at the YAML's folder). MLflow 3
    keeps no file store, so a ``file:`` URI or a bare folder is refused.
    """

    tracking_uri: Str  # an MLflow server or a database (sqlite:///...)
    experiment: Str | None = None  # default: the sweep's name


@dataclass
class WandbConfig(Section):
    """Log to Weights & Biases: one W&B run per proxy run (grouped by the sweep's name)."""

    project: Str  # the W&B project
    entity: Str | None = None  # default: your W&B default entity
    mode: Str | None = None  # online | offline | disabled (default: WANDB_MODE, else online)
    dir: Str | None = None  # where W&B writes its files (default: compute.storage)


# The trackers a sweep can log to, by their key in ``tracking:`` (each a field of
# TrackingConfig), with the module its client needs and that module as an error names it
# (pip install 'raymix[tracking]'). raymix.tracking.TRACKERS holds one factory per key
# (tests/unit/test_tracking.py keeps the two in step).
TRACKER_CLIENTS = {"mlflow": ("mlflow", "MLflow"), "wandb": ("wandb", "wandb"),
                   "tensorboard": ("tensorboardX", "tensorboardX")}


@dataclass
class TrackingConfig(Section):
    """Experiment trackers a sweep logs to (all off by default; :mod:`raymix.tracking`).

    Each proxy run becomes one tracker run (its mixture weights, scale, seed and group
    size as parameters, every evaluation's losses at its training token count), and the
    end of the sweep one more run (the fit's cross-validated quality, proposal.json and
    the report). A tracker that fails is one warning line; the sweep goes on without it.
    """

    mlflow: MlflowConfig | None = None
    wandb: WandbConfig | None = None
    tensorboard: Bool = False  # event files under <compute.storage>/tensorboard

    @property
    def enabled(self) -> bool:
        return any(getattr(self, name) for name in TRACKER_CLIENTS)


# ----------------------------------------------------------------------------- the whole file


@dataclass
class SweepConfig(Section):
    name: Str  # the sweep's name (its runs, trackers and Ray actors carry it)
    data: DataConfig
    target: TargetConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    mixtures: MixturesConfig = field(default_factory=MixturesConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    scales: list[ScaleConfig] = field(default_factory=list)
    validate: ValidationConfig = field(default_factory=ValidationConfig)
    confirm: ConfirmConfig = field(default_factory=ConfirmConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    # the KEY=VALUE overrides (--set) this config was read with, already applied to the
    # values above: a record, kept in the sweep's config.yaml (never applied again)
    overrides: list[Str] = field(default_factory=list)
    base_dir: Str = "."  # folder that relative paths are resolved against (not a YAML key)

    @property
    def domain_names(self) -> list[str]:
        return [d.name for d in self.data.domains]

    @property
    def domain_groups(self) -> dict[str, list[str]]:
        """The domain tree's groups (:func:`domain_groups`); empty for flat domains."""
        return domain_groups(self.data.domains)

    @property
    def phase_fractions(self) -> list[float]:
        """Each phase's share of a run's steps (``mixtures.phases``); [] for one mixture."""
        return phase_fractions(self.mixtures.phases, self.training.steps)

    @property
    def mixture_columns(self) -> list[str]:
        """What a run's mixture weighs: the domains, or with phases each domain in each
        phase (:func:`phase_slots`, ``web@1``, ``code@1``, ..., ``web@2``, ...)."""
        fractions = self.phase_fractions
        return phase_slots(self.domain_names, len(fractions)) if fractions \
            else self.domain_names

    def with_steps(self, steps: int) -> SweepConfig:
        """This config's runs stretched to ``steps`` (:meth:`TrainingConfig.with_steps`),
        its phases along (:func:`stretched_phases`)."""
        return dataclasses.replace(
            self, training=self.training.with_steps(steps),
            mixtures=dataclasses.replace(self.mixtures, phases=stretched_phases(
                self.mixtures.phases, self.training.steps, steps)))

    def as_mixture(self, weights: dict[str, float]) -> dict[str, float]:
        """Weights a user wrote (``validate.mixtures``) as a run's mixture over
        :attr:`mixture_columns`, summing to 1.

        Plain domain weights are normalised; with phases they are the same mixture in
        every phase. Slot weights (``web@2``) give each phase its own mixture, scaled to
        the phase's share of the steps.
        """
        fractions = self.phase_fractions
        if not fractions or all(d in self.domain_names for d in weights):
            total = sum(weights.values())
            mixture = {d: weights.get(d, 0.0) / total for d in self.domain_names}
            return {slot_name(d, p): share * w for p, share in enumerate(fractions, start=1)
                    for d, w in mixture.items()} if fractions else mixture
        out = {}
        for p, share in enumerate(fractions, start=1):
            phase = {d: weights.get(slot_name(d, p), 0.0) for d in self.domain_names}
            total = sum(phase.values())
            out.update({slot_name(d, p): share * w / total for d, w in phase.items()})
        return out

    @property
    def mixture_groups(self) -> dict[str, list[str]]:
        """Groups of :attr:`mixture_columns`: the domain tree's (:attr:`domain_groups`), or
        with phases each domain and its slots in every phase (``{"web": ["web@1",
        "web@2"]}``), whose totals are the domain's share of the whole run."""
        fractions = self.phase_fractions
        return phase_groups(self.domain_names, len(fractions)) if fractions \
            else self.domain_groups

    @property
    def storage_location(self) -> str:
        """Where the sweep's results live: an object-storage URI as given, or the folder
        (resolved against the config's folder)."""
        storage = self.compute.storage
        return storage if is_uri(storage) else str(self.resolve(storage))

    @property
    def reuse_location(self) -> str | None:
        """The earlier sweep whose runs ``mixtures.reuse`` keeps: a URI as given, or the
        folder resolved against the config's folder; None without ``mixtures.reuse``."""
        reuse = self.mixtures.reuse
        if reuse is None:
            return None
        return reuse.storage if is_uri(reuse.storage) else str(self.resolve(reuse.storage))

    @property
    def storage_path(self) -> Path:
        """The sweep directory as a local folder: the folder itself, or the local mirror
        of a URI (:func:`raymix.storage.local_folder`)."""
        return local_folder(self.storage_location)

    @property
    def validate_path(self) -> Path:
        v = self.validate.storage
        if not v:
            return self.storage_path / "validate"
        return local_folder(v) if is_uri(v) else self.resolve(v)

    @property
    def is_adaptive(self) -> bool:
        """Whether the sweep chooses its mixtures as it goes, or draws them up front.

        The strategy's own ``adaptive`` (:class:`raymix.mixtures.MixtureStrategy`), for
        the config layer, which cannot import it: random is the one strategy that is not
        (tests/unit/test_strategies.py checks that the two agree).
        """
        return self.mixtures.strategy != "random"

    def scale_models(self) -> dict[str, ModelConfig]:
        """Every proxy size by name: the base ``model`` and each entry of ``scales``."""
        return {BASE_SCALE: self.model,
                **{s.name: s.applied_to(self.model) for s in self.scales}}

    @property
    def cache_path(self) -> Path:
        """Where prepared data goes: ``data.cache_dir`` (relative to the YAML's folder), or
        when the config names none, ``prepared/`` in the user's cache
        (:func:`raymix.storage.user_cache_dir`: ``$RAYMIX_CACHE``, else
        ``$XDG_CACHE_HOME/raymix``, else ``~/.cache/raymix``), beside ``downloads/`` of the
        built-in corpus. Prepared data is keyed by content, so configs anywhere share it."""
        if self.data.cache_dir is None:  # a relative variable starts at the working directory
            return Path(os.path.abspath(user_cache_dir() / "prepared"))
        return self.resolve(self.data.cache_dir)

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        if p.is_absolute():
            return p
        try:
            return (Path(self.base_dir) / p).resolve()
        except (OSError, RuntimeError):  # a symlink loop: the checks that use the path say so
            return Path(os.path.abspath(Path(self.base_dir) / p))

    def to_dict(self) -> dict[str, Any]:
        """The config as plain YAML data (what a sweep stores in its ``config.yaml``).

        Its ``overrides``, if any, come right after ``name``: the values are the
        overridden ones, the list says which were given on the command line.
        """
        out = dataclasses.asdict(self)
        out.pop("base_dir")
        overrides = out.pop("overrides")
        if not overrides:
            return out
        return {"name": out.pop("name"), "overrides": overrides, **out}
