"""The sweep config: one YAML file, parsed into typed dataclasses.

Every section of the YAML maps to one dataclass below. Parsing is strict: an
unknown key, a wrong type or an impossible value raises :class:`ConfigError`
naming the field (``training.steps``) and the fix. Relative paths in the YAML
are resolved against the YAML file's folder, so a config works from any cwd.

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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from raymix.errors import ConfigError

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
# built in raymix.regressors.make_regressor; "auto" cross-validates the others and picks
REGRESSOR_NAMES = ("ridge", "loglinear", "lightgbm", "mixing_law", "implicit_law", "gp")
SEARCH_METHODS = ("auto", "simulate", "exact", "tpe", "cmaes", "pessimistic")
BASE_SCALE = "base"  # the name of the ``model`` section's size in a multi-scale sweep
AT_KEYS = ("params", "tokens")
CHECKPOINTS = ("all", "final")  # which checkpoints the step laws see (fit.checkpoints)


# ----------------------------------------------------------------------------- sections


@dataclass
class DomainConfig:
    """One training domain.

    ``source`` is one of: ``builtin:<name>`` (the built-in demo corpus), a folder of
    ``.txt``/``.md``/``.py``... files, a ``.jsonl``/``.json`` or ``.parquet`` file (or a
    folder of them), or ``hf:<dataset name>[:<config>]`` when a hub is reachable.
    ``max_tokens`` caps how many of its tokens are prepared (its token budget).
    """

    name: str
    source: str
    text_field: str = "text"
    max_tokens: int | None = None


@dataclass
class TokenizerConfig:
    """Train a byte-level BPE (``vocab_size``) or load ``path`` (a tokenizer.json)."""

    vocab_size: int = 4096
    path: str | None = None
    sample_bytes: int = 4_000_000  # per domain, for training the BPE


@dataclass
class DataConfig:
    domains: list[DomainConfig]
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    cache_dir: str = ".raymix/cache"
    valid_fraction: float = 0.05
    max_valid_tokens: int = 65_536  # per domain; validation beyond this is wasted eval time
    max_text_bytes: int | None = 8_000_000  # per domain read from its source


@dataclass
class TargetConfig:
    """What loss the sweep minimises.

    Either ``domains`` (a weighted set of training domains' validation splits, e.g.
    ``{code: 0.7, docs: 0.3}``) or ``source`` (a separate validation corpus that is
    not a training domain), named ``name``.
    """

    name: str = "target"
    source: str | None = None
    text_field: str = "text"
    domains: dict[str, float] | None = None


@dataclass
class ModelConfig:
    """The proxy: a tiny Llama built with transformers.LlamaConfig, tied embeddings."""

    layers: int = 2
    hidden: int = 128
    heads: int = 4
    intermediate: int = 512
    seq_len: int = 128


MODEL_FIELDS = ("layers", "hidden", "heads", "intermediate")
MIXTURE_METHODS = ("dirichlet", "uniform", "per_domain")
SEARCH_STRATEGIES = ("random", "bayesopt", "design")


def override_model(base: ModelConfig, entry) -> ModelConfig:
    """``base`` with the model fields that ``entry`` sets (those not None)."""
    changes = {k: getattr(entry, k) for k in MODEL_FIELDS if getattr(entry, k) is not None}
    return dataclasses.replace(base, **changes)


@dataclass
class TrainingConfig:
    steps: int = 200
    batch_size: int = 16
    lr: float = 3e-3
    warmup_steps: int = 20
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int | None = None  # default: steps // 4 (so at least 3 evals + the last)
    eval_tokens: int = 16_384  # per validation set and evaluation
    seed: int = 0
    # continual pretraining: start from this checkpoint (a save_pretrained folder, e.g. a
    # run's checkpoint from save_checkpoint) instead of a random initialisation
    init_from: str | None = None
    save_checkpoint: bool = False  # keep each run's final model in <storage>/checkpoints/

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


@dataclass
class ScaleConfig:
    """One more proxy size of a multi-scale sweep (for the nested scaling laws).

    The model fields left out keep the base ``model``'s values. ``mixtures`` trains only
    the first that many of the sweep's mixtures at this size (default: all of them).
    """

    name: str
    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    intermediate: int | None = None
    mixtures: int | None = None


@dataclass
class ValidateConfig:
    """``raymix validate``: train the proposal and baselines at a larger scale.

    The model fields left out keep the proxy ``model``'s values; ``steps`` (default:
    ``training.steps``) sets the tokens, with warmup and evaluations scaled along.
    Each mixture is trained with ``seeds`` seeds. ``mixtures`` adds mixtures of your
    own to compare (``{name: {domain: weight}}``, normalised to sum to 1).
    """

    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    intermediate: int | None = None
    steps: int | None = None
    seeds: int = 2
    mixtures: dict[str, dict[str, float]] = field(default_factory=dict)
    storage: str | None = None  # default: <compute.storage>/validate


@dataclass
class MixturesConfig:
    """How mixtures are sampled (RegMix: Dirichlet around the token prior)."""

    count: int = 48
    method: str = "dirichlet"  # or "uniform", or "per_domain": one proxy per domain (MixMin)
    temperature: float = 0.5  # prior ** temperature, renormalised
    min_strength: float = 0.1
    max_strength: float = 5.0
    num_strengths: int = 15
    max_epochs: float = 15.0  # repetition cap: w_i * tokens_per_run <= max_epochs * tokens_i
    min_weight: float = 2e-4  # smaller weights are set to 0
    seed: int = 0
    # run-to-run noise: the first `repeats` mixtures are trained again with
    # `repeat_seeds` other seeds, so fits can tell real differences from noise
    repeats: int = 0
    repeat_seeds: int = 2


@dataclass
class ComputeConfig:
    storage: str = "runs/sweep"
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0  # fractional: 0.25 packs 4 proxies per GPU
    max_concurrent: int | None = None  # default: as many as the cluster fits
    max_retries: int = 2
    address: str | None = None  # Ray address; None starts (or joins) a local cluster
    num_cpus: int | None = None  # for a local cluster only
    # the memory a trial gets, checked against every proxy size before anything starts
    # (raymix/memory.py): one GPU's memory (GiB; a trial gets gpus_per_trial of it), or
    # for CPU trials the RAM each may use (GiB; also asked of Ray when it places trials)
    gpu_memory_gb: float | None = None
    memory_per_trial_gb: float | None = None


@dataclass
class FitConfig:
    """Which regressors are cross-validated; the best (or their ensemble) is used."""

    regressors: list[str] = field(
        default_factory=lambda: ["ridge", "loglinear", "lightgbm", "mixing_law", "gp"])
    ensemble: bool = True  # average the best few when that cross-validates better
    cv_folds: int = 5
    seed: int = 0
    # the target scale {params: non-embedding parameters, tokens: training tokens}: when
    # set, losses are first extrapolated there by the nested step and size laws
    at: dict[str, float] = field(default_factory=dict)
    checkpoints: str = "all"  # step-law points: every evaluation, or each run's "final" one
    share_exponents: bool = False  # one step exponent per size, one size exponent overall
    min_tokens: float | None = None  # step laws skip earlier checkpoints (the warm-up)


@dataclass
class SearchConfig:
    """The proposal's constraints and search method.

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

    An adaptive sweep (``strategy`` bayesopt or design) proposes by default as it
    searched: ``fit.regressors: [gp]`` and ``method: pessimistic``, unless the config
    sets them (:func:`parse_config`).
    """

    method: str = "auto"
    candidates: int = 100_000
    top_k: int = 100
    trials: int = 400  # TPE's cost grows with the trials: 1000 on 17 domains take ~30 s
    restarts: int = 32
    target_tokens: int | None = None  # token budget of the target run (repetition cap)
    max_epochs: float = 4.0
    min_weight: dict[str, float] = field(default_factory=dict)
    max_weight: dict[str, float] = field(default_factory=dict)
    fixed_weight: dict[str, float] = field(default_factory=dict)
    available_tokens: dict[str, float] = field(default_factory=dict)
    prior: dict[str, float] = field(default_factory=dict)
    kl_weight: float = 0.0
    seed: int = 0
    pessimism: float = 1.0  # method pessimistic: minimise mean + pessimism * std
    # How a sweep picks its proxies' mixtures (raymix/adaptive.py, raymix/searcher.py):
    # random (RegMix: all drawn up front by the mixtures section), bayesopt (a Gaussian
    # process of the runs so far picks each next mixture inside this section's bounds), or
    # design (a space-filling first batch, then as bayesopt).
    strategy: str = "random"
    initial_runs: int | None = None  # runs before the GP takes over; default max(8, count // 4)
    exploration: float = 1.0  # the GP's lower confidence bound: mean - exploration * std


@dataclass
class SweepConfig:
    name: str
    data: DataConfig
    target: TargetConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    mixtures: MixturesConfig = field(default_factory=MixturesConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    scales: list[ScaleConfig] = field(default_factory=list)
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    base_dir: str = "."  # folder that relative paths are resolved against

    @property
    def domain_names(self) -> list[str]:
        return [d.name for d in self.data.domains]

    @property
    def storage_path(self) -> Path:
        return self.resolve(self.compute.storage)

    @property
    def validate_path(self) -> Path:
        v = self.validate.storage
        return self.resolve(v) if v else self.storage_path / "validate"

    def scale_models(self) -> dict[str, ModelConfig]:
        """Every proxy size by name: the base ``model`` and each entry of ``scales``."""
        return {BASE_SCALE: self.model,
                **{s.name: override_model(self.model, s) for s in self.scales}}

    @property
    def cache_path(self) -> Path:
        return self.resolve(self.data.cache_dir)

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (Path(self.base_dir) / p).resolve()

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("base_dir")
        return out


# ----------------------------------------------------------------------------- parsing


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep config YAML (safe loading only)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("CONFIG", f"no such file {str(path)!r}; pass the path of a sweep YAML")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.constructor.ConstructorError as exc:  # e.g. !!python/object: never run
        mark = exc.problem_mark
        raise ConfigError("CONFIG", f"{path.name} line {mark.line + 1}: {exc.problem}; configs "
                          "are plain YAML data (safe loading), remove the tag") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError("CONFIG", f"{path.name} is not valid YAML{where}; fix its syntax") from None
    if raw is None:
        raise ConfigError("CONFIG", f"{path.name} is empty; start it with 'data:' "
                          "(see jobs/configs/demo.yaml)")
    if not isinstance(raw, dict):
        raise ConfigError("CONFIG", f"{path.name} holds a {type(raw).__name__}, not a mapping "
                          "of sections; start it with 'data:' (see jobs/configs/demo.yaml)")
    return parse_config(raw, base_dir=path.resolve().parent)


def parse_config(raw: Any, base_dir: str | Path = ".") -> SweepConfig:
    """Build a validated :class:`SweepConfig` from a plain dict (as loaded from YAML)."""
    raw = _mapping(raw, "<top level>")
    data = _mapping(raw.get("data"), "data") if "data" in raw else None
    if data is None:
        raise ConfigError("data", "missing; add a 'data:' section with a 'domains:' list")
    sections = {
        "data": _build(DataConfig, data, "data", nested={"tokenizer": TokenizerConfig}),
        "target": _build(TargetConfig, raw.get("target", {}), "target"),
    }
    for key, cls in [
        ("model", ModelConfig),
        ("training", TrainingConfig),
        ("mixtures", MixturesConfig),
        ("compute", ComputeConfig),
        ("fit", FitConfig),
        ("search", SearchConfig),
    ]:
        sections[key] = _build(cls, raw.get(key) or {}, key)
    sections["scales"] = _scales(raw.get("scales") or [], "scales")
    sections["validate"] = _build(ValidateConfig, raw.get("validate") or {}, "validate")
    extra = set(raw) - set(sections) - {"name"}
    if extra:
        raise ConfigError(sorted(extra)[0], f"unknown section; allowed: name, {', '.join(sections)}")
    name = raw.get("name", "sweep")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ConfigError("name", f"must be a word of letters, digits, '_', '-' or '.' (got {name!r})")
    _adaptive_defaults(sections, raw)
    cfg = SweepConfig(name=name, base_dir=str(base_dir), **sections)
    validate(cfg)
    return cfg


def _adaptive_defaults(sections: dict, raw: dict) -> None:
    """An adaptive sweep proposes as it searched, unless the config says otherwise.

    Its runs gather where the search's GP expected low losses, so other regressors,
    fitted to them, extrapolate into corners no run explored; the GP's upper confidence
    bound stays where the runs are (docs/benchmarks.md, search strategies).
    """
    if sections["search"].strategy == "random":
        return
    if "regressors" not in (raw.get("fit") or {}):
        sections["fit"].regressors = ["gp"]
    if "method" not in (raw.get("search") or {}):
        sections["search"].method = "pessimistic"


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(where, f"must be a mapping of keys to values (got {type(value).__name__})")
    return value


def _build(cls, raw: Any, where: str, nested: dict | None = None):
    """Construct dataclass ``cls`` from ``raw``, checking keys and basic types."""
    raw = _mapping(raw, where)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(raw) - set(fields)
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"{where}.{key}", f"unknown key; allowed: {', '.join(fields)}")
    kwargs = {}
    for key, value in raw.items():
        path = f"{where}.{key}"
        if nested and key in nested:
            kwargs[key] = _build(nested[key], value or {}, path)
        elif key == "domains" and cls is DataConfig:
            kwargs[key] = _domains(value, path)
        else:
            kwargs[key] = _coerce(value, fields[key].type, path)
    missing = [
        f.name
        for f in fields.values()
        if f.name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}.{missing[0]}", "missing; this field is required")
    return cls(**kwargs)


def _domains(value: Any, where: str) -> list[DomainConfig]:
    if not isinstance(value, list) or not value:
        raise ConfigError(where, "must be a non-empty list of {name, source} entries")
    return [_build(DomainConfig, item, f"{where}[{i}]") for i, item in enumerate(value)]


def _scales(value: Any, where: str) -> list[ScaleConfig]:
    if not isinstance(value, list):
        raise ConfigError(where, "must be a list of {name, hidden, layers, ...} entries")
    return [_build(ScaleConfig, item, f"{where}[{i}]") for i, item in enumerate(value)]


def _number_from_string(value: Any) -> Any:
    """YAML 1.1 reads ``1e9`` (no dot) as a string; take it as the number it means."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _coerce(value: Any, type_str: str, where: str) -> Any:
    """Check ``value`` against a dataclass field's annotation (a string here)."""
    optional = "None" in type_str
    if value is None:
        if optional:
            return None
        raise ConfigError(where, "must not be empty")
    base = type_str.replace(" | None", "").strip()
    value = _number_from_string(value) if base in ("int", "float") else value
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(where, f"must be a whole number (got {value!r})")
        return value
    if base == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(where, f"must be a number (got {value!r})")
        if not math.isfinite(value):
            raise ConfigError(where, f"must be a finite number (got {value!r})")
        return float(value)
    if base == "bool":
        if not isinstance(value, bool):
            raise ConfigError(where, f"must be true or false (got {value!r})")
        return value
    if base == "str":
        if not isinstance(value, str):
            raise ConfigError(where, f"must be a string (got {value!r})")
        return value
    if base == "list[str]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(where, f"must be a list of names (got {value!r})")
        return value
    if base == "dict[str, float]":
        value = _mapping(value, where)
        return {str(k): _coerce(v, "float", f"{where}.{k}") for k, v in value.items()}
    if base == "dict[str, dict[str, float]]":
        value = _mapping(value, where)
        return {str(k): _coerce(v, "dict[str, float]", f"{where}.{k}") for k, v in value.items()}
    raise AssertionError(f"unhandled annotation {type_str}")  # a bug, not a user error


