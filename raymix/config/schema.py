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

from raymix.storage import is_uri, local_folder, user_cache_dir

# built by raymix.regression.make_regressor; "auto" cross-validates the others and picks
REGRESSOR_NAMES = ("ridge", "loglinear", "lightgbm", "lightgbm_regmix", "mixing_law",
                   "implicit_law", "gp")
SEARCH_METHODS = ("auto", "simulate", "exact", "tpe", "cmaes", "pessimistic")
MIXTURE_METHODS = ("dirichlet", "uniform", "per_domain")
STRATEGIES = ("random", "bayesopt", "design")  # how a sweep chooses its mixtures
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
    """

    name: Str
    source: Str
    text_field: Str = "text"
    max_tokens: Int | None = None
    dtype: Str | None = None  # of raw .bin token shards: uint16, uint32, int32 or int64


@dataclass
class TokenizerConfig(Section):
    """Train a byte-level BPE (``vocab_size``) or load ``path`` (a tokenizer.json)."""

    vocab_size: Int = 4096
    path: Str | None = None
    sample_bytes: Int = 4_000_000  # per domain, for training the BPE


@dataclass
class DataConfig(Section):
    domains: list[DomainConfig]
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    # where prepared data goes (relative: to the YAML's folder); default: the user's cache,
    # shared by every config (prepared data is keyed by content), see SweepConfig.cache_path
    cache_dir: Str | None = None
    valid_fraction: Float = 0.05
    max_valid_tokens: Int = 65_536  # per domain; validation beyond this is wasted eval time
    max_text_bytes: Int | None = 8_000_000  # per domain read from its source
    seed: Int = 0  # of the documents a token source's max_tokens draws
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

    name: Str
    path: Str
    family: Str | None = None  # default: the task's own name
    weight: Float = 1.0
    max_items: Int | None = None  # the file's first items only

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

    name: Str = "target"
    source: Str | None = None
    text_field: Str = "text"
    domains: dict[Str, Float] | None = None
    tasks: list[TaskConfig] | None = None
    # objectives to propose one mixture each for, and their trade-off (raymix/proposal/
    # objectives.py): {name: {metric: weight}}, a metric being a training domain's
    # validation loss, task:<name>, family:<name> or the target's name. Set, `propose` and
    # `sweep` do it; unset, `propose --per-objective` takes each target domain or task
    # and their average
    objectives: dict[Str, dict[Str, Float]] | None = None


# ----------------------------------------------------------------------------- the proxy


@dataclass
class ModelConfig(Section):
    """The proxy: a tiny Llama built with transformers.LlamaConfig, tied embeddings."""

    layers: Int = 2
    hidden: Int = 128
    heads: Int = 4
    intermediate: Int = 512
    seq_len: Int = 128


@dataclass(kw_only=True)
class ModelOverrides(Section):
    """Model fields that another size changes; those left out keep ``model``'s values."""

    layers: Int | None = None
    hidden: Int | None = None
    heads: Int | None = None
    intermediate: Int | None = None

    def applied_to(self, base: ModelConfig) -> ModelConfig:
        """``base`` with the model fields set here (those not None)."""
        changes = {k: getattr(self, k) for k in MODEL_FIELDS if getattr(self, k) is not None}
        return dataclasses.replace(base, **changes)


@dataclass
class TrainingConfig(Section):
    steps: Int = 200
    batch_size: Int = 16
    lr: Float = 3e-3
    warmup_steps: Int = 20
    min_lr_ratio: Float = 0.1  # cosine decays to lr * min_lr_ratio
    weight_decay: Float = 0.1
    grad_clip: Float = 1.0
    eval_every: Int | None = None  # default: steps // 4 (so at least 3 evals + the last)
    eval_tokens: Int = 16_384  # per validation set and evaluation
    seed: Int = 0
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
    micro_batch_size: IntOrAuto = "auto"
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

    name: Str
    mixtures: Int | None = None


