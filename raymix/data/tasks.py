"""Downstream tasks as a sweep's target (``target.tasks``): their items, read and checked.

A task is a JSONL file, one item per line, of either kind:

- cloze / completion: ``{"context": "...", "continuation": "..."}``;
- multiple choice: ``{"query": "...", "choices": ["...", ...], "gold": 2}`` (``gold``
  the index of the right choice, or its text). It is scored on the gold choice alone:
  the item is read as context ``query``, continuation the gold choice.

The sweep's target is then the weighted bits per byte of the gold continuations
(Olmix, CLIMB and Marin choose mixtures by this: the loss of the right answer per UTF-8
byte, which does not depend on the tokenizer). :func:`task_windows` turns a task's items
into the token windows a proxy scores (:mod:`raymix.training.tasks`).

Built-in tasks (``path: builtin:<name>``, :data:`BUILTIN_TASKS`) are cut by raymix from
Python's language reference, which is not a training domain of the demo: the start of a
prose paragraph as context, its last sentence as the continuation (cloze); or the same
context with that sentence among three other paragraphs' last sentences (multiple
choice).

Every mistake in a task file is a :class:`~raymix.errors.ConfigError` naming
``target.tasks[i].path`` and the line.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, pre_tokenizers

from raymix.config import SweepConfig, TaskConfig
from raymix.data.builtin import builtin_documents
from raymix.errors import ConfigError
from raymix.files import input_problem

BUILTIN_TASKS: dict[str, str] = {
    "python_reference_cloze": "the last sentence of a paragraph of Python's language "
    "reference, after the paragraph's start (cloze)",
    "python_reference_choice": "the same, among 3 other paragraphs' last sentences "
    "(multiple choice, scored on the gold one)",
}
BUILTIN_TASK_ITEMS = 150  # items per built-in task (the reference has ~170 a task)
CHOICES = 4  # of a built-in multiple-choice item
EOT = "<|endoftext|>"  # the document separator: an item's window starts as a document does

_SENTENCE_END = re.compile(r"(?<=[a-z0-9)\"'][.!?])\s+(?=[A-Z])")


@dataclass(frozen=True)
class TaskItem:
    """One item: the gold ``continuation`` follows ``context``."""

    context: str
    continuation: str
    where: str = dataclasses.field(default="", compare=False)  # "line 3 of t.jsonl"

    def scored(self) -> tuple[str, str]:
        """(context, continuation) as scored: the context's trailing spaces moved to the
        continuation (as lm-evaluation-harness does), so that the continuation's tokens
        are the same whatever the context."""
        context = self.context.rstrip()
        return context, self.context[len(context):] + self.continuation


# ----------------------------------------------------------------------------- reading


def read_tasks(cfg: SweepConfig) -> dict[str, list[TaskItem]]:
    """Every task of ``target.tasks`` by name, its items read and checked (empty without
    tasks).

    Raises
    ------
    ConfigError
        Naming ``target.tasks[i].path`` and the line: no such file, a line that is not a
        JSON object, a missing field, an empty context or continuation, a choice list
        without the gold, a continuation longer than ``model.seq_len`` tokens, no items.
    """
    out: dict[str, list[TaskItem]] = {}
    count = _token_count(cfg) if cfg.target.tasks else None
    for i, task in enumerate(cfg.target.tasks or []):
        field_name = f"target.tasks[{i}].path"
        out[task.name] = read_task(task, field_name, cfg)
        _check_lengths(out[task.name], count, cfg.model.seq_len, field_name)
    return out


def _token_count(cfg: SweepConfig):
    """A function of a text: its number of tokens under ``data.tokenizer.path``, or, when
    ``prepare`` will train the tokenizer, a floor of it: the pieces the byte-level
    pre-tokenizer cuts the text into (a BPE token never spans two), whatever merges the
    training finds. A tokenizer file that cannot be read gives the floor too: its own
    check names it."""
    path = cfg.data.tokenizer.path
    if path and input_problem(cfg.resolve(path)) is None:
        try:
            tokenizer = Tokenizer.from_file(str(cfg.resolve(path)))
            return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)
        except Exception:  # noqa: BLE001, S110 - tokenizers raises a bare Exception
            pass
    pieces = pre_tokenizers.ByteLevel(add_prefix_space=False)
    return lambda text: len(pieces.pre_tokenize_str(text))


def _check_lengths(items: list[TaskItem], count, seq_len: int, field_name: str) -> None:
    """Refuse an item whose continuation alone fills more than a window (``model.seq_len``
    tokens): no proxy could score it. :func:`task_windows` checks again with the prepared
    tokenizer."""
    for item in items:
        tokens = count(item.scored()[1])
        if tokens > seq_len:
            where = item.where or "an item"
            raise ConfigError(field_name, f"{where}: its continuation is {tokens:,} tokens or "
                              f"more, longer than model.seq_len ({seq_len}); shorten it or "
                              "raise model.seq_len")


def read_task(task: TaskConfig, field_name: str, cfg: SweepConfig) -> list[TaskItem]:
    """The items of one task (its first ``max_items``)."""
    if task.path.startswith("builtin:"):
        name = task.path.removeprefix("builtin:")
        if name not in BUILTIN_TASKS:
            raise ConfigError(field_name, f"unknown built-in task {name!r}; choose from "
                              f"{', '.join(BUILTIN_TASKS)}")
        items = builtin_task(name, cfg.cache_path)
    else:
        items = _read_jsonl(cfg.resolve(task.path), field_name)
    items = items[: task.max_items] if task.max_items else items
    if not items:
        raise ConfigError(field_name, "holds no items; give a JSONL file with one item a line")
    return items


def _read_jsonl(path: Path, field_name: str) -> list[TaskItem]:
    problem = input_problem(path)  # a FIFO would block, a file of /proc never ends
    if problem == "missing":
        raise ConfigError(field_name, f"no such file {str(path)!r}; give a JSONL file of items "
                          "(relative paths start at the config's folder)")
    if problem:
        raise ConfigError(field_name, f"{str(path)!r} is {problem}; give a JSONL file of items")
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(field_name, f"cannot read {str(path)!r} as UTF-8 text ({exc})") from None
    for number, line in enumerate(lines, start=1):
        if line.strip():
            where = f"line {number} of {path.name}"
            items.append(dataclasses.replace(_item(line, field_name, where), where=where))
    return items


def _item(line: str, field_name: str, where: str) -> TaskItem:
    """One JSONL line as an item, or a one-line error saying what is wrong with it."""
    def fail(problem: str) -> ConfigError:
        return ConfigError(field_name, f"{where}: {problem}")

    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise fail(f"is not JSON ({exc.msg}); write one JSON object a line") from None
    if not isinstance(raw, dict):
        raise fail("is not a JSON object; write {\"context\", \"continuation\"} or "
                   "{\"query\", \"choices\", \"gold\"}")
    if "choices" in raw or "query" in raw:
        context, continuation = _multiple_choice(raw, fail)
    else:
        for key in ("context", "continuation"):
            if key not in raw:
                raise fail(f"has no '{key}' field; a cloze item needs context and "
                           "continuation (a multiple-choice one query, choices and gold)")
        context, continuation = raw["context"], raw["continuation"]
    for key, value in (("context", context), ("continuation", continuation)):
        if not isinstance(value, str):
            raise fail(f"its {key} is {type(value).__name__}, not text")
        if not value.strip():
            raise fail(f"its {key} is empty; every item needs text to score")
    return TaskItem(context, continuation)


def _multiple_choice(raw: dict, fail) -> tuple[str, str]:
    for key in ("query", "choices", "gold"):
        if key not in raw:
            raise fail(f"has no '{key}' field; a multiple-choice item needs query, choices "
                       "and gold")
    choices, gold = raw["choices"], raw["gold"]
    if not isinstance(choices, list) or not choices or \
            not all(isinstance(c, str) for c in choices):
        raise fail("its choices are not a non-empty list of texts")
    if isinstance(gold, bool) or not isinstance(gold, (int, str)):
        raise fail("its gold is neither the index of a choice nor a choice's text")
    if isinstance(gold, int):
        if not 0 <= gold < len(choices):
            raise fail(f"its gold index {gold} is not a choice (0 to {len(choices) - 1})")
        return raw["query"], choices[gold]
    if gold not in choices:
        raise fail(f"its gold {gold[:40]!r} is not among its choices; list it in choices")
    return raw["query"], gold


# ----------------------------------------------------------------------------- built-in tasks


def builtin_task(name: str, cache_dir: Path) -> list[TaskItem]:
    """The items of a built-in task, cut from Python's language reference.

    Paragraphs of prose (two or more sentences, no code) in document order; the even
    ones make the cloze task, the odd ones the multiple-choice task (so that the two
    tasks share no item). Deterministic: the same reference gives the same items.
    """
    cloze = name == "python_reference_cloze"
    pairs = _reference_pairs(cache_dir)
    mine = pairs[0::2] if cloze else pairs[1::2]
    step = max(1, len(mine) // BUILTIN_TASK_ITEMS)
    chosen = mine[::step][:BUILTIN_TASK_ITEMS]
    if cloze:
        return [TaskItem(context, last) for context, last in chosen]
    rng = np.random.default_rng(0)
    endings = [last for _, last in pairs]
    items = []
    for context, last in chosen:  # scored on the gold: the distractors document the item
        others = [endings[j] for j in rng.choice(len(endings), CHOICES + 2, replace=False)
                  if endings[j] != last][: CHOICES - 1]
        gold = int(rng.integers(CHOICES))
        items.append(_choice_item(context, [*others[:gold], last, *others[gold:]], gold))
    return items


def _choice_item(query: str, choices: list[str], gold: int) -> TaskItem:
    return _item(json.dumps({"query": query, "choices": choices, "gold": gold}),
                 "target.tasks", "a built-in item")


def _reference_pairs(cache_dir: Path) -> list[tuple[str, str]]:
    """(the paragraph without its last sentence, " " + that sentence) for each prose
    paragraph of the language reference."""
    pairs: dict[str, str] = {}  # by context: some topics repeat a paragraph of another
    for doc in builtin_documents("python_reference", cache_dir):
        for paragraph in re.split(r"\n\s*\n", doc):
            if paragraph.startswith((" ", "\t", "* ", "- ")) or ">>>" in paragraph:
                continue  # an indented block (code, grammar, a definition's body), a list
            text = " ".join(paragraph.split())
            sentences = _SENTENCE_END.split(text)
            last = sentences[-1]
            if len(sentences) < 2 or not 30 <= len(last) <= 200 or \
                    last.rstrip("\"')")[-1:] not in (".", "!", "?"):
                continue  # too short to continue, or a sentence that leads into a list
            pairs.setdefault(" ".join(sentences[:-1]), " " + sentences[-1])
    return list(pairs.items())


# ----------------------------------------------------------------------------- windows


def task_windows(items: list[TaskItem], tokenizer: Tokenizer, seq_len: int,
                 field_name: str) -> dict[str, np.ndarray]:
    """The token windows that score a task's items, as arrays.

    Each item is ``[EOT] + context + continuation`` tokens (EOT: an item starts as a
    document does in training), cut from the left to ``seq_len + 1`` tokens and padded
    with 0 on the right. The context and the continuation are encoded apart
    (:meth:`TaskItem.scored`).

    Returns
    -------
    dict
        ``ids`` (n, seq_len + 1) int64; ``first`` and ``end`` (n,): the continuation's
        positions among the predicted tokens ``ids[:, 1:]``; ``nbytes`` (n,): the
        continuation's UTF-8 bytes (the unit of bits per byte).

    Raises
    ------
    ConfigError
        When a continuation alone is longer than ``model.seq_len`` tokens.
    """
    eot = tokenizer.token_to_id(EOT)
    ids = np.zeros((len(items), seq_len + 1), dtype=np.int64)
    first, end, nbytes = (np.zeros(len(items), dtype=np.int64) for _ in range(3))
    for i, item in enumerate(items):
        context, continuation = item.scored()
        ctx = tokenizer.encode(context, add_special_tokens=False).ids
        cont = tokenizer.encode(continuation, add_special_tokens=False).ids
        if len(cont) > seq_len:
            raise ConfigError(field_name, f"item {i + 1}'s continuation is {len(cont)} tokens, "
                              f"more than model.seq_len ({seq_len}); shorten it or raise "
                              "model.seq_len")
        window = ([eot] + ctx + cont)[-(seq_len + 1):]
        ids[i, :len(window)] = window
        end[i] = len(window) - 1
        first[i] = end[i] - len(cont)
        nbytes[i] = len(continuation.encode("utf-8"))
    return {"ids": ids, "first": first, "end": end, "nbytes": nbytes}


def item_weights(cfg: SweepConfig, tasks: dict[str, list[TaskItem]]) -> np.ndarray:
    """Each item's weight in the target, in the order of ``target.tasks``: the target is
    ``sum_i weight_i * (-log p(continuation_i | context_i))`` in bits per byte.

    A task of weight ``w`` contributes ``w / sum(w)`` of its bits per byte (its items'
    nats over its bytes), so item ``i`` weighs ``w / (sum(w) * bytes(task) * ln 2)``.
    """
    total = sum(t.weight for t in cfg.target.tasks)
    out = []
    for task in cfg.target.tasks:
        task_bytes = sum(len(item.scored()[1].encode("utf-8")) for item in tasks[task.name])
        out.append(np.full(len(tasks[task.name]),
                           task.weight / (total * task_bytes * math.log(2))))
    return np.concatenate(out)
