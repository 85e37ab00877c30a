"""A sweep directory's settings: refuse runs that would not match, record what they measure.

A sweep directory may be resumed and extended (more runs, another scale), but never
mixed: :func:`check_experiment` refuses a config whose runs would measure something else
than the stored ones (another model, training, target, mixtures, data or strategy), and
writes nothing. :func:`start_experiment` then records what the runs measure
(``data.json``, ``config.yaml``), after checking that the folder takes writes.

``config.yaml`` holds the values the runs were made with, ``--set`` overrides applied, and
the overrides themselves as its ``overrides`` list (the secret of any URI masked); values
are compared, so a re-run with the same ``--set`` resumes, and one whose ``--set``
changes what runs measure is refused.

Errors name the folder by its field, ``compute.storage``; a workflow that keeps another
sweep's runs elsewhere renames it (:meth:`raymix.UserError.renamed`: the validation's
``validate.storage``).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from raymix.config import SweepConfig
from raymix.config.parse import migrate
from raymix.config.safe_yaml import read_yaml
from raymix.data import PreparedData
from raymix.errors import UserError
from raymix.files import atomic_write_text
from raymix.runs import DataInfo, ResultStore, SweepLayout
from raymix.runs.store import damaged
from raymix.secrets import mask_uri, masked
from raymix.sweep.strategy import check_strategy
from raymix.training import non_embedding_params

STORAGE = "compute.storage"  # the field that names the sweep folder, in errors
# settings that change what the sweep's runs measure, or which mixtures it plans
RESULT_SECTIONS = ("model", "training", "target", "mixtures")
NEUTRAL_KEYS = {("training", "save_checkpoint")}  # change nothing that a run measures
# how an adaptive sweep chooses its mixtures: check_strategy compares these as resolved
# (initial_runs None is its default count), and only for an adaptive sweep
STRATEGY_KEYS = {("mixtures", "strategy"), ("mixtures", "initial_runs"),
                 ("mixtures", "exploration"), ("mixtures", "batch_size")}


def _stored_config(layout: SweepLayout) -> dict:
    """The sweep folder's ``config.yaml``, or one line naming it when it is damaged."""
    recover = ("copy the config YAML the sweep was made with over it, or use a new "
               f"{STORAGE} folder")
    try:
        raw = read_yaml(layout.config, STORAGE)
    except UserError as exc:
        raise damaged(layout.config, exc.problem, recover) from None
    if not isinstance(raw, dict):
        raise damaged(layout.config, "not a sweep's config.yaml", recover)
    return raw


def check_experiment(cfg: SweepConfig, prepared: PreparedData) -> None:
    """Refuse to add runs to a sweep directory whose stored runs used other settings."""
    sweep_dir = cfg.storage_path
    layout = SweepLayout(sweep_dir)
    check_strategy(cfg, prepared.train_tokens, prepared.prior)
    if not layout.config.is_file():
        return
    stored = read_stored_config(layout)
    differs = first_difference(stored, cfg, RESULT_SECTIONS, NEUTRAL_KEYS | STRATEGY_KEYS)
    if differs:
        section, key, before, value = differs
        raise UserError(
            f"{sweep_dir} holds runs made with {section}.{key} = "
            f"{before!r}, not {value!r}{_given(stored, cfg)}; "
            f"use a new {STORAGE} folder (or delete the old one) to start "
            "another sweep", field=f"{section}.{key}")
    stored_scales = {entry["name"]: entry for entry in stored.get("scales", [])}
    for i, entry in enumerate(cfg.to_dict()["scales"]):
        before = stored_scales.get(entry["name"])
        if before is not None and before != entry:
            raise UserError(
                f"{sweep_dir} holds runs of scale {entry['name']!r} made with {before}, not "
                f"{entry}; give the changed size a new name, or use a new {STORAGE} "
                "folder", field=f"scales[{i}]")
    if layout.data_info.is_file() and \
            ResultStore(sweep_dir).data_info().prepared != prepared.path.name:
        raise UserError(f"{sweep_dir} holds runs on other prepared data (the domains, their "
                        f"texts or the tokenizer changed); use a new {STORAGE} folder",
                        field="data")


def read_stored_config(layout: SweepLayout) -> dict:
    """A sweep folder's ``config.yaml`` as data, keys that moved since read at their new
    place; one line naming the file when it is damaged."""
    stored, _ = migrate(_stored_config(layout))
    return stored


def first_difference(stored: dict, cfg: SweepConfig, sections: tuple[str, ...],
                     skip: set[tuple[str, str]] = frozenset()) -> tuple | None:
    """The first setting of ``sections`` (but ``skip``) whose value in ``cfg`` is not
    the one in ``stored`` (:func:`read_stored_config`): (section, key, the stored value,
    ``cfg``'s value), or None. A key that an older raymix did not write had that
    version's default value."""
    current = cfg.to_dict()
    defaults = SweepConfig(name="defaults", data=cfg.data, target=cfg.target).to_dict()
    for section in sections:
        for key, value in current[section].items():
            if (section, key) in skip:
                continue
            if stored.get(section, {}).get(key, defaults[section][key]) != value:
                return section, key, stored.get(section, {}).get(key), value
    return None


def _given(stored: dict, cfg: SweepConfig) -> str:
    """Which ``--set`` overrides the stored runs and this config were made with, where they
    differ (nothing where they agree: the file changed)."""
    before = stored.get("overrides") or []
    if before == masked(cfg.overrides):  # as stored: any secret masked
        return ""
    return f" (they were made with {_flags(before)}, this config has {_flags(cfg.overrides)})"


def _flags(overrides: list[str]) -> str:
    return mask_uri(" ".join(f"--set {o}" for o in overrides)) if overrides else "no --set"


def start_experiment(cfg: SweepConfig, prepared: PreparedData) -> None:
    """Check that the storage folder takes writes, and record what its runs measure.

    Call :func:`check_experiment` first: this writes ``data.json`` and ``config.yaml``.
    """
    sweep_dir = cfg.storage_path
    _check_writable(sweep_dir)
    # data.json and config.yaml first: a plan.csv on disk always has both beside it
    info = DataInfo(prior=prepared.prior, train_tokens=prepared.train_tokens,
                    tokens_per_run=cfg.training.tokens_per_run(cfg.model.seq_len),
                    non_embedding_params={name: non_embedding_params(m)
                                          for name, m in cfg.scale_models().items()},
                    prepared=prepared.path.name)
    ResultStore(sweep_dir).write_data_info(info)
    atomic_write_text(SweepLayout(sweep_dir).config, stored_config(cfg))


def stored_config(cfg: SweepConfig) -> str:
    """``config.yaml``'s text: the config's values and overrides, with the secret of any
    URI in them masked (``http://user:***@host``); the sweep folder never holds one."""
    return yaml.safe_dump(masked(cfg.to_dict()), sort_keys=False)


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".raymix-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to {folder} ({exc.strerror}); choose a writable folder",
                        field=STORAGE) from None
