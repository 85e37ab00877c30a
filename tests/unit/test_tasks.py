"""Downstream-task targets: reading and checking task files, their token windows, the bits
per byte a proxy scores on them, and MixMin on per-item log-probabilities."""

import json
import math
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from raymix.config import ModelConfig, TrainingConfig, parse_config
from raymix.data.sources import check_sources
from raymix.data.tasks import (
    BUILTIN_TASK_ITEMS,
    EOT,
    TaskItem,
    builtin_task,
    item_weights,
    read_tasks,
    task_windows,
)
from raymix.errors import ConfigError
from raymix.proposal import mixmin, mixture_loss
from raymix.training.loop import ProxyData, train_proxy
from raymix.training.model import build_model
from raymix.training.tasks import TaskWindows, bits_per_byte, continuation_logprobs

DOMAINS = [{"name": "a", "source": "a.txt"}, {"name": "b", "source": "b.txt"}]


def _config(tmp_path: Path, tasks: list[dict], **target) -> object:
    for name in ("a", "b"):
        (tmp_path / f"{name}.txt").write_text("some text\n")
    raw = {"name": "t", "data": {"domains": DOMAINS, "cache_dir": str(tmp_path / "cache")},
           "target": {"name": "tasks", "tasks": tasks, **target}}
    return parse_config(raw, base_dir=tmp_path)


def _task_file(tmp_path: Path, name: str, items: list) -> str:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join((json.dumps(i) if not isinstance(i, str) else i) + "\n"
                            for i in items))
    return path.name


CLOZE = {"context": "The answer is", "continuation": " forty-two."}
CHOICE = {"query": "Pick one:", "choices": [" red", " green", " blue"], "gold": 1}


def test_both_kinds_of_item_are_read_as_context_and_gold_continuation(tmp_path):
    cfg = _config(tmp_path, [
        {"name": "cloze", "path": _task_file(tmp_path, "c", [CLOZE] * 3), "family": "f"},
        {"name": "mc", "path": _task_file(tmp_path, "m", [CHOICE, {**CHOICE, "gold": " blue"}]),
         "weight": 3}])
    tasks = read_tasks(cfg)
    assert tasks["cloze"] == [TaskItem("The answer is", " forty-two.")] * 3
    assert tasks["mc"] == [TaskItem("Pick one:", " green"), TaskItem("Pick one:", " blue")]
    # item weights: the task's share over its bytes (ln 2: nats -> bits)
    w = item_weights(cfg, tasks)
    assert w[:3] == pytest.approx(0.25 / (33 * math.log(2)))
    assert w[3:] == pytest.approx(0.75 / (11 * math.log(2)))


@pytest.mark.parametrize("item, words", [
    ({"context": "x"}, "no 'continuation' field"),
    ({"context": "x", "continuation": "   "}, "its continuation is empty"),
    ({"query": "q", "choices": ["a", "b"], "gold": "c"}, "is not among its choices"),
    ({"query": "q", "choices": ["a", "b"], "gold": 2}, "gold index 2 is not a choice"),
    ({"query": "q", "choices": ["a", "b"]}, "no 'gold' field"),
    ("{not json", "is not JSON"),
    ([1, 2], "is not a JSON object"),
])
def test_a_bad_item_is_one_line_naming_the_file_field_and_line(tmp_path, item, words):
    cfg = _config(tmp_path, [{"name": "t1", "path": _task_file(tmp_path, "t", [CLOZE, item])}])
    with pytest.raises(ConfigError) as info:
        check_sources(cfg)  # what prepare and every command run before reading anything
    message = str(info.value)
    assert "target.tasks[0].path" in message and "line 2 of t.jsonl" in message
    assert words in message and "\n" not in message


@pytest.mark.parametrize("tasks, target, field, words", [
    ([{"name": "x", "path": "p"}, {"name": "x", "path": "q"}], {}, "target.tasks[1].name",
     "duplicate task 'x'"),
    ([{"name": "x", "path": "p", "weight": -1}], {}, "target.tasks[0].weight", "must be"),
    ([{"name": "x", "path": "p", "weight": 0}], {}, "target.tasks", "must not all be 0"),
    ([{"name": "x", "path": "p"}], {"source": "a.txt"}, "target", "got source and tasks"),
    ([], {}, "target.tasks", "list at least one task"),
])
def test_bad_task_settings_are_refused_by_the_config(tmp_path, tasks, target, field, words):
    with pytest.raises(ConfigError) as info:
        _config(tmp_path, tasks, **target)
    assert info.value.field == field and words in str(info.value)


def test_a_missing_task_file_names_the_field(tmp_path):
    cfg = _config(tmp_path, [{"name": "x", "path": "nowhere.jsonl"}])
    with pytest.raises(ConfigError, match=r"target.tasks\[0\].path.*no such file"):
        check_sources(cfg)


