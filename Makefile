# The two commands of a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export SPARK_LOCAL_IP ?= 127.0.0.1
export ALGORHYTHMS_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(ALGORHYTHMS_DATA_DIR)/dagster_home
DEMO_PLAYLISTS ?= 5000
DEMO_SEED ?= 7
MPD_DIR := $(ALGORHYTHMS_DATA_DIR)/mpd

.PHONY: install java demo test lint ui clean

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
	$(BIN)/algorhythms materialize --mpd-dir $(MPD_DIR)
	@$(BIN)/algorhythms summary

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

clean:
	rm -rf $(ALGORHYTHMS_DATA_DIR)
