# The two commands of the README. Both create .venv and install synthmed (with torch pinned by
# constraints.txt to the local CPU wheel) before doing anything else, so either works on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs studies clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,docs]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/synthmed demo --output demo-output

test: $(STAMP) lint docs
	$(BIN)/python -m pytest -q --durations=10

# The published studies reproduced (benchmarks/studies/README.md); they need ../shared/data.
STUDY := $(BIN)/python benchmarks/studies
studies: $(STAMP)
	$(STUDY)/nhds_medgan.py
	$(STUDY)/nhds_medgan.py --extended --schema examples/nhds-2010.schema.yaml
	$(STUDY)/code_matrices.py
	$(STUDY)/seizure_corgan.py
	$(STUDY)/seizure_corgan.py --extended
	$(STUDY)/sensor_series.py
	$(STUDY)/sensor_series.py --extended
	$(STUDY)/cleveland_classification.py

# The user guide and API reference (docs/, mkdocs.yml), built strictly: a broken link or reference fails.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) demo-output studies-output site .pytest_cache .ruff_cache .hypothesis
