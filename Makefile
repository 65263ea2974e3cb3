# The two set-up commands of the README: `make staging` (the main job) and `make test`.
PYTHON ?= python3

.PHONY: install staging test render-check lint
install: .make-install.stamp

.make-install.stamp: pyproject.toml dashboard/pyproject.toml scripts/install-deps.sh
	bash scripts/install-deps.sh
	touch $@

staging: install
	$(PYTHON) -m stagectl run

test: install
	$(PYTHON) -m pytest

render-check: install
	$(PYTHON) -m stagectl render --check

lint: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