# ----------------------------------------------------------------------------- validation


def _check(ok: bool, field_name: str, problem: str) -> None:
    if not ok:
        raise ConfigError(field_name, problem)


def _check_source(cfg: SweepConfig, source: str, field_name: str) -> None:
    """Catch the cheap mistakes early: an unknown built-in name, a path that is not there."""
    from raymix.data.builtin import BUILTIN_SOURCES, unknown_builtin

    _check(bool(source.strip()), field_name, "must name a source")
    if source.startswith("builtin:"):
        name = source.removeprefix("builtin:")
        _check(name in BUILTIN_SOURCES, field_name, unknown_builtin(name))
    elif not source.startswith("hf:"):
        _check(cfg.resolve(source).exists(), field_name,
               f"no such file or folder {str(cfg.resolve(source))!r}; fix the path "
               "(relative paths start at the config's folder)")


def validate(cfg: SweepConfig) -> None:
    """Check the values and the consistency between sections."""
    names = cfg.domain_names
    for i, d in enumerate(cfg.data.domains):
        _check(bool(NAME_PATTERN.match(d.name)), f"data.domains[{i}].name",
               f"must start with a letter and use letters, digits, '_', '-', '.' (got {d.name!r})")
        _check(d.name not in names[:i], f"data.domains[{i}].name",
               f"duplicate domain {d.name!r}; give each domain a unique name")
        _check_source(cfg, d.source, f"data.domains[{i}].source")
        _check(d.max_tokens is None or d.max_tokens > 0, f"data.domains[{i}].max_tokens",
               "must be positive or left out")
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

    t = cfg.target
    _check((t.source is None) != (t.domains is None), "target",
           "give exactly one of 'target.source' (a validation corpus) or 'target.domains' "
           "(weights over training domains)")
    _check(bool(NAME_PATTERN.match(t.name)), "target.name", f"must be a simple name (got {t.name!r})")
    if t.domains is not None:
        for d, w in t.domains.items():
            _check(d in names, f"target.domains.{d}",
                   f"names no training domain; choose from {', '.join(names)}")
            _check(w >= 0, f"target.domains.{d}", f"weight must be >= 0 (got {w})")
        _check(sum(t.domains.values()) > 0, "target.domains", "weights must not all be 0")
    else:
        _check(t.name not in names, "target.name",
               f"{t.name!r} is also a training domain; use 'target.domains' for that")
        _check_source(cfg, t.source, "target.source")

    _validate_model(cfg.model, "model")

    tr = cfg.training
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

    mx = cfg.mixtures
    _check(mx.count >= 1, "mixtures.count", "must be at least 1")
    _check(mx.method in MIXTURE_METHODS, "mixtures.method",
           f"must be one of {', '.join(MIXTURE_METHODS)} (got {mx.method!r})")
    _check(mx.method != "per_domain" or cfg.target.source is not None, "mixtures.method",
           "per_domain (MixMin) scores mixtures on a target corpus; give target.source, or "
           "use dirichlet with target.domains")
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

    c = cfg.compute
    _check(c.cpus_per_trial > 0, "compute.cpus_per_trial", "must be positive")
    _check(0 <= c.gpus_per_trial <= 1 or float(c.gpus_per_trial).is_integer(),
           "compute.gpus_per_trial", "must be a fraction <= 1 (e.g. 0.25) or a whole number")
    _check(c.max_concurrent is None or c.max_concurrent >= 1, "compute.max_concurrent",
           "must be at least 1 or null")
    _check(c.max_retries >= 0, "compute.max_retries", "must be >= 0")
    _check(c.num_cpus is None or c.num_cpus >= 1, "compute.num_cpus", "must be at least 1")
    for key in ("gpu_memory_gb", "memory_per_trial_gb"):
        value = getattr(c, key)
        _check(value is None or value > 0, f"compute.{key}", "must be positive (GiB) or null")

    _validate_scales(cfg)
    _validate_validate(cfg)
    _validate_init(cfg)
    _validate_memory(cfg)

    f = cfg.fit
    for key, value in f.at.items():
        _check(key in AT_KEYS, f"fit.at.{key}", f"unknown key; use {' and/or '.join(AT_KEYS)}")
        _check(value > 0, f"fit.at.{key}", f"must be positive (got {value})")
    _check(f.min_tokens is None or f.min_tokens > 0, "fit.min_tokens", "must be positive or null")
    _check(f.checkpoints in CHECKPOINTS, "fit.checkpoints",
           f"must be one of {', '.join(CHECKPOINTS)} (got {f.checkpoints!r})")
    for i, r in enumerate(f.regressors):
        _check(r in REGRESSOR_NAMES, f"fit.regressors[{i}]",
               f"unknown regressor {r!r}; choose from {', '.join(REGRESSOR_NAMES)}")
        _check(r not in f.regressors[:i], f"fit.regressors[{i}]", f"{r!r} is listed twice")
    _check(bool(f.regressors), "fit.regressors", "name at least one regressor")
    _check(f.cv_folds >= 2, "fit.cv_folds", "must be at least 2")

    validate_search(cfg.search, names, "search")
    _validate_strategy(cfg)


