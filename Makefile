# One entry for each routine task.  `make demo` and `make test` work on a fresh machine with
# Python 3.11: they create .venv, install likeness with the pinned versions, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.likeness-installed

.PHONY: demo test test-slow docs lint typecheck bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# the distribution was called "likeness" before 0.2 (a name another project holds)
	$(BIN)/python -m pip uninstall --quiet --yes likeness 2>/dev/null || true
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# LPIPS joins the demo when its AlexNet checkpoint is cached or can be downloaded now (with
# a progress bar, verified by SHA-256); offline the demo goes on without it and says how
demo: $(STAMP)
	@if $(BIN)/likeness weights path alexnet >/dev/null 2>&1 || \
		{ test "$$LIKENESS_OFFLINE" != 1 && $(BIN)/likeness weights download alexnet; }; then \
		metrics=ssim,psnr,ms-ssim,lpips; \
	else \
		metrics=ssim,psnr,ms-ssim; \
		echo "LPIPS left out: its AlexNet weights are not cached and cannot be downloaded here; run '$(BIN)/likeness weights download alexnet' on a machine with internet (or 'likeness weights import FILE' offline) to add it"; \
	fi; \
	$(BIN)/likeness compare samples/reference samples/stylized samples/jpeg --metrics $$metrics \
		--out-dir demo-results --overwrite

# the whole suite but the slow tests (marked ``slow``: full-size networks, minutes each), by
# two workers of half the cores each unless OMP_NUM_THREADS says otherwise (two workers of
# a thread a core each had the cores oversubscribed); the tests of threads set their own
test: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-$$(( ($$(nproc 2>/dev/null || echo 2) + 1) / 2 ))} \
		$(BIN)/python -m pytest -n 2 --dist loadfile -q -m "not slow"

# the slow tests alone (CI runs both targets)
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# the documentation site, strictly (a broken link or docstring is an error): site/
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	cd benchmarks && for script in bench_*.py; do ../$(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache demo-results site
