"""The sweep's chain without a cluster: what :func:`raymix.sweep_and_propose` refuses before
any work, and how the validation's runs name their folder in the sweep's errors."""

from __future__ import annotations

import pickle

import pytest
from conftest import write_config

import raymix
from raymix.errors import ConfigError, UserError


def test_the_end_s_files_are_checked_before_any_work(tmp_path):
    config = write_config(tmp_path, tmp_path / "cache")
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "proposal.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(UserError) as refused:
        raymix.sweep_and_propose(raymix.load_config(config), log=lambda line: None)
    assert refused.value.field == "compute.storage" and "symlink" in refused.value.problem
    assert [p.name for p in sweep.iterdir()] == ["proposal.json"]  # nothing prepared or run
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("error", [
    UserError("use a new compute.storage folder", field="compute.storage"),
    UserError("use a new compute.storage folder", field="model.hidden"),
    ConfigError("compute.storage", "cannot write; use a new compute.storage folder"),
])
def test_a_renamed_error_names_the_new_field_in_its_field_and_text(error):
    renamed = error.renamed("compute.storage", "validate.storage")
    assert type(renamed) is type(error)
    assert renamed.problem == error.problem.replace("compute.storage", "validate.storage")
    assert renamed.field == ("validate.storage" if error.field == "compute.storage"
                             else error.field)
    assert "compute.storage" not in str(renamed) and "validate.storage" in str(renamed)
    again = pickle.loads(pickle.dumps(renamed))  # Ray sends errors between processes
    assert type(again) is type(error) and str(again) == str(renamed)
