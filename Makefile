# The two commands of a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export SPARK_LOCAL_IP ?= 127.0.0.1
export ALGORHYTHMS_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(ALGORHYTHMS_DATA_DIR)/dagster_home
DEMO_PLAYLISTS ?= 5000
# Dagster run config (YAML) for the demo's build: demo.yaml trains the GCN on a smaller budget.
DEMO_CONFIG ?= demo.yaml
DEMO_SEED ?= 7
export API_HOST ?= 127.0.0.1
export API_PORT ?= 8000
MPD_DIR := $(ALGORHYTHMS_DATA_DIR)/mpd

.PHONY: install java demo test lint ui serve stop clean

# torch first, pinned to the CPU build: any other request pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) java

java:
	@scripts/check_java.sh

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: install $(DAGSTER_HOME)/dagster.yaml
	@if ls $(MPD_DIR)/mpd.slice.*.json >/dev/null 2>&1; then \
	  echo "sample data already in $(MPD_DIR)"; \
	else \
	  $(BIN)/algorhythms generate-mpd --playlists $(DEMO_PLAYLISTS) --seed $(DEMO_SEED) --out $(MPD_DIR); \
	fi
	$(BIN)/algorhythms materialize --mpd-dir $(MPD_DIR) $(if $(DEMO_CONFIG),--config $(DEMO_CONFIG))
	@$(BIN)/algorhythms summary
	@BIN=$(BIN) scripts/serve_background.sh

test: install
	@scripts/ensure_tools.sh
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# The API in the foreground (make demo leaves one running in the background: make stop).
serve: install
	$(BIN)/algorhythms serve --host $(API_HOST) --port $(API_PORT)

stop:
	@if [ -f $(ALGORHYTHMS_DATA_DIR)/api.pid ]; then \
	  kill -- -$$(cat $(ALGORHYTHMS_DATA_DIR)/api.pid) 2>/dev/null || true; \
	  rm -f $(ALGORHYTHMS_DATA_DIR)/api.pid; echo "API stopped"; \
	else echo "no API started by make demo"; fi

clean: stop
	rm -rf $(ALGORHYTHMS_DATA_DIR)