def test_special_files_as_task_files_are_refused_before_reading(tmp_path):
    """A FIFO would block the read and /dev/zero never ends: refused, naming the field."""
    import os

    os.mkfifo(tmp_path / "pipe.jsonl")
    for path, words in (("pipe.jsonl", "is a FIFO"), ("/dev/zero", "is a device")):
        cfg = _config(tmp_path, [{"name": "x", "path": path}])
        with pytest.raises(ConfigError, match=rf"target.tasks\[0\].path.*{words}"):
            read_tasks(cfg)


def test_a_continuation_longer_than_a_window_is_refused_before_prepare(tmp_path):
    """Before any tokenizer is trained: the byte-level pieces of a continuation are a floor
    of its tokens under any tokenizer prepare trains, so 80 words cannot fit 64 tokens; the
    error names the field and the line. The same items fit a longer window."""
    name = _task_file(tmp_path, "long", [
        {"context": "a", "continuation": " fits"},
        {"context": "b", "continuation": " word" * 80}])
    cfg = _config(tmp_path, [{"name": "x", "path": name}])
    cfg.model.seq_len = 64
    with pytest.raises(ConfigError, match=r"target.tasks\[0\].path.*line 2 of long.jsonl: its "
                       r"continuation is 80 tokens or more, longer than model.seq_len \(64\)"):
        read_tasks(cfg)
    cfg.model.seq_len = 128
    assert len(read_tasks(cfg)["x"]) == 2


def test_a_continuation_is_counted_with_the_configs_tokenizer(tmp_path, tokenizer):
    """With data.tokenizer.path the count is exact: a word of many pieces is one item too
    long for a window the pieces alone would pass."""
    tokenizer.save(str(tmp_path / "tok.json"))
    text = " " + "qzxv" * 30  # one pre-tokenizer piece, many tokens of a 300-token vocabulary
    tokens = len(tokenizer.encode(text, add_special_tokens=False).ids)
    name = _task_file(tmp_path, "t", [{"context": "a", "continuation": text}])
    cfg = _config(tmp_path, [{"name": "x", "path": name}])
    cfg.data.tokenizer.path = "tok.json"
    cfg.model.seq_len = tokens - 1
    with pytest.raises(ConfigError, match=f"line 1 of t.jsonl: its continuation is {tokens} "):
        read_tasks(cfg)
    cfg.model.seq_len = tokens
    assert read_tasks(cfg)["x"][0].where == "line 1 of t.jsonl"


def test_builtin_tasks_are_real_reference_paragraphs_and_disjoint(tmp_path):
    cache = Path(__file__).resolve().parents[2] / ".raymix" / "cache"
    cloze = builtin_task("python_reference_cloze", cache)
    choice = builtin_task("python_reference_choice", cache)
    assert len(cloze) == len(choice) == BUILTIN_TASK_ITEMS
    assert not {i.context for i in cloze} & {i.context for i in choice}
    for item in cloze + choice:
        assert item.continuation.startswith(" ") and item.continuation[1].isupper()
        assert item.continuation.rstrip()[-1] in ".!?\"')"
    assert builtin_task("python_reference_cloze", cache) == cloze  # deterministic


