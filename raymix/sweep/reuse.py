"""A sweep that keeps an earlier sweep's runs when the domains changed (``mixtures.reuse``).

:func:`check_reuse` runs before anything is written: it reads the earlier sweep
(``config.yaml``, ``data.json``, ``results/``), refuses one whose runs measured
something else (another model, training or target, another tokenizer, a kept domain
whose tokens changed), and maps its runs onto this config's domains
(:mod:`raymix.runs.reuse`). :func:`store_reused` then writes them into this sweep's
``results/`` as ``reused-<old run id>`` (each marked with ``reused_from``), before any
new run trains; a re-run writes only what is missing. The new proxies are drawn around
:func:`~raymix.mixtures.reuse.focused_prior`, and fit, confirmation, proposal and report
read the reused runs like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from raymix.config import SweepConfig
from raymix.console import print_line
from raymix.data import PreparedData
from raymix.errors import UserError
from raymix.mixtures.reuse import focused_prior
from raymix.runs import ResultStore, SweepLayout
from raymix.runs.reuse import DomainMap, Reused, domain_map, reuse_records
from raymix.runs.store import read_stored_json
from raymix.secrets import mask_uri
from raymix.storage import local_folder
from raymix.sweep.experiment import NEUTRAL_KEYS, first_difference, read_stored_config

FIELD = "mixtures.reuse.storage"
# what the reused runs must share with this sweep's for their losses to compare; their
# seeds may differ (training.seed)
SAME_SECTIONS = ("model", "training", "target")
FREE_KEYS = NEUTRAL_KEYS | {("training", "seed")}


@dataclass
class ReusePlan:
    """The earlier sweep's runs as this sweep's, and the prior the new proxies are
    drawn around.

    Attributes
    ----------
    location : str
        The earlier sweep (``mixtures.reuse.storage``, resolved).
    domains : DomainMap
        Where each old domain's weight went.
    reused : Reused
        The mapped runs, and how many were left out.
    prior : dict of str to float
        The token prior with the new and split domains focused
        (``mixtures.reuse.focus``).
    """

    location: str
    domains: DomainMap
    reused: Reused
    prior: dict[str, float]


def check_reuse(cfg: SweepConfig, prepared: PreparedData) -> ReusePlan | None:
    """Read and check the earlier sweep, and map its runs; None without
    ``mixtures.reuse``, or when the earlier sweep is gone but this one already stored its
    runs (it has a plan). Writes nothing.

    Raises
    ------
    UserError
        No sweep at ``mixtures.reuse.storage``; a model, training or target setting of
        its runs that differs (naming the field); another tokenizer (``data.tokenizer``);
        a kept domain with other tokens (``data.domains[i]``); a split of a domain its
        runs did not train on; no run left to reuse.
    """
    reuse, location = cfg.mixtures.reuse, cfg.reuse_location
    if reuse is None:
        return None
    layout = SweepLayout(local_folder(location))
    location = mask_uri(location)  # as shown and recorded: never a URI's secret
    if not (layout.config.is_file() and layout.data_info.is_file()):
        if SweepLayout(cfg.storage_path).plan.is_file():
            # a re-run after the earlier sweep moved: its runs were stored before the plan
            return None
        raise UserError(f"{location} holds no sweep's runs (no config.yaml and data.json); "
                        "give the earlier sweep's compute.storage", field=FIELD)
    differs = first_difference(read_stored_config(layout), cfg, SAME_SECTIONS, FREE_KEYS)
    if differs:
        section, key, before, value = differs
        raise UserError(f"{location}'s runs were made with {section}.{key} = {before!r}, "
                        f"not {value!r}; reused runs must share the model, training and "
                        f"target: set {section}.{key} to {before!r}, or drop mixtures.reuse",
                        field=f"{section}.{key}")
    info = ResultStore(layout.root).data_info()
    _check_tokenizer(cfg, prepared, info.prepared, location)
    old = list(info.train_tokens)
    for name, parts in (reuse.split or {}).items():
        if name not in old:
            raise UserError(f"{location}'s runs have no domain {name!r} (they have "
                            f"{', '.join(old)}); split one of those",
                            field=f"mixtures.reuse.split.{name}")
        for part in parts:  # an old domain kept as itself cannot take another's weight too
            if part != name and part in old and part not in reuse.split:
                raise UserError(f"{part!r} is a domain of {location}'s runs too; give the "
                                "part a new name, or split that domain as well",
                                field=f"mixtures.reuse.split.{name}")
    dmap = domain_map(old, cfg.domain_names, reuse.split)
    tokens = prepared.train_tokens
    for i, d in enumerate(cfg.data.domains):
        if dmap.parts.get(d.name) == [d.name] and tokens[d.name] != info.train_tokens[d.name]:
            raise UserError(f"domain {d.name!r} holds {tokens[d.name]:,} training tokens here "
                            f"and {info.train_tokens[d.name]:,} in {location}'s runs: its "
                            "texts or their settings changed; give it its old texts, or a "
                            "new name (a new domain)", field=f"data.domains[{i}]")
    reused = reuse_records(list(ResultStore(layout.root).load_all().values()), dmap, tokens,
                           source=location, max_dropped=reuse.max_dropped_weight)
    if not reused.records:
        raise UserError(f"{location} holds no run to reuse ({reused.left_out} with more than "
                        f"{reuse.max_dropped_weight:g} of their weight on dropped domains "
                        f"{', '.join(dmap.dropped) or '-'}); raise "
                        "mixtures.reuse.max_dropped_weight, or sweep without mixtures.reuse",
                        field="mixtures.reuse.max_dropped_weight")
    prior = focused_prior(prepared.prior, dmap.changed, reuse.focus)
    return ReusePlan(location, dmap, reused, prior)


def store_reused(cfg: SweepConfig, plan: ReusePlan, *, log=print_line) -> int:
    """Write the reused runs into this sweep's ``results/``, those not there yet; returns
    how many were written. Call after :func:`~raymix.sweep.experiment.start_experiment`."""
    store = ResultStore(cfg.storage_path)
    written = 0
    for record in plan.reused.records:
        if not store.layout.record(record.run_id).is_file():
            store.write(record)
            written += 1
    d, r = plan.domains, plan.reused
    changes = [f"{len(d.new)} new ({', '.join(d.new)})" if d.new else "",
               f"{len(d.dropped)} dropped ({', '.join(d.dropped)})" if d.dropped else "",
               *(f"{old} -> {'+'.join(parts)}" for old, parts in d.parts.items()
                 if parts != [old])]
    left = (f", {r.left_out} left out (over {cfg.mixtures.reuse.max_dropped_weight:g} of "
            "their weight on dropped domains)" if r.left_out else "")
    log(f"[sweep] reusing {len(r.records)} runs of {plan.location}{left}; domains: "
        f"{'; '.join(c for c in changes if c) or 'unchanged'}; {written} stored now")
    return written


def _check_tokenizer(cfg: SweepConfig, prepared: PreparedData, old_prepared: str,
                     location: str) -> None:
    """Refuse a tokenizer other than the one the earlier sweep's runs used (their losses
    are per token): the two prepared folders' tokenizer hashes must agree."""
    old = cfg.cache_path / old_prepared
    manifest = old / "manifest.json"
    if not manifest.is_file():
        raise UserError(f"cannot tell which tokenizer {location}'s runs used: their prepared "
                        f"data {old_prepared} is not in {cfg.cache_path}; prepare the earlier "
                        "sweep's config with this data.cache_dir first ('raymix prepare')",
                        field="data.tokenizer")
    data = read_stored_json(manifest, "prepare the earlier sweep's config again")
    before = data.get("tokenizer_sha256") if isinstance(data, dict) else None
    if before is None or before != prepared.manifest.get("tokenizer_sha256"):
        raise UserError(f"{location}'s runs used another tokenizer (a BPE trained here "
                        "changes with the domains); set data.tokenizer.path to theirs: "
                        f"{old / 'tokenizer.json'}", field="data.tokenizer.path")
