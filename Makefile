# Parley: the two commands a newcomer needs are `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DB ?= sqlite:///parley.db
BOARD ?= swindon
CLOCK ?=

.PHONY: run demo-april test lint install clean bench bench-docs lock messages

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
	$(BIN)/parley console --db $(DB) --board $(BOARD) $(if $(CLOCK),--clock "$(CLOCK)")

# The README's console examples: a fresh demo database (april.db, replaced each time) whose simulated clock starts
# at Thu 2 Apr 2026 10:00. CLOCK="..." on `make run` does the same for any new database (DB=...).
demo-april: $(STAMP)
	rm -f april.db
	$(MAKE) run DB=sqlite:///april.db CLOCK="2026-04-02 10:00"

test: $(STAMP)
	$(BIN)/python -m pytest

# Quality gates (CI runs them before the tests): ruff, mypy strict on protocol/, mypy on the rest of the application.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy --no-warn-unused-configs protocol
	$(BIN)/mypy bot storage adapters

# Every benchmark at its defaults (under ten minutes on 2 cores): one table, also written to bench/results.md.
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# The same, also putting the tables into docs/performance.md and README.md (a test checks they show the last run).
bench-docs: $(STAMP)
	$(BIN)/python bench/run_all.py --docs

# Re-extract user-facing strings into the message catalogues (English; Welsh when present).
messages: $(STAMP)
	$(BIN)/python -c "from bot.core.i18n import available_languages, update_catalogue; [print(update_catalogue(l)) for l in available_languages()]"

# Regenerate docs/permissions.md from the permission matrix in bot/cases/permissions.py (a test checks they agree).
.PHONY: permissions-doc
permissions-doc: $(STAMP)
	$(BIN)/python -c "from bot.cases.permissions import matrix_markdown; open('docs/permissions.md', 'w').write(matrix_markdown())"

# Regenerate docs/notifications.md from the notification table in bot/notify/notify.py (a test checks they agree).
.PHONY: notifications-doc
notifications-doc: $(STAMP)
	$(BIN)/python -c "from bot.notify.notify import table_markdown; open('docs/notifications.md', 'w').write(table_markdown())"

# Refresh constraints.txt from the current venv after changing dependency ranges.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

# Teams end to end in the Microsoft 365 Agents Playground, in headless Debian Chromium (Playwright). Installs
# chromium (apt, if missing), the playground (npm, into .e2e/) and playwright (pip) first; screenshots go to
# artifacts/teams/. PARLEY_PLAYGROUND=1 turns "not installed" into a failure instead of a skip.
.PHONY: e2e-teams
e2e-teams: $(STAMP)
	VENV_BIN=$(BIN) ./scripts/install_teams_e2e.sh
	PARLEY_PLAYGROUND=1 $(BIN)/python -m pytest -p no:cacheprovider -m playground tests/e2e_teams

clean:
	rm -rf $(VENV) parley.db .pytest_cache .hypothesis
