"""YAML to config: read the file safely, apply overrides, migrate old keys, build the
dataclasses.

The file is read by :mod:`raymix.config.safe_yaml` (plain data only), and ``KEY=VALUE``
overrides (the command line's ``--set``, :mod:`raymix.config.overrides`) change its data
before anything is checked, so an overridden value is checked as the file's own.

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
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from raymix.config.checks import NAME_RULE, check_config, check_name, shown_key
from raymix.config.overrides import apply_overrides, parse_overrides
from raymix.config.safe_yaml import read_yaml
from raymix.config.schema import SECTIONS, SearchConfig, SweepConfig
from raymix.errors import ConfigError, ConfigNotice

# old place -> new place of keys that moved or were renamed. search.strategy: the sweep's
# way of choosing mixtures is not the proposal's search, so it lives in the mixtures
# section (earlier configs put it under search). The renames give one word one meaning:
# a "candidate" is a mixture of a confirmation round, not one of the search's random draws;
# "method" is the proposal's search method, not how the sweep draws its mixtures; and the
# mixtures section's floor and repetition cap are not search's min_weight (a per-domain
# bound) and max_epochs (at the target run's tokens).
MOVED_KEYS = {
    ("search", "strategy"): ("mixtures", "strategy"),
    ("search", "initial_runs"): ("mixtures", "initial_runs"),
    ("search", "exploration"): ("mixtures", "exploration"),
    ("search", "candidates"): ("search", "draws"),
    ("mixtures", "method"): ("mixtures", "draw"),
    ("mixtures", "min_weight"): ("mixtures", "weight_floor"),
    ("mixtures", "max_epochs"): ("mixtures", "proxy_max_epochs"),
}


# ----------------------------------------------------------------------------- files


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> SweepConfig:
    """Read and check a sweep config YAML, with ``KEY=VALUE`` overrides applied.

    Parameters
    ----------
    path : str or Path
        The YAML file; relative paths inside it start at its folder.
    overrides : sequence of str, optional
        ``KEY=VALUE`` changes to the file's data, in order (the command line's ``--set``):
        ``training.steps=100``, ``fit.regressors=[ridge, gp]``,
        ``data.domains[0].max_tokens=1e6``. Values are read as YAML; relative paths start
        at the file's folder, as the file's own do (:mod:`raymix.config.overrides`).
        They are recorded in the config's ``overrides``.

    Returns
    -------
    SweepConfig

    Raises
    ------
    UserError
        On ``overrides``: an override that cannot be applied (no ``=``, an unknown
        section, an index out of range, a key into a value).
    ConfigError
        Naming the field to fix (``config`` for the file itself), for the file's values
        and the overrides' alike.
    """
    path = Path(path)
    overrides = parse_overrides(overrides)  # a malformed override: refused before the file
    raw = read_yaml(path, "config")
    if raw is None:
        raise ConfigError("config", f"{path.name} is empty; start it with 'data:' "
                          "(see jobs/configs/demo.yaml)")
    if not isinstance(raw, dict):
        raise ConfigError("config", f"{path.name} holds a {type(raw).__name__}, not a mapping "
                          "of sections; start it with 'data:' (see jobs/configs/demo.yaml)")
    return parse_config(raw, base_dir=path.resolve().parent, overrides=overrides)


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
    if not isinstance(raw, dict):  # None: every key at its default; else the schema's error
        return _validated(SearchConfig, {} if raw is None else raw, "constraints")
    # the file is a search section: only keys renamed within search apply
    renamed = {old: new for old, new in MOVED_KEYS.items() if old[0] == new[0] == "search"}
    try:
        migrated, moved = migrate({"search": raw}, renamed)
    except ConfigError as exc:
        raise ConfigError(_in_constraints(exc.field),
                          exc.problem.replace("search.", "constraints.")) from None
    moved = {_in_constraints(old): _in_constraints(new) for old, new in moved.items()}
    try:
        search = _validated(SearchConfig, migrated["search"], "constraints")
    except ConfigError as exc:
        raise _as_written(exc, moved) from None
    _notify(moved)
    return search


def _in_constraints(field: str) -> str:
    """``search.draws`` -> ``constraints.draws``: a constraints file's name for a key."""
    return "constraints" + field.removeprefix("search")


