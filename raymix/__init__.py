"""raymix: find a pretraining data mixture with many tiny proxy models on Ray.

The workflow, from Python (each step is also a CLI command, see ``raymix --help``)::

    import raymix
    cfg = raymix.load_config("jobs/configs/demo.yaml")
    raymix.prepare(cfg)                 # corpus -> tokenizer -> token arrays (cached)
    result = raymix.run_sweep(cfg)      # one Ray Tune trial per mixture
    proposal = raymix.propose(cfg)      # fit regressors, propose the best mixture, report

or on anyone's results (the wide CSV pair RegMix and Olmix publish)::

    runs = raymix.read_runs("mixtures.csv", "metrics.csv", ["pile_cc"])
    fitted = raymix.fit(runs)                       # FitResult: CV scores, estimator
    proposal = raymix.propose(runs, search=raymix.load_constraints("constraints.yaml"),
                              output="proposal.json")

or at a target scale, from checkpoints of several model sizes (Data Mixing Laws)::

    long = raymix.read_long_runs("runs.csv", ["pile_loss"])
    proposal = raymix.propose(long, at=raymix.Scale(params=1e9, tokens=1e11))

Heavy modules (torch, ray) are imported only when a function needs them.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "load_config", "load_constraints", "read_runs", "read_long_runs",
           "prepare", "run_sweep", "fit", "predict", "propose", "run_validation", "critical",
           "Scale", "NestedScalingLaw"]

# classes, imported on first use (a module __getattr__, PEP 562)
_LAZY_CLASSES = {"Scale": "raymix.nested", "NestedScalingLaw": "raymix.nested"}


def __getattr__(name):
    if name in _LAZY_CLASSES:
        import importlib

        return getattr(importlib.import_module(_LAZY_CLASSES[name]), name)
    raise AttributeError(f"module 'raymix' has no attribute {name!r}")


def load_config(path):
    """Read and validate a sweep YAML; see :mod:`raymix.config`."""
    from raymix.config.schema import load_config as _load

    return _load(path)


def load_constraints(path):
    """Read a constraints YAML (the keys of a config's ``search:``); see :mod:`raymix.constraints`."""
    from raymix.mixtures.constraints import load_constraints as _load

    return _load(path)


def read_runs(mixtures, metrics, targets, id_column=None):
    """Runs from a mixtures CSV and a metrics CSV; see :func:`raymix.wide_csv.read_runs`."""
    from raymix.runs.wide import read_runs as _read

    return _read(mixtures, metrics, targets, id_column)


def read_long_runs(path, targets, domains=None):
    """Checkpoints of runs at several scales from one long table; see :mod:`raymix.long_csv`."""
    from raymix.runs.long import read_long_runs as _read

    return _read(path, targets, domains)


def prepare(cfg, **kwargs):
    """Build (or reuse) the tokenizer and token arrays; see :func:`raymix.prepare.prepare`."""
    from raymix.data.tokenize import prepare as _prepare

    return _prepare(cfg, **kwargs)


def run_sweep(cfg, **kwargs):
    """Run or resume the sweep; see :func:`raymix.sweep.run_sweep`."""
    from raymix.sweep.runner import run_sweep as _run

    return _run(cfg, **kwargs)


def fit(*args, **kwargs):
    """Cross-validate regressors on a sweep's or CSV runs; see :func:`raymix.workflow.fit`."""
    from raymix.workflows.proposing import fit as _fit

    return _fit(*args, **kwargs)


def predict(*args, **kwargs):
    """Predict candidate mixtures from a CSV with a fit; see :func:`raymix.workflow.predict`."""
    from raymix.workflows.proposing import predict as _predict

    return _predict(*args, **kwargs)


def propose(*args, **kwargs):
    """Fit, propose the best mixture and write the report; see :func:`raymix.workflow.propose`."""
    from raymix.workflows.proposing import propose as _propose

    return _propose(*args, **kwargs)


def run_validation(cfg, **kwargs):
    """Train the proposal and baselines at a larger scale; see :mod:`raymix.validate`."""
    from raymix.workflows.validation import run_validation as _run

    return _run(cfg, **kwargs)


def critical(*args, **kwargs):
    """The critical share of a new domain in continual pretraining.

    See :func:`raymix.workflow.critical`.
    """
    from raymix.workflows.proposing import critical as _critical

    return _critical(*args, **kwargs)
