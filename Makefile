# SPDX-License-Identifier: GPL-2.0-or-later
# `make demo` and `make test` each do the whole set-up first; a second run skips what is done.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PLUGIN      := landslide_detector
VENV        := .venv
PY          := $(VENV)/bin/python
BUILD       := .build
PLUGINPATH  := $(CURDIR)/$(BUILD)/plugins
SYS_PKGS    := qgis python3-qgis qgis-providers python3-gdal gdal-bin python3-venv xvfb xauth imagemagick \
               qttools5-dev-tools pyqt5-dev-tools
HEADLESS    := QT_QPA_PLATFORM=offscreen QGIS_PLUGINPATH=$(PLUGINPATH)
VERSION     := $(shell sed -n 's/^version=//p' metadata.txt)
# Translations: i18n/*.ts are the sources (committed); the .qm files lrelease compiles from them are
# built here and by tools/package.py, never committed (one source, never a stale binary).
TS_FILES    := $(wildcard i18n/$(PLUGIN)_*.ts)
QM_FILES    := $(TS_FILES:.ts=.qm)
I18N_SOURCES := plugin.py $(wildcard ui/*.py ui/*.ui processing_provider/*.py)

.PHONY: help setup sysdeps test test-unit test-qgis demo lint package bench train screenshot clean \
        translations update-translations

help:
	@echo "make demo     set up, then detect landslides on the bundled sample through qgis_process"
	@echo "make test     set up, then run the whole test suite headless"
	@echo "make lint | package | bench | train | screenshot | clean"
	@echo "make update-translations   refresh i18n/*.ts from the code (then translate, e.g. in Qt Linguist)"

# --- set-up -----------------------------------------------------------------------------------
sysdeps:
	@missing=$$(for p in $(SYS_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:" $$missing; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "Missing Debian packages: $$missing"; \
	    echo "Install them with: sudo apt-get install --no-install-recommends $$missing"; exit 1; \
	  fi; \
	fi

$(VENV)/.deps-ok: requirements.txt requirements-dev.txt
	@$(MAKE) --no-print-directory sysdeps
	test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# QGIS imports a plugin by its folder name; the repo root is the plugin, linked under that name.
$(BUILD)/plugins/$(PLUGIN):
	mkdir -p $(BUILD)/plugins
	ln -sfn ../.. $@

setup: $(VENV)/.deps-ok $(BUILD)/plugins/$(PLUGIN) translations

# --- translations -------------------------------------------------------------------------------
translations: $(QM_FILES)

i18n/%.qm: i18n/%.ts
	@command -v lrelease >/dev/null || $(MAKE) --no-print-directory sysdeps
	lrelease -silent $< -qm $@

# Collects every tr() text of the dock, the button and the algorithms into the .ts files, keeping
# the translations already made and dropping texts the code no longer has.
update-translations:
	pylupdate5 -noobsolete $(I18N_SOURCES) -ts $(TS_FILES)

# --- the two contract commands ----------------------------------------------------------------
test: setup
	$(MAKE) --no-print-directory test-unit test-qgis

test-unit: setup
	$(HEADLESS) $(PY) -m pytest -p no:pytest_qgis tests/unit

test-qgis: setup
	$(HEADLESS) $(PY) -m pytest tests/qgis

demo: setup
	$(HEADLESS) $(PY) tools/demo.py

# --- everything else --------------------------------------------------------------------------
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

package: setup
	$(PY) tools/package.py --output dist/$(PLUGIN)-$(VERSION).zip

bench: setup
	$(HEADLESS) $(PY) -m bench.run

# Retrain the shipped model: U-Net and DA-U-Net side by side, export, border check (model/README.md).
train: setup
	PY=$(PY) DATA=$(or $(DATA),../shared/data/landslides) bash model/reproduce.sh

screenshot: setup
	$(PY) tools/screenshot.py --output docs/screenshot.png

clean:
	rm -rf $(BUILD) dist demo-output .pytest_cache .ruff_cache
