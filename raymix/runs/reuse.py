"""An earlier sweep's runs mapped onto changed domains (``mixtures.reuse``).

A team adds a domain, splits one in two, renames or drops one. The old runs still
measured real mixtures; :func:`domain_map` says where each old domain's weight goes, and
:func:`reuse_records` rewrites the old records as runs of the new sweep:

- a domain that is new here gets weight 0 (the old runs never saw it);
- a split domain's weight goes to its parts by their share of the prepared training
  tokens (a rename is a split into one part);
- a dropped domain (in the old runs, not here) cannot be moved anywhere honestly: a run
  with at most ``max_dropped`` of its weight there is kept, the rest renormalised over
  the domains that remain; a run with more is left out, and counted.

Pure functions of records and token counts: reading the old sweep and its checks are in
:mod:`raymix.sweep.reuse`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from raymix.config import BASE_SCALE
from raymix.runs.record import RunRecord

REUSED_PREFIX = "reused-"  # a reused run's id in the new sweep: reused-<its old run id>


@dataclass(frozen=True)
class DomainMap:
    """Where each old domain's weight goes.

    Attributes
    ----------
    parts : dict of str to list of str
        Old domain -> the new domains it becomes: itself when kept, its parts when split
        or renamed. Dropped domains are not in it.
    new : list of str
        New domains no old run trained on (weight 0 in every old run).
    dropped : list of str
        Old domains with no place here.
    """

    parts: dict[str, list[str]]
    new: list[str]
    dropped: list[str]

    @property
    def changed(self) -> list[str]:
        """The new domains and the parts of every domain split in two or more: where new
        proxies tell the fit something the old runs cannot."""
        split = [p for parts in self.parts.values() if len(parts) > 1 for p in parts]
        return [*self.new, *split]


def domain_map(old: list[str], new: list[str],
               split: Mapping[str, list[str]] | None = None) -> DomainMap:
    """The map from the old sweep's domains to ``new``, with ``split`` (old -> parts).

    Parameters
    ----------
    old, new : list of str
        The old sweep's domains and this config's, in order.
    split : dict of str to list of str, optional
        An old domain's parts here (``mixtures.reuse.split``; one part: a rename). An
        old domain not in it keeps its name where ``new`` still has it.
    """
    split = dict(split or {})
    parts: dict[str, list[str]] = {}
    for domain in old:
        if domain in split:
            parts[domain] = list(split[domain])
        elif domain in new:
            parts[domain] = [domain]
    placed = {p for ps in parts.values() for p in ps}
    return DomainMap(parts=parts, new=[d for d in new if d not in placed],
                     dropped=[d for d in old if d not in parts])


@dataclass
class Reused:
    """The old runs as runs of the new sweep, and the count of those left out.

    Attributes
    ----------
    records : list of RunRecord
        The kept runs, as the new sweep stores them (``reused-<old run id>``).
    left_out : int
        Old runs with more than ``max_dropped`` of their weight on dropped domains.
    others : int
        Old records not reused at all: failed, or of another size than the base.
    """

    records: list[RunRecord]
    left_out: int = 0
    others: int = 0


def mapped_mixture(mixture: Mapping[str, float], dmap: DomainMap,
                   tokens: Mapping[str, int]) -> tuple[dict[str, float], float]:
    """An old run's mixture over the new domains, and its weight on dropped domains.

    A split domain's weight goes to its parts in proportion to ``tokens`` (each new
    domain's prepared training tokens). The mixture is renormalised over what remains;
    weights that come out 0 are left out, as in a record.
    """
    out: dict[str, float] = {}
    dropped = 0.0
    for domain, weight in mixture.items():
        parts = dmap.parts.get(domain)
        if parts is None:
            dropped += weight
            continue
        total = sum(tokens[p] for p in parts) if len(parts) > 1 else 0
        for p in parts:
            share = tokens[p] / total if total else 1 / len(parts)
            out[p] = out.get(p, 0.0) + weight * share
    kept = sum(out.values())
    return {d: w / kept for d, w in out.items() if w > 0}, dropped


def reuse_records(records: list[RunRecord], dmap: DomainMap, tokens: Mapping[str, int], *,
                  source: str, max_dropped: float) -> Reused:
    """The old sweep's successful base-size runs as runs of the new sweep.

    Parameters
    ----------
    records : list of RunRecord
        The old sweep's stored records.
    dmap : DomainMap
    tokens : dict of str to int
        Each new domain's prepared training tokens (a split's shares).
    source : str
        The old sweep's location, recorded in each run's ``reused_from``.
    max_dropped : float
        The most weight a kept run may have had on dropped domains.

    Returns
    -------
    Reused
        Each kept run with its mapped mixture, losses of validation sets that are not
        this sweep's left out (a dropped or split domain's), id ``reused-<old id>``.
    """
    usable = [r for r in records if r.ok and r.scale == BASE_SCALE]
    kept, left_out = [], 0
    # validation sets that are not this sweep's: a dropped domain's, a split one's
    gone = {d for d, parts in dmap.parts.items() if parts != [d]} | set(dmap.dropped)
    for record in sorted(usable, key=lambda r: r.run_id):
        mixture, dropped = mapped_mixture(record.mixture, dmap, tokens)
        if dropped > max_dropped or not mixture:
            left_out += 1
            continue
        evaluations = [dataclasses.replace(ev, losses={k: v for k, v in ev.losses.items()
                                                       if k not in gone})
                       for ev in record.evaluations]
        initial = record.initial_losses
        kept.append(dataclasses.replace(
            record, run_id=REUSED_PREFIX + record.run_id, mixture=mixture,
            evaluations=evaluations, reused_from=f"{source}:{record.run_id}",
            initial_losses=None if initial is None else
            {k: v for k, v in initial.items() if k not in gone}))
    return Reused(kept, left_out, len(records) - len(usable))