@dataclass(kw_only=True)
class ValidationConfig(ModelOverrides):
    """``raymix validate``: train the proposal and baselines at a larger scale.

    The model fields left out keep the proxy ``model``'s values; ``steps`` (default:
    ``training.steps``) sets the tokens, with warmup and evaluations scaled along.
    Each mixture is trained with ``seeds`` seeds. ``mixtures`` adds mixtures of your
    own to compare (``{name: {domain: weight}}``, normalised to sum to 1).
    """

    steps: Int | None = None
    seeds: Int = 2
    mixtures: dict[Str, dict[Str, Float]] = field(default_factory=dict)
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

    rounds: Int = 1
    candidates: Int = 3
    observed: Int = 2
    seeds: Int = 3
    steps: Int | None = None
    min_distance: Float = 0.05

    def changes_scale(self) -> bool:
        """Whether the confirmation trains another size or length than the proxies."""
        return self.steps is not None or any(getattr(self, k) is not None for k in MODEL_FIELDS)


# ----------------------------------------------------------------------------- the sweep


@dataclass
class MixturesConfig(Section):
    """Which mixtures the proxies train on.

    ``strategy`` says how the sweep chooses them: ``random`` draws every mixture up
    front (RegMix: Dirichlet around the token prior, ``method`` and the settings below),
    ``bayesopt`` lets a Gaussian process of the runs so far pick each next mixture, and
    ``design`` starts with a space-filling batch, then goes on as bayesopt
    (:mod:`raymix.mixtures.adaptive`). Adaptive strategies keep inside the ``search``
    section's bounds, where the proposal may land.
    """

    count: Int = 48
    method: Str = "dirichlet"  # or "uniform", or "per_domain": one proxy per domain (MixMin)
    temperature: Float = 0.5  # prior ** temperature, renormalised
    min_strength: Float = 0.1
    max_strength: Float = 5.0
    num_strengths: Int = 15
    max_epochs: Float = 15.0  # repetition cap: w_i * tokens_per_run <= max_epochs * tokens_i
    min_weight: Float = 2e-4  # smaller weights are set to 0
    seed: Int = 0
    # run-to-run noise: the first `repeats` mixtures are trained again with
    # `repeat_seeds` other seeds, so fits can tell real differences from noise
    repeats: Int = 0
    repeat_seeds: Int = 2
    strategy: Str = "random"  # random | bayesopt | design
    initial_runs: Int | None = None  # runs before the GP takes over; default max(8, count // 4)
    exploration: Float = 1.0  # the GP's lower confidence bound: mean - exploration * std
    # adaptive strategies: null suggests each mixture as a trial slot frees (the slots stay
    # busy; the mixtures depend on the order results arrive); a number suggests the
    # initial runs, then batches of this many, each once every run before it is in:
    # the same config gives the same mixtures on any cluster (raymix/sweep/strategy.py)
    batch_size: Int | None = None


@dataclass
class ComputeConfig(Section):
    storage: Str = "runs/sweep"
    cpus_per_trial: Float = 1.0
    gpus_per_trial: Float = 0.0  # fractional: 0.25 packs 4 proxies per GPU
    max_concurrent: Int | None = None  # default: as many as the cluster fits
    max_retries: Int = 2
    address: Str | None = None  # Ray address; None starts (or joins) a local cluster
    num_cpus: Int | None = None  # for a local cluster only
    # the memory a trial gets, checked against every proxy size before anything starts
    # (raymix/training/memory.py): one GPU's memory (GiB; a trial gets gpus_per_trial of
    # it), or for CPU trials the RAM each may use (GiB; also asked of Ray for placement)
    gpu_memory_gb: Float | None = None
    memory_per_trial_gb: Float | None = None
    # proxies one trial trains together as one stacked model (raymix/training/group.py):
    # a number, or auto (as many as the trial's memory holds, at most 128 on a GPU and 8
    # on CPUs, and no more than keeps every trial slot busy)
    models_per_trial: IntOrAuto = 1


# ----------------------------------------------------------------------------- fit and proposal


@dataclass
class FitConfig(Section):
    """Which regressors are cross-validated; the best (or their ensemble) is used."""

    regressors: list[Str] = field(
        default_factory=lambda: ["ridge", "loglinear", "lightgbm", "mixing_law", "gp"])
    ensemble: Bool = True  # average the best few when that cross-validates better
    cv_folds: Int = 5
    seed: Int = 0
    # the target scale {params: non-embedding parameters, tokens: training tokens}: when
    # set, losses are first extrapolated there by the nested step and size laws
    at: dict[Str, Float] = field(default_factory=dict)
    # law, share_exponents and checkpoints left auto are chosen by a backtest at the ratio
    # of extrapolation asked for (raymix.scaling.backtest); explicit values skip it
    checkpoints: Str = "auto"  # step-law points: auto, every evaluation, or each run's "final"
    share_exponents: AutoBool = "auto"  # one step exponent per size, one size exponent overall
    min_tokens: Float | None = None  # step laws skip earlier checkpoints (the warm-up)
    law: Str = "auto"  # auto | nested | joint (see SCALING_LAWS)


