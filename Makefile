# Two commands on a fresh machine:  make demo   and   make test
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.raymix-installed

.PHONY: setup browser demo tasks-demo scaling-demo adaptive-demo lint test test-unit test-slow bench clean

setup: $(STAMP) browser

# The CPU build of torch (a file on this kind of machine) goes in first on machines without
# a GPU, so that pip does not pull a multi-GB CUDA build; a GPU machine keeps or gets CUDA.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	if ! command -v nvidia-smi >/dev/null 2>&1 && ! $(PY) -c "import torch" 2>/dev/null; then \
		$(PY) -m pip install -q torch==2.13.0; fi
	$(PY) -m pip install -q -e ".[test]"
	touch $@

# headless Chromium for tests/e2e/test_report_html.py (skipped without it): Debian's
# packages, installed as root where apt-get works; never a reason for setup to fail
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver >/dev/null) \
		|| echo "setup: could not install chromium + chromium-driver; the browser test will skip"; \
	else echo "setup: chromium + chromium-driver missing (apt-get install chromium" \
		"chromium-driver as root); the browser test will skip"; fi

demo: setup
	$(VENV)/bin/raymix sweep jobs/configs/demo.yaml

# the target-scale workflow: a sweep at 3 proxy sizes, then a check at 4x the proxy size
scaling-demo: setup
	$(VENV)/bin/raymix sweep jobs/configs/scaling.yaml
	$(VENV)/bin/raymix validate jobs/configs/scaling.yaml

# the demo's domains, chosen for downstream tasks: cloze and multiple-choice items cut from
# Python's language reference, scored in bits per byte (target.tasks)
tasks-demo: setup
	$(VENV)/bin/raymix sweep jobs/configs/tasks.yaml

# the demo's question with 24 adaptively chosen proxies in place of 48 random ones
adaptive-demo: setup
	$(VENV)/bin/raymix sweep jobs/configs/adaptive.yaml

# ruff, and the import layers of docs/ARCHITECTURE.md (import-linter's contracts in
# pyproject.toml): a module never imports from a layer above its own
lint: setup
	$(VENV)/bin/ruff check raymix tests bench jobs
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest -q --durations=15 tests

# the fast part alone (no Ray cluster, no download): about 3 minutes
test-unit: setup
	$(PY) -m pytest -q tests/unit

# the longest end-to-end tests (multi-scale + validate, continual pretraining,
# a node removed mid-sweep, a confirmation round killed and resumed, the README's Python
# API, RegMix's proxy shrunk, compiled and not, `raymix submit` and `ray job submit` of
# jobs, a killed aggregator, a killed trial worker, storage that refuses results, a MixMin
# sweep, Ray Data tokenizing as one process does, killed adaptive sweeps of 1 and 2 proxies
# a trial, a diverging proxy, a sweep and a MixMin sweep with a task target, an unreachable
# tracking server, a shrunk copy of what `raymix init` writes, a sweep into an S3 bucket
# and commands reading it back, a sweep killed and resumed from an S3 bucket, a bucket
# that starts refusing writes mid-sweep, reuse of an earlier sweep's runs, a schedule
# validated at another length, a newcomer's whole
# path from a wheel built from this clone: init, plan, submit to a token-authenticated head,
# the report read back from S3, a sweep of 300 runs killed twice, a killed group sweep and a
# group trial killed and resumed from its checkpoints, an autoscaling cluster from zero, the
# fuzz tests at ten times the examples): about 50 minutes more here; CI runs them too
test-slow: setup
	$(PY) -m pytest -q -m slow --durations=5 tests

bench: setup
	$(PY) bench/bench_proxy_speed.py
	$(PY) bench/bench_proxy_noise.py --variant lr=0.004,warmup_steps=48,min_lr_ratio=0.1
	$(PY) bench/bench_sweep_efficiency.py
	# fitting and proposing, on published runs read from ../shared/reference
	$(PY) bench/bench_regmix.py
	$(PY) bench/bench_mixing_laws.py
	$(PY) bench/bench_proposal_speed.py
	$(PY) bench/bench_scaling_laws.py
	# the settings a backtest chooses, the mixing law on sparse swarms, ranking transfer,
	# the proposal's bootstrap, one proposal per objective, batch-synchronous adaptive sweeps
	$(PY) bench/bench_backtest.py
	$(PY) bench/bench_mixing_law_swarms.py
	$(PY) bench/bench_ranking_transfer.py
	$(PY) bench/bench_bootstrap.py
	$(PY) bench/bench_objectives.py
	$(PY) bench/bench_reproducible.py
	# big tables (10k to 1M runs) through fit and propose; a group's per-model checkpoints
	$(PY) bench/bench_big_table.py
	$(PY) bench/bench_group_checkpoints.py
	# after make demo / make adaptive-demo: their proposals at 4x the parameters, 2x the tokens
	if [ -f runs/demo/proposal.json ]; then $(PY) bench/bench_proposal_at_scale.py; fi
	if [ -f runs/adaptive/proposal.json ]; then \
		$(PY) bench/bench_proposal_at_scale.py --config jobs/configs/adaptive.yaml; fi
	$(PY) bench/bench_critical.py
	# the memory estimate against measured peaks (on a GPU machine: --device cuda --shapes 40)
	$(PY) bench/bench_proxy_memory.py --device cpu --shapes 8 --seed 1 --max-logits-gb 0.5
	if [ -f runs/demo/proposal.json ]; then $(PY) bench/bench_proposal_check.py; \
	else echo "bench_proposal_check.py needs a finished demo: run 'make demo' first"; fi
	# search strategies: on RegMix's response surface (~10 min), then with real proxies on
	# the built-in corpus (~50 min on 2 cores; resumes from its cache of trained runs)
	$(PY) bench/bench_strategy_surface.py
	$(PY) bench/bench_strategy_builtin.py
	$(PY) bench/bench_strategy_latency.py

clean:
	rm -rf runs .raymix .pytest_cache
