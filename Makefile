# The two set-up commands of the README: `make staging` (the main job) and `make test`.
PYTHON ?= python3

.PHONY: install engine staging test render-check lint
install: .make-install.stamp engine

# The Docker engine for the compose backend: installed and started when we are root and none
# answers (scripts/install-docker.sh leaves a running engine alone; not root: nothing to do).
engine:
	@if [ "$$(id -u)" = 0 ] && ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then \
		bash scripts/install-docker.sh; \
	fi

.make-install.stamp: pyproject.toml dashboard/pyproject.toml scripts/install-deps.sh
	bash scripts/install-deps.sh
	touch $@

# The main job runs on the local backend: it needs no container engine, so it starts none.
staging: .make-install.stamp
	$(PYTHON) -m stagectl run

test: install
	$(PYTHON) -m pytest

render-check: .make-install.stamp
	$(PYTHON) -m stagectl render --check

lint: .make-install.stamp
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
