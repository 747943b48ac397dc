# Two commands: `make run` and `make test`. Each sets itself up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test lint typecheck complexity bench fuzz cluster clean

# pip shows one line per package and a progress bar per download (no --quiet: a first
# set-up takes minutes, and silence looks like a hang).
PIP_INSTALL := $(PIP) install --progress-bar on --disable-pip-version-check

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/activate
	@echo "[axion] installing the runtime packages (requirements.txt) ..."
	$(PIP_INSTALL) -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/activate
	@echo "[axion] installing the runtime and test packages (requirements-dev.txt) ..."
	$(PIP_INSTALL) -r requirements-dev.txt
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime
	$(PY) scripts/run.py

test: $(VENV)/.dev
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-memory://} $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

# App code is what mypy checks: the packages in pyproject.toml's [tool.mypy] files.
APP_PACKAGES = $(shell $(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["tool"]["mypy"]["files"])')

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy .

# No function in app code above grade C; radon prints each offender, and any line fails.
complexity: $(VENV)/.dev
	@offenders="$$($(VENV)/bin/radon cc -s -n D -i tests,migrations -e '*conftest.py' $(APP_PACKAGES))"; \
	if [ -n "$$offenders" ]; then \
	  echo "$$offenders"; echo "radon: functions above grade C (split them by idea)"; exit 1; \
	fi

# Schema fuzzing against a live server on a throwaway PostgreSQL database (longer than CI's).
fuzz: $(VENV)/.dev
	$(PY) scripts/fuzz.py --examples $${FUZZ_EXAMPLES:-50} --seed $${FUZZ_SEED:-20261201}

# Two simulated hosts (own gunicorn, Celery worker and cache folder each) sharing one
# PostgreSQL (DATABASE_URL), one Redis and one bucket (moto); docs/production.md.
cluster: $(VENV)/.dev
	$(PY) scripts/cluster.py $(CLUSTER_ARGS)

bench: $(VENV)/.dev
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf var
