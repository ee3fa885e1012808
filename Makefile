# Two commands do all set-up: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test a11y install clean translations

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make run: install, create database + index, load content/, serve on http://127.0.0.1:8000
## (make run PORT=8123 for another port)
PORT ?= 8000
run: $(STAMP)
	$(BIN)/portal init
	$(BIN)/portal serve --port $(PORT)

## make test: install and run the whole test suite (on SQLite, and again on
## PostgreSQL when PORTAL_TEST_DATABASE_URL names a server, as .ci/run sets it)
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)
	@if [ -n "$$PORTAL_TEST_DATABASE_URL" ]; then \
	  echo "== the same suite on PostgreSQL =="; \
	  PORTAL_TEST_BACKEND=postgresql $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS); \
	fi

## make a11y: only the accessibility checks (axe-core, keyboard, reflow, print) in headless Chromium
a11y: $(STAMP)
	$(BIN)/python -m pytest tests/test_accessibility.py $(PYTEST_ARGS)

## make translations: extract every wrapped string (babel.cfg: Python + Jinja) into
## portal/translations/messages.pot, merge it into the English catalog
## (portal/translations/en/LC_MESSAGES/messages.po) and compile messages.mo.
## The Dutch text is the msgid; new msgids arrive untranslated: translate them in
## the .po, then run this again (tests/test_i18n.py fails while one is missing).
TRANSLATIONS := portal/translations
translations: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -k N_ --no-location --sort-output \
	  --project=portal --copyright-holder="Kennisportaal sleutelfiguren" \
	  -o $(TRANSLATIONS)/messages.pot .
	@if [ -f $(TRANSLATIONS)/en/LC_MESSAGES/messages.po ]; then \
	  $(BIN)/pybabel -q update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -l en \
	    --no-fuzzy-matching --ignore-obsolete; \
	else \
	  $(BIN)/pybabel init -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -l en; \
	fi
	$(BIN)/pybabel compile --statistics -d $(TRANSLATIONS) -l en

clean:
	rm -rf $(VENV) instance search_index/*[!p]
