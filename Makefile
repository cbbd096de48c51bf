# The two commands of the README. Each sets up what is missing (Debian packages, the virtual
# environment and its packages) and then does its job.
VENV    := .venv
PY      := $(VENV)/bin/python
READY   := $(VENV)/.ready
PYTHON  ?= python3

.PHONY: demo test deps lint bench clean messages

demo: $(READY)
	$(VENV)/bin/peakend demo

test: $(READY)
	$(PY) -m pytest

deps:
	bash deploy/install-deps.sh hub kiosk edge dev

$(READY): pyproject.toml deploy/install-deps.sh
	bash deploy/install-deps.sh hub kiosk edge dev
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[kiosk,edge,server,dev]'
	touch $(READY)

lint: $(READY)
	$(VENV)/bin/ruff check .

bench: $(READY)
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# After changing page text: extract it, merge it into each language's catalogue (translate
# the new entries there), and compile the catalogues the package ships.
LOCALES := broker/hub/locales
messages: $(READY)
	$(VENV)/bin/pybabel extract -F $(LOCALES)/babel.cfg -k N_ -k ngettext:1,2 --no-location \
		--sort-output --project peakend -o $(LOCALES)/messages.pot .
	$(VENV)/bin/pybabel update -i $(LOCALES)/messages.pot -d $(LOCALES) --no-fuzzy-matching \
		--ignore-obsolete
	$(VENV)/bin/pybabel compile -d $(LOCALES) --statistics

clean:
	rm -rf $(VENV) tests/artifacts .pytest_cache
