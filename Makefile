# The two commands of README.md. Each bootstraps .venv/ when it is missing or stale.
PY := .venv/bin/python

.PHONY: demo test bootstrap
bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	$(PY) -m lava_ternary.cli demo

test: bootstrap
	$(PY) -m pytest -q tests
