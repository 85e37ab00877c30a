"""``raymix init DIR SOURCE...``: a commented sweep config for data of your own.

A new user has a few folders or files, one per domain, and wants a sweep without reading
the whole schema. :func:`init_sweep` writes ``DIR/sweep.yaml`` from them, in five steps:

1. **check the arguments and DIR** (a number out of bounds, a DIR that cannot hold the
   config or already has one) before anything is read;
2. **name and read the sources** with raymix's own readers and checks
   (:func:`raymix.data.sources.check_sources`, :func:`~raymix.data.sources.read_documents`,
   :func:`~raymix.data.shards.read_token_source`): a source a sweep could not read is
   refused with the line the config would give. Token shards are counted exactly; text
   is read as a sweep reads it (up to ``data.max_text_bytes``) and its tokens are an
   estimate from its bytes (:data:`BYTES_PER_TOKEN`);
3. **size the sweep**: each proxy shape of a small ladder (:data:`LADDER`) at a few
   numbers of mixtures (:func:`mixture_counts`) is priced with ``raymix plan``'s cost
   model (:func:`raymix.workflows.costing.cost_preview`), and the largest sweep (the most
   training FLOPs) whose wall time fits the budget is kept (:func:`size_sweep`);
4. **write the YAML** with comments that say what each section means and where its
   numbers came from, the candidates' prices included (:func:`render`); it is parsed
   back as ``load_config`` would read it before anything is written;
5. create DIR if missing and write ``sweep.yaml``, never over an existing one.

Nothing is written when an input is bad. Paths in the YAML work from DIR: relative to it
when the data lies under it, else absolute.
"""

from __future__ import annotations

import math
import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from raymix.config import SweepConfig, parse_config
from raymix.config.checks import NAME_PATTERN, NAME_RULE
from raymix.config.schema import TOKEN_DTYPES, DataConfig, shown
from raymix.data.shards import (
    TokenSource,
    check_vocabulary,
    is_token_source,
    read_token_source,
)
from raymix.data.sources import check_sources, read_documents
from raymix.errors import ConfigError, UserError
from raymix.files import atomic_write_text, folder_problem
from raymix.version import __version__
from raymix.workflows.costing import SWEEP, cost_preview

CONFIG_NAME = "sweep.yaml"
WIDTH = 92  # the written YAML's comments and sections wrap at this many characters
VOCAB_SIZE = 4096  # the byte-level BPE a sweep trains when no tokenizer is given
# A text domain's tokens are estimated as its bytes / BYTES_PER_TOKEN: a 4,096-token
# byte-level BPE trained on the standard library's code, docstrings and language
# reference averaged 3.5 to 3.8 bytes a token on each of them
BYTES_PER_TOKEN = 3.5
DEFAULT_HOURS = 1.0  # the wall-time budget of raymix sweep when --hours is not given
# RegMix (Liu et al. 2025): more proxies than about 7x the domains; its own sweep trained
# 512 for 17 domains (30 per domain), so the ladder of counts stops at 4x the minimum
PROXIES_PER_DOMAIN = 7
COUNT_STEPS = (1, 2, 4)  # the numbers of mixtures priced: these multiples of the minimum
# a shape is left out when one run needs more than this many epochs of the data at the
# token prior (Muennighoff et al. 2023: up to about 4 epochs is as good as new data)
MAX_EPOCHS = 4
REPEATS = 4  # mixtures trained again with another seed: the fit's noise floor
# with no measured CPU speed (raymix installed outside its source tree): an assumed rate
# per CPU, about what one core reached in bench/results/proxy_speed.json (33 GFLOP/s)
ASSUMED_CPU_FLOPS = 30e9


# ----------------------------------------------------------------------------- the ladder


