"""The ``raymix`` command line: prepare -> sweep -> fit -> propose, one YAML as the source of truth.

    raymix init DIR SOURCE...  a commented DIR/sweep.yaml for your own domains, sized for this
                               machine (or --gpus N) and a time budget (--hours)
    raymix plan CONFIG         what the sweep will cost: runs, FLOPs, memory, GPU-hours, wall
                               time (nothing starts; --json for tools)
    raymix prepare CONFIG      tokenizer + token arrays (cached)
    raymix sweep CONFIG        train one proxy per mixture on Ray Tune, then fit, propose, report
    raymix fit CONFIG          cross-validated quality of each regressor on the sweep's results
    raymix propose CONFIG      the mixture predicted best, with baselines, and the report
    raymix report DIR|CONFIG   (re)write a finished sweep's report/index.html and report.md
                               (no training, no Ray)

    raymix validate CONFIG     train the proposal and baselines at a larger scale, compare
    raymix submit CONFIG --address URL [--command sweep|fit|propose|validate]
                               the same on a Ray cluster, as a job of CONFIG's folder;
                               follows its logs

Every command that reads a CONFIG takes ``--set KEY=VALUE`` (repeatable), and
``compute.storage`` may be an object-storage URI (``s3://bucket/prefix``);
``raymix report s3://bucket/prefix`` reads a sweep from there.

``fit`` and ``propose`` also work on anyone's results, the wide CSV pair of RegMix/Olmix:

    raymix fit --mixtures MIX.csv --metrics MET.csv --target COLUMN [--regressor NAME]
               [--predict TO_PREDICT.csv --output PREDICTIONS.csv] [--report DIR]
    raymix propose --mixtures MIX.csv --metrics MET.csv --target COLUMN
               [--constraints FILE.yaml] --output PROPOSAL.json [--report DIR]

or a long table of checkpoints at several scales, extrapolated to a target scale by the
nested step and size laws of Data Mixing Laws:

    raymix fit --runs RUNS.csv --target COLUMN --at params=P,tokens=T [--domains a,b,c]
    raymix propose --runs RUNS.csv --target COLUMN --at params=P,tokens=T --output PROPOSAL.json

``propose --critical DOMAIN`` answers the continual-pretraining question instead: the
largest share of a new domain that keeps the target (original data) loss at or below
its value before continual pretraining (``--baseline``, or measured by the sweep).

Every command that reads a CONFIG takes ``--set KEY=VALUE`` (repeatable) to change one
of its values for that command: ``raymix sweep demo.yaml --set training.steps=100``.

A user mistake prints one line ``raymix: error: ...`` and exits with status 2, before any
work: numeric options have ranges, no output may be one of the command's inputs, and every
file an output or a report will write is checked first. A report folder keeps a user's
files of the report's names (``index.html``) unless ``--force``. Anything else is a bug: its
traceback, then one line saying where to report it, exit status 1.
"""

from __future__ import annotations

import argparse
import functools
import sys
import traceback
import warnings
from pathlib import Path

