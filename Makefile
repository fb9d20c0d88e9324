# Two commands do all the set-up on a fresh machine (Python 3.11+ with pip and venv):
#   make demo   run the examples/world factory on the local runner
#   make test   lint, then every test suite, each in its own environment
PYTHON ?= python3
TOOLS := .tools
NOX := PATH="$(CURDIR)/$(TOOLS)/bin:$$PATH" $(TOOLS)/bin/nox

.PHONY: demo test lint bench clean

$(TOOLS)/bin/nox:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv nox

demo: $(TOOLS)/bin/nox
	$(NOX) -s demo

test: $(TOOLS)/bin/nox
	$(NOX)

lint: $(TOOLS)/bin/nox
	$(NOX) -s lint

bench: $(TOOLS)/bin/nox
	$(NOX) -s bench

clean:
	rm -rf $(TOOLS) .nox examples/*/data
