"""The ``raymix`` command line: prepare -> sweep -> fit -> propose, one YAML as the source of truth.

    raymix prepare CONFIG      tokenizer + token arrays (cached)
    raymix sweep CONFIG        train one proxy per mixture on Ray Tune, then fit, propose, report
    raymix fit CONFIG          cross-validated quality of each regressor on the sweep's results
    raymix propose CONFIG      the mixture predicted best, with baselines, and the report

    raymix validate CONFIG     train the proposal and baselines at a larger scale, compare
    raymix submit CONFIG --address URL [--command sweep|fit|propose|validate]
                               the same on a Ray cluster, as a job; follows its logs

``fit`` and ``propose`` also work on anyone's results, the wide CSV pair of RegMix/Olmix:

    raymix fit --mixtures MIX.csv --metrics MET.csv --target COLUMN [--regressor NAME]
               [--predict CANDIDATES.csv --output PREDICTIONS.csv] [--report DIR]
    raymix propose --mixtures MIX.csv --metrics MET.csv --target COLUMN
               [--constraints FILE.yaml] --output PROPOSAL.json [--report DIR]

or a long table of checkpoints at several scales, extrapolated to a target scale by the
nested step and size laws of Data Mixing Laws:

    raymix fit --runs RUNS.csv --target COLUMN --at params=P,tokens=T [--domains a,b,c]
    raymix propose --runs RUNS.csv --target COLUMN --at params=P,tokens=T --output PROPOSAL.json

``propose --critical DOMAIN`` answers the continual-pretraining question instead: the
largest share of a new domain that keeps the target (original data) loss at or below
its value before continual pretraining (``--baseline``, or measured by the sweep).

A user mistake prints one line ``raymix: error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

from raymix.errors import UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other user error
        self.exit(2, f"raymix: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from raymix import __version__

    parser = _Parser(prog="raymix", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"raymix {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = commands.add_parser("prepare", help="build the tokenizer and token arrays (cached)")
    p.add_argument("config", help="sweep YAML")

    p = commands.add_parser("sweep", help="run (or resume) the sweep, then fit and propose")
    p.add_argument("config", help="sweep YAML")
    p.add_argument("--no-propose", action="store_true", help="stop after the sweep's tables")

    p = commands.add_parser("fit", help="cross-validate the regressors on a sweep's or CSV results")
    _add_runs_arguments(p)
    p.add_argument("--predict", metavar="CANDIDATES.csv",
                   help="predict these mixtures (id column + one column per domain)")
    p.add_argument("--output", metavar="PREDICTIONS.csv", help="where --predict writes")
    p.add_argument("--report", metavar="DIR", help="write a report of the fit into DIR")

    p = commands.add_parser("propose", help="propose the mixture predicted best, with a report")
    _add_runs_arguments(p)
    p.add_argument("--constraints", metavar="FILE.yaml",
                   help="bounds, token budget and search method (keys of the config's search:)")
    p.add_argument("--output", metavar="PROPOSAL.json",
                   help="where to write proposal.json (default with CONFIG: the sweep folder)")
    p.add_argument("--report", metavar="DIR",
                   help="report folder (default with CONFIG: report/ in the sweep folder)")
    p.add_argument("--method", choices=("regression", "mixmin"), default="regression",
                   help="regression: fit the runs and search (default); mixmin: mix the "
                        "proxies of a 'mixtures.method: per_domain' sweep (needs CONFIG)")
    p.add_argument("--critical", metavar="DOMAIN",
                   help="continual pretraining: the largest share of DOMAIN that keeps the "
                        "target loss at or below --baseline")
    p.add_argument("--baseline", type=float, metavar="LOSS",
                   help="with --critical: the target loss before continual pretraining "
                        "(default with CONFIG: measured on the starting checkpoint)")

    p = commands.add_parser("validate", help="train the proposal and baselines at a larger "
                                             "scale and compare them with the predictions")
    p.add_argument("config", help="sweep YAML (its validate: section sets the scale)")

    from raymix.cli.submit import COMMANDS as JOB_COMMANDS
    from raymix.cli.submit import DEFAULT_ADDRESS

    p = commands.add_parser("submit", help="run sweep/fit/propose/validate on a Ray cluster "
                                           "as a job and follow its logs")
    p.add_argument("config", nargs="?", help="sweep YAML inside this repository")
    p.add_argument("--address", default=DEFAULT_ADDRESS,
                   help=f"the cluster's job server (default {DEFAULT_ADDRESS})")
    p.add_argument("--command", dest="job_command", choices=JOB_COMMANDS, default="sweep",
                   help="what the job runs (default sweep)")
    p.add_argument("--python", default="python", help="the python the job runs on the head")
    p.add_argument("--no-wait", action="store_true", help="submit and return")
    p.add_argument("--stop", metavar="JOB_ID", help="stop a submitted job instead")
    return parser


def _add_runs_arguments(p: argparse.ArgumentParser) -> None:
    """Where the runs come from: a sweep config, or a mixtures + metrics CSV pair."""
    from raymix.config.schema import REGRESSOR_NAMES

    p.add_argument("config", nargs="?",
                   help="sweep YAML (or give --mixtures/--metrics/--target, or --runs/--target)")
    p.add_argument("--mixtures", metavar="MIX.csv", help="run id + one weight column per domain")
    p.add_argument("--metrics", metavar="MET.csv", help="run id + one column per metric")
    p.add_argument("--runs", metavar="RUNS.csv",
                   help="long table: run, params, tokens, one weight column per domain, metrics")
    p.add_argument("--domains", metavar="a,b,c", help="with --runs: the weight columns")
    p.add_argument("--at", metavar="params=P,tokens=T",
                   help="predict at this scale (non-embedding parameters, training tokens) "
                        "through the nested step and size laws")
    p.add_argument("--target", action="append", metavar="COLUMN[=WEIGHT]",
                   help="metric to minimise; repeat with =WEIGHT for a weighted sum")
    p.add_argument("--id", metavar="NAME", help="id column of the CSVs (default: the first)")
    p.add_argument("--regressor", choices=("auto", *REGRESSOR_NAMES),
                   help="regressor to use (default auto: cross-validate all, keep the best)")
    p.add_argument("--folds", type=int, help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=int, help="seed of the folds and regressors (default 0)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"raymix: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("raymix: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def _prepare(args) -> int:
    from raymix.config.schema import load_config
    from raymix.data.tokenize import prepare

    prepared = prepare(load_config(args.config))
    print(f"prepared tokens in {prepared.path}")
    return 0


def _sweep(args) -> int:
    from raymix.config.schema import load_config
    from raymix.sweep.runner import run_sweep

    cfg = load_config(args.config)
    result = run_sweep(cfg)
    print(f"[sweep] {result.stored} runs stored ({result.failed} failed), "
          f"{result.trained_now} trained by this command")
    if args.no_propose:
        return 0
    from raymix.workflows.proposing import (
        propose,
        summarise_proposal,
        summarise_scaling,
    )

    if cfg.mixtures.method == "per_domain":  # one proxy per domain: MixMin proposes
        from raymix.workflows.proposing import propose_mixmin, summarise_mixmin

        print(summarise_mixmin(propose_mixmin(cfg)))
        return 0
    proposal = propose(cfg)
    if proposal.get("scaling"):
        print(summarise_scaling(proposal["scaling"]))
    print(summarise_proposal(proposal))
    return 0


def _runs_source(args):
    """The sweep config or the runs of the tables, the fit settings, and the target scale."""
    from raymix.config.schema import FitConfig, load_config
    from raymix.runs.long import read_long_runs
    from raymix.runs.wide import read_runs
    from raymix.scaling.nested import parse_at
    from raymix.workflows.proposing import replace_fit

    given = [name for name in ("mixtures", "metrics", "runs", "domains", "target", "id")
             if getattr(args, name) is not None]
    if args.config is not None:
        if given:
            raise UserError(f"--{given[0]}: give either CONFIG or the tables (--mixtures, "
                            "--metrics, --target; or --runs, --target), not both")
        source = load_config(args.config)
        fit_config = source.fit
    elif args.runs is not None:
        for name in ("mixtures", "metrics", "id"):
            if getattr(args, name) is not None:
                raise UserError(f"--{name}: goes with the wide tables; with --runs give the "
                                "long table alone")
        if args.target is None:
            raise UserError("--target: missing; name the metric column of RUNS.csv to minimise")
        domains = args.domains.split(",") if args.domains else None
        source = read_long_runs(args.runs, args.target, domains=domains)
        fit_config = FitConfig()
    else:
        if args.domains is not None:
            raise UserError("--domains: goes with --runs RUNS.csv (the long table)")
        for name in ("mixtures", "metrics", "target"):
            if getattr(args, name) is None:
                raise UserError(f"--{name}: missing; give a sweep CONFIG, or --mixtures "
                                "MIX.csv --metrics MET.csv --target COLUMN, or --runs RUNS.csv "
                                "--target COLUMN")
        source = read_runs(args.mixtures, args.metrics, args.target, id_column=args.id)
        fit_config = FitConfig()
    for note in getattr(source, "notes", []):
        print(f"note: {note}", file=sys.stderr)
    if args.folds is not None and args.folds < 2:
        raise UserError(f"--folds: must be at least 2 (got {args.folds})")
    regressors = None if args.regressor in (None, "auto") else [args.regressor]
    at = parse_at(args.at) if args.at is not None else None
    return source, replace_fit(fit_config, regressors=regressors, cv_folds=args.folds,
                               seed=args.seed), at


def _check_output(path, option: str) -> None:
    """Fail before any work when the output cannot be written (no half-done runs)."""
    from pathlib import Path

    parent = Path(path).expanduser().resolve().parent
    _check_folder(parent, option)
    if not parent.is_dir():
        raise UserError(f"{option}: folder {str(parent)!r} does not exist; create it first")
    if Path(path).is_dir():
        raise UserError(f"{option}: {str(path)!r} is a folder; give a file name")


def _check_folder(path, option: str) -> None:
    """A folder to write into must be one, or be creatable: no file in its way."""
    from pathlib import Path

    folder = Path(path).expanduser().resolve()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"{option}: {str(existing)!r} is a file, so nothing can be written "
                        f"under it; give another path")


def _fit(args) -> int:
    from raymix.workflows.proposing import (
        fit,
        predict,
        summarise_fit,
        summarise_scaling,
    )

    if (args.predict is None) != (args.output is None):
        raise UserError("--output: --predict CANDIDATES.csv and --output PREDICTIONS.csv "
                        "go together")
    if args.output is not None:
        _check_output(args.output, "--output")
    if args.report is not None:
        _check_folder(args.report, "--report")
    source, fit_config, at = _runs_source(args)
    fitted = fit(source, fit_config=fit_config, report=args.report, at=at)
    if fitted.scaling is not None:
        print(summarise_scaling(fitted.scaling.stages_))
    print(summarise_fit(fitted))
    if args.predict is not None:
        path = predict(fitted, args.predict, args.output, id_column=args.id)
        print(f"predictions: {path}")
    if args.report is not None:
        print(f"report: {args.report}/report.md")
    return 0


def _propose(args) -> int:
    from raymix.mixtures.constraints import load_constraints
    from raymix.workflows.proposing import (
        propose,
        summarise_proposal,
        summarise_scaling,
    )

    if args.output is not None:
        _check_output(args.output, "--output")
    if args.report is not None:
        _check_folder(args.report, "--report")
    if args.baseline is not None and args.critical is None:
        raise UserError("--baseline: goes with --critical DOMAIN")
    if args.method == "mixmin":
        return _mixmin(args)
    search = load_constraints(args.constraints) if args.constraints else None
    source, fit_config, at = _runs_source(args)
    if args.config is None and args.output is None:
        what = "critical share's JSON" if args.critical else "PROPOSAL.json"
        raise UserError(f"--output: give the path of the {what} to write")
    if args.critical is not None:
        return _critical(args, source, at)
    proposal = propose(source, search=search, fit_config=fit_config, output=args.output,
                       report=args.report, where="constraints" if search else None, at=at)
    if proposal.get("scaling"):
        print(summarise_scaling(proposal["scaling"]))
    print(summarise_proposal(proposal))
    return 0


def _mixmin(args) -> int:
    from raymix.config.schema import load_config
    from raymix.workflows.proposing import propose_mixmin, summarise_mixmin

    given = [name for name in ("mixtures", "metrics", "runs", "constraints", "critical", "at")
             if getattr(args, name) is not None]
    if args.config is None or given:
        raise UserError(f"--method: mixmin reads the per-domain proxies of a sweep; give its "
                        f"CONFIG{' and not --' + given[0] if given else ''}")
    result = propose_mixmin(load_config(args.config), output=args.output)
    print(summarise_mixmin(result))
    print(f"files: {result['files']['mixmin']}")
    return 0


def _critical(args, source, at) -> int:
    from raymix.config.schema import SweepConfig
    from raymix.workflows.proposing import critical, summarise_critical

    output = args.output
    if output is None and isinstance(source, SweepConfig):
        output = source.storage_path / "critical.json"
    result = critical(source, args.critical, baseline=args.baseline, at=at, output=output)
    print(summarise_critical(result))
    print(f"files: {output}")
    return 0


def _validate(args) -> int:
    from raymix.config.schema import load_config
    from raymix.workflows.validation import run_validation, summarise_validation

    result = run_validation(load_config(args.config))
    print(summarise_validation(result))
    print("files: " + ", ".join(result["files"].values()))
    return 0


def _submit(args) -> int:
    from raymix.cli.submit import stop, submit

    if args.stop is not None:
        if args.config is not None:
            raise UserError("--stop: give a JOB_ID to stop, or a CONFIG to submit, not both")
        return stop(args.stop, address=args.address)
    if args.config is None:
        raise UserError("CONFIG: missing; give the sweep YAML to run as a job (or --stop JOB_ID)")
    return submit(args.config, address=args.address, command=args.job_command,
                  python=args.python, wait=not args.no_wait)


COMMANDS = {"prepare": _prepare, "sweep": _sweep, "fit": _fit, "propose": _propose,
            "validate": _validate, "submit": _submit}


if __name__ == "__main__":
    sys.exit(main())
