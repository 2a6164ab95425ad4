# Two commands do everything: `make demo` and `make test`. Both create .venv if missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test,camera,scale,service,report,people]"
	# CHOLMOD is optional: it builds only where Debian's libsuitesparse-dev is installed. Its
	# compiler errors go to a log, so a machine without it sees one line, not a failed build.
	@$(PY) -m pip install --quiet -c constraints.txt -e ".[cholmod]" >$(VENV)/cholmod-install.log 2>&1 \
	    && echo "CHOLMOD solver installed" \
	    || echo "CHOLMOD solver skipped (optional; crossings uses AMG + CG instead): it needs apt-get install libsuitesparse-dev; pip's output is in $(VENV)/cholmod-install.log"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/crossings demo --out crossings-out

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts

bench: $(STAMP)
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) crossings-out