@dataclass
class SearchConfig(Section):
    """The proposal's search: its constraints and its method.

    The same keys make up a stand-alone constraints file (``raymix propose
    --constraints FILE``). Bounds: ``min_weight``/``max_weight``/``fixed_weight`` per
    domain, and the repetition cap ``w_i * target_tokens <= max_epochs * tokens_i``
    when ``target_tokens`` is set (``available_tokens`` gives ``tokens_i`` where no
    sweep data does). ``kl_weight`` adds ``kl_weight * KL(w || prior)`` to the
    objective. ``method``: ``simulate`` (RegMix: average the ``top_k`` best of
    ``candidates`` draws), ``exact`` (multi-start gradient optimisation, for
    differentiable regressors), ``tpe``/``cmaes`` (Optuna, ``trials`` evaluations),
    ``pessimistic`` (a regressor with a predictive std, gp: the lowest ``mean +
    pessimism * std`` among draws, the runs and draws around the best runs), or ``auto``
    (``exact`` where the regressor has gradients, else ``simulate``).

    A sweep whose ``mixtures.strategy`` is adaptive proposes by default as it chose its
    mixtures: ``fit.regressors: [gp]`` and ``method: pessimistic``, unless the config
    sets them (:func:`raymix.config.parse.parse_config`).
    """

    method: Str = "auto"
    candidates: Int = 100_000
    top_k: Int = 100
    trials: Int = 400  # TPE's cost grows with the trials: 1000 on 17 domains take ~30 s
    restarts: Int = 32
    target_tokens: Int | None = None  # token budget of the target run (repetition cap)
    max_epochs: Float = 4.0
    min_weight: dict[Str, Float] = field(default_factory=dict)
    max_weight: dict[Str, Float] = field(default_factory=dict)
    fixed_weight: dict[Str, Float] = field(default_factory=dict)
    available_tokens: dict[Str, Float] = field(default_factory=dict)
    prior: dict[Str, Float] = field(default_factory=dict)
    kl_weight: Float = 0.0
    seed: Int = 0
    pessimism: Float = 1.0  # method pessimistic: minimise mean + pessimism * std
    # the proposal's uncertainty: `bootstrap` refits of the chosen regressor on resampled
    # runs give a 90% interval, P(beats each baseline) and the weights' spread
    # (raymix/proposal/uncertainty.py); false skips it
    uncertainty: Bool = True
    bootstrap: Int = 100


# ----------------------------------------------------------------------------- tracking


@dataclass
class MlflowConfig(Section):
    """Log to MLflow: one MLflow run per proxy run, and one for the sweep.

    ``tracking_uri``: an MLflow server (``http://host:5000``) or a database such as
    ``sqlite:///runs/mlflow.db`` (a relative path starts at the YAML's folder). MLflow 3
    keeps no file store, so a ``file:`` URI or a bare folder is refused.
    """

    tracking_uri: Str
    experiment: Str | None = None  # default: the sweep's name


@dataclass
class WandbConfig(Section):
    """Log to Weights & Biases: one W&B run per proxy run (grouped by the sweep's name)."""

    project: Str
    entity: Str | None = None  # default: your W&B default entity
    mode: Str | None = None  # online | offline | disabled (default: WANDB_MODE, else online)
    dir: Str | None = None  # where W&B writes its files (default: compute.storage)


@dataclass
class TrackingConfig(Section):
    """Experiment trackers a sweep logs to (all off by default; raymix/sweep/tracking.py).

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
        return self.mlflow is not None or self.wandb is not None or self.tensorboard


# ----------------------------------------------------------------------------- the whole file


@dataclass
class SweepConfig(Section):
    name: Str
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
    def storage_location(self) -> str:
        """Where the sweep's results live: an object-storage URI as given, or the folder
        (resolved against the config's folder)."""
        storage = self.compute.storage
        return storage if is_uri(storage) else str(self.resolve(storage))

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
        """Whether the sweep chooses its mixtures as it goes (a strategy other than random)."""
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
