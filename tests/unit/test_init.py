"""``raymix init``: the sizing (more hours or GPUs, a larger sweep, never over the budget),
the domain names, the paths the YAML writes, and the refusals that write nothing.

The data is real text: standard-library source files and pydoc's language reference.
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path
from pydoc_data.topics import topics

import pytest
import yaml

from raymix.config import load_config
from raymix.errors import ConfigError, UserError
from raymix.workflows.costing import cost_preview
from raymix.workflows.initialising import (
    LADDER,
    MAX_EPOCHS,
    PROXIES_PER_DOMAIN,
    default_name,
    describe_machine,
    init_sweep,
    mixture_counts,
    named_sources,
    size_sweep,
    split_name,
    sweep_seconds,
    written_path,
)

STDLIB = Path(sysconfig.get_paths()["stdlib"])
CODE_FILES = ["textwrap.py", "shlex.py", "fractions.py", "heapq.py", "bisect.py", "string.py"]
DOMAINS = ["web", "code", "books", "wiki"]
PLENTY = 1e10  # tokens: enough data for every shape of the ladder


def base(domains=DOMAINS) -> dict:
    """The sections init_sweep sizes around (the sources are never read by the sizing)."""
    return {"name": "s", "data": {"domains": [{"name": d, "source": f"/data/{d}"}
                                              for d in domains]},
            "target": {"name": "mean", "domains": dict.fromkeys(domains, 1.0)}}


def sized(tokens: float = PLENTY, **machine):
    return size_sweep(base(), Path("/tmp"), describe_machine(**machine), tokens)


@pytest.fixture
def data(tmp_path) -> Path:
    """A project folder with real text: stdlib code, reference topics in .txt files."""
    root = tmp_path / "project" / "data"
    (root / "code").mkdir(parents=True)
    for name in CODE_FILES:
        (root / "code" / name).write_text((STDLIB / name).read_text(encoding="utf-8"))
    (root / "reference").mkdir()
    keys = sorted(topics)
    for key in keys[:40]:
        (root / "reference" / f"{key}.txt").write_text(topics[key], encoding="utf-8")
    (tmp_path / "held_out.txt").write_text("\n\n".join(topics[k] for k in keys[40:80]))
    return tmp_path


# ----------------------------------------------------------------------------- sizing


def test_the_fewest_mixtures_are_more_than_seven_per_domain():
    for k in range(2, 20):
        counts = mixture_counts(k)
        assert counts[0] > PROXIES_PER_DOMAIN * k and counts[0] % 8 == 0
        assert counts == [counts[0], 2 * counts[0], 4 * counts[0]]
    assert mixture_counts(3) == [24, 48, 96]


@pytest.mark.parametrize("machine", [{"cpus": 4}, {"gpus": 2}])
def test_more_hours_never_shrink_the_sweep_nor_exceed_the_budget(machine):
    chosen = []
    for hours in (0.1, 0.25, 0.5, 1, 2, 4, 8, 24):
        sizing = sized(hours=hours, **machine)
        assert not sizing.warnings
        assert sizing.chosen.seconds <= hours * 3600
        assert sizing.chosen.fits
        chosen.append(sizing.chosen)
    flops = [c.flops for c in chosen]
    assert flops == sorted(flops) and flops[-1] > 10 * flops[0]
    # the largest: no other candidate that fits has more FLOPs
    last = sized(hours=24, **machine)
    assert last.chosen.flops == max(c.flops for c in last.candidates if c.fits)


def test_more_gpus_never_shrink_the_sweep_nor_exceed_the_budget():
    chosen = [sized(gpus=gpus, hours=1).chosen for gpus in (1, 2, 4, 8, 32, 128)]
    assert all(c.seconds <= 3600 for c in chosen)
    flops = [c.flops for c in chosen]
    assert flops == sorted(flops) and flops[-1] > flops[0]
    assert chosen[-1].rung.name != LADDER[0].name


def test_more_cpus_never_shrink_the_sweep():
    flops = [sized(cpus=cpus, hours=1).chosen.flops for cpus in (1, 2, 8, 32)]
    assert flops == sorted(flops) and flops[-1] > flops[0]


def test_the_wall_time_is_raymix_plans_on_a_cpu_machine():
    sizing = sized(cpus=3, hours=2)
    c = sizing.chosen
    from raymix.config import parse_config
    from raymix.workflows.initialising import sweep_sections

    cfg = parse_config({**base(), **sweep_sections(c.rung, c.count, describe_machine(cpus=3))},
                       "/tmp")
    preview = cost_preview(cfg).to_dict()
    plan_wall = preview["commands"][0]["wall"][0]
    assert plan_wall["slots"] == 3
    assert sweep_seconds(preview, 3) == pytest.approx(plan_wall["seconds"])
    assert c.seconds == pytest.approx(plan_wall["seconds"])


def test_little_data_keeps_the_proxies_small():
    tokens = LADDER[0].tokens_per_run  # one xs run's worth: the next rung needs far more
    sizing = sized(tokens=tokens, gpus=64, hours=100)
    assert sizing.chosen.rung == LADDER[0]
    for c in sizing.candidates:
        assert c.enough_data == (c.rung.tokens_per_run <= MAX_EPOCHS * tokens)


def test_when_nothing_fits_the_cheapest_is_written_with_a_warning():
    sizing = sized(cpus=1, hours=0.001)
    assert sizing.chosen.rung == LADDER[0] and sizing.chosen.count == mixture_counts(4)[0]
    assert not sizing.chosen.fits
    assert "no sweep fits the 0.001-hour budget" in sizing.warnings[0]


def test_gpu_memory_too_small_for_any_proxy_is_refused():
    with pytest.raises(UserError) as caught:
        sized(gpus=8, gpu_memory_gb=0.02)
    assert caught.value.field == "gpu_memory_gb"


def test_a_proxy_too_big_for_the_gpus_memory_is_not_chosen():
    sizing = sized(gpus=64, gpu_memory_gb=2, hours=100)
    assert sizing.chosen.too_big is None
    assert any(c.too_big for c in sizing.candidates)


@pytest.mark.parametrize("arguments, field", [
    ({"gpus": 0}, "gpus"), ({"gpus": -2}, "gpus"), ({"cpus": 0}, "cpus"),
    ({"hours": 0}, "hours"), ({"hours": -1.5}, "hours"), ({"hours": float("inf")}, "hours"),
    ({"gpu_memory_gb": 80}, "gpu_memory_gb"), ({"gpus": 1, "gpu_memory_gb": 0}, "gpu_memory_gb"),
])
def test_numbers_out_of_bounds_are_refused(arguments, field):
    with pytest.raises(UserError) as caught:
        describe_machine(**arguments)
    assert caught.value.field == field


def test_with_no_flags_the_machine_is_this_ones_cpus():
    machine = describe_machine()
    assert machine.cpus == os.cpu_count() and machine.gpus is None and machine.hours == 1.0
    assert machine.found.startswith(f"this machine: {os.cpu_count()} CPUs")


# ----------------------------------------------------------------------------- names and paths


def test_names_are_stems_or_given(tmp_path):
    (tmp_path / "wiki.v2").mkdir()
    assert split_name("web=/data/cc") == ("web", "/data/cc")
    assert split_name("/data/cc") == (None, "/data/cc")
    assert split_name("/data/a=b/cc") == (None, "/data/a=b/cc")  # a path with '=' in it
    assert default_name(str(tmp_path / "wiki.v2")) == "wiki.v2"  # a folder keeps its name
    assert default_name("/data/code.jsonl") == "code"
    assert default_name("/data/web/") == "web"
    assert default_name("/data/books_text_document") == "books_text_document"  # Megatron
    assert default_name("/data/shards/web-*.npy") is None


def test_an_existing_path_with_an_equals_sign_is_a_path(tmp_path):
    odd = tmp_path / "a=b"
    odd.mkdir()
    assert split_name(str(odd)) == (None, str(odd))
    assert split_name("a=b") == ("a", "b")


@pytest.mark.parametrize("sources, words", [
    (["/data/web", "/other/web"], "two sources make the domain 'web'"),
    (["x=/data/web", "x=/data/code"], "two sources make the domain 'x'"),
    (["/data/2023", "/data/web"], "makes the domain name '2023'"),
    (["9a=/data/web", "/data/code"], "the domain name '9a' must start with a letter"),
    (["/data/web-*.npy", "/data/code"], "is a glob; name its domain"),
    (["builtin:code", "/data/code"], "folders and files of your own"),
    (["/data/web"], "at least two sources"),
])
def test_bad_names_are_refused(sources, words, tmp_path):
    with pytest.raises(UserError) as caught:
        named_sources(sources, tmp_path / "sweep")
    assert caught.value.field == "sources" and words in caught.value.problem


def test_dir_inside_a_source_folder_is_refused(tmp_path):
    (tmp_path / "web").mkdir()
    with pytest.raises(UserError) as caught:
        named_sources([str(tmp_path / "web"), "/data/code"], tmp_path / "web" / "sweep")
    assert caught.value.field == "folder"


def test_paths_under_dir_are_relative_others_absolute(tmp_path):
    folder = tmp_path / "project"
    assert written_path(folder / "data" / "web", folder) == "data/web"
    assert written_path(tmp_path / "elsewhere" / "web", folder) == str(tmp_path / "elsewhere/web")
    assert written_path(tmp_path / "project-2" / "web", folder) == str(tmp_path / "project-2/web")


# ----------------------------------------------------------------------------- the whole


def test_the_written_config_loads_and_works_from_dir(data, monkeypatch):
    project = data / "project"
    elsewhere = data / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative arguments start here; the YAML's at DIR
    result = init_sweep("../project", ["../project/data/code", "ref=../project/data/reference"],
                        target="../held_out.txt", cpus=2, hours=0.5)
    path = project / "sweep.yaml"
    assert result.path == path and path.read_text() == result.text
    raw = yaml.safe_load(path.read_text())
    assert [d["source"] for d in raw["data"]["domains"]] == ["data/code", "data/reference"]
    assert raw["target"] == {"name": "held_out", "source": str(data / "held_out.txt")}
    # prepared data goes to the user's cache (shared), the runs beside the config
    assert "cache_dir" not in raw["data"] and raw["compute"]["storage"] == "runs"
    assert raw["name"] == "project" and raw["compute"]["num_cpus"] == 2
    cfg = load_config(path)
    assert cfg == result.config
    assert cfg.domain_names == ["code", "ref"]
    assert cfg.resolve(cfg.data.domains[0].source) == project / "data" / "code"
    assert cfg.storage_path == project / "runs"
    # the sizes: estimates from the bytes read, said so
    code_bytes = sum(len((STDLIB / n).read_text(encoding="utf-8").encode()) for n in CODE_FILES)
    assert result.domains[0].tokens == pytest.approx(code_bytes / 3.5)
    assert "# code: " in result.text and "(estimate)" in result.text
    comments = " ".join(result.text.replace("\n# ", " ").split())  # wrapped lines joined
    assert "its tokens are an ESTIMATE: bytes / 3.5" in comments
    # the sizing, written down: the chosen candidate is marked and fits
    c = result.sizing.chosen
    assert c.seconds <= 0.5 * 3600 and f"{c.count} mixtures" in result.text
    assert cfg.mixtures.count == c.count and cfg.model.hidden == c.rung.hidden
    assert " *" in result.text
    preview = cost_preview(cfg).to_dict()
    assert preview["refusal"] is None
    assert sweep_seconds(preview, 2) == pytest.approx(c.seconds)


def test_the_default_target_is_the_domains_mean(data):
    result = init_sweep(data / "sweep", [str(data / "project/data/code"),
                                         str(data / "project/data/reference")], cpus=1)
    assert result.config.target.domains == {"code": 1.0, "reference": 1.0}
    assert result.config.target.source is None
    # data outside DIR: absolute paths
    assert result.config.data.domains[0].source == str(data / "project/data/code")
    weighted = init_sweep(data / "sweep2", [str(data / "project/data/code"),
                                            str(data / "project/data/reference")],
                          target_domains="code=0.25,reference=0.75", cpus=1)
    assert weighted.config.target.domains == {"code": 0.25, "reference": 0.75}


@pytest.mark.parametrize("arguments, field", [
    ({"target_domains": "code,nope"}, "target_domains"),
    ({"target_domains": "code=-1"}, "target_domains"),
    ({"target_domains": "code=0"}, "target_domains"),
    ({"target": "code=/x.txt"}, "target"),
    ({"target": "held_out.txt", "target_domains": "code"}, "target"),
    ({"name": "9 lives"}, "name"),
    ({"dtype": "float32"}, "dtype"),
    ({"tokenizer": "/no/tokenizer.json"}, "tokenizer"),
])
def test_bad_arguments_are_refused_and_nothing_is_written(data, arguments, field):
    sources = [str(data / "project/data/code"), str(data / "project/data/reference")]
    with pytest.raises(UserError) as caught:
        init_sweep(data / "new", sources, **arguments)
    assert caught.value.field == field
    assert not (data / "new").exists()


def test_a_source_raymix_cannot_read_gives_the_configs_error(data):
    (data / "binary.txt").write_bytes(bytes(range(256)) * 4)  # not text: NUL bytes
    sources = [str(data / "project/data/code"), str(data / "binary.txt")]
    with pytest.raises(ConfigError) as caught:
        init_sweep(data / "new", sources)
    assert caught.value.field == "data.domains[1].source" and "not a text file" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        init_sweep(data / "new", [str(data / "project/data/code"), str(data / "missing")])
    assert caught.value.field == "data.domains[1].source" and "no such file" in str(caught.value)
    assert not (data / "new").exists()


def test_an_existing_config_is_never_overwritten(data):
    sources = [str(data / "project/data/code"), str(data / "project/data/reference")]
    (data / "mine").mkdir()
    (data / "mine" / "sweep.yaml").write_text("name: mine\n")
    with pytest.raises(UserError) as caught:
        init_sweep(data / "mine", sources)
    assert caught.value.field == "folder" and "exists" in caught.value.problem
    assert (data / "mine" / "sweep.yaml").read_text() == "name: mine\n"


def test_dir_under_a_file_is_refused(data):
    sources = [str(data / "project/data/code"), str(data / "project/data/reference")]
    with pytest.raises(UserError) as caught:
        init_sweep(data / "held_out.txt" / "sweep", sources)
    assert caught.value.field == "folder" and "is a file" in caught.value.problem
