"""YAML to config: read the file safely, migrate old keys, build the dataclasses.

Parsing is strict: an unknown key, a wrong type or an impossible value raises a
:class:`~raymix.errors.ConfigError` naming the field (``training.steps``) and the fix.
pydantic checks the structure against :mod:`raymix.config.schema` (sections, keys,
lists, mappings) and the schema's scalar rules check each value; the first problem
becomes the one-line error. :func:`raymix.config.checks.check_config` then checks the
values. Relative paths in the YAML are resolved against the YAML file's folder, so a
config works from any working directory.

Keys that moved between versions are read from their old place too, with a notice
(:data:`MOVED_KEYS`); an error about such a key names it as the file spells it.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import yaml

from raymix.config.checks import check_config
from raymix.config.schema import SearchConfig, SweepConfig
from raymix.errors import ConfigError, ConfigNotice

# old place -> new place of keys that moved (search.strategy: the sweep's way of choosing
# mixtures is not the proposal's search, so it lives in the mixtures section since 0.2)
MOVED_KEYS = {
    ("search", "strategy"): ("mixtures", "strategy"),
    ("search", "initial_runs"): ("mixtures", "initial_runs"),
    ("search", "exploration"): ("mixtures", "exploration"),
}
SECTIONS = ("data", "target", "model", "training", "mixtures", "compute", "fit", "search",
            "scales", "validate", "confirm", "tracking")


# ----------------------------------------------------------------------------- files


def read_yaml(path: str | Path, field: str) -> Any:
    """The data of a YAML file (safe loading: tags that would run code are refused).

    ``field`` names the file in errors (``config``, ``constraints``).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(field, f"no such file {str(path)!r}; pass the path of a YAML file")
    try:
        return _strict_load(path.read_text())
    except _Refused as exc:
        raise ConfigError(field, f"{path.name} line {exc.line}: {exc}") from None
    except yaml.constructor.ConstructorError as exc:  # e.g. !!python/object: never run
        mark = exc.problem_mark
        raise ConfigError(field, f"{path.name} line {mark.line + 1}: {exc.problem}; configs "
                          "are plain YAML data (safe loading), remove the tag") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(field, f"{path.name} is not valid YAML{where}; fix its syntax") from None
    except UnicodeDecodeError:
        raise ConfigError(field, f"{path.name} is not a text file; pass a YAML file") from None


MAX_YAML_NODES = 100_000  # after aliases are expanded: a config is a few hundred


class _Refused(Exception):
    """A YAML document that loads, but not as a config should (see :func:`_strict_load`)."""

    def __init__(self, problem: str, line: int):
        super().__init__(problem)
        self.line = line


class _StrictLoader(yaml.SafeLoader):
    """Safe loading that refuses a key given twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # <<: *defaults may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: SafeLoader refuses it itself
                continue
            if duplicate:
                raise _Refused(f"key {key!r} is given twice in one mapping; keep one",
                               key_node.start_mark.line + 1)
        return super().construct_mapping(node, deep=deep)


def _strict_load(text: str) -> Any:
    """``yaml.safe_load`` that also refuses duplicate keys, and documents whose aliases
    expand to more than :data:`MAX_YAML_NODES` nodes ("billion laughs")."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_nodes(node, {}) > MAX_YAML_NODES:
            raise _Refused(f"its anchors and aliases expand to more than {MAX_YAML_NODES:,} "
                           "values; a config needs far fewer, write it out", 1)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_nodes(node, counted: dict) -> int:
    """How many nodes ``node`` holds with every alias expanded (capped just past the limit)."""
    if id(node) in counted:
        return counted[id(node)]
    total = 1
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    for child in children:
        total += _expanded_nodes(child, counted)
        if total > MAX_YAML_NODES:
            break
    counted[id(node)] = total
    return total


def load_config(path: str | Path) -> SweepConfig:
    """Read and check a sweep config YAML.

    Parameters
    ----------
    path : str or Path
        The YAML file; relative paths inside it start at its folder.

    Returns
    -------
    SweepConfig

    Raises
    ------
    ConfigError
        Naming the field to fix (``config`` for the file itself).
    """
    path = Path(path)
    raw = read_yaml(path, "config")
    if raw is None:
        raise ConfigError("config", f"{path.name} is empty; start it with 'data:' "
                          "(see jobs/configs/demo.yaml)")
    if not isinstance(raw, dict):
        raise ConfigError("config", f"{path.name} holds a {type(raw).__name__}, not a mapping "
                          "of sections; start it with 'data:' (see jobs/configs/demo.yaml)")
    return parse_config(raw, base_dir=path.resolve().parent)


def load_constraints(path: str | Path) -> SearchConfig:
    """Read a stand-alone constraints file (YAML with the keys of a ``search:`` section).

    Only the keys and their types are checked here; values against the domains are
    checked by :func:`raymix.mixtures.build_constraints` once the runs name the domains.

    Parameters
    ----------
    path : str or Path
        The YAML file, e.g.::

            method: exact
            target_tokens: 4e9
            max_epochs: 4
            min_weight: {wiki: 0.05}
            fixed_weight: {code: 0.2}

    Returns
    -------
    SearchConfig

    Raises
    ------
    ConfigError
        ``constraints`` for a missing file or invalid YAML, ``constraints.<key>`` for an
        unknown key or a value of the wrong type.
    """
    raw = read_yaml(path, "constraints")
    return _validated(SearchConfig, {} if raw is None else raw, "constraints")


# ----------------------------------------------------------------------------- parsing


