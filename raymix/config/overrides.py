"""Overrides: ``KEY=VALUE`` changes to a config's YAML, made before it is parsed.

The command line's ``--set`` (``raymix sweep demo.yaml --set training.steps=100``) and
``load_config(path, overrides=[...])`` both come here. An override is:

- ``KEY``: a dotted path into the YAML, from a section (or ``name``) down:
  ``training.steps``, ``search.min_weight.code``; a list's item by its index,
  ``data.domains[0].max_tokens`` or ``data.domains.0.max_tokens``;
- ``VALUE``: read as YAML, as the file's values are: ``100`` is a number, ``[ridge, gp]``
  a list, ``{code: 0.1}`` a mapping, ``null`` (or nothing) no value, ``s3://b/p`` a string;
  quote it (``'"100"'``) to keep a number a string.

Overrides are applied in order (a later one of the same key wins) to the file's data,
and replace what is at ``KEY`` (a mapping given as the value is not merged). Mappings on
the way that the file leaves out are created. The result is parsed and checked as the
file would be, so a wrong value gets the file's error (``training.steps: must be ...``),
an unknown key the schema's (``unknown key; allowed: ...``), and relative paths start at
the config's folder. Only a key that cannot be followed (no ``=``, an unknown section, an
index out of range, a key into a value that is not a mapping) is refused here, as a
:class:`~raymix.errors.UserError` on the field ``overrides`` (``--set`` on the command line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from raymix.config.safe_yaml import Refused, load_yaml
from raymix.config.schema import SECTIONS, shown
from raymix.errors import UserError

FIELD = "overrides"  # what errors name: load_config's argument, the command line's --set
TOP_LEVEL = ("name", *SECTIONS)  # what a key may start with
EXAMPLE = "training.steps=100"


@dataclass(frozen=True)
class Override:
    """One ``KEY=VALUE``, read.

    Attributes
    ----------
    text : str
        As given, e.g. ``"data.domains[0].max_tokens=1000"``.
    key : str
        The part before ``=``, e.g. ``"data.domains[0].max_tokens"``.
    path : tuple
        The key's steps: a mapping's key (str) or a list's index (int, from ``[0]``),
        e.g. ``("data", "domains", 0, "max_tokens")``. A number written after a dot
        (``domains.0``) stays a str: it is a list's index where a list is, else a key.
    value : Any
        The value read as YAML.
    """

    text: str
    key: str
    path: tuple[str | int, ...]
    value: Any


def parse_overrides(texts: Sequence[str | Override]) -> list[Override]:
    """Read ``KEY=VALUE`` strings; nothing about any config is checked yet.

    Parameters
    ----------
    texts : sequence of str
        E.g. ``["training.steps=100", "fit.regressors=[ridge, gp]"]`` (an
        :class:`Override` already read is kept as it is).

    Returns
    -------
    list of Override

    Raises
    ------
    UserError
        On ``overrides``: no ``=``, an empty or malformed key, a section that does not
        exist, or a value that is not YAML.
    """
    if isinstance(texts, str):  # one string would be read as its characters
        texts = [texts]
    return [text if isinstance(text, Override) else parse_override(text) for text in texts]


def parse_override(text: str) -> Override:
    """One ``KEY=VALUE`` (see :func:`parse_overrides`)."""
    if not isinstance(text, str):
        raise UserError(f"{shown(text)} is not a string; give KEY=VALUE, e.g. {EXAMPLE}",
                        field=FIELD)
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep:
        raise UserError(f"{shown(text)} has no '='; give KEY=VALUE, e.g. {EXAMPLE}", field=FIELD)
    if not key:
        raise UserError(f"{shown(text)} has no key before '='; give KEY=VALUE, e.g. {EXAMPLE}",
                        field=FIELD)
    path = _key_path(key)
    if path[0] not in TOP_LEVEL:
        raise UserError(f"{_cut(key)}: unknown section {shown(path[0])}; a key starts with one of "
                        f"{', '.join(TOP_LEVEL)}", field=FIELD)
    return Override(text, key, path, _yaml_value(key, value_text))


def apply_overrides(raw: dict, overrides: Sequence[str | Override]) -> dict:
    """``raw`` (a config's YAML data) with the overrides applied in order; a copy.

    Parameters
    ----------
    raw : dict
        The file's data, e.g. from :func:`raymix.config.safe_yaml.read_yaml`; not changed.
    overrides : sequence of str or Override
        ``KEY=VALUE`` strings (or read ones, :func:`parse_overrides`).

    Returns
    -------
    dict
        A copy that shares nothing with ``raw`` (YAML anchors included: an override of
        one place an alias points to changes that place only).

    Raises
    ------
    UserError
        On ``overrides``: see :func:`parse_overrides`; and a key that cannot be followed
        in ``raw``: an index out of a list's range, a name where a list is, an index where
        a mapping is, a key into a value that is not a mapping.
    """
    out = _unshared(raw)
    for override in parse_overrides(overrides):
        _apply(out, override)
    return out


# ----------------------------------------------------------------------------- reading


def _key_path(key: str) -> tuple[str | int, ...]:
    """``"data.domains[0].max_tokens"`` -> ``("data", "domains", 0, "max_tokens")``."""
    bad = (f"{_cut(key)}: not a key; give a dotted path such as training.steps or "
           "data.domains[0].max_tokens")
    path: list[str | int] = []
    for step in key.split("."):
        name, *indices = step.split("[")
        name = name.strip()
        if "]" in name or (not name and (not indices or not path)):
            raise UserError(bad, field=FIELD)  # "a..b", ".a", "a.", "[0]", "a]"
        if name:
            path.append(name)
        for index in indices:
            number = index.removesuffix("]").strip()
            if not index.endswith("]") or not number.isdigit():
                raise UserError(f"{_cut(key)}: [{index} is not a list index; write a whole number "
                                "in brackets, e.g. data.domains[0]", field=FIELD)
            path.append(int(number))
    return tuple(path)


def _yaml_value(key: str, text: str) -> Any:
    """The value as YAML reads it (nothing after ``=`` is ``null``, as in a file)."""
    try:
        return load_yaml(text)
    except Refused as exc:  # a key given twice, aliases that expand too far
        problem = f"the value {shown(text)}: {exc}"
    except yaml.constructor.ConstructorError as exc:  # e.g. !!python/object: never run
        problem = (f"the value {shown(text)} has a tag safe loading refuses ({exc.problem}); "
                   "values are plain YAML data, remove the tag")
    except yaml.YAMLError:
        problem = (f"the value {shown(text)} is not valid YAML; quote a string, or close its "
                   "brackets")
    raise UserError(f"{_cut(key)}: {problem}", field=FIELD)


# ----------------------------------------------------------------------------- applying


def _apply(raw: dict, override: Override) -> None:
    """Follow the override's key into ``raw``, creating mappings on the way; set its value."""
    node: Any = raw
    for depth, step in enumerate(override.path[:-1]):
        child = _get(node, step, override, depth)
        if child is None:  # left out, or an empty section (``model:``): a new mapping
            if isinstance(override.path[depth + 1], int):
                where = _spelled(override.path[:depth + 1])
                raise UserError(f"{_cut(override.key)}: {where} is not in the config, so it has no "
                                f"item [{override.path[depth + 1]}] to change; set {where} "
                                "as a whole", field=FIELD)
            child = {}
            _put(node, step, child, override, depth)
        elif not isinstance(child, dict | list):
            where = _spelled(override.path[:depth + 1])
            raise UserError(f"{_cut(override.key)}: {where} is {shown(child)}, not a mapping or "
                            f"list to set keys in; set {where} itself", field=FIELD)
        node = child
    _put(node, override.path[-1], override.value, override, len(override.path) - 1)


def _get(node: dict | list, step: str | int, override: Override, depth: int) -> Any:
    """What ``node`` holds at ``step`` (None when a mapping leaves it out)."""
    if isinstance(node, dict):
        return node.get(_mapping_key(step, override, depth))
    return node[_list_index(node, step, override, depth)]


def _put(node: dict | list, step: str | int, value: Any, override: Override,
         depth: int) -> None:
    if isinstance(node, dict):
        node[_mapping_key(step, override, depth)] = value
    else:
        node[_list_index(node, step, override, depth)] = value


def _mapping_key(step: str | int, override: Override, depth: int) -> str:
    if isinstance(step, int):
        where = _spelled(override.path[:depth])
        raise UserError(f"{_cut(override.key)}: {where} is a mapping, not a list; name its key "
                        f"(e.g. {where}.KEY) in place of [{step}]", field=FIELD)
    return step


def _list_index(items: list, step: str | int, override: Override, depth: int) -> int:
    where = _spelled(override.path[:depth])
    if isinstance(step, str) and not step.isdigit():
        raise UserError(f"{_cut(override.key)}: {where} is a list; pick its item by index "
                        f"({where}[0], {where}[1], ...), not by {shown(step)}", field=FIELD)
    index = int(step)
    if index >= len(items):
        held = (f"has {len(items)} item{'s' * (len(items) != 1)} (index 0 to {len(items) - 1})"
                if items else "is empty")
        raise UserError(f"{_cut(override.key)}: index {index} is out of range: {where} {held}; "
                        f"to change the list's length, set {where} as a whole", field=FIELD)
    return index


def _cut(text: str) -> str:
    """A key as an error shows it: whole, or cut when long (an error never echoes a
    huge key)."""
    return text if len(text) <= 100 else shown(text)


def _spelled(path: Sequence[str | int]) -> str:
    """``("data", "domains", 0)`` -> ``"data.domains[0]"``."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return _cut(out)


def _unshared(value: Any) -> Any:
    """A copy of YAML data in which no two places are one object (aliases written out)."""
    if isinstance(value, dict):
        return {key: _unshared(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unshared(item) for item in value]
    return value
