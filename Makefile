# The two commands of the README: `make serve` and `make test`. Both set up what they need.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: serve test lint bench install

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,embed,ocr,asr,llm-anthropic,llm-gemini]"
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/learningtool serve $(if $(PORT),--port $(PORT))

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python bench/jobs.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/feed.py
	$(BIN)/python bench/chat.py
	$(BIN)/python bench/research.py