# ----------------------------------------------------------------------------- windows, scores


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    text = (Path(sysconfig.get_paths()["stdlib"]) / "pydoc_data" / "topics.py").read_text()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([text[:200_000]], trainers.BpeTrainer(
        vocab_size=300, special_tokens=[EOT], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    return tok


def test_a_window_is_eot_context_continuation_cut_from_the_left(tokenizer):
    items = [TaskItem("Short context ", "and its end."),
             TaskItem("A much longer context " * 20, " The end.")]
    w = task_windows(items, tokenizer, seq_len=32, field_name="f")
    eot = tokenizer.token_to_id(EOT)
    cont = tokenizer.encode(" and its end.").ids  # the context's trailing space moved over
    ctx = tokenizer.encode("Short context").ids
    assert w["ids"][0, : 1 + len(ctx) + len(cont)].tolist() == [eot] + ctx + cont
    assert w["ids"][0, 1 + len(ctx) + len(cont):].tolist() == [0] * (32 - len(ctx) - len(cont))
    assert w["ids"][1, 0] != eot and w["end"][1] == 32  # a full window, cut from the left
    for i, c in enumerate([cont, tokenizer.encode("  The end.").ids]):
        assert w["ids"][i, 1:][w["first"][i]:w["end"][i]].tolist() == c
    assert w["nbytes"].tolist() == [13, 10]
    with pytest.raises(ConfigError, match="more than model.seq_len"):
        task_windows([TaskItem("x", " y" * 40)], tokenizer, seq_len=8, field_name="f")


def test_continuation_logprobs_are_the_models_log_probs_of_the_gold_tokens(tokenizer):
    torch.manual_seed(0)
    model = build_model(ModelConfig(layers=1, hidden=32, heads=2, intermediate=64, seq_len=32),
                        tokenizer.get_vocab_size(), seed=0)
    items = [TaskItem("The assert statement", " is a way to test."),
             TaskItem("Names refer to objects " * 8, " Names are introduced.")]
    task = TaskWindows(**task_windows(items, tokenizer, seq_len=32, field_name="f"))
    # two windows a batch and one a batch agree (padding never leaks into a score)
    got = continuation_logprobs(model, task, torch.device("cpu"), 2, _no_autocast)
    assert got == pytest.approx(continuation_logprobs(model, task, torch.device("cpu"), 1,
                                                      _no_autocast), abs=1e-5)
    for i in range(2):  # by hand: the whole window through the model, log-softmax
        ids = torch.tensor(task.ids[i, : task.end[i] + 1])[None]
        with torch.no_grad():
            logp = torch.log_softmax(model(ids[:, :-1]).logits.float(), -1)[0]
        gold = ids[0, 1:]
        want = sum(logp[t, gold[t]].item() for t in range(task.first[i], task.end[i]))
        assert got[i] == pytest.approx(want, abs=1e-4)
    assert bits_per_byte(got, task.nbytes) == pytest.approx(
        -got.sum() / math.log(2) / task.nbytes.sum())


def _no_autocast(device):
    return torch.autocast(device.type, enabled=False)


def test_a_proxy_records_each_task_family_and_the_weighted_target(tokenizer):
    text = (Path(sysconfig.get_paths()["stdlib"]) / "argparse.py").read_text()
    tokens = np.array(tokenizer.encode(text).ids, dtype=np.uint16)
    items = {"t1": [TaskItem("An object is", " a value.")] * 4,
             "t2": [TaskItem("A name is", " bound to an object.")] * 3,
             "t3": [TaskItem("A module", " holds code.")] * 2}
    tasks = {n: TaskWindows(**task_windows(i, tokenizer, 32, "f")) for n, i in items.items()}
    data = ProxyData(train={"a": tokens[:-2000], "b": tokens[:-2000]},
                     valid={"a": tokens[-2000:], "b": tokens[-2000:]}, target_name="tasks",
                     target_weights={"task:t1": 1.0, "task:t2": 1.0, "task:t3": 2.0},
                     vocab_size=tokenizer.get_vocab_size(), tasks=tasks,
                     families={"f": {"t1": 1.0, "t2": 1.0}, "g": {"t3": 2.0}})
    record = train_proxy({"a": 0.5, "b": 0.5}, data,
                         ModelConfig(layers=1, hidden=32, heads=2, intermediate=64, seq_len=32),
                         TrainingConfig(steps=6, batch_size=4, warmup_steps=1, eval_every=3,
                                        eval_tokens=256), target_logprobs=True)
    last = record.evaluations[-1].losses
    assert set(last) == {"a", "b", "task:t1", "task:t2", "task:t3", "family:f", "family:g"}
    assert last["family:f"] == pytest.approx((last["task:t1"] + last["task:t2"]) / 2)
    assert last["family:g"] == pytest.approx(last["task:t3"])
    assert record.final_target_loss == pytest.approx(
        (last["task:t1"] + last["task:t2"] + 2 * last["task:t3"]) / 4)
    assert len(record.target_logprobs) == 9  # one per item, the tasks in turn
    # the items' log-probs give back each task's bits per byte
    lp = np.array(record.target_logprobs)
    assert bits_per_byte(lp[:4], tasks["t1"].nbytes) == pytest.approx(last["task:t1"], abs=1e-4)


# ----------------------------------------------------------------------------- MixMin


def test_mixmin_weighted_columns_minimise_the_weighted_loss():
    rng = np.random.default_rng(0)
    logprobs = -rng.gamma(2.0, 2.0, size=(3, 40))
    plain = mixmin(logprobs, tol=1e-9, max_steps=2000)
    equal = mixmin(logprobs, weights=np.full(40, 7.0), tol=1e-9, max_steps=2000)
    assert equal.weights == pytest.approx(plain.weights, abs=1e-9)
    # weights that count only the columns proxy 2 predicts best: the mixture moves there
    best = logprobs.argmax(axis=0) == 2
    tilted = mixmin(logprobs, weights=best + 1e-3, tol=1e-9, max_steps=2000)
    assert tilted.weights[2] > plain.weights[2]
    a = (best + 1e-3) / (best + 1e-3).sum()
    f = mixture_loss(logprobs, tilted.weights, a)
    for trial in rng.dirichlet(np.ones(3), size=200):  # nothing on the simplex does better
        assert mixture_loss(logprobs, trial, a) >= f - 1e-7