# ----------------------------------------------------------------------------- parsing


def parse_config(raw: Any, base_dir: str | Path = ".",
                 overrides: Sequence[str] = ()) -> SweepConfig:
    """Build a checked :class:`SweepConfig` from a plain dict (as loaded from YAML).

    Parameters
    ----------
    raw : dict
        The YAML's data; not changed. A sweep's stored ``config.yaml`` reads back as it
        was written: its ``overrides`` list is a record of values already applied.
    base_dir : str or Path
        The folder relative paths start at (the YAML's).
    overrides : sequence of str, optional
        ``KEY=VALUE`` changes applied to ``raw`` first (see :func:`load_config`), and
        added to the config's ``overrides``.

    Keys in their old place (:data:`MOVED_KEYS`) are moved, with a
    :class:`~raymix.errors.ConfigNotice` once the config is accepted.
    """
    if not isinstance(raw, dict):
        raise ConfigError("<top level>", f"must be a mapping of keys to values "
                          f"(got {type(raw).__name__})")
    overridden: dict[str, str] = {}
    if overrides:
        read, overridden = _to_new_keys(parse_overrides(overrides))
        raw = _overridden(raw, read)
    if "data" not in raw:
        raise ConfigError("data", "missing; add a 'data:' section with a 'domains:' list")
    unknown = sorted(set(raw) - {"name", "overrides", *SECTIONS}, key=str)
    if unknown:
        raise ConfigError(shown_key(str(unknown[0])),
                          f"unknown section; allowed: name, {', '.join(SECTIONS)}")
    raw, moved = migrate(raw)
    moved = {**overridden, **moved}
    raw, written = _flat_domains(raw)
    try:
        cfg = _validated(SweepConfig, {"name": "sweep", **_without_empty_sections(raw),
                                       "base_dir": str(base_dir)}, "")
        _adaptive_defaults(cfg, raw)
        check_config(cfg)
    except ConfigError as exc:
        raise _as_written(_domain_as_written(exc, written), moved) from None
    _notify(moved, stacklevel=3)
    return cfg


def _flat_domains(raw: dict) -> tuple[dict, dict[str, str]]:
    """``data.domains`` with nested groups (``{group: web, domains: [...]}``) as one flat
    list whose domains carry their group's path (``group: web`` or ``web/science``).

    Returns the changed copy of ``raw`` and, for every domain that was nested, its flat
    field name -> the name as written (``data.domains[3]`` -> ``data.domains[1].domains[0]``),
    so that errors name the key the user wrote.
    """
    data = raw.get("data")
    domains = data.get("domains") if isinstance(data, dict) else None
    if not isinstance(domains, list) or not any(_is_group(d) for d in domains):
        return raw, {}
    flat: list = []
    written: dict[str, str] = {}

    def walk(entries: list, where: str, parent: str | None) -> None:
        for i, entry in enumerate(entries):
            at = f"{where}[{i}]"
            if not _is_group(entry):
                if parent is not None and isinstance(entry, dict):
                    if "group" in entry:
                        raise ConfigError(f"{at}.group", "is set by the group the domain is "
                                          "nested in; remove it")
                    entry = {**entry, "group": parent}
                written[f"data.domains[{len(flat)}]"] = at
                flat.append(entry)
                continue
            unknown = sorted(set(entry) - {"group", "domains"}, key=str)
            if unknown:
                raise ConfigError(f"{at}.{unknown[0]}", "a group takes only 'group' (its "
                                  "name) and 'domains' (its members); move this key to a domain")
            name = entry.get("group")
            if name is None:
                raise ConfigError(f"{at}.group", "missing; name the group of these domains "
                                  "(group: <name>)")
            # one level's name: a deeper level is a group nested inside this one
            check_name(str(name), f"{at}.group", f"must be one group's name, which {NAME_RULE}")
            children = entry["domains"]
            if not isinstance(children, list) or not children:
                raise ConfigError(f"{at}.domains", "must be a non-empty list of the group's "
                                  "domains (or subgroups)")
            walk(children, f"{at}.domains", name if parent is None else f"{parent}/{name}")

    walk(domains, "data.domains", None)
    return {**raw, "data": {**data, "domains": flat}}, written


