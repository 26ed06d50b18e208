# taskline — `make demo` and `make test` are the way in; see README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLOWER_2_0 := $(VENV)/flower-2.0.1
LOCK := .ci/requirements.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
# the dashboards' Node packages (Evidence), as dashboards/package-lock.json pins them
NODE_LOCK := dashboards/package-lock.json
NODE_STAMP := dashboards/node_modules/.installed-$(shell cat $(NODE_LOCK) | cksum | cut -d' ' -f1)
export DUCKDB_PATH ?= data/warehouse.duckdb

.PHONY: setup lock demo test check lint dev serve user docs dashboards bench clean

# bytecode written once for every module: each of the many Dagster and dbt processes starts without compiling
# its imports (where PYTHONDONTWRITEBYTECODE is set, nothing else writes it)
setup: $(STAMP) $(NODE_STAMP)
	@$(BIN)/python -m compileall -q -j 0 orchestration sources demo tests >/dev/null

# uv from PyPI installs the locked set in seconds; re-runs only when pyproject.toml or the lock changes
$(STAMP): pyproject.toml $(LOCK) $(BIN)/uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --constraint $(LOCK) -e '.[dev]'
	# the older Flower line beside the pinned one, for the tests that run both (its deps are the same)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps --target $(FLOWER_2_0) \
	  flower==2.0.1
	rm -f $(VENV)/.installed-* && touch $@

# from the npm registry only, exactly as locked; without Node.js one sentence says what to install (the
# dashboards' build says it again), and the rest of taskline still installs
$(NODE_STAMP): $(NODE_LOCK) dashboards/package.json
	@if command -v npm >/dev/null; then \
	  cd dashboards && npm ci --no-audit --no-fund --loglevel=error && \
	  rm -f node_modules/.installed-* && touch node_modules/$(notdir $@); \
	else echo "The dashboards need Node.js 20 and npm: install them (e.g. apt-get install nodejs npm), then run make setup again." >&2; fi

$(BIN)/uv:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9

# every package's version, resolved from pyproject.toml's pins (run after changing them)
lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --quiet -o $(LOCK)

demo: setup
	$(BIN)/python -m demo.run_demo

# three workers on two cores (many tests wait on a daemon's tick or a run), each test module whole on one (its
# expensive fixtures start once), the heaviest tiers first (tests/conftest.py); the slowest tests listed at the end
test: setup lint
	$(BIN)/pytest -q -n 3 --dist loadscope --no-loadscope-reorder --durations=25

# the quick loop while you work: lint, the unit tests and the dbt unit tests; `make test` adds
# the integration, postgres and end_to_end tiers (pyproject.toml's markers)
check: setup lint
	$(BIN)/pytest -q -m unit -x

# sqlfluff compiles the models through dbt, which opens a warehouse: a throw-away one, not yours
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	scratch=$$(mktemp -d) && DUCKDB_PATH=$$scratch/lint.duckdb $(BIN)/sqlfluff lint dbt_project/models \
	  --processes 2 --quiet; linted=$$?; rm -rf $$scratch; exit $$linted

dev: setup
	$(BIN)/python -m demo.dev

# the Dagster UI + daemon on your own Flower/SQLFlow settings (TASKLINE_HOST, TASKLINE_PORT, DAGSTER_HOME)
serve: setup
	$(BIN)/python -m orchestration.serve

# adds or changes a login of the proxy `make serve` starts (NAME=..., ROLE=viewer|operator, default viewer for a
# new user; file TASKLINE_PASSWORD_FILE)
user: setup
	$(BIN)/python -m orchestration.serve.users add $(NAME) $(if $(ROLE),--role $(ROLE))

# serves the docs the latest run built (DBT_DOCS_PORT, default 8580)
docs: setup
	$(BIN)/python -m orchestration.serve.docs_server

# serves the dashboards the latest build put in place (TASKLINE_DASHBOARDS_PORT, default 8581)
dashboards: setup
	$(BIN)/python -m orchestration.serve.docs_server dashboards

bench: export TASKLINE_DEMO_SHOP := true
bench: setup
	$(BIN)/python -m tests.bench.bench_flower
	$(BIN)/python -m tests.bench.bench_dbt
	$(BIN)/python -m tests.bench.bench_flower_load
	$(BIN)/python -m tests.bench.bench_capture
	$(BIN)/python -m tests.bench.bench_estate
	$(BIN)/python -m tests.bench.bench_dashboards
	# make serve's login under a flood of wrong passwords, in front of a real dagster-webserver
	$(BIN)/python -m tests.bench.bench_login --dagster

clean:
	rm -rf $(VENV) dashboards/node_modules dashboards/.bundled data .demo .dagster_home dbt_project/target dbt_project/logs
