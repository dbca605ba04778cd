# Parley: the two commands a newcomer needs are `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DB ?= sqlite:///parley.db
BOARD ?= swindon

.PHONY: run test install clean bench lock messages

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/parley db upgrade --db $(DB)
	$(BIN)/parley demo load --db $(DB)
	$(BIN)/parley console --db $(DB) --board $(BOARD)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# Re-extract user-facing strings into the message catalogues (English; Welsh when present).
messages: $(STAMP)
	$(BIN)/python -c "from bot.i18n import available_languages, update_catalogue; [print(update_catalogue(l)) for l in available_languages()]"

# Refresh constraints.txt from the current venv after changing dependency ranges.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) parley.db .pytest_cache .hypothesis