def _is_group(entry: Any) -> bool:
    """Whether a ``data.domains`` entry is a group of domains (it has its own ``domains``)."""
    return isinstance(entry, dict) and "domains" in entry


def _domain_as_written(exc: ConfigError, written: dict[str, str]) -> ConfigError:
    """The error naming a nested domain's key as the YAML writes it."""
    for flat, at in written.items():
        if exc.field == flat or exc.field.startswith((flat + ".", flat + "[")):
            return ConfigError(at + exc.field[len(flat):], exc.problem)
    return exc


def _to_new_keys(overrides: list) -> tuple[list, dict[str, str]]:
    """The overrides with a key in its old place (:data:`MOVED_KEYS`) set at its new place
    instead, and {old field: new field} for the notice: ``--set mixtures.max_epochs=3``
    sets ``mixtures.proxy_max_epochs`` of a file that names it so."""
    out, moved = [], {}
    for o in overrides:
        new = MOVED_KEYS.get(tuple(o.path[:2]))
        if new is None:
            out.append(o)
            continue
        old_field, new_field = ".".join(map(str, o.path[:2])), ".".join(new)
        moved[old_field] = new_field
        out.append(replace(o, path=(*new, *o.path[2:]),
                           key=new_field + o.key.removeprefix(old_field)))
    return out, moved


def _overridden(raw: dict, overrides: list) -> dict:
    """``raw`` with the overrides applied (a copy), and their texts added to its record."""
    out = apply_overrides(raw, overrides)
    recorded = out.get("overrides")
    if recorded is None or isinstance(recorded, list):  # else the schema names the mistake
        out["overrides"] = [*(recorded or []), *(o.text for o in overrides)]
    return out


def _without_empty_sections(raw: dict) -> dict:
    """An empty section (``model:``, ``scales:``, ``data: {tokenizer:}``) means its defaults."""
    out = {key: value for key, value in raw.items()
           if value is not None or key in ("name", "data")}
    data = out.get("data")
    if isinstance(data, dict) and "tokenizer" in data and data["tokenizer"] is None:
        out["data"] = {k: v for k, v in data.items() if k != "tokenizer"}
    return out


def _notify(moved: dict[str, str], stacklevel: int = 3) -> None:
    """One :class:`~raymix.errors.ConfigNotice` per key read from its old place or name."""
    for old, new in moved.items():
        renamed = old.rpartition(".")[0] == new.rpartition(".")[0]
        warnings.warn(f"{old} is now {new}: {'rename it' if renamed else 'move it there'} "
                      f"(read from {old} this time)", ConfigNotice, stacklevel=stacklevel)


def migrate(raw: dict, moved_keys: dict[tuple[str, str], tuple[str, str]] = MOVED_KEYS
            ) -> tuple[dict, dict[str, str]]:
    """``raw`` with keys in their old place or under their old name moved (a copy), and
    {old field: new field}.

    A stored ``config.yaml`` of an older sweep is read through this too. ``moved_keys``:
    which keys, (section, key) -> (section, key) (default: :data:`MOVED_KEYS`).

    Raises
    ------
    ConfigError
        Naming the old key, when the new one is given as well.
    """
    raw = {key: (dict(value) if isinstance(value, dict) else value) for key, value in raw.items()}
    moved = {}
    for (old_section, key), (new_section, new_key) in moved_keys.items():
        section = raw.get(old_section)
        if not isinstance(section, dict) or key not in section:
            continue
        old, new = f"{old_section}.{key}", f"{new_section}.{new_key}"
        target = raw.get(new_section) or {}
        if not isinstance(target, dict):
            continue  # the structure check names the section
        if new_key in target:
            raise ConfigError(old, f"is now {new}, which the file sets too; keep only {new}")
        value = section.pop(key)  # first: the section may be the target (a rename)
        raw[new_section] = {**target, new_key: value}
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
    """('data', 'domains', 1, 'name') -> 'data.domains[1].name'; a mapping's key is cut
    to a few dozen characters (an error never echoes a huge key)."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{shown_key(str(part))}" if name else shown_key(str(part))
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
