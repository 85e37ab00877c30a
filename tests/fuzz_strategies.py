"""Hypothesis strategies for raymix's inputs, drawn from the config schema itself.

The config strategies never list fields by hand: :func:`schema_leaves` walks
:class:`raymix.config.schema.SweepConfig`'s dataclasses (their fields, their type hints
with the ``Annotated`` metadata: the scalar rule and the :class:`~raymix.config.schema.Range`,
and the choices tuples such as ``REGRESSOR_NAMES``), so a field added to the schema is
fuzzed without a change here. A drawn config is a valid base config with one to three of
those leaves changed: to a value in range, at an edge, just out of range, of the wrong
type, or to one of :data:`EXTREMES`.

The other strategies make CSV tables (wide pairs and the long table), token-shard
folders (``.npy``, raw ``.bin``, Megatron ``.bin`` + ``.idx``) and corruptions of a sweep
folder's files. Each returns plain data or a function that writes files; the tests
(tests/unit/test_fuzz.py) run ``raymix`` on what they make.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import string
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from raymix.config import schema
from raymix.config.schema import Range, SweepConfig
from raymix.data.shards import write_megatron

# ----------------------------------------------------------------------------- values

LONG = "n" * 10_000  # a long string: names, paths and messages must not echo it whole
# the values every field meets: the floats at the ends of what a double holds, the
# non-finite ones, a number YAML reads as a string, ints beyond any machine word
EXTREMES = (1e308, -1e308, 1e-320, math.nan, math.inf, -math.inf, "1e9", 10**30,
            -(10**30), 2**63, 2**64 + 1, LONG)
WRONG_TYPES = ("abc", "", [1, 2], {"a": 1}, True, None)
# text of a string field: no '/', '~' or '$', so a drawn path stays in the test's folder
JUNK_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " ._-:", max_size=12)

# the scalar rules of the schema (raymix.config.schema.Int ...), told apart by what
# converts the YAML value
_KINDS = {id(typing.get_args(alias)[1].convert): kind for alias, kind in (
    (schema.Int, "int"), (schema.Float, "float"), (schema.Bool, "bool"), (schema.Str, "str"),
    (schema.IntOrAuto, "int_or_auto"), (schema.AutoBool, "auto_bool"))}


def choices_tuples() -> list[tuple[str, ...]]:
    """The schema module's tuples of names (``REGRESSOR_NAMES``, ``SEARCH_METHODS``...)."""
    return [value for name, value in vars(schema).items()
            if name.isupper() and isinstance(value, tuple) and value
            and all(isinstance(v, str) for v in value)]


@dataclass(frozen=True)
class Leaf:
    """One settable value of the YAML: where it is, its scalar rule and its bounds.

    ``path`` holds the keys from the top (an int is a list index); ``kind`` is one of
    int, float, bool, str, int_or_auto, auto_bool, str_list or mapping (then ``values``
    is the leaf of the mapping's values); ``template`` is what a missing list item or
    optional section starts as (its required fields filled in).
    """

    path: tuple
    kind: str
    range: Range | None = None
    choices: tuple[str, ...] = ()
    default: Any = None
    values: Leaf | None = None
    templates: tuple = ()  # (depth into path, template) of list items / sections to create

    @property
    def dotted(self) -> str:
        return ".".join(str(k) for k in self.path)


def _unwrap(hint) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (hint, False)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _choices_for(default: Any) -> tuple[str, ...]:
    """The names a string field may take: every choices tuple holding its default (all of
    them when none does, e.g. a default of None)."""
    wanted = set(default) if isinstance(default, list) else {default}
    holding = [t for t in choices_tuples() if wanted <= set(t)]
    pool = holding or choices_tuples()
    return tuple(dict.fromkeys(v for t in pool for v in t))


