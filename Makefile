# One entry point. A fresh Debian machine with Python 3.11 and Node 20 needs nothing else.
#   make demo   - the main job: synth (cdk-nag), the local double, provisioning by claim and trusted user
#   make test   - every check: ruff, mypy, pytest (every tier)
#   make unit   - the fast tier: every test not marked integration
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo synth test lint typecheck unit bench fuzz-review clean package-check \
	chaos chaos-full fuzz soak soak-short network stations ratios reliability-quick

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

.system-deps: scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	touch $@

setup: .system-deps $(VENV)/.installed node_modules/.installed

demo: synth
	$(PY) scripts/demo.py

# A fresh cdk.out each time (no template of an earlier prefix or stage lingers); the list comes
# from the assembly's manifest, so it names exactly what this synth produced.
synth: setup
	rm -rf cdk.out
	$(CDK) synth --quiet
	@$(PY) -c 'import json; m = json.load(open("cdk.out/manifest.json")); print("\n".join("synthesized cdk.out/" + a["properties"]["templateFile"] for a in m["artifacts"].values() if a["type"] == "aws:cloudformation:stack"))'
	@grep -q '"conclusion": "success"' cdk.out/validation-report.json && echo "cdk-nag AwsSolutions: no unacknowledged finding (cdk.out/validation-report.json)"

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: setup
	$(PY) -m mypy

unit: setup
	$(PY) -m pytest -m "not integration"

test: lint typecheck
	$(PY) -m pytest
	$(MAKE) --no-print-directory reliability-quick

# A station's install, for real: a fresh virtualenv, `pip install .` with every dependency from the
# registry, the console script run from another directory, and no CDK in it (tests/test_packaging.py
# checks the same offline, without the dependencies).
PACKAGE_CHECK := /tmp/iot-fleet-toolkit-package-check
package-check:
	rm -rf $(PACKAGE_CHECK) && $(PYTHON) -m venv $(PACKAGE_CHECK)
	$(PACKAGE_CHECK)/bin/pip install -q .
	cd / && $(PACKAGE_CHECK)/bin/iot-provision --version
	cd / && $(PACKAGE_CHECK)/bin/iot-provision run --help >/dev/null
	cd / && ! $(PACKAGE_CHECK)/bin/python -c 'import aws_cdk' 2>/dev/null && echo "aws_cdk is not installed: good"
	cd / && $(PACKAGE_CHECK)/bin/pip list 2>/dev/null | grep -i -E '^(aws-cdk-lib|jsii|constructs|cdk-nag) ' && exit 1 || echo "no CDK, jsii or cdk-nag in the station's install"
	$(PACKAGE_CHECK)/bin/pip install -q '.[all]'
	cd / && $(PACKAGE_CHECK)/bin/iot-policy-review --version && $(PACKAGE_CHECK)/bin/iot-double --version && $(PACKAGE_CHECK)/bin/iot-defender-ops --version
	rm -rf $(PACKAGE_CHECK) build *.egg-info

bench: setup
	$(PY) bench/bench_synth.py
	$(PY) bench/bench_double.py
	$(PY) bench/bench_credentials.py
	$(PY) bench/bench_factory.py all
	$(PY) bench/bench_review.py

# 10,000 generated templates through the policy review: no crash, no hang (count and time printed).
fuzz-review: setup
	$(PY) bench/fuzz_review.py 10000

# The reliability campaigns (docs/reliability.md). Each prints its invariants or figures; the quick
# ones run in `make test` (about 2 minutes together on 2 cores).
reliability-quick: chaos fuzz soak-short

# Random faults from a printed seed (SEED=n repeats a schedule), then the invariants: `violations: 0`.
chaos: setup
	$(PY) bench/chaos.py --devices 150 --faults 10 $(if $(SEED),--seed $(SEED))

chaos-full: setup
	$(PY) bench/chaos.py --devices 2000 --faults 60 $(if $(SEED),--seed $(SEED))

# Every parser under hypothesis: a result or a clear error, never a crash or a hang (examples per parser).
fuzz: setup
	$(PY) bench/fuzz.py --examples $(or $(EXAMPLES),300)

# One station at the quota rate: RSS, open files and threads into soak-results/soak.csv and soak.png.
soak: setup
	$(PY) bench/soak.py --minutes 30 --every 10

soak-short: setup
	$(PY) bench/soak.py --minutes 1 --every 2

# 50/100/150 ms RTT and 1% loss between the station and the double: workers needed for >= 95% of the quota.
network: setup
	$(PY) bench/network.py

# Five stations at once against the account-wide quota.
stations: setup
	$(PY) bench/stations.py

# The performance ratios in one run, with a profile of where the time goes.
ratios: setup
	$(PY) bench/ratios.py

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache .system-deps