def parse_config(raw: Any, base_dir: str | Path = ".") -> SweepConfig:
    """Build a checked :class:`SweepConfig` from a plain dict (as loaded from YAML).

    Keys in their old place (:data:`MOVED_KEYS`) are moved, with a
    :class:`~raymix.errors.ConfigNotice` once the config is accepted.
    """
    if not isinstance(raw, dict):
        raise ConfigError("<top level>", f"must be a mapping of keys to values "
                          f"(got {type(raw).__name__})")
    if "data" not in raw:
        raise ConfigError("data", "missing; add a 'data:' section with a 'domains:' list")
    unknown = sorted(set(raw) - {"name", *SECTIONS})
    if unknown:
        raise ConfigError(unknown[0], f"unknown section; allowed: name, {', '.join(SECTIONS)}")
    raw, moved = migrate(raw)
    try:
        cfg = _validated(SweepConfig, {"name": "sweep", **_without_empty_sections(raw),
                                       "base_dir": str(base_dir)}, "")
        _adaptive_defaults(cfg, raw)
        check_config(cfg)
    except ConfigError as exc:
        raise _as_written(exc, moved) from None
    for old, new in moved.items():
        warnings.warn(f"{old} is now {new}: move it there (read from {old} this time)",
                      ConfigNotice, stacklevel=2)
    return cfg


def _without_empty_sections(raw: dict) -> dict:
    """An empty section (``model:``, ``scales:``, ``data: {tokenizer:}``) means its defaults."""
    out = {key: value for key, value in raw.items()
           if value is not None or key in ("name", "data")}
    data = out.get("data")
    if isinstance(data, dict) and "tokenizer" in data and data["tokenizer"] is None:
        out["data"] = {k: v for k, v in data.items() if k != "tokenizer"}
    return out


def migrate(raw: dict) -> tuple[dict, dict[str, str]]:
    """``raw`` with keys in their old place moved (a copy), and {old field: new field}.

    A stored ``config.yaml`` of an older sweep is read through this too.
    """
    raw = {key: (dict(value) if isinstance(value, dict) else value) for key, value in raw.items()}
    moved = {}
    for (old_section, key), (new_section, new_key) in MOVED_KEYS.items():
        section = raw.get(old_section)
        if not isinstance(section, dict) or key not in section:
            continue
        old, new = f"{old_section}.{key}", f"{new_section}.{new_key}"
        target = raw.get(new_section) or {}
        if not isinstance(target, dict):
            continue  # the structure check names the section
        if new_key in target:
            raise ConfigError(old, f"is now {new}, which the file sets too; keep only {new}")
        raw[new_section] = {**target, new_key: section.pop(key)}
        moved[old] = new
    return raw, moved


def _as_written(exc: ConfigError, moved: dict[str, str]) -> ConfigError:
    """The error naming a moved key as the file spells it (``search.strategy``)."""
    for old, new in moved.items():
        if exc.field == new or exc.field.startswith(new + "."):
            return ConfigError(old + exc.field[len(new):], f"(now {new}) {exc.problem}")
    return exc


def _adaptive_defaults(cfg: SweepConfig, raw: dict) -> None:
    """An adaptive sweep proposes as it chose its mixtures, unless the config says otherwise.

    Its runs gather where the strategy's GP expected low losses, so other regressors,
    fitted to them, extrapolate into corners no run explored; the GP's upper confidence
    bound stays where the runs are (docs/benchmarks.md, search strategies).
    """
    if not cfg.is_adaptive:
        return
    if "regressors" not in (raw.get("fit") or {}):
        cfg.fit.regressors = ["gp"]
    if "method" not in (raw.get("search") or {}):
        cfg.search.method = "pessimistic"


# ----------------------------------------------------------------------------- pydantic


@functools.cache
def _adapter(cls):
    from pydantic import TypeAdapter  # only where a config is parsed

    return TypeAdapter(cls)


def _validated(cls, raw: Any, where: str):
    """``cls`` built from ``raw`` by pydantic; its first complaint as a :class:`ConfigError`.

    ``where`` prefixes the field names (``constraints`` for a constraints file).
    """
    from pydantic import ValidationError

    try:
        return _adapter(cls).validate_python(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = _field_name((where, *error["loc"]) if where else error["loc"])
        raise ConfigError(field or where or "<top level>", _problem(cls, error)) from None


def _field_name(loc) -> str:
    """('data', 'domains', 1, 'name') -> 'data.domains[1].name'."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _problem(cls, error: dict) -> str:
    """pydantic's complaint in raymix's words: what is wrong and how to fix it."""
    kind, value = error["type"], error.get("input")
    if kind == "value_error":  # a scalar rule of the schema: its own message
        return str(error["ctx"]["error"])
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return f"unknown key; allowed: {', '.join(_allowed(cls, error['loc']))}"
    if kind in ("missing", "missing_argument", "missing_keyword_only_argument"):
        return "missing; this field is required"
    if kind in ("dataclass_type", "dataclass_args_type", "dict_type", "mapping_type"):
        return f"must be a mapping of keys to values (got {type(value).__name__})"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list (got {type(value).__name__})"
    return error["msg"]


def _allowed(cls, loc) -> list[str]:
    """The keys of the section at ``loc`` (the unknown key is its last part)."""
    import dataclasses
    import typing

    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        hint = typing.get_type_hints(cls)[part]
        args = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        cls = args[0] if args else hint
    return [f.name for f in dataclasses.fields(cls) if f.name != "base_dir"]
