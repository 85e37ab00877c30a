"""The ``raymix`` command line: prepare -> sweep -> fit -> propose, one YAML as the source of truth.

    raymix prepare CONFIG      tokenizer + token arrays (cached)
    raymix sweep CONFIG        train one proxy per mixture on Ray Tune, then fit, propose, report
    raymix fit CONFIG          cross-validated quality of each regressor on the sweep's results
    raymix propose CONFIG      the mixture predicted best, with baselines, and the report

A user mistake prints one line ``raymix: error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
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

    p = commands.add_parser("fit", help="cross-validate the regressors on a sweep's results")
    p.add_argument("config", help="sweep YAML")

    p = commands.add_parser("propose", help="propose the mixture predicted best, with a report")
    p.add_argument("config", help="sweep YAML")
    p.add_argument("--output", help="where to write proposal.json (default: the sweep folder)")
    return parser


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
    from raymix.config import load_config
    from raymix.prepare import prepare

    prepared = prepare(load_config(args.config))
    print(f"prepared tokens in {prepared.path}")
    return 0


def _sweep(args) -> int:
    from raymix.config import load_config
    from raymix.sweep import run_sweep

    cfg = load_config(args.config)
    result = run_sweep(cfg)
    print(f"[sweep] {result.stored} runs stored ({result.failed} failed), "
          f"{result.trained_now} trained by this command")
    if args.no_propose:
        return 0
    from raymix.workflow import propose, summarise_proposal

    proposal = propose(cfg)
    print(summarise_proposal(proposal))
    return 0


def _fit(args) -> int:
    from raymix.config import load_config
    from raymix.workflow import fit

    for r in fit(load_config(args.config)):
        print(f"{r.name:10s} cv_spearman={r.spearman:.4f} cv_pearson={r.pearson:.4f} "
              f"cv_mae={r.mae:.5f} cv_r2={r.r2:.4f}")
    return 0


def _propose(args) -> int:
    from raymix.config import load_config
    from raymix.workflow import propose, summarise_proposal

    proposal = propose(load_config(args.config), output=args.output)
    print(summarise_proposal(proposal))
    return 0


COMMANDS = {"prepare": _prepare, "sweep": _sweep, "fit": _fit, "propose": _propose}


if __name__ == "__main__":
    sys.exit(main())
