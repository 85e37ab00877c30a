"""The public API as a user meets it: real functions with real signatures and help.

docs/python-api.md's code runs top to bottom in tests/e2e/test_readme.py; here, without Ray: every
public name resolves to the library's own function or class, stays that after every
module of the package is imported (a submodule named like a function used to replace
it), and ``help()`` shows its parameters and what it returns.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import pydoc

import pytest

import raymix

FUNCTIONS = ["load_config", "load_constraints", "cost_preview", "prepare",
             "tokenize_to_shards", "run_sweep",
             "read_runs", "read_long_runs", "fit", "predict", "propose", "critical",
             "run_validation", "sweep_and_propose"]


def _all_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(raymix.__path__, "raymix.")
            if not m.name.endswith("__main__")]


def test_every_public_name_is_listed_and_resolves():
    assert set(FUNCTIONS) <= set(raymix.__all__)
    for name in raymix.__all__:
        assert getattr(raymix, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        raymix.nope  # noqa: B018


def test_no_module_shadows_a_public_function():
    """Importing every submodule leaves ``raymix.propose`` (and the rest) callable."""
    for name in _all_modules():
        importlib.import_module(name)
    leaves = {name.rsplit(".", 1)[-1] for name in _all_modules()}
    assert not leaves & set(raymix.__all__), leaves & set(raymix.__all__)
    for name in FUNCTIONS:
        function = getattr(raymix, name)
        assert inspect.isfunction(function), f"raymix.{name} is {function!r}"
        assert function.__module__.startswith("raymix."), name


@pytest.mark.parametrize("name", FUNCTIONS)
def test_help_shows_a_real_signature_and_numpydoc_sections(name):
    function = getattr(raymix, name)
    parameters = inspect.signature(function).parameters.values()
    assert not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters), \
        f"raymix.{name} hides its arguments behind *args/**kwargs"
    text = pydoc.render_doc(function, renderer=pydoc.plaintext)
    assert "Parameters" in text and "Returns" in text, text
    for p in parameters:
        assert p.name in text, f"help(raymix.{name}) does not mention {p.name!r}"


@pytest.mark.parametrize("name", ["SweepConfig", "Runs", "LongRuns", "RunRecord", "FitResult",
                                  "Proposal", "CriticalProportion", "ValidationResult",
                                  "SweepResult", "SweepOutcome", "PreparedData", "TargetSize",
                                  "ConfirmationVerdict", "MixMinProposal"])
def test_result_classes_are_documented(name):
    cls = getattr(raymix, name)
    assert inspect.isclass(cls) and (cls.__doc__ or "").strip(), name


def test_import_raymix_is_light():
    """``import raymix`` alone imports neither torch nor Ray (a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys, raymix; raymix.load_config; "
            "print(sorted(m for m in ('torch', 'ray', 'lightgbm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", out