def _validate_strategy(cfg: SweepConfig) -> None:
    s = cfg.search
    _check(s.strategy in SEARCH_STRATEGIES, "search.strategy",
           f"must be one of {', '.join(SEARCH_STRATEGIES)} (got {s.strategy!r})")
    _check(s.strategy == "random" or cfg.mixtures.method != "per_domain", "search.strategy",
           f"{s.strategy} chooses the mixtures itself, while mixtures.method per_domain "
           "trains one proxy per domain (MixMin); use search.strategy: random with it, or "
           "another mixtures.method")
    _check(s.initial_runs is None or 1 <= s.initial_runs <= cfg.mixtures.count,
           "search.initial_runs", f"must be between 1 and mixtures.count ({cfg.mixtures.count})")
    _check(s.exploration >= 0, "search.exploration", f"must be >= 0 (got {s.exploration})")


def _validate_model(m: ModelConfig, where: str) -> None:
    for key in ("layers", "hidden", "heads", "intermediate", "seq_len"):
        _check(getattr(m, key) > 0, f"{where}.{key}", "must be a positive whole number")
    _check(m.hidden % m.heads == 0, f"{where}.heads", f"must divide the hidden size ({m.hidden})")
    _check((m.hidden // m.heads) % 2 == 0, f"{where}.heads",
           "hidden / heads must be even (rotary embeddings)")


def _validate_overrides(entry, where: str) -> None:
    for key in MODEL_FIELDS:
        value = getattr(entry, key)
        _check(value is None or value > 0, f"{where}.{key}", "must be a positive whole number")


def _validate_scales(cfg: SweepConfig) -> None:
    names = [BASE_SCALE]
    for i, scale in enumerate(cfg.scales):
        where = f"scales[{i}]"
        _check(bool(NAME_PATTERN.match(scale.name)), f"{where}.name",
               "must start with a letter and use letters, digits, '_', '-', '.' "
               f"(got {scale.name!r})")
        _check(scale.name not in names, f"{where}.name",
               f"{scale.name!r} is taken ({BASE_SCALE!r} is the model section's size); "
               "give each scale a unique name")
        names.append(scale.name)
        _validate_overrides(scale, where)
        _check(any(getattr(scale, k) is not None for k in MODEL_FIELDS), where,
               "changes no model field; set at least one of " + ", ".join(MODEL_FIELDS))
        _validate_model(override_model(cfg.model, scale), where)
        _check(scale.mixtures is None or 1 <= scale.mixtures <= cfg.mixtures.count,
               f"{where}.mixtures", f"must be between 1 and mixtures.count ({cfg.mixtures.count})")


def _validate_validate(cfg: SweepConfig) -> None:
    v = cfg.validate
    _validate_overrides(v, "validate")
    _validate_model(override_model(cfg.model, v), "validate")
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


def _validate_memory(cfg: SweepConfig) -> None:
    """Every proxy size must fit in the memory a trial gets, when the config says how much."""
    from raymix.training.memory import (
        GIB,
        llama_params,
        training_memory_bytes,
        trial_memory_gb,
    )

    c = cfg.compute
    given = trial_memory_gb(c.gpus_per_trial, c.gpu_memory_gb, c.memory_per_trial_gb)
    if given is None:
        return
    budget, source = given
    vocab = cfg.data.tokenizer.vocab_size
    batch = cfg.training.batch_size
    sizes = {"model": cfg.model,
             **{f"scales[{i}]": override_model(cfg.model, s) for i, s in enumerate(cfg.scales)},
             "validate": override_model(cfg.model, cfg.validate)}
    for where, model in sizes.items():
        need = training_memory_bytes(model, batch, vocab, gpu=bool(c.gpus_per_trial)) / GIB
        _check(need <= budget, where,
               f"a proxy of {llama_params(model, vocab) / 1e6:.1f}M parameters at "
               f"training.batch_size {batch} x seq_len {model.seq_len} needs about "
               f"{need:.1f} GiB to train, more than the {budget:.1f} GiB a trial gets "
               f"({source}); make the proxy or training.batch_size smaller, or give each "
               "trial more memory")


def _validate_init(cfg: SweepConfig) -> None:
    path = cfg.training.init_from
    if path is None:
        return
    folder = cfg.resolve(path)
    _check((folder / "config.json").is_file(), "training.init_from",
           f"{str(folder)!r} is not a saved model (no config.json); give a folder written by "
           "save_pretrained, e.g. <storage>/checkpoints/<run> of a sweep with save_checkpoint")
    _check(any(folder.glob("*.safetensors")), "training.init_from",
           f"{str(folder)!r} holds no .safetensors weights; raymix loads no pickled weights "
           "(pytorch_model.bin): save the model again with save_pretrained(safe_serialization=True)")


def validate_search(s: SearchConfig, names: list[str], where: str = "search") -> None:
    """Check a search/constraints section against the domain ``names``.

    ``where`` prefixes the field names in errors (``search`` in a sweep config,
    ``constraints`` in a stand-alone constraints file). Checks that need token counts
    (the repetition cap) happen in :func:`raymix.constraints.build_constraints`.
    """
    _check(s.method in SEARCH_METHODS, f"{where}.method",
           f"must be one of {', '.join(SEARCH_METHODS)} (got {s.method!r})")
    _check(s.candidates >= 1, f"{where}.candidates", "must be at least 1")
    _check(1 <= s.top_k <= s.candidates, f"{where}.top_k",
           f"must be between 1 and {where}.candidates")
    _check(s.trials >= 1, f"{where}.trials", "must be at least 1")
    _check(s.restarts >= 1, f"{where}.restarts", "must be at least 1")
    _check(s.target_tokens is None or s.target_tokens > 0, f"{where}.target_tokens",
           "must be positive or null")
    _check(s.max_epochs > 0, f"{where}.max_epochs", "must be positive")
    _check(s.kl_weight >= 0, f"{where}.kl_weight", f"must be >= 0 (got {s.kl_weight})")
    _check(s.pessimism >= 0, f"{where}.pessimism", f"must be >= 0 (got {s.pessimism})")
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
    for d, w in s.fixed_weight.items():
        for key in ("min_weight", "max_weight"):
            _check(d not in getattr(s, key), f"{where}.{key}.{d}",
                   "the domain also has a fixed_weight; keep one of the two")
    lower = {**s.min_weight, **s.fixed_weight}
    key = "fixed_weight" if sum(s.fixed_weight.values()) > 1 + 1e-9 else "min_weight"
    _check(sum(lower.values()) <= 1 + 1e-9, f"{where}.{key}",
           f"minimum and fixed weights sum to {sum(lower.values()):.3g} > 1; lower them")
    for d, lo in s.min_weight.items():
        hi = s.max_weight.get(d, 1.0)
        _check(lo <= hi, f"{where}.min_weight.{d}", f"is above {where}.max_weight.{d} ({hi})")
    upper = {d: s.fixed_weight.get(d, s.max_weight.get(d, 1.0)) for d in names}
    _check(sum(upper.values()) >= 1 - 1e-9, f"{where}.max_weight",
           f"maximum (and fixed) weights sum to {sum(upper.values()):.3g} < 1, so no mixture "
           "can meet them; raise some max_weight (a domain without one may take up to 1)")
