"""YAML read safely: plain data only, no key given twice, no alias bombs.

Both a config file (:func:`read_yaml`) and the value of a ``--set`` override
(:func:`load_yaml`) are read here, so they follow the same rules: tags that would run
code are refused (safe loading), a key given twice in one mapping is refused (YAML would
keep the last silently), and so is a document whose anchors and aliases expand to more
than :data:`MAX_YAML_NODES` values ("billion laughs"), an alias that refers to itself, a
document nested deeper than :data:`MAX_YAML_DEPTH` levels (PyYAML composes recursively,
so thousands of levels end in a RecursionError) and one larger than
:data:`MAX_YAML_BYTES` (checked before a byte is read: a sweep config is a few kB, and
parsing 50 MB takes minutes and gigabytes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from raymix.errors import ConfigError
from raymix.files import input_problem

MAX_YAML_NODES = 100_000  # after aliases are expanded: a config is a few hundred
MAX_YAML_DEPTH = 64  # levels of nested mappings and lists: a config has about five
MAX_YAML_BYTES = 1_000_000  # a config or constraints file is a few kB; a --set value less


class Refused(Exception):
    """A YAML document that loads, but not as a config should (see :func:`load_yaml`)."""

    def __init__(self, problem: str, line: int):
        super().__init__(problem)
        self.line = line


def read_yaml(path: str | Path, field: str) -> Any:
    """The data of a YAML file (safe loading: tags that would run code are refused).

    ``field`` names the file in errors (``config``, ``constraints``).
    """
    path = Path(path)
    problem = input_problem(path)
    if problem == "missing":
        raise ConfigError(field, f"no such file {str(path)!r}; pass the path of a YAML file")
    if problem:
        raise ConfigError(field, f"{str(path)!r} is {problem}; pass the path of a YAML file")
    size = path.stat().st_size
    if size > MAX_YAML_BYTES:
        raise ConfigError(field, f"{path.name} is {size:,} bytes, more than a YAML file "
                          f"raymix reads ({MAX_YAML_BYTES:,}); a config is a few kB, pass "
                          "the right file")
    try:
        return load_yaml(path.read_text())
    except Refused as exc:
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


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` that also refuses duplicate keys, documents whose aliases expand
    to more than :data:`MAX_YAML_NODES` nodes or refer to themselves, documents nested
    deeper than :data:`MAX_YAML_DEPTH` and text longer than :data:`MAX_YAML_BYTES`.

    Raises
    ------
    Refused
        A key given twice, too many values once aliases are expanded, an alias inside
        itself, too deep or too long.
    yaml.YAMLError
        Text that is not YAML, or a tag that safe loading refuses.
    """
    if len(text) > MAX_YAML_BYTES:
        raise Refused(f"it is {len(text):,} characters, more than raymix reads "
                      f"({MAX_YAML_BYTES:,}); a config is a few kB", 1)
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_nodes(node, {}) > MAX_YAML_NODES:
            raise Refused(f"its anchors and aliases expand to more than {MAX_YAML_NODES:,} "
                          "values; a config needs far fewer, write it out", 1)
        return loader.construct_document(node)
    except RecursionError:  # aliases nested in aliases: deep once expanded, though few
        raise Refused(f"its aliases nest values more than {MAX_YAML_DEPTH} levels deep once "
                      "expanded; write the values out", 1) from None
    finally:
        loader.dispose()


class _StrictLoader(yaml.SafeLoader):
    """Safe loading that refuses a key given twice in one mapping (YAML keeps the last),
    and nesting deeper than :data:`MAX_YAML_DEPTH` (refused as it is met, before the
    recursive composer runs out of stack)."""

    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise Refused(f"it is nested more than {MAX_YAML_DEPTH} levels deep; a config "
                              "needs a handful, flatten it", line)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

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
                raise Refused(f"key {key!r} is given twice in one mapping; keep one",
                              key_node.start_mark.line + 1)
        return super().construct_mapping(node, deep=deep)


def _expanded_nodes(node, counted: dict) -> int:
    """How many nodes ``node`` holds with every alias expanded (capped just past the limit).

    ``counted`` maps a node's id to its count, or to None while the node is being counted:
    meeting such a node again means an alias inside its own anchor (``a: &a [*a]``).
    """
    if id(node) in counted:
        if counted[id(node)] is None:
            raise Refused("an alias refers to the value it is part of, which never ends; "
                          "write the value out", node.start_mark.line + 1)
        return counted[id(node)]
    counted[id(node)] = None
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
