# Two commands do all the set-up on a fresh machine (Python 3.11+ with pip and venv):
#   make demo   run the examples/world factory on the local runner
#   make test   lint and every test suite, each in its own environment, in three lanes side by side
PYTHON ?= python3
TOOLS := .tools
NOX := PATH="$(CURDIR)/$(TOOLS)/bin:$$PATH" $(TOOLS)/bin/nox

# `make test` runs the nox sessions in three lanes side by side, each lane one session after
# another. The orchestrator suites spend most of their time waiting on schedulers, servers
# and subprocesses, so on 2 cores they fit beside the CPU-bound core suite (measured: 6 minutes
# side by side, 8 one after another). Airflow's sessions share a lane, Dagster's and Prefect's
# another; none of them shares a database, a port or a Redis queue with another (each makes
# its own), and the flows' virtualenv that three of them use is built under a lock (noxfile.py).
# `make test JOBS=1` runs the lanes one after another; `make test PYTEST_ARGS=--durations=20`
# passes arguments to every session's pytest.
JOBS ?= 3
PYTEST_ARGS ?=
SESSIONS := core lint airflow airflow_external dagster prefect
LOGS := test-artifacts/sessions

.PHONY: demo test lint bench clean

$(TOOLS)/bin/nox:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv nox

demo: $(TOOLS)/bin/nox
	$(NOX) -s demo

# Each session's output goes to $(LOGS)/<session>.log and is printed whole when the session
# ends; a failed session never stops the others, and the summary at the end names each
# one's result. A line says when each session starts, so a long run is never silent.
test: $(TOOLS)/bin/nox
	@rm -rf $(LOGS) && mkdir -p $(LOGS) && date +%s > $(LOGS)/started
	@$(MAKE) --no-print-directory -j $(JOBS) $(addprefix session/,$(SESSIONS))
	@echo "===== make test: $$(($$(date +%s) - $$(cat $(LOGS)/started)))s in all ====="
	@cat $(addprefix $(LOGS)/,$(addsuffix .result,$(SESSIONS)))
	@! grep -q FAILED $(addprefix $(LOGS)/,$(addsuffix .result,$(SESSIONS)))

# The lanes: a session starts when the one before it in its lane has ended (whatever its
# result). The core suite, the longest, has a lane of its own; lint (40 s with a cold mypy
# cache) goes before Airflow's.
session/airflow: | session/lint
session/airflow_external: | session/airflow
session/prefect: | session/dagster

# Prints under a lock (a directory: mkdir is atomic everywhere), so that one session's
# output never lands in the middle of another's.
PRINT_LOCKED = until mkdir $(LOGS)/print.lock 2>/dev/null; do sleep 1; done; \
	{ $(1); }; rmdir $(LOGS)/print.lock

# Always succeeds, so that the next session of its lane runs: `test` reads the result file.
session/%:
	@$(call PRINT_LOCKED,echo "----- session $*: started (output in $(LOGS)/$*.log)")
	@start=$$(date +%s); \
	$(NOX) -s $* $(if $(PYTEST_ARGS),-- $(PYTEST_ARGS)) > $(LOGS)/$*.log 2>&1; code=$$?; \
	took="$$(($$(date +%s) - start))s"; \
	if [ $$code -eq 0 ]; then result="passed"; else result="FAILED (exit $$code)"; fi; \
	echo "  $*: $$result in $$took" > $(LOGS)/$*.result; \
	$(call PRINT_LOCKED,echo "===== session $*: $$result in $$took; its output: =====" && \
		cat $(LOGS)/$*.log && echo "===== end of session $*: $$result =====")

lint: $(TOOLS)/bin/nox
	$(NOX) -s lint

bench: $(TOOLS)/bin/nox
	$(NOX) -s bench

clean:
	rm -rf $(TOOLS) .nox examples/*/data
