# townhall: two commands. `make demo` sets everything up and runs a live space; `make test` runs the suite.
VENV  := .venv
STAMP := $(VENV)/.installed-stamp
BIN   := $(VENV)/bin

.PHONY: demo test setup lint typecheck unit services clean bench web-vendor

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

setup: $(STAMP)

# `make demo PORT=9080 EDGE_PORT=9081` when 8080 or 8081 is taken.
PORT      ?= 8080
EDGE_PORT ?= 8081

demo: setup
	$(BIN)/townhall demo --data-dir data/demo --port $(PORT) --edge-port $(EDGE_PORT)

services:
	bash scripts/services.sh

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

test: setup services lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider -n 2

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache

# Third-party browser code: pinned releases from the npm registry, committed with their licences.
HLS_JS_VERSION    := 1.7.4
WHIP_WHEP_VERSION := 1.2.0
DASHJS_VERSION    := 5.2.1
VENDOR            := src/townhall/web/vendor

web-vendor:
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	(cd "$$tmp" && npm pack --silent hls.js@$(HLS_JS_VERSION) whip-whep@$(WHIP_WHEP_VERSION) dashjs@$(DASHJS_VERSION) >/dev/null); \
	mkdir -p "$$tmp/hls" "$$tmp/whip" "$$tmp/dash" $(VENDOR)/whip-whep; \
	tar xzf "$$tmp/hls.js-$(HLS_JS_VERSION).tgz" -C "$$tmp/hls"; \
	tar xzf "$$tmp/whip-whep-$(WHIP_WHEP_VERSION).tgz" -C "$$tmp/whip"; \
	tar xzf "$$tmp/dashjs-$(DASHJS_VERSION).tgz" -C "$$tmp/dash"; \
	cp "$$tmp/hls/package/dist/hls.light.min.js" $(VENDOR)/hls.light.min.js; \
	cp "$$tmp/hls/package/LICENSE" $(VENDOR)/hls.js.LICENSE; \
	cp "$$tmp/whip/package/whip.js" "$$tmp/whip/package/LICENSE" $(VENDOR)/whip-whep/; \
	cp "$$tmp/dash/package/dist/modern/umd/dash.mediaplayer.min.js" $(VENDOR)/dash.mediaplayer.min.js; \
	cp "$$tmp/dash/package/LICENSE.md" $(VENDOR)/dashjs.LICENSE; \
	printf 'hls.js %s (dist/hls.light.min.js)\nwhip-whep %s (whip.js)\ndashjs %s (dist/modern/umd/dash.mediaplayer.min.js)\n' $(HLS_JS_VERSION) $(WHIP_WHEP_VERSION) $(DASHJS_VERSION) > $(VENDOR)/VERSIONS; \
	(cd $(VENDOR) && sha256sum hls.light.min.js whip-whep/whip.js dash.mediaplayer.min.js >> VERSIONS)