@dataclass(frozen=True)
class Rung:
    """One proxy shape of the ladder, with the schedule it trains on.

    Each rung has about 10 to 20 times the training FLOPs of the one below. Every rung
    uses the demo's schedule (``jobs/configs/demo.yaml``): a warm-up over half the run
    and a decay to 0, which cut the seed-to-seed noise of the final loss about 3x.
    """

    name: str
    layers: int
    hidden: int
    heads: int
    intermediate: int
    seq_len: int
    batch_size: int
    steps: int
    lr: float
    eval_tokens: int
    gpus_per_trial: float  # on a GPU cluster: small proxies are packed 4 to a GPU

    @property
    def tokens_per_run(self) -> int:
        return self.steps * self.batch_size * self.seq_len

    @property
    def shape(self) -> str:
        return f"{self.layers} x {self.hidden}/{self.intermediate}, {self.seq_len}"

    def model(self) -> dict[str, int]:
        return {"layers": self.layers, "hidden": self.hidden, "heads": self.heads,
                "intermediate": self.intermediate, "seq_len": self.seq_len}

    def training(self) -> dict[str, Any]:
        return {"steps": self.steps, "batch_size": self.batch_size, "lr": self.lr,
                "warmup_steps": self.steps // 2, "min_lr_ratio": 0.0,
                "eval_every": self.steps // 3, "eval_tokens": self.eval_tokens}


# steps are multiples of 3: three evaluations a run, a third of the way apart
LADDER = (
    Rung("xs", 2, 64, 4, 256, 128, 4, 480, 3e-3, 8_192, 0.25),  # the demo's proxy
    Rung("s", 2, 128, 4, 512, 256, 8, 960, 3e-3, 16_384, 0.25),
    Rung("m", 4, 256, 8, 1_024, 512, 16, 1_920, 2e-3, 32_768, 0.25),
    Rung("l", 8, 512, 8, 2_048, 1_024, 32, 3_840, 1e-3, 65_536, 1.0),
    Rung("xl", 12, 768, 12, 3_072, 2_048, 64, 4_800, 6e-4, 131_072, 1.0),
)


def mixture_counts(domains: int) -> list[int]:
    """The numbers of mixtures priced: RegMix's minimum (more than 7 per domain, rounded
    up to a multiple of 8) and :data:`COUNT_STEPS` multiples of it."""
    least = 8 * math.ceil((PROXIES_PER_DOMAIN * domains + 1) / 8)
    return [step * least for step in COUNT_STEPS]


# ----------------------------------------------------------------------------- the machine


@dataclass(frozen=True)
class Machine:
    """Where the sweep will run, and for how long.

    Attributes
    ----------
    cpus : int
        CPUs for the trials (on a CPU sweep: the local cluster's ``compute.num_cpus``).
    gpus : int or None
        GPUs of the cluster; None for a CPU sweep.
    gpu_memory_gb : float or None
        Memory of one GPU (``compute.gpu_memory_gb``); None: not checked.
    hours : float
        The wall-time budget of ``raymix sweep``.
    found : str
        What was found or given, for the comments.
    """

    cpus: int
    gpus: int | None
    gpu_memory_gb: float | None
    hours: float
    found: str
    cpus_given: bool = False

    @property
    def devices(self) -> int:
        """Devices that train at once: the GPUs, or one CPU per trial."""
        return self.gpus if self.gpus else self.cpus

    def label(self) -> str:
        if self.gpus:
            memory = f" of {self.gpu_memory_gb:g} GB" if self.gpu_memory_gb else ""
            return f"{self.gpus} GPU{'s' * (self.gpus > 1)}{memory}"
        where = "" if self.cpus_given else " on this machine"
        return f"{self.cpus} CPU{'s' * (self.cpus > 1)}{where}"


def describe_machine(*, cpus: int | None = None, gpus: int | None = None,
                     gpu_memory_gb: float | None = None,
                     hours: float | None = None) -> Machine:
    """The machine or cluster to size for: this machine's CPUs unless ``gpus`` is given.

    Raises
    ------
    UserError
        Naming ``cpus``, ``gpus``, ``gpu_memory_gb`` or ``hours``: a number that is not
        positive, or GPU memory without GPUs.
    """
    for name, value, what in (("cpus", cpus, "CPUs"), ("gpus", gpus, "GPUs")):
        if value is not None and value < 1:
            fix = "; leave it out for a sweep on this machine's CPUs" if name == "gpus" else ""
            raise UserError(f"must be a positive number of {what} (got {value}){fix}",
                            field=name)
    if hours is not None and not (math.isfinite(hours) and hours > 0):
        raise UserError(f"must be a positive number of hours (got {hours:g}), the wall time "
                        "the sweep may take", field="hours")
    if gpu_memory_gb is not None:
        if gpus is None:
            raise UserError("goes with --gpus N: the memory of each of the cluster's GPUs",
                            field="gpu_memory_gb")
        if not (math.isfinite(gpu_memory_gb) and gpu_memory_gb > 0):
            raise UserError(f"must be a positive number of GB (got {gpu_memory_gb:g})",
                            field="gpu_memory_gb")
    hours = DEFAULT_HOURS if hours is None else hours
    if gpus:
        memory = (f", {gpu_memory_gb:g} GB each (--gpu-memory)" if gpu_memory_gb else
                  "; their memory not given (--gpu-memory GB), so proxies are not checked "
                  "against it")
        found = f"a GPU cluster of {gpus} GPU{'s' * (gpus > 1)} (--gpus){memory}"
        return Machine(cpus or 0, gpus, gpu_memory_gb, hours, found, cpus is not None)
    if cpus is not None:
        return Machine(cpus, None, None, hours, f"{cpus} CPUs (--cpus), no GPU", True)
    count = os.cpu_count() or 1
    return Machine(count, None, None, hours, f"this machine: {count} CPUs, {_ram()}; "
                   f"{_gpus_here()}")


def _ram() -> str:
    try:
        gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (AttributeError, ValueError, OSError):
        return "memory unknown"
    return f"{gib:.0f} GiB of memory"


def _gpus_here() -> str:
    """What torch sees of this machine's GPUs, said the way the comments say it."""
    import torch

    if not torch.cuda.is_available():
        return "no GPU (torch sees no CUDA device), so the proxies train on CPUs"
    n = torch.cuda.device_count()
    return (f"{n} GPU{'s' * (n > 1)} ({torch.cuda.get_device_name(0)}) not used by this CPU "
            f"sweep; give --gpus {n} to size it for them")


# ----------------------------------------------------------------------------- sources


@dataclass
class Domain:
    """One source as the config will name it, and its size.

    ``source`` is the path as written in the YAML (relative to DIR, or absolute);
    ``tokens`` is exact for token shards (``exact``) and an estimate for text; ``size``
    says so in words, for the comments.
    """

    name: str
    source: str
    tokens: float
    exact: bool
    size: str
    dtype: str | None = None


def split_name(argument: str) -> tuple[str | None, str]:
    """``NAME=PATH`` -> (NAME, PATH); a plain ``PATH`` (or a path that exists with an ``=``
    in it) -> (None, PATH)."""
    name, sep, path = argument.partition("=")
    if sep and "/" not in name and not Path(argument).expanduser().exists():
        return name, path
    return None, argument


def default_name(path: str) -> str | None:
    """The name a source path gives its domain: a folder's name, a file's stem (a Megatron
    prefix's name); None for a glob, which names no one thing."""
    if any(c in path for c in "*?["):
        return None
    p = Path(path.rstrip("/") or "/").expanduser()
    return p.name if p.is_dir() else p.stem


def absolute(path: str) -> Path:
    """``path`` made absolute (from the working folder), symlinks kept as given."""
    return Path(os.path.abspath(Path(path).expanduser()))


def written_path(path: Path, folder: Path) -> str:
    """How the YAML in ``folder`` names ``path``: relative to ``folder`` when it lies under
    it (the config's relative paths start at its folder), else absolute."""
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return str(path)


def named_sources(sources: list[str], folder: Path) -> list[tuple[str, Path]]:
    """Each SOURCE's domain name and absolute path, checked: a valid name, no name twice,
    no ``builtin:``/``hf:`` source, and DIR not inside a source folder.

    Raises
    ------
    UserError
        Naming ``sources`` (or ``folder``).
    """
    if len(sources) < 2:
        raise UserError(f"give at least two sources to mix, one folder or file per domain "
                        f"(got {len(sources)})", field="sources")
    named: list[tuple[str, Path]] = []
    for argument in sources:
        name, path = split_name(argument)
        if path.startswith(("builtin:", "hf:")):
            raise UserError(f"{argument!r}: raymix init takes folders and files of your own "
                            "data; write builtin: and hf: sources into the config by hand (see "
                            "jobs/configs/demo.yaml)", field="sources")
        if name is not None and not NAME_PATTERN.match(name):
            raise UserError(f"{shown(argument)}: the domain name {shown(name)} {NAME_RULE}",
                            field="sources")
        name = name if name is not None else default_name(path)
        if name is None:
            raise UserError(f"{argument!r} is a glob; name its domain: NAME={path}",
                            field="sources")
        if not NAME_PATTERN.match(name):
            raise UserError(f"{shown(argument)} makes the domain name {shown(name)}, which "
                            f"{NAME_RULE}; "
                            f"name it as NAME=PATH", field="sources")
        for other, other_path in named:
            if other == name:
                raise UserError(f"two sources make the domain {name!r} ({str(other_path)!r} "
                                f"and {str(absolute(path))!r}); name one of them as NAME=PATH",
                                field="sources")
        named.append((name, absolute(path)))
    for name, path in named:
        if path.is_dir() and folder.resolve().is_relative_to(path.resolve()):
            raise UserError(f"{str(folder)!r} is inside the source of domain {name!r} "
                            f"({str(path)!r}): the sweep's own files would be read as its text; "
                            "give a folder outside it", field="folder")
    return named


# ----------------------------------------------------------------------------- reading


def read_sizes(cfg: SweepConfig, vocab_size: int | None) -> tuple[list[Domain], str | None]:
    """Read every domain (and a target corpus) with raymix's readers, as a sweep would, and
    say how large each is: tokens counted for token shards, estimated for text.

    Returns
    -------
    domains : list of Domain
    target_size : str or None
        The target corpus's size in words (None for ``target.domains``).

    Raises
    ------
    ConfigError
        The line the config would give: a missing path, a folder with no text, a file
        that is not text, a token shard the reader refuses.
    """
    domains = []
    for i, d in enumerate(cfg.data.domains):
        where = f"data.domains[{i}].source"
        tokens, exact, size, needs_dtype = _measure(cfg, d.source, d.text_field, d.dtype,
                                                    where, vocab_size)
        domains.append(Domain(d.name, d.source, tokens, exact, size,
                              d.dtype if needs_dtype else None))
    target_size = None
    t = cfg.target
    if t.source is not None:
        _, _, target_size, _ = _measure(cfg, t.source, t.text_field, None, "target.source",
                                        vocab_size)
    return domains, target_size


def _measure(cfg: SweepConfig, source: str, text_field: str, dtype: str | None, where: str,
             vocab_size: int | None) -> tuple[float, bool, str, bool]:
    """(tokens, exact, the size in words, whether raw .bin shards need the dtype)."""
    base = Path(cfg.base_dir)
    if is_token_source(source, base):
        found = read_token_source(source, base, dtype, where)
        if vocab_size is not None:
            check_vocabulary(found, vocab_size, where)
        return found.tokens, True, _token_size(found), _raw_bin(found)
    docs = read_documents(source, text_field=text_field, base_dir=base,
                          cache_dir=cfg.cache_path, max_bytes=cfg.data.max_text_bytes,
                          field_name=where)
    text_bytes = sum(len(doc.encode("utf-8")) for doc in docs)
    tokens = text_bytes / BYTES_PER_TOKEN
    cap = cfg.data.max_text_bytes
    if cap is not None and text_bytes >= cap:
        size = (f"the first {_bytes(text_bytes)} of text read (data.max_text_bytes; "
                f"{_bytes(_disk_bytes(cfg.resolve(source)))} of files), about "
                f"{_count(tokens)} tokens (estimate)")
    else:
        size = (f"{_bytes(text_bytes)} of text in {len(docs):,} document"
                f"{'s' * (len(docs) != 1)}, about {_count(tokens)} tokens (estimate)")
    return tokens, False, size, False


def _token_size(found: TokenSource) -> str:
    if found.kind == "megatron":
        docs = len(found.doc_starts) if found.doc_starts is not None else 0
        return (f"{found.tokens:,} tokens in a Megatron dataset of {docs:,} documents "
                "(exact, from its index)")
    n = len(found.shards)
    return f"{found.tokens:,} tokens in {n} shard{'s' * (n > 1)} (exact, from the file sizes)"


def _raw_bin(found: TokenSource) -> bool:
    return found.kind == "shards" and any(s.path.endswith(".bin") for s in found.shards)


def _disk_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _tokenizer_vocab(path: Path) -> int:
    """The vocabulary a sweep will have with this tokenizer (its end-of-text token added
    when it lacks one, as :func:`raymix.data.prepare` does).

    Raises
    ------
    UserError
        Naming ``tokenizer``: not a file, or not a tokenizer.json.
    """
    from tokenizers import Tokenizer

    from raymix.data.tokenize import EOT

    if not path.is_file():
        raise UserError(f"no such file {str(path)!r}; give the tokenizer.json that made the "
                        "token shards", field="tokenizer")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - tokenizers raises a bare Exception
        first = (str(exc).strip().splitlines() or [""])[0]
        raise UserError(f"{str(path)!r} is not a tokenizer.json ({first}); give a file saved "
                        "by the tokenizers library", field="tokenizer") from None
    return tokenizer.get_vocab_size() + (tokenizer.token_to_id(EOT) is None)


# ----------------------------------------------------------------------------- sizing


@dataclass
class Candidate:
    """One proxy shape at one number of mixtures, priced.

    ``seconds`` is the wall time of ``raymix sweep`` (the mixtures, their repeats and the
    confirmation round) on the machine's devices; ``flops`` its training and evaluation
    FLOPs; ``too_big`` the sweep's refusal when the proxy does not fit a trial's memory;
    ``enough_data`` whether one run needs at most :data:`MAX_EPOCHS` epochs of the data.
    """

    rung: Rung
    count: int
    seconds: float
    flops: float
    too_big: str | None
    enough_data: bool
    budget_seconds: float
    time_from: str = ""

    @property
    def fits(self) -> bool:
        return self.too_big is None and self.enough_data and self.seconds <= self.budget_seconds


@dataclass
class Sizing:
    """What :func:`size_sweep` chose, and every candidate it priced."""

    chosen: Candidate
    candidates: list[Candidate]
    counts: list[int]
    tokens: float
    warnings: list[str] = field(default_factory=list)


def sweep_sections(rung: Rung, count: int, machine: Machine) -> dict[str, Any]:
    """The sections :func:`size_sweep` sets: model, training, mixtures, compute, confirm."""
    compute: dict[str, Any] = {"storage": "runs"}
    if machine.gpus:
        per_gpu = math.floor(1 / rung.gpus_per_trial)
        compute["gpus_per_trial"] = rung.gpus_per_trial
        compute["cpus_per_trial"] = (max(1, machine.cpus // (machine.gpus * per_gpu))
                                     if machine.cpus else 1)
        if machine.gpu_memory_gb:
            compute["gpu_memory_gb"] = machine.gpu_memory_gb
    else:
        compute["num_cpus"] = machine.cpus
        compute["cpus_per_trial"] = 1
    compute["models_per_trial"] = "auto"
    return {
        "model": rung.model(),
        "training": rung.training(),
        "mixtures": {"count": count, "draw": "dirichlet", "repeats": REPEATS,
                     "repeat_seeds": 1},
        "compute": compute,
        "confirm": {"candidates": 2, "observed": 2, "seeds": 2, "steps": 2 * rung.steps},
    }


def size_sweep(base: dict[str, Any], base_dir: Path, machine: Machine,
               tokens: float) -> Sizing:
    """Price every rung of :data:`LADDER` at each of :func:`mixture_counts` and keep the
    largest sweep that fits.

    Parameters
    ----------
    base : dict
        The config's ``name``, ``data`` and ``target`` sections (plain YAML data).
    base_dir : Path
        The config's folder.
    machine : Machine
        Where it runs and the wall-time budget.
    tokens : float
        The domains' tokens together (estimated for text).

    Returns
    -------
    Sizing
        The candidate with the most FLOPs among those that fit the budget, the memory and
        the data (ties: more mixtures). When none fits, the cheapest that fits a trial's
        memory, with a warning.

    Raises
    ------
    UserError
        Naming ``gpu_memory_gb`` when no proxy of the ladder fits a trial's share of it.
    """
    counts = mixture_counts(len(base["data"]["domains"]))
    budget = machine.hours * 3600
    candidates = []
    for rung in LADDER:
        for count in counts:
            cfg = parse_config({**base, **sweep_sections(rung, count, machine)}, base_dir)
            preview = cost_preview(cfg).to_dict()
            refusal = preview["refusal"]
            candidates.append(Candidate(
                rung=rung, count=count, seconds=sweep_seconds(preview, machine.devices),
                flops=next(c["flops"] for c in preview["commands"] if c["command"] == SWEEP),
                too_big=None if refusal is None else refusal["problem"],
                enough_data=rung.tokens_per_run <= MAX_EPOCHS * tokens,
                budget_seconds=budget, time_from=_time_from(preview)))
    fitting = [c for c in candidates if c.fits]
    if fitting:
        chosen = max(fitting, key=lambda c: (c.flops, c.count))
        return Sizing(chosen, candidates, counts, tokens)
    possible = [c for c in candidates if c.too_big is None]
    if not possible:
        raise UserError(f"even the smallest proxy ({LADDER[0].shape}) does not fit a trial's "
                        f"share of {machine.gpu_memory_gb:g} GB ({candidates[0].too_big}); "
                        "give the GPUs' real memory", field="gpu_memory_gb")
    chosen = min(possible, key=lambda c: c.seconds)
    warnings = []
    if chosen.seconds > budget:
        warnings.append(f"no sweep fits the {_hours(machine.hours)} budget: the smallest "
                        f"({chosen.count} mixtures of the {chosen.rung.name} proxy) takes about "
                        f"{_duration(chosen.seconds)} on {machine.label()}; raise --hours or "
                        "give more CPUs or GPUs")
    if not chosen.enough_data:
        warnings.append(f"one run of the {chosen.rung.name} proxy trains "
                        f"{_count(chosen.rung.tokens_per_run)} tokens, more than {MAX_EPOCHS} "
                        f"epochs of your data (about {_count(tokens)} tokens): the proxies "
                        "will see it repeated; add data")
    return Sizing(chosen, candidates, counts, tokens, warnings)


def sweep_seconds(preview: dict[str, Any], devices: int) -> float:
    """The wall time of ``raymix sweep`` on ``devices`` devices, as ``raymix plan``
    reckons it: each wave (the runs, then each confirmation round) takes its work spread
    over the devices, and at least its longest run. Without a measured speed, a CPU run
    takes its FLOPs at :data:`ASSUMED_CPU_FLOPS`."""
    seconds = {p["size"]: p["seconds"] if p["seconds"] is not None
               else p["flops"] / ASSUMED_CPU_FLOPS for p in preview["proxies"]}
    groups = [g for g in preview["groups"] if g["command"] == SWEEP]
    total = 0.0
    for wave in sorted({g["wave"] for g in groups}):
        mine = [g for g in groups if g["wave"] == wave]
        work = sum(g["runs"] * seconds[g["size"]] for g in mine)
        total += max(work / devices, max(seconds[g["size"]] for g in mine))
    return total


def _time_from(preview: dict[str, Any]) -> str:
    rate = preview["rate"]
    if rate["sources"]:
        return "; ".join(rate["sources"])
    if rate["assumed"]:
        return rate["assumed"]
    return f"no measured CPU speed: an assumed {ASSUMED_CPU_FLOPS / 1e9:.0f} GFLOP/s per CPU"


# ----------------------------------------------------------------------------- the whole


@dataclass
class InitResult:
    """What :func:`init_sweep` wrote and why.

    Attributes
    ----------
    path : Path
        The written ``DIR/sweep.yaml``.
    text : str
        Its text.
    config : SweepConfig
        It, as :func:`raymix.load_config` reads it.
    domains : list of Domain
    machine : Machine
    sizing : Sizing
    target : str
        The target in words.
    """

    path: Path
    text: str
    config: SweepConfig
    domains: list[Domain]
    machine: Machine
    sizing: Sizing
    target: str

    def summary(self) -> list[str]:
        """A few lines for the terminal: the domains, the target, the size chosen."""
        c = self.sizing.chosen
        lines = ["domains: " + ", ".join(f"{d.name} ({_count(d.tokens)} tokens"
                                          f"{'' if d.exact else ', estimate'})"
                                          for d in self.domains),
                 f"target: {self.target}",
                 f"sized for {self.machine.label()} and a {_hours(self.machine.hours)} "
                 f"budget: {c.count} mixtures of the {c.rung.name} proxy ({c.rung.shape}), "
                 f"about {_duration(c.seconds)} of raymix sweep"]
        return lines + [f"WARNING: {w}" for w in self.sizing.warnings]


def init_sweep(folder: str | Path, sources: list[str], *, target: str | None = None,
               target_domains: str | None = None, tokenizer: str | None = None,
               text_field: str = "text", dtype: str | None = None, cpus: int | None = None,
               gpus: int | None = None, gpu_memory_gb: float | None = None,
               hours: float | None = None, name: str | None = None) -> InitResult:
    """Write ``folder/sweep.yaml``: a commented sweep of ``sources``, sized for a machine.

    Parameters
    ----------
    folder : str or Path
        DIR: where ``sweep.yaml`` goes (created if missing); the sweep's ``runs/`` go there
        too (prepared data goes to the user's cache, shared by every config).
    sources : list of str
        One folder or file per domain (text, JSONL/JSON, Parquet, ``.npy`` or ``.bin``
        token shards, a Megatron ``.bin``/``.idx``), as ``PATH`` (the domain is named by
        its stem) or ``NAME=PATH``.
    target : str, optional
        A held-out source (``PATH`` or ``NAME=PATH``) whose loss the sweep minimises
        (``target.source``). Default: the domains' mean validation loss.
    target_domains : str, optional
        ``a,b`` or ``a=0.7,b=0.3``: the target as weights over these domains.
    tokenizer : str, optional
        The tokenizer.json that made token shards (``data.tokenizer.path``).
    text_field : str
        The column of record files (JSONL, Parquet) that holds the text.
    dtype : str, optional
        The dtype of raw ``.bin`` token shards.
    cpus, gpus, gpu_memory_gb : optional
        The machine: no GPUs is this machine's CPUs (``cpus`` of them when given);
        ``gpus`` a GPU cluster of that many, of ``gpu_memory_gb`` each.
    hours : float, optional
        The wall-time budget of ``raymix sweep`` (default :data:`DEFAULT_HOURS`).
    name : str, optional
        The sweep's name (default: DIR's name, where it is a valid one).

    Returns
    -------
    InitResult

    Raises
    ------
    UserError
        Naming the argument (``folder``, ``sources``, ``target``, ``gpus``, ...) or, for a
        source a sweep could not read, the config field the config would name. Nothing is
        written then.
    """
    machine = describe_machine(cpus=cpus, gpus=gpus, gpu_memory_gb=gpu_memory_gb, hours=hours)
    if dtype is not None and dtype not in TOKEN_DTYPES:
        raise UserError(f"must be one of {', '.join(TOKEN_DTYPES)} (got {dtype!r})",
                        field="dtype")
    folder = absolute(str(folder))
    path = folder / CONFIG_NAME
    _check_folder(folder, path)
    name = _sweep_name(name, folder)
    named = named_sources(sources, folder)
    vocab = _tokenizer_vocab(absolute(tokenizer)) if tokenizer is not None else None
    data: dict[str, Any] = {"max_text_bytes": DataConfig.max_text_bytes}
    data["tokenizer"] = ({"path": written_path(absolute(tokenizer), folder), "vocab_size": vocab}
                         if tokenizer is not None else {"vocab_size": VOCAB_SIZE})
    data["domains"] = [_domain_entry(n, written_path(p, folder), text_field, dtype)
                       for n, p in named]
    target_section, target_words = _target(target, target_domains, named, folder, text_field)
    base = {"name": name, "data": data, "target": target_section}
    cfg = _checked(base, folder)
    domains, target_size = read_sizes(cfg, vocab)
    for entry, domain in zip(data["domains"], domains):
        if domain.dtype is None:
            entry.pop("dtype", None)  # only raw .bin shards need one
    sizing = size_sweep(base, folder, machine, sum(d.tokens for d in domains))
    text = render(base, domains, target_size, machine, sizing)
    config = parse_config(yaml.safe_load(text), base_dir=folder)  # as load_config reads it
    _check_folder(folder, path)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return InitResult(path, text, config, domains, machine, sizing, target_words)


def _check_folder(folder: Path, path: Path) -> None:
    problem = folder_problem(folder)
    if problem:
        raise UserError(f"{problem}; give another folder", field="folder")
    if path.exists() or path.is_symlink():
        raise UserError(f"{str(path)!r} exists; give a new folder, or remove the file first "
                        "(raymix init never overwrites a config)", field="folder")


def _sweep_name(name: str | None, folder: Path) -> str:
    if name is None:
        return folder.name if NAME_PATTERN.match(folder.name) else "sweep"
    if not NAME_PATTERN.match(name):
        raise UserError(f"{NAME_RULE} (got {shown(name)})", field="name")
    return name


def _domain_entry(name: str, source: str, text_field: str, dtype: str | None) -> dict:
    entry = {"name": name, "source": source}
    if text_field != "text":
        entry["text_field"] = text_field
    if dtype is not None:
        entry["dtype"] = dtype
    return entry


def _target(target: str | None, target_domains: str | None, named: list[tuple[str, Path]],
            folder: Path, text_field: str) -> tuple[dict[str, Any], str]:
    """The target section, and what it is in words.

    Raises
    ------
    UserError
        Naming ``target`` or ``target_domains``.
    """
    names = [n for n, _ in named]
    if target is not None and target_domains is not None:
        raise UserError("give --target PATH (a held-out corpus) or --target-domains a,b "
                        "(weights over the domains), not both", field="target")
    if target is not None:
        given, path = split_name(target)
        label = given if given is not None else default_name(path)
        if label is None or not NAME_PATTERN.match(label):
            raise UserError(f"{shown(target)} makes the target name {shown(label)}, which "
                            f"{NAME_RULE}; "
                            "name it as NAME=PATH", field="target")
        if label in names:
            raise UserError(f"{target!r} makes the target name {label!r}, a domain's too; "
                            "name it apart as NAME=PATH", field="target")
        section = {"name": label, "source": written_path(absolute(path), folder)}
        if text_field != "text":
            section["text_field"] = text_field
        return section, f"{label}: the loss on held-out text ({section['source']})"
    weights = dict.fromkeys(names, 1.0)
    if target_domains is not None:
        weights = _weights(target_domains, names)
    label = "mean_of_domains" if "mean_of_domains" not in names else "target"
    used = [d for d, w in weights.items() if w > 0]
    equal = len(set(weights.values())) == 1
    words = (f"{label}: the mean validation loss of "
             + ("every domain" if target_domains is None else ", ".join(used))
             + ("" if equal else " (weighted)"))
    return {"name": label, "domains": weights}, words


def _weights(spec: str, names: list[str]) -> dict[str, float]:
    """``a,b`` (equal weights) or ``a=0.7,b=0.3``, over domain names."""
    weights: dict[str, float] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        domain, sep, value = part.partition("=")
        domain = domain.strip()
        if domain not in names:
            raise UserError(f"{domain!r} is not a domain; choose from {', '.join(names)}",
                            field="target_domains")
        if domain in weights:
            raise UserError(f"{domain!r} is given twice", field="target_domains")
        try:
            weight = float(value) if sep else 1.0
        except ValueError:
            weight = math.nan
        if not (math.isfinite(weight) and weight >= 0):
            raise UserError(f"{part!r}: a weight must be a number >= 0, as in a=0.7,b=0.3",
                            field="target_domains")
        weights[domain] = weight
    if not weights or sum(weights.values()) <= 0:
        raise UserError(f"{spec!r} names no domain with a weight above 0; give a,b or "
                        "a=0.7,b=0.3", field="target_domains")
    return weights


def _checked(base: dict[str, Any], folder: Path) -> SweepConfig:
    """The config of ``base`` (default sizes), its sources checked as a sweep checks them.
    A token source without its tokenizer names ``tokenizer`` (``--tokenizer``)."""
    cfg = parse_config(base, base_dir=folder)
    try:
        check_sources(cfg)
    except ConfigError as exc:
        if exc.field == "data.tokenizer.path":
            raise UserError(exc.problem, field="tokenizer") from None
        raise
    return cfg


# ----------------------------------------------------------------------------- the YAML


def render(base: dict[str, Any], domains: list[Domain], target_size: str | None,
           machine: Machine, sizing: Sizing) -> str:
    """The sweep's YAML, commented: what each section means and where its numbers came
    from (the sizes, the candidates' prices, the rule that chose one)."""
    chosen = sizing.chosen
    sections = sweep_sections(chosen.rung, chosen.count, machine)
    data, target = base["data"], base["target"]
    lines = [
        f"# A raymix sweep of your own data, written by `raymix init` (raymix {__version__}).",
        "#",
        "# raymix trains one tiny proxy model per mixture of the domains below, fits how the",
        "# target loss depends on the mixture, and proposes the mixture predicted best",
        "# (RegMix, Liu et al. 2025). `raymix plan sweep.yaml` prints what it costs;",
        "# `raymix sweep sweep.yaml` runs it. Every key is described in",
        "# raymix/config/schema.py. Relative paths start at this file's folder.",
        "",
        f"name: {_flow(base['name'])}",
        "",
        "# ---- data: one domain per source given to raymix init",
        *_comment(_sizes_note(domains)),
        "data:",
        "  # cache_dir: the tokenizer and token arrays `raymix prepare` makes (default: your "
        "cache,",
        "  # ~/.cache/raymix/prepared or $RAYMIX_CACHE/prepared, shared by every config)",
        f"  max_text_bytes: {data['max_text_bytes']}  # each text domain is read up to this "
        "many bytes",
        ("  # the tokenizer that made the token shards; vocab_size: its vocabulary"
         if "path" in data["tokenizer"]
         else "  # a byte-level BPE of vocab_size tokens, trained on a sample of every domain"),
        f"  tokenizer: {_flow(data['tokenizer'])}",
        "  domains:",
    ]
    for entry, domain in zip(data["domains"], domains):
        lines += [f"    # {domain.name}: {domain.size}", f"    - {_flow(entry)}"]
    lines += ["", "# ---- target: the loss the sweep minimises"]
    if "source" in target:
        lines += _comment(f"Held-out text, not a training domain: {target_size}. A sweep "
                          "evaluates the proxies on its first data.max_valid_tokens tokens.")
    else:
        lines += _comment("The mean of the domains' validation losses (each domain's held-out "
                          "tail, data.valid_fraction of it). To minimise the loss on text of "
                          "your own instead, run raymix init with --target PATH, or write "
                          "target: {name: NAME, source: PATH}.")
    lines += ["target:"] + [f"  {key}: {_flow(value)}" for key, value in target.items()]
    lines += ["", *_sizing_comments(machine, sizing, domains)]
    for key, comment in _section_comments(chosen, machine).items():
        lines += _comment(comment) + _section(key, sections[key])
    lines += ["", *_comment("raymix validate (not in the budget above) trains the proposal "
                            "and the baselines again to check them, at the scale of a "
                            "validate: section (default: the proxy's).")]
    return "\n".join(lines) + "\n"


def _sizes_note(domains: list[Domain]) -> str:
    """Where the sizes in the data section's comments come from."""
    notes = []
    if any(d.exact for d in domains):
        notes.append("token shards are counted exactly, from their file sizes or index.")
    if not all(d.exact for d in domains):
        notes.append("text is read up to data.max_text_bytes per domain, and its tokens are "
                     f"an ESTIMATE: bytes / {BYTES_PER_TOKEN}, what a 4,096-token byte-level "
                     "BPE averages on English and code (`raymix prepare` counts them).")
    return "Sizes: " + " ".join(notes)


def _sizing_comments(machine: Machine, sizing: Sizing, domains: list[Domain]) -> list[str]:
    """The comment above the sizes: the machine, every candidate priced, the rule."""
    chosen, counts = sizing.chosen, sizing.counts
    k = len(domains)
    lines = [f"# ---- the proxies and how many: sized for {machine.label()} and a "
             f"{_hours(machine.hours)} budget",
             *_comment(f"found: {machine.found}"),
             *_comment("Each proxy shape below was priced with raymix plan's cost model "
                       "(raymix/workflows/costing.py) at each number of mixtures, as the wall "
                       f"time of raymix sweep (the mixtures, {REPEATS} repeats, the "
                       f"confirmation round) on {machine.label()}:"),
             "#"]
    header = ("proxy", "shape L x H/I, seq", "tokens/run",
              *(f"{n} mixtures" for n in counts))
    rows = [header]
    for rung in LADDER:
        mine = [c for c in sizing.candidates if c.rung == rung]
        row = [rung.name, rung.shape, _count(rung.tokens_per_run)]
        if not mine[0].enough_data:
            row.append(f"needs more data (over {MAX_EPOCHS} epochs of "
                       f"{_count(sizing.tokens)} tokens)")
        elif mine[0].too_big:
            row.append("too big for a trial's GPU memory")
        else:
            row += [_duration(c.seconds) + (" *" if c is chosen else "") for c in mine]
        rows.append(tuple(row))
    # a row with a note in place of its times: the note is its last cell, left unpadded
    widths = [max(len(r[i]) for r in rows if i < len(r) - 1 or len(r) == len(header))
              for i in range(len(header))]
    for row in rows:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell
                 for i, cell in enumerate(row)]
        lines.append("#   " + "  ".join(cells).rstrip())
    least = counts[0]
    lines += ["#",
              f"# * chosen: the largest sweep (the most training FLOPs) that fits the "
              f"{_hours(machine.hours)} budget,",
              f"#   with at least {least} mixtures (RegMix: more proxies than about 7x the "
              f"{k} domains)",
              f"#   and at most {counts[-1]} (past 4x that, a larger proxy is the better use of "
              "compute);",
              f"#   a shape is left out when one run needs more than {MAX_EPOCHS} epochs of "
              "your data",
              "#   at the token prior (about as good as new data up to 4: Muennighoff et al. "
              "2023).",
              *_comment(f"time from: {chosen.time_from}"),
              *_comment("The cost model does not count several proxies stacked in one trial "
                        "(models_per_trial: auto), which trains them faster; `raymix plan` "
                        "prints the whole estimate.")]
    for warning in sizing.warnings:
        lines += _comment(f"WARNING: {warning}")
    return lines + [""]


def _section_comments(chosen: Candidate, machine: Machine) -> dict[str, str]:
    """The comment above each section :func:`size_sweep` sets: what it means."""
    rung = chosen.rung
    if machine.gpus:
        compute = (f"Trials on {machine.label()}: {math.floor(1 / rung.gpus_per_trial)} to a "
                   f"GPU (gpus_per_trial {rung.gpus_per_trial:g}), several proxies stacked as "
                   "one model in each (models_per_trial: auto). Run it on the cluster with "
                   "`raymix submit` (or set compute.address); the data paths must exist on "
                   "its nodes. storage: the runs, the fit, the proposal and the report (on a "
                   "cluster: an s3:// or gs:// URI, or a folder every node mounts).")
    else:
        compute = (f"A local Ray cluster of {machine.cpus} CPUs (num_cpus), one trial per CPU, "
                   "several proxies stacked as one model in each (models_per_trial: auto). "
                   "storage: the runs, the fit, the proposal and the report.")
    return {
        "model": (f"The {rung.name} proxy: a Llama of {rung.layers} layers x {rung.hidden} "
                  f"hidden, sequences of {rung.seq_len} tokens."),
        "training": (f"{_count(rung.tokens_per_run)} tokens a run. The demo's schedule: a "
                     "warm-up over half the run and a decay to 0 cut the seed-to-seed noise "
                     "of the final loss about 3x (bench/bench_proxy_noise.py)."),
        "mixtures": (f"{chosen.count} mixtures drawn around the token prior (Dirichlet, as "
                     f"RegMix does); {REPEATS} of them trained again with another seed, so "
                     "the fit knows the run-to-run noise."),
        "compute": compute,
        "confirm": ("Before proposing, the fit's 2 best distinct mixtures and the 2 best runs "
                    "are trained again with 2 new seeds each at 2x the tokens (the ranking "
                    "of mixtures changes with training length most); the proposal is the one "
                    "that measured best."),
    }


def _comment(text: str) -> list[str]:
    """``text`` as YAML comment lines of at most :data:`WIDTH` characters (a long word,
    such as a path, is kept whole)."""
    return textwrap.wrap(text, WIDTH, initial_indent="# ", subsequent_indent="# ",
                         break_long_words=False, break_on_hyphens=False)


def _section(key: str, values: dict[str, Any]) -> list[str]:
    """``key: {a: 1, b: 2, ...}``, wrapped after a comma at :data:`WIDTH` characters with
    the continuation lined up under the first value (as jobs/configs/demo.yaml is)."""
    items = [f"{_flow(k)}: {_flow(v)}" for k, v in values.items()]
    lines, line = [], f"{key}: {{"
    indent = " " * len(line)
    for i, item in enumerate(items):
        piece = item + ("}" if i == len(items) - 1 else ",")
        if len(line) + 1 + len(piece) > WIDTH and not line.endswith("{"):
            lines.append(line)
            line = indent + piece
        else:
            line += ("" if line.endswith("{") else " ") + piece
    return lines + [line]


def _flow(value: Any) -> str:
    """``value`` as one line of YAML (a flow mapping for a dict), quoted where needed."""
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False,
                          width=1_000_000).strip().removesuffix("\n...").strip()


# ----------------------------------------------------------------------------- words


def _count(n: float) -> str:
    """246k, 2.05M, 1.2B: three significant digits."""
    for suffix, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:.0f}"


def _bytes(n: float) -> str:
    for suffix, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {suffix}"
    return f"{n:.0f} bytes"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "<1 s"
    for unit, scale in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= scale:
            return f"{seconds / scale:.2g} {unit}" if seconds < 10 * scale else \
                f"{seconds / scale:.0f} {unit}"
    return f"{seconds:.0f} s"


def _hours(hours: float) -> str:
    return f"{hours:g}-hour"