from raymix.cli.arguments import (
    MAX_FOLDS,
    MAX_LOSS,
    MAX_SEED,
    MAX_SHARD_TOKENS,
    MAX_TOKENS,
    MAX_WORKERS,
    add_force_argument,
    add_set_argument,
    check_output,
    check_outputs_are_not_inputs,
    check_report,
    error_line,
    number_in,
    parse_at,
    replace_fit,
    report_paths,
    whole_number,
    with_tracking_flags,
)
from raymix.cli.init import add_init_parser, run_init
from raymix.config import WANDB_MODES
from raymix.errors import ConfigNotice, UserError
from raymix.secrets import mask_uri


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other user error
        self.exit(2, f"raymix: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from raymix.version import __version__

    parser = _Parser(prog="raymix", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"raymix {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_init_parser(commands)  # raymix init DIR SOURCE...: a sweep.yaml for your own data

    p = commands.add_parser("plan", help="print what the sweep will cost (runs, FLOPs, memory, "
                                         "GPU-hours, wall time); nothing starts")
    p.add_argument("config", help="sweep YAML")
    add_set_argument(p)
    p.add_argument("--json", action="store_true", help="print the estimate as JSON, for tools")
    p.add_argument("--throughput", metavar="FILE.json",
                   help="measured proxy speed (a result of bench/bench_proxy_speed.py or "
                        "bench/bench_gpu_proxy.py; default: bench/results of raymix's source "
                        "tree, where present)")

    p = commands.add_parser("prepare", help="build the tokenizer and token arrays (cached)")
    p.add_argument("config", help="sweep YAML")
    add_set_argument(p)
    p.add_argument("--export", metavar="DIR",
                   help="also write the tokens as flat .npy shards, the tokenizer and a "
                        "manifest into DIR (a new folder), for a training run of your own")
    p.add_argument("--shard-tokens", type=whole_number(1, MAX_SHARD_TOKENS), default=None,
                   metavar="N",
                   help="tokens per exported shard (default 100,000,000)")

    p = commands.add_parser("tokenize", help="tokenize a large text corpus into .npy token "
                                             "shards, one per input file (with Ray Data)")
    p.add_argument("source", help="a folder, glob or file of .jsonl / .json / .parquet records "
                                  "or text files (one document each)")
    p.add_argument("--tokenizer", required=True, metavar="TOKENIZER.json",
                   help="the tokenizer (it needs an <|endoftext|> token)")
    p.add_argument("--output", required=True, metavar="DIR",
                   help="where the shards and manifest.json go (a re-run keeps those written)")
    p.add_argument("--text-field", default="text", help="the records' text column")
    p.add_argument("--workers", type=whole_number(0, MAX_WORKERS), default=0, metavar="N",
                   help="0: tokenize in this process (default); N: with Ray Data on N workers, "
                        "on the cluster of RAY_ADDRESS or a local one")

    p = commands.add_parser("sweep", help="run (or resume) the sweep, then fit and propose")
    p.add_argument("config", help="sweep YAML")
    add_set_argument(p)
    p.add_argument("--no-propose", action="store_true",
                   help="stop after the sweep's runs and tables (no confirmation round, "
                        "no proposal)")
    p.add_argument("--mlflow", metavar="URI",
                   help="log each proxy run to MLflow at URI (tracking.mlflow.tracking_uri: "
                        "http://host:5000 or sqlite:///runs/mlflow.db)")
    p.add_argument("--mlflow-experiment", metavar="NAME",
                   help="the MLflow experiment (default: the sweep's name)")
    p.add_argument("--wandb", metavar="PROJECT",
                   help="log each proxy run to this Weights & Biases project")
    p.add_argument("--wandb-mode", choices=WANDB_MODES,
                   help="W&B's mode (default: WANDB_MODE, else online)")
    p.add_argument("--tensorboard", action="store_true",
                   help="write TensorBoard event files under <compute.storage>/tensorboard")
    add_force_argument(p)

    p = commands.add_parser("fit", help="cross-validate the regressors on a sweep's or CSV results")
    _add_runs_arguments(p)
    p.add_argument("--predict", metavar="TO_PREDICT.csv",
                   help="predict these mixtures (id column + one column per domain)")
    p.add_argument("--output", metavar="PREDICTIONS.csv", help="where --predict writes")
    p.add_argument("--report", metavar="DIR", help="write a report of the fit into DIR")
    add_force_argument(p)

    p = commands.add_parser("propose", help="propose the mixture predicted best, with a report")
    _add_runs_arguments(p)
    p.add_argument("--constraints", metavar="FILE.yaml",
                   help="bounds, token budget and search method (keys of the config's search:)")
    p.add_argument("--output", metavar="PROPOSAL.json",
                   help="where to write proposal.json (default with CONFIG: the sweep folder)")
    p.add_argument("--report", metavar="DIR",
                   help="report folder (default with CONFIG: report/ in the sweep folder)")
    add_force_argument(p)
    p.add_argument("--method", choices=("regression", "mixmin"), default="regression",
                   help="regression: fit the runs and search (default); mixmin: mix the "
                        "proxies of a 'mixtures.draw: per_domain' sweep (needs CONFIG)")
    p.add_argument("--per-objective", action="store_true",
                   help="also propose one mixture per objective (each target domain, task or "
                        "--target column, and their average; or target.objectives) and show "
                        "what each costs on the others (objectives.json)")
    p.add_argument("--critical", metavar="DOMAIN",
                   help="continual pretraining: the largest share of DOMAIN that keeps the "
                        "target loss at or below --baseline")
    p.add_argument("--baseline", type=number_in(0, MAX_LOSS), metavar="LOSS",
                   help="with --critical: the target loss before continual pretraining "
                        "(default with CONFIG: measured on the starting checkpoint)")

    p = commands.add_parser("report", help="(re)write report/index.html and report.md of a "
                                           "finished sweep (no training, no Ray)")
    p.add_argument("sweep", metavar="DIR|CONFIG", help="the sweep's folder, or its YAML")
    add_set_argument(p)  # with a CONFIG only: a folder's stored config is what its runs used
    add_force_argument(p)

    p = commands.add_parser("validate", help="train the proposal and baselines at a larger "
                                             "scale and compare them with the predictions")
    p.add_argument("config", help="sweep YAML (its validate: section sets the scale)")
    add_set_argument(p)

    from raymix.cli.submit import COMMANDS as JOB_COMMANDS
    from raymix.cli.submit import DEFAULT_ADDRESS

    p = commands.add_parser("submit", help="run sweep/fit/propose/validate on a Ray cluster "
                                           "as a job and follow its logs")
    p.add_argument("config", nargs="?",
                   help="sweep YAML; its folder (or --working-dir) is uploaded with the job")
    p.add_argument("--address", default=DEFAULT_ADDRESS,
                   help=f"the cluster's job server (default {DEFAULT_ADDRESS})")
    p.add_argument("--command", dest="job_command", choices=JOB_COMMANDS, default="sweep",
                   help="what the job runs (default sweep)")
    add_set_argument(p)  # checked here, and passed on to the job's command
    p.add_argument("--working-dir", metavar="DIR",
                   help="the project folder to upload, holding the config (default: the "
                        "config's folder); .git, virtual environments and caches stay behind")
    install = p.add_mutually_exclusive_group()
    install.add_argument("--wheel", metavar="PATH.whl",
                         help="install this raymix wheel on the cluster (it must lie in the "
                              "working dir) instead of raymix==<this version> from pip")
    install.add_argument("--no-install", action="store_true",
                         help="install nothing: the cluster's nodes already have raymix")
    p.add_argument("--shared-storage", action="store_true",
                   help="compute.storage (a local absolute path) is mounted on every node")
    p.add_argument("--python", default="python",
                   help="the python that runs the job on the head (default python: with "
                        "raymix installed by the job, that of Ray's pip environment)")
    p.add_argument("--no-wait", action="store_true", help="submit and return")
    p.add_argument("--stop", metavar="JOB_ID", help="stop a submitted job instead")
    return parser


def _add_runs_arguments(p: argparse.ArgumentParser) -> None:
    """Where the runs come from: a sweep config, or a mixtures + metrics CSV pair."""
    from raymix.config import REGRESSOR_NAMES, SCALING_LAWS

    p.add_argument("config", nargs="?",
                   help="sweep YAML (or give --mixtures/--metrics/--target, or --runs/--target)")
    add_set_argument(p)
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
    p.add_argument("--id", metavar="NAME",
                   help="id column of the CSVs (default: 'run' if there is one, else the first)")
    p.add_argument("--regressor", choices=("auto", *REGRESSOR_NAMES),
                   help="regressor to use (default auto: cross-validate all, keep the best)")
    p.add_argument("--law", choices=SCALING_LAWS,
                   help="with --at: how losses are extrapolated (default auto: the nested step "
                        "and size laws or the joint law L(N, D), chosen by a backtest on the "
                        "runs at a like ratio of extrapolation)")
    p.add_argument("--share-exponents", action="store_true", default=None,
                   help="with --at and the nested laws: one step exponent per size, one size "
                        "exponent for all mixtures (default: chosen by the backtest)")
    p.add_argument("--min-tokens", type=number_in(0, MAX_TOKENS), metavar="D",
                   help="with --at: leave out checkpoints before D tokens (the warm-up)")
    p.add_argument("--folds", type=whole_number(2, MAX_FOLDS),
                   help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=whole_number(0, MAX_SEED),
                   help="seed of the folds and regressors (default 0)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    notices: dict[str, None] = {}  # in order, each once
    with warnings.catch_warnings():
        warnings.simplefilter("always", ConfigNotice)
        warnings.showwarning = functools.partial(_keep_notice, notices)
        try:
            status = COMMANDS[args.command](args)
        except UserError as exc:
            # a refusal is one line: the notices come with the run that gets past it
            print(f"raymix: error: {mask_uri(error_line(exc, args))}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            _print_notices(notices)
            print("raymix: interrupted; run the same command again to resume", file=sys.stderr)
            return 130
        except Exception:  # a bug, not a user's mistake: its traceback, and where to send it
            traceback.print_exc()
            print(bug_line(), file=sys.stderr)
            return 1
    _print_notices(notices)
    return status


def bug_line() -> str:
    """The line under an unexpected exception's traceback: it is a bug; where to report it
    (the package's issue tracker, from its metadata, where it names one)."""
    from raymix.version import __version__

    where = "to raymix's maintainers"
    try:
        from importlib.metadata import PackageNotFoundError, metadata

        urls = metadata("raymix").get_all("Project-URL") or []
    except (ImportError, PackageNotFoundError):
        urls = []
    for entry in urls:  # "Issues, https://github.com/..."
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("issues", "bug tracker", "tracker", "bugs"):
            where = f"at {url.strip()}"
    return (f"raymix: this is a bug in raymix {__version__}; please report it with the "
            f"command and the traceback above {where}")


_python_showwarning = warnings.showwarning


def _keep_notice(notices: dict[str, None], message, category, filename, lineno, file=None,
                 line=None) -> None:
    """A notice (a config key that moved) is kept for the end of the command (a refused
    command prints only its error line); other warnings are shown as Python shows them."""
    if issubclass(category, ConfigNotice):
        notices[str(message)] = None
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


def _print_notices(notices: dict[str, None]) -> None:
    for message in notices:
        print(f"raymix: note: {message}", file=sys.stderr)


def _plan(args) -> int:
    from raymix.cli.summaries import json_text, summarise_cost
    from raymix.config import load_config
    from raymix.workflows.costing import cost_preview

    preview = cost_preview(load_config(args.config, args.overrides), throughput=args.throughput)
    if args.json:  # JSON a tool can read: no NaN or Infinity (null instead)
        print(json_text(preview.to_dict()))
    else:
        print(summarise_cost(preview.to_dict()))
    if preview.refusal is not None:  # what the sweep would refuse: one line, exit 2
        raise preview.refusal
    return 0


def _prepare(args) -> int:
    from raymix.config import load_config
    from raymix.data import prepare

    cfg = load_config(args.config, args.overrides)
    if args.export is not None:  # refused before any work
        export = Path(args.export).expanduser()
        if export.exists() or export.is_symlink():
            raise UserError(f"--export: {str(export)!r} exists; give a new folder (an export "
                            "never writes into or over one)")
        check_output(export, "--export")
    prepared = prepare(cfg)
    print(f"prepared tokens in {prepared.path}")
    if args.export is not None:
        prepared.export(export, **({} if args.shard_tokens is None
                                   else {"shard_tokens": args.shard_tokens}))
        print(f"exported the tokens as .npy shards, with tokenizer.json and manifest.json, to "
              f"{export}")
    return 0


def _tokenize(args) -> int:
    from raymix.data.tokenize_shards import MANIFEST, plan_tokenize
    from raymix.sweep.cluster import ray_session

    job = plan_tokenize(args.source, args.tokenizer, args.output, text_field=args.text_field)
    shards = [row["shard"] for row in job.rows]
    check_outputs_are_not_inputs(  # a shard or the manifest written over a text file read
        {"--output": [*shards, Path(job.output) / MANIFEST]},
        {"--tokenizer": args.tokenizer,
         **{f"SOURCE {Path(row['input']).name}": row["input"] for row in job.rows}})
    if args.workers:
        with ray_session(None, args.workers):
            job.run(args.workers)
    else:
        job.run()
    return 0


def _sweep(args) -> int:
    from raymix.config import load_config
    from raymix.workflows.sweeping import sweep_and_propose

    cfg = with_tracking_flags(load_config(args.config, args.overrides), args)
    outcome = sweep_and_propose(cfg, propose=not args.no_propose, force=args.force)
    if outcome.proposal is None:  # --no-propose
        return 0
    if cfg.mixtures.draw == "per_domain":
        return _show_mixmin(outcome.proposal)
    return _show_proposal(outcome.proposal)


def _runs_source(args):
    """The sweep config or the runs of the tables, the fit settings, and the target scale."""
    from raymix.config import FitConfig, load_config
    from raymix.runs import read_long_runs, read_runs

    given = [name for name in ("mixtures", "metrics", "runs", "domains", "target", "id")
             if getattr(args, name) is not None]
    if args.config is None and args.overrides:
        raise UserError("--set: goes with a CONFIG; the tables have no config values to set")
    if args.config is not None:
        if given:
            raise UserError(f"--{given[0]}: give either CONFIG or the tables (--mixtures, "
                            "--metrics, --target; or --runs, --target), not both")
        source = load_config(args.config, args.overrides)
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
    for note in getattr(source, "notes", []):  # printed once the command gets past refusals
        warnings.warn(note, ConfigNotice, stacklevel=2)
    regressors = None if args.regressor in (None, "auto") else [args.regressor]
    at = parse_at(args.at) if args.at is not None else None
    return source, replace_fit(fit_config, regressors=regressors, cv_folds=args.folds,
                               seed=args.seed, law=args.law,
                               share_exponents=args.share_exponents,
                               min_tokens=args.min_tokens), at


def _fit(args) -> int:
    from raymix.cli.summaries import summarise_fit, summarise_scaling
    from raymix.workflows.fitting import fit, predict

    if (args.predict is None) != (args.output is None):
        raise UserError("--output: --predict TO_PREDICT.csv and --output PREDICTIONS.csv "
                        "go together")
    if args.output is not None:
        check_output(args.output, "--output")
    if args.report is not None:
        check_report(args.report, args.force)
    source, fit_config, at = _runs_source(args)
    _check_not_inputs(args, source)
    if args.predict is not None:  # a bad file of mixtures to predict: refused before the fit
        from raymix.runs import read_mixtures_to_predict

        domains = source.mixture_columns if hasattr(source, "mixture_columns") \
            else source.domains
        read_mixtures_to_predict(args.predict, domains, args.id)
    fitted = fit(source, fit_config=fit_config, report=args.report, at=at, force=args.force)
    if fitted.scaling is not None:
        print(summarise_scaling(fitted.scaling.stages_))
    print(summarise_fit(fitted))
    if args.predict is not None:
        predict(fitted, args.predict, args.output, id_column=args.id)
        print(f"predictions: {args.output}")
    if args.report is not None:
        print(f"report: {args.report}/report.md")
    return 0


def _propose(args) -> int:
    from raymix.config import SweepConfig, load_constraints

    if args.per_objective and (args.method == "mixmin" or args.critical is not None):
        raise UserError("--per-objective: goes with the fitted proposal, not with --critical "
                        "or --method mixmin")
    if args.output is not None:
        check_output(args.output, "--output")
    if args.report is not None:
        check_report(args.report, args.force)
    if args.baseline is not None and args.critical is None:
        raise UserError("--baseline: goes with --critical DOMAIN")
    if args.method == "mixmin":
        return _mixmin(args)
    search = load_constraints(args.constraints) if args.constraints else None
    source, fit_config, at = _runs_source(args)
    _check_not_inputs(args, source)
    if args.config is None and args.output is None:
        what = "critical share's JSON" if args.critical else "PROPOSAL.json"
        raise UserError(f"--output: give the path of the {what} to write")
    if args.critical is not None:
        return _critical(args, source, at)
    per_objective = args.per_objective or (isinstance(source, SweepConfig)
                                           and source.target.objectives is not None)
    return _print_proposal(source, search, fit_config, at, args.output, args.report,
                           per_objective=per_objective, targets=args.target, force=args.force)


def _check_not_inputs(args, source=None) -> None:
    """Refuse an output of ``fit`` or ``propose`` (``--output``, each file of ``--report``,
    ``objectives.json`` beside the output) that is one of its inputs: a table, the
    candidates, the constraints, the CONFIG or its sweep's stored files."""
    from raymix.config import SweepConfig
    from raymix.proposal.objectives import OBJECTIVES_FILE
    from raymix.runs import SweepLayout
    from raymix.storage import is_uri

    inputs = {f"--{name}": getattr(args, name, None)
              for name in ("mixtures", "metrics", "runs", "predict", "constraints")}
    inputs["CONFIG"] = args.config
    if isinstance(source, SweepConfig) and not is_uri(str(source.storage_location)):
        layout = SweepLayout(source.storage_path)
        inputs.update({f"the sweep's {p.name}": p for p in (
            layout.config, layout.mixtures, layout.metrics, layout.runs_csv,
            layout.runs_parquet, layout.data_info, layout.confirmation)})
    output = getattr(args, "output", None)
    outputs = [output]
    if output is not None and getattr(args, "per_objective", False):
        outputs.append(Path(output).expanduser().parent / OBJECTIVES_FILE)
    check_outputs_are_not_inputs({"--output": outputs, "--report": report_paths(args.report)},
                                 inputs)


def _print_proposal(source, search, fit_config, at, output, report, *,
                    per_objective: bool = False, targets=None, force: bool = False) -> int:
    """Propose (a sweep's files go to its folder unless given) and print the summary;
    with ``per_objective``, one proposal per objective and their trade-off too (the
    objectives of tables: each ``--target`` column and their weighted average)."""
    from raymix.config import SweepConfig
    from raymix.runs import SweepLayout
    from raymix.workflows.proposing import propose, propose_per_objective

    if isinstance(source, SweepConfig):
        layout = SweepLayout(source.storage_path)
        output, report = output or layout.proposal, report or layout.report
    if per_objective:
        if at is not None:
            raise UserError("--per-objective: proposes at the proxies' scale; leave out --at")
        objectives = None if isinstance(source, SweepConfig) else _table_objectives(source,
                                                                                    targets)
        return _show_proposal(propose_per_objective(
            source, objectives, search=search, fit_config=fit_config, output=output,
            report=report, force=force))
    return _show_proposal(propose(source, search=search, fit_config=fit_config, at=at,
                                  output=output, report=report, force=force))


def _show_proposal(result) -> int:
    """Print a :class:`~raymix.Proposal`'s summary, or an
    :class:`~raymix.ObjectiveProposals`' (its usual proposal, then the trade-off)."""
    from raymix.cli.summaries import summarise_objectives, summarise_proposal, summarise_scaling
    from raymix.proposal.objectives import ObjectiveProposals

    if isinstance(result, ObjectiveProposals):
        print(summarise_proposal(result.usual))
        print(summarise_objectives(result.to_dict(), result.files))
        return 0
    if result.scaling is not None:
        print(summarise_scaling(result.scaling.stages_))
    print(summarise_proposal(result))
    return 0


def _table_objectives(source, targets) -> dict[str, dict[str, float]]:
    """The objectives of runs from tables: each ``--target`` column alone, and the
    weighted average (the usual target)."""
    from raymix.proposal.objectives import default_objectives
    from raymix.runs import LongRuns, parse_targets
    from raymix.runs.tables import resolve_target

    if isinstance(source, LongRuns):
        raise UserError("--per-objective: needs the wide tables (--mixtures, --metrics), "
                        "whose metrics hold each objective")
    weights = {resolve_target(c, source.metrics, "--metrics"): w
               for c, w in parse_targets(targets).items()}
    return default_objectives(weights, field="targets")


def _mixmin(args) -> int:
    from raymix.config import load_config

    given = [name for name in ("mixtures", "metrics", "runs", "constraints", "critical", "at")
             if getattr(args, name) is not None]
    if args.config is None or given:
        raise UserError(f"--method: mixmin reads the per-domain proxies of a sweep; give its "
                        f"CONFIG{' and not --' + given[0] if given else ''}")
    cfg = load_config(args.config, args.overrides)
    _check_not_inputs(args, cfg)
    return _print_mixmin(cfg, args.output)


def _print_mixmin(cfg, output) -> int:
    from raymix.runs import SweepLayout
    from raymix.workflows.proposing import propose_mixmin

    return _show_mixmin(propose_mixmin(cfg, output=output
                                       or SweepLayout(cfg.storage_path).mixmin))


def _show_mixmin(result) -> int:
    """Print MixMin's proposal (:func:`raymix.workflows.proposing.propose_mixmin`)."""
    from raymix.cli.summaries import summarise_mixmin

    print(summarise_mixmin(result))
    print(f"files: {result.files['mixmin']}")
    return 0


def _critical(args, source, at) -> int:
    from raymix.cli.summaries import summarise_critical
    from raymix.config import SweepConfig
    from raymix.runs import SweepLayout
    from raymix.workflows.continual import critical

    output = args.output
    if output is None and isinstance(source, SweepConfig):
        output = SweepLayout(source.storage_path).critical
    answer = critical(source, args.critical, baseline=args.baseline, at=at, output=output)
    print(summarise_critical(answer.to_dict()))
    print(f"files: {output}")
    return 0


def _report(args) -> int:
    from raymix.workflows.reporting import load_sweep, report

    page = report(load_sweep(args.sweep, args.overrides), force=args.force)
    print(f"report: {page} (and report.md beside it)")
    return 0


def _validate(args) -> int:
    from raymix.config import load_config
    from raymix.report.markdown import validation_markdown
    from raymix.workflows.validation import run_validation

    result = run_validation(load_config(args.config, args.overrides))
    print(validation_markdown(result))
    print("files: " + ", ".join(result.files.values()))
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
                  overrides=args.overrides, working_dir=args.working_dir, wheel=args.wheel,
                  install=not args.no_install, shared_storage=args.shared_storage,
                  python=args.python, wait=not args.no_wait)


COMMANDS = {"init": run_init,
            "plan": _plan, "prepare": _prepare, "tokenize": _tokenize, "sweep": _sweep,
            "fit": _fit, "propose": _propose, "report": _report, "validate": _validate,
            "submit": _submit}


if __name__ == "__main__":
    sys.exit(main())
