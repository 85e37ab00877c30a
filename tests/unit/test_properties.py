"""Property tests (Hypothesis): malformed input is refused in one line, never a traceback.

Generated tables, configs, constraints files and ``--at`` specs go through raymix's
readers and its command line. Each either reads or raises :class:`~raymix.errors.UserError`
(the CLI: exit status 2 and one ``raymix: error:`` line), and a refusal writes nothing.
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raymix.cli.arguments import parse_at
from raymix.cli.commands import main
from raymix.config import load_config, load_constraints
from raymix.errors import UserError
from raymix.runs import read_long_runs, read_runs

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# cells that hit the parsers' corners: numbers, signs, exponents, quotes, separators, blanks
CELL = st.one_of(st.sampled_from(["0.5", "1", "0", "-0.2", "1e3", "nan", "inf", "", " ",
                                  '"', "a,b", "x;y", "r1", "1.0.0", "\t", "é", "1e999"]),
                 st.text(alphabet=string.ascii_letters + string.digits + ".-+e ",
                         max_size=6))
NAME = st.sampled_from(["id", "run", "code", "web", "target", "tokens", "params", "step",
                        "seed", "", "code", "a b", "x;y"])


def csv_text(names, rows) -> str:
    return "\n".join(",".join(row) for row in [names, *rows]) + "\n"


TABLE = st.integers(1, 5).flatmap(lambda width: st.tuples(
    st.lists(NAME, min_size=width, max_size=width),
    st.lists(st.lists(CELL, min_size=width, max_size=width + 1), max_size=6)))


def refused_or_read(read, *args):
    try:
        read(*args)
    except UserError as exc:
        assert "\n" not in str(exc), str(exc)


@SETTINGS
@given(mixtures=TABLE, metrics=TABLE)
def test_wide_tables_are_read_or_refused(tmp_path, mixtures, metrics):
    (tmp_path / "mix.csv").write_text(csv_text(*mixtures))
    (tmp_path / "met.csv").write_text(csv_text(*metrics))
    refused_or_read(read_runs, tmp_path / "mix.csv", tmp_path / "met.csv", ["target"])


@SETTINGS
@given(table=TABLE, raw=st.binary(max_size=40))
def test_long_tables_are_read_or_refused(tmp_path, table, raw):
    (tmp_path / "runs.csv").write_text(csv_text(*table))
    refused_or_read(read_long_runs, tmp_path / "runs.csv", ["target"])
    (tmp_path / "raw.csv").write_bytes(raw)
    refused_or_read(read_long_runs, tmp_path / "raw.csv", ["target"])


YAML_TEXT = st.text(alphabet=string.ascii_lowercase + string.digits + ":{}[],-&*!|>'\" \n.#",
                    max_size=80)
KEYS = st.sampled_from(["name", "data", "model", "training", "mixtures", "compute", "search",
                        "candidates", "seed", "steps", "count", "top_k", "max_weight"])
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                   st.lists(st.integers(), max_size=3), st.dictionaries(KEYS, st.integers(),
                                                                         max_size=3))


@SETTINGS
@given(text=YAML_TEXT, mapping=st.dictionaries(KEYS, VALUES, max_size=6))
def test_configs_and_constraints_are_read_or_refused(tmp_path, text, mapping):
    import yaml

    for name, content in (("text.yaml", text), ("mapping.yaml", yaml.safe_dump(mapping))):
        (tmp_path / name).write_text(content)
        refused_or_read(load_config, tmp_path / name)
        refused_or_read(load_constraints, tmp_path / name)


@SETTINGS
@given(spec=st.text(alphabet="paramstokens=,.e-+0123456789x ", max_size=30))
def test_target_scales_are_parsed_or_refused(spec):
    refused_or_read(parse_at, spec)


@SETTINGS
@given(mixtures=TABLE, args=st.lists(st.sampled_from(
    ["--seed", "-1", "--folds", "1", "--regressor", "nope", "--target", "target", "--id", "x",
     "--at", "params=-1"]), max_size=4))
def test_the_command_line_refuses_in_one_line_and_writes_nothing(tmp_path, capsys, mixtures,
                                                                   args):
    folder = tmp_path / "world"
    folder.mkdir(exist_ok=True)
    for child in folder.iterdir():
        child.unlink()
    (folder / "mix.csv").write_text(csv_text(*mixtures))
    (folder / "met.csv").write_text("id,target\nr1,1.0\n")  # too few runs to fit anyway
    before = sorted(p.name for p in folder.iterdir())
    try:
        status = main(["fit", "--mixtures", str(folder / "mix.csv"), "--metrics",
                       str(folder / "met.csv"), *args, "--report", str(folder / "report")])
    except SystemExit as exit_:  # argparse's refusals
        status = exit_.code
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert err.startswith("raymix: error: ") and "\n" not in err, err
    assert sorted(p.name for p in folder.iterdir()) == before