def _template(cls) -> dict:
    """A section's required fields filled in: a string field gets a short name."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            inner, _ = _unwrap(hints[f.name])
            out[f.name] = "s1" if _scalar_kind(inner) == "str" else 1
    return out


def _scalar_kind(hint) -> str | None:
    if typing.get_origin(hint) is typing.Annotated:
        for meta in hint.__metadata__:
            kind = _KINDS.get(id(getattr(meta, "convert", None)))
            if kind is not None:
                return kind
    return None


def _range(hint) -> Range | None:
    if typing.get_origin(hint) is typing.Annotated:
        found = [m for m in hint.__metadata__ if isinstance(m, Range)]
        if found:
            return found[0]
        return _range(typing.get_args(hint)[0])  # Annotated[Annotated[Int...], Range]
    return None


def _leaves(hint, path: tuple, default: Any, templates: tuple) -> list[Leaf]:
    hint, optional = _unwrap(hint)
    if dataclasses.is_dataclass(hint):
        if optional and default is None:  # an optional section: made when a leaf is set
            templates = (*templates, (len(path), _template(hint)))
        return schema_leaves(hint, path, templates)
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        if dataclasses.is_dataclass(item):
            return schema_leaves(item, (*path, 0), (*templates, (len(path) + 1, _template(item))))
        return [Leaf(path, "str_list", choices=_choices_for(default), default=default,
                     templates=templates)]
    if origin is dict:
        _, value = typing.get_args(hint)
        (values,) = _leaves(value, (), None, ()) or [None]
        return [Leaf(path, "mapping", default=default, values=values, templates=templates)]
    kind = _scalar_kind(hint)
    if kind is None:
        return []
    choices = ()
    if kind == "str":  # its default first, then the names of the tuples that hold it
        choices = tuple(dict.fromkeys([*([default] if default else []), *_choices_for(default)]))
    return [Leaf(path, kind, _range(hint), choices, default, templates=templates)]


def schema_leaves(cls=SweepConfig, prefix: tuple = (), templates: tuple = ()) -> list[Leaf]:
    """Every settable value of the config, read from the schema's dataclasses.

    A list of sections (``data.domains``, ``scales``, ``target.tasks``) contributes its
    first item's fields; an optional section (``tracking.mlflow``) its own.
    """
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):
        out += _leaves(hints[f.name], (*prefix, f.name), _default(f), templates)
    return out


# ----------------------------------------------------------------------------- a leaf's values


def _numbers(leaf: Leaf) -> st.SearchStrategy:
    """In range, at the edges, just outside them (or around the default without a Range)."""
    whole = leaf.kind in ("int", "int_or_auto")
    r = leaf.range
    if r is None:
        base = leaf.default if isinstance(leaf.default, (int, float)) else 1
        near = [base, 0, 1, -1, base * 2, base + 1]
        return st.sampled_from([int(v) if whole else float(v) for v in near])
    low, high = r.low, r.high
    high_open = getattr(r, "high_open", False)
    if whole:
        first = math.floor(low) + 1 if r.low_open else math.ceil(low)
        last = math.ceil(high) - 1 if high_open else math.floor(high)
        inside = st.one_of(st.integers(first, int(min(last, first + 1_000))),
                           st.integers(first, int(last)))
        edges = [first, int(last), first - 1, int(last) + 1]
    else:
        first = math.nextafter(low, math.inf) if r.low_open else low
        last = math.nextafter(high, -math.inf) if high_open else high
        inside = st.one_of(st.floats(first, min(last, max(first, 1.0) * 1e3)),
                           st.floats(first, last))
        edges = [first, last, math.nextafter(first, -math.inf), math.nextafter(last, math.inf),
                 last * 1.001 if last > 0 else last + 1]
    return st.one_of(inside, st.sampled_from(edges))


def _scalar_values(leaf: Leaf) -> st.SearchStrategy:
    if leaf.kind in ("int", "float", "int_or_auto"):
        good = _numbers(leaf)
        if leaf.kind == "int_or_auto":
            good = st.one_of(good, st.just("auto"))
        return good
    if leaf.kind == "bool":
        return st.booleans()
    if leaf.kind == "auto_bool":
        return st.sampled_from(["auto", True, False, "true", "maybe"])
    # a string: one of its names, or junk
    return st.one_of(st.sampled_from(leaf.choices or ("x",)), JUNK_TEXT)


def leaf_values(leaf: Leaf) -> st.SearchStrategy:
    """What a fuzzed leaf is set to: mostly good values, often bad or extreme ones."""
    bad = st.sampled_from(EXTREMES + WRONG_TYPES)
    if leaf.kind == "str_list":
        good = st.lists(st.sampled_from(leaf.choices or ("x",)), max_size=4)
        return st.one_of(good, bad, st.lists(JUNK_TEXT, max_size=2))
    if leaf.kind == "mapping":
        keys = st.sampled_from(_MAPPING_KEYS)
        values = leaf_values(leaf.values) if leaf.values is not None else bad
        return st.one_of(st.dictionaries(keys, values, max_size=3), bad)
    return st.one_of(_scalar_values(leaf), bad)


# a mapping's keys: the base config's domain names, the scale keys, junk
_MAPPING_KEYS = ("code", "licences", "readmes", "params", "tokens", "nope", "", LONG[:300])


# ----------------------------------------------------------------------------- configs


def set_leaf(raw: dict, leaf: Leaf, value: Any) -> None:
    """Set ``leaf`` in the YAML data ``raw``, making missing list items and sections from
    their templates (a scale, a task, tracking.mlflow)."""
    made = dict(leaf.templates)
    node = raw
    for depth, key in enumerate(leaf.path[:-1], start=1):
        nxt = leaf.path[depth]
        if isinstance(key, int):
            while len(node) <= key:
                node.append(copy.deepcopy(made.get(depth, {})))
            node = node[key]
            continue
        if not isinstance(node.get(key), (dict, list)):
            node[key] = [] if isinstance(nxt, int) else copy.deepcopy(made.get(depth, {}))
        node = node[key]
    node[leaf.path[-1]] = value


@st.composite
def fuzzed_configs(draw, base: dict, leaves: list[Leaf] | None = None, most: int = 3):
    """``base`` (YAML data) with one to ``most`` schema leaves changed; returns
    (the data, [(dotted path, value), ...]) so a failure shows what changed."""
    leaves = leaves if leaves is not None else schema_leaves()
    raw = copy.deepcopy(base)
    changed = []
    first = draw(st.sampled_from(leaves))
    # the others often from the same section: products of its fields (steps / eval_every,
    # count x repeats x seeds) are where bounds of single fields do not suffice
    section = [leaf for leaf in leaves if leaf.path[0] == first.path[0] and leaf != first]
    others = st.sampled_from(leaves)
    if section:
        others = st.one_of(st.sampled_from(section), others)
    chosen = [first, *draw(st.lists(others, max_size=most - 1, unique_by=lambda x: x.path))]
    for leaf in dict((leaf.path, leaf) for leaf in chosen).values():
        value = draw(leaf_values(leaf))
        set_leaf(raw, leaf, value)
        changed.append((leaf.dotted, value))
    return raw, changed


# ----------------------------------------------------------------------------- CSV tables

BAD_CELLS = ("nan", "inf", "-inf", "1e307", "-1e307", "1e-320", "abc", "", " ", "-0.5",
             "1e999", '"', "0x10", "1,5", "NaN", "None", LONG[:500])
WEIRD_HEADERS = ("", " ", "id", "run", "code", "target_loss", "Unnamed: 0", "a,b", "é",
                 "x" * 300, "tokens", "params", "0")


@st.composite
def edited_table(draw, text: str, id_column: int = 0) -> tuple[str, list]:
    """A CSV ``text`` with one to three edits: a bad cell, a weird or duplicated header, a
    row duplicated, dropped or cut short, a duplicated id, or the file cut anywhere."""
    lines = text.rstrip("\n").split("\n")
    rows = [line.split(",") for line in lines]
    edits = []
    for _ in range(draw(st.integers(1, 3))):
        what = draw(st.sampled_from(["cell", "cell", "header", "duplicate_id", "row",
                                     "short_row", "drop_row", "cut", "negative"]))
        r = draw(st.integers(1, len(rows) - 1)) if len(rows) > 1 else 0
        c = draw(st.integers(0, len(rows[0]) - 1))
        if what == "cell" and r < len(rows) and c < len(rows[r]):
            rows[r][c] = draw(st.sampled_from(BAD_CELLS))
        elif what == "negative" and r < len(rows) and 0 < c < len(rows[r]):
            rows[r][c] = "-" + rows[r][c].lstrip("-")
        elif what == "header":
            rows[0][c] = draw(st.sampled_from(WEIRD_HEADERS + tuple(rows[0])))
        elif what == "duplicate_id" and len(rows) > 2 and r < len(rows):
            rows[r][id_column] = rows[1 if r != 1 else 2][id_column]
        elif what == "row" and r < len(rows):
            rows.append(list(rows[r]))
        elif what == "short_row" and r < len(rows):
            rows[r] = rows[r][:max(1, c)]
        elif what == "drop_row" and len(rows) > 1:
            del rows[r]
        elif what == "cut":
            flat = "\n".join(",".join(row) for row in rows)
            rows = [line.split(",") for line in flat[:draw(st.integers(0, len(flat)))].split("\n")]
        edits.append(what)
    return "\n".join(",".join(row) for row in rows) + "\n", edits


# ----------------------------------------------------------------------------- token shards


def _good_tokens(vocab: int, n: int, dtype) -> np.ndarray:
    return (np.arange(n) % (vocab - 1)).astype(dtype)


def _npy_writer(kind: str, vocab: int, n: int, cut: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        if kind == "zero_bytes":
            path.write_bytes(b"")
        elif kind == "good":
            np.save(path, _good_tokens(vocab, n, np.uint16))
        elif kind in ("float32", "int8", "uint64", "int64", "bool"):
            np.save(path, _good_tokens(vocab, n, kind if kind != "int8" else np.int8))
        elif kind == "too_big_ids":
            np.save(path, (np.arange(n) + vocab).astype(np.uint16))
        elif kind == "empty":
            np.save(path, np.zeros(0, np.uint16))
        elif kind == "two_d":
            np.save(path, _good_tokens(vocab, n, np.uint16).reshape(-1, 1))
        elif kind == "truncated":
            np.save(path, _good_tokens(vocab, n, np.uint16))
            data = path.read_bytes()
            path.write_bytes(data[:cut % max(1, len(data))])
        elif kind == "garbage":
            path.write_bytes(bytes(range(256))[:cut % 256 + 1] * 3)
        elif kind == "header_only":
            np.save(path, _good_tokens(vocab, n, np.uint16))
            path.write_bytes(path.read_bytes()[:128])
    return write


NPY_KINDS = ("good", "good", "zero_bytes", "float32", "int8", "uint64", "int64", "bool",
             "too_big_ids", "empty", "two_d", "truncated", "garbage", "header_only")
MEGATRON_DAMAGE = ("none", "truncate_bin", "truncate_idx", "append_bin", "flip_idx",
                   "flip_bin", "no_idx", "zero_idx", "swap")


def _megatron_writer(damage: str, vocab: int, docs: int, cut: int, where: int):
    def write(prefix: Path) -> None:
        write_megatron([_good_tokens(vocab, 200 + 7 * i, np.uint16) for i in range(docs)], prefix)
        idx, bin_ = prefix.with_suffix(".idx"), prefix.with_suffix(".bin")
        if damage == "truncate_bin":
            bin_.write_bytes(bin_.read_bytes()[:cut % max(1, bin_.stat().st_size)])
        elif damage == "truncate_idx":
            idx.write_bytes(idx.read_bytes()[:cut % max(1, idx.stat().st_size)])
        elif damage == "append_bin":
            with bin_.open("ab") as f:
                f.write(b"\x01\x00" * (cut % 7 + 1))
        elif damage in ("flip_idx", "flip_bin"):
            target = idx if damage == "flip_idx" else bin_
            data = bytearray(target.read_bytes())
            if data:
                data[where % len(data)] ^= 0xFF
            target.write_bytes(bytes(data))
        elif damage == "no_idx":
            idx.unlink()
        elif damage == "zero_idx":
            idx.write_bytes(b"")
        elif damage == "swap":
            a, b = idx.read_bytes(), bin_.read_bytes()
            idx.write_bytes(b)
            bin_.write_bytes(a)
    return write


@st.composite
def shard_folders(draw, vocab: int) -> tuple[str, dict[str, Callable[[Path], None]], str]:
    """A token source: (its name relative to the world, {relative file: writer}, what).

    Either a folder ``tok/`` of one to three ``.npy`` shards (good or damaged), or a
    Megatron dataset ``meg/d`` made by :func:`raymix.data.shards.write_megatron`, then
    damaged (``.bin`` cut or grown, ``.idx`` cut, zeroed, flipped or missing...).
    """
    if draw(st.booleans()):
        kinds = draw(st.lists(st.sampled_from(NPY_KINDS), min_size=1, max_size=3))
        files = {f"tok/s{i}.npy": _npy_writer(k, vocab, draw(st.integers(1, 9000)),
                                              draw(st.integers(0, 20_000)))
                 for i, k in enumerate(kinds)}
        return "tok", files, f"npy {kinds}"
    damage = draw(st.sampled_from(MEGATRON_DAMAGE))
    writer = _megatron_writer(damage, vocab, draw(st.integers(1, 40)),
                              draw(st.integers(0, 100_000)), draw(st.integers(0, 10_000)))
    return "meg/d", {"meg/d": writer}, f"megatron {damage}"


# ----------------------------------------------------------------------------- sweep folders

SWEEP_FILES = ("proposal.json", "results/*.json", "config.yaml", "data.json", "plan.csv",
               "mixtures.csv", "metrics.csv", "runs.csv")
JSON_SHAPES = ([], {}, "x", None, 1e308, {"mixture": "abc"})


@st.composite
def sweep_damage(draw) -> tuple[str, str, Any]:
    """Which sweep file to damage and how: (file pattern, damage, argument)."""
    name = draw(st.sampled_from(SWEEP_FILES))
    damage = draw(st.sampled_from(["truncate", "garble", "empty", "delete", "shape", "value"]))
    argument = {"truncate": st.floats(0, 1), "garble": st.integers(0, 10**6),
                "shape": st.sampled_from(JSON_SHAPES),
                "value": st.sampled_from(("abc", -0.5, 1e308, None, [], LONG[:2000], True)),
                "empty": st.none(), "delete": st.none()}[damage]
    return name, damage, draw(argument)


def damage_file(path: Path, damage: str, argument: Any) -> None:
    """Corrupt ``path`` as :func:`sweep_damage` drew: cut it at a fraction, overwrite bytes
    with garbage, empty or delete it, put JSON of another shape in it, or change one
    number or string inside its JSON (or CSV) to ``argument``."""
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:int(len(data) * argument)])
    elif damage == "garble":
        at = argument % max(1, len(data))
        path.write_bytes(data[:at] + b"\xff\x00{\"" + data[at + 4:])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "delete":
        path.unlink()
    elif damage == "shape":
        path.write_text(json.dumps(argument))
    elif damage == "value":
        path.write_text(_change_one_value(data.decode("utf-8", "replace"), argument))


def _change_one_value(text: str, value: Any) -> str:
    """Replace the first number after a weight-like key (or the first number at all)."""
    import re

    pattern = re.compile(r"(?<=[:,])\s*-?\d+(\.\d+)?(e-?\d+)?")
    found = pattern.search(text)
    if found is None:
        return text
    return text[:found.start()] + " " + json.dumps(value) + text[found.end():]
