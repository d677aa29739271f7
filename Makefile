# Two commands do all the set-up on a fresh Debian machine (Python 3.11, git, make):
#   make demo   syncd's main job on a throwaway repo and a real systemd unit
#   make test   the whole test suite (as root: it chowns to a real system user)
#   make unit   the fast tests of pure logic (tests/unit/: no root, no systemd, seconds)
#   make lint   ruff and mypy, as configured in pyproject.toml
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test unit lint bench clean

# Debian's python3 needs python3-venv for `-m venv`; as root, install it when it is missing.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV) 2>/dev/null || { rm -rf $(VENV); [ "$$(id -u)" = 0 ] && \
	  apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); } || \
	  { echo "cannot create $(VENV): install python3-venv (apt-get install python3-venv)"; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/syncd demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

unit: $(BIN)/.installed
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache
