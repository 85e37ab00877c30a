"""The config reference of docs/config.md, made from the schema: :func:`config_table`.

One row per field of :mod:`raymix.config.schema` (sections, their lists and mappings
followed down): its type, default, the values it may take (a numeric field's
:class:`~raymix.config.schema.Range`, or the names a text field chooses from) and what it
means (the comment written beside or above the field in the schema, else the range's
``why``). docs/config.md holds the table between ``<!-- config-table:start -->`` and
``<!-- config-table:end -->``; a test keeps the two equal, so the page cannot drift
from the schema. To refresh it::

    python -c "from pathlib import Path; from raymix.config.table import with_table; \\
        p = Path('docs/config.md'); p.write_text(with_table(p.read_text()))"
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from typing import Annotated, Any

from raymix.config import schema
from raymix.config.schema import Range, Scalar, SweepConfig

START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"

# the names a text field chooses from, by its row's field name
CHOICES = {
    "data.domains[].dtype": schema.TOKEN_DTYPES,
    "data.read_in_place": ("auto", "true", "false"),
    "training.loss": schema.LOSSES,
    "training.compile": ("auto", "true", "false"),
    "mixtures.draw": schema.MIXTURE_DRAWS,
    "mixtures.strategy": schema.STRATEGIES,
    "fit.regressors": schema.REGRESSOR_NAMES,
    "fit.law": schema.SCALING_LAWS,
    "fit.checkpoints": ("auto", *schema.CHECKPOINTS),
    "fit.share_exponents": ("auto", "true", "false"),
    "fit.at.<key>": schema.AT_KEYS,
    "search.method": schema.SEARCH_METHODS,
    "tracking.wandb.mode": schema.WANDB_MODES,
}
# what a mapping's keys are, in its rows' field names
KEYS = {"objectives": ("<name>", "<metric>"), "mixtures": ("<name>", "<domain>"),
        "at": ("<key>",)}
# the scalar rules' names for the type column
KINDS = {"_whole_number": "int", "_number": "float", "_true_or_false": "bool",
         "_text": "string", "_whole_number_or_auto": "int or auto",
         "_auto_or_bool": "auto, true or false"}
MEANING_CHARACTERS = 140  # a comment longer than this is cut at a word


def config_table() -> str:
    """The config reference as a markdown table (what docs/config.md holds between markers).

    Returns
    -------
    str
        A header, then one row per field: ``| field | type | default | range or choices |
        meaning |``, in the schema's order.
    """
    rows = ["| field | type | default | range or choices | meaning |",
            "|---|---|---|---|---|"]
    rows += [_row(*entry) for entry in _fields(SweepConfig, "")]
    return "\n".join(rows) + "\n"


def readme_block(text: str) -> str:
    """The part of a page between the table's markers (what :func:`config_table` makes)."""
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def with_table(text: str) -> str:
    """``text`` (a page such as docs/config.md) with the block between the markers made anew."""
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    return f"{before}{START}\n{config_table()}{END}{after}"


# ----------------------------------------------------------------------------- the fields


def _fields(cls, prefix: str):
    """(name, annotation, default, meaning) of every leaf field below ``cls``."""
    hints = typing.get_type_hints(cls, include_extras=True)
    comments = {}
    for klass in reversed(cls.__mro__):  # a field's own class's comment, not its heir's
        comments.update(_comments(klass) if dataclasses.is_dataclass(klass) else {})
    for f in dataclasses.fields(cls):
        if f.name == "base_dir":  # set by the parser, not a YAML key
            continue
        name = f"{prefix}{f.name}"
        hint = _without_none(hints[f.name])
        section = _section(hint)
        if section is not None:
            yield from _fields(section, name + ("[]." if _is_list(hint) else "."))
            continue
        yield name, hint, _default(f), comments.get(f.name, "")


def _without_none(hint):
    """``X | None`` -> ``X`` (a field that may be left out: its default says so)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else hint
    return hint


def _is_list(hint) -> bool:
    return typing.get_origin(hint) is list


def _section(hint):
    """The dataclass a field holds (itself or as a list's items), else None."""
    inner = typing.get_args(hint)[0] if _is_list(hint) else hint
    return inner if dataclasses.is_dataclass(inner) else None


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


# ----------------------------------------------------------------------------- one row


def _row(name: str, hint, default: Any, meaning: str) -> str:
    kind, rule, keys = _kind(hint, name)
    field = name + "".join(f".{k}" for k in keys)
    bounds = rule.describe() if rule is not None else ""
    if rule is not None and rule.why:
        bounds += f" ({rule.why})"
    choices = CHOICES.get(field) or CHOICES.get(name)
    if choices:
        bounds = ", ".join(choices) if not bounds else f"{bounds}; {', '.join(choices)}"
    cells = [f"`{field}`", kind, _shown_default(default), bounds, meaning]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _kind(hint, name: str) -> tuple[str, Range | None, tuple[str, ...]]:
    """The type column's words, the value's range, and the mapping keys of the row's name."""
    origin = typing.get_origin(hint)
    if origin is dict:
        kind, rule, keys = _kind(_without_none(typing.get_args(hint)[1]), name)
        own = KEYS.get(name.rsplit(".", 1)[-1], ("<domain>",))
        return (f"mapping of {kind}" if not keys else f"mapping of {kind}", rule,
                (own[0], *keys) if len(own) == 1 else own)
    if origin is list:
        kind, rule, _ = _kind(typing.get_args(hint)[0], name)
        return f"list of {kind}", rule, ()
    if origin is Annotated:
        metadata = [m for m in hint.__metadata__]
        base = typing.get_args(hint)[0]
        rule = next((m for m in metadata if isinstance(m, Range)), None)
        scalar = next((m for m in metadata if isinstance(m, Scalar)), None)
        if scalar is None:  # a Range around an alias (Annotated of Annotated)
            kind, inner, keys = _kind(base, name)
            return kind, rule or inner, keys
        return KINDS.get(scalar.convert.__name__, "value"), rule, ()
    return getattr(hint, "__name__", str(hint)), None, ()


def _shown_default(value: Any) -> str:
    if value is dataclasses.MISSING:
        return "required"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, dict):
        return "{}" if not value else str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)


def _cell(text: str) -> str:
    """Markdown-safe: a pipe would end the cell."""
    return text.replace("|", "\\|")


# ----------------------------------------------------------------------------- the comments


def _comments(cls) -> dict[str, str]:
    """Each field's comment in ``cls``'s source: the one on its line, else the lines of
    comment right above it; its first sentence, cut to :data:`MEANING_CHARACTERS`."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    out, above = {}, []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        match = re.match(r"^    (\w+):", line)
        if match and match.group(1) != "__pydantic_config__":
            trailing = line.split("  # ", 1)[1] if "  # " in line else ""
            text = trailing or " ".join(above)
            if text:
                out[match.group(1)] = _first_sentence(text)
        above = []
    return out


def _first_sentence(text: str) -> str:
    text = re.split(r"(?<!e\.g)(?<!i\.e)(?<=[a-z)])\. ", text.strip(), maxsplit=1)[0]
    if len(text) <= MEANING_CHARACTERS:
        return text
    return text[:MEANING_CHARACTERS].rsplit(" ", 1)[0] + " ..."


# the module is the schema's reader only: nothing here is needed to parse a config
__all__ = ["END", "START", "config_table", "readme_block", "with_table"]
