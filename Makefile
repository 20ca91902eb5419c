# Two commands matter: `make run` (set up, then run the whole stack in the foreground)
# and `make test` (set up, then run every test tier). Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CLAUDE_VERSION := 2.1.332
CLAUDE_DIR := .tools/claude
CLAUDE_PINNED := $(CLAUDE_DIR)/node_modules/.bin/claude
CLAUDE_STAMP := $(CLAUDE_DIR)/.installed-$(CLAUDE_VERSION)
# The oldest CLI still supported (workerd/cli/version.py OLDEST_SUPPORTED names it too): the
# compat selection runs the CLI stack tests against it.
CLAUDE_COMPAT_VERSION := 2.1.197
CLAUDE_COMPAT_DIR := .tools/claude-$(CLAUDE_COMPAT_VERSION)
CLAUDE_COMPAT_BIN := $(CLAUDE_COMPAT_DIR)/node_modules/.bin/claude
CLAUDE_COMPAT_STAMP := $(CLAUDE_COMPAT_DIR)/.installed-$(CLAUDE_COMPAT_VERSION)
COMPAT_TESTS := tests/integration/test_cli_modes.py tests/integration/test_sessions.py \
	tests/integration/test_tools.py tests/integration/test_reasoning.py \
	tests/integration/test_structured_answers.py tests/integration/test_quota.py \
	tests/integration/test_messages_door.py
OPENAI_NODE_VERSION := 7.59.0
CODEX_VERSION := 0.171.0
CLIENTS_DIR := .tools/clients
CLIENTS_STAMP := $(CLIENTS_DIR)/.installed-openai-$(OPENAI_NODE_VERSION)-codex-$(CODEX_VERSION)
CODEX_PINNED := $(CLIENTS_DIR)/node_modules/.bin/codex
PROTO_SRC := $(wildcard protos/*.proto)
PROTO_GEN := $(PROTO_SRC:.proto=_pb2.py) $(PROTO_SRC:.proto=_pb2.pyi) $(PROTO_SRC:.proto=_pb2_grpc.py) $(PROTO_SRC:.proto=_pb2_grpc.pyi)

.PHONY: setup venv protos protos-fresh claude claude-compat clients run run-workers keys certs test-compat test lint fmt bench bench-profile litellm py-spy clean

setup: venv protos

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

protos: $(PROTO_GEN)

$(PROTO_GEN) &: $(PROTO_SRC) $(VENV)/.installed
	$(PY) -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. \
		--plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc --mypy_grpc_out=. $(PROTO_SRC)
	touch $(PROTO_GEN)

protos-fresh: protos
	git diff --exit-code -- protos/

# The pinned Claude Code CLI, into the repo (git-ignored). The package's postinstall copies the
# native binary into place; when npm skips install scripts we run it ourselves.
claude: $(CLAUDE_STAMP)

# A version stamp, so that bumping CLAUDE_VERSION reinstalls.
$(CLAUDE_STAMP):
	$(call install_claude,$(CLAUDE_DIR),$(CLAUDE_VERSION))
	touch $@

claude-compat: $(CLAUDE_COMPAT_STAMP)

$(CLAUDE_COMPAT_STAMP):
	$(call install_claude,$(CLAUDE_COMPAT_DIR),$(CLAUDE_COMPAT_VERSION))
	touch $@

define install_claude
	rm -rf $(1)
	mkdir -p $(1)
	npm install --prefix $(1) --no-save --no-audit --no-fund --loglevel=error \
		@anthropic-ai/claude-code@$(2)
	$(1)/node_modules/.bin/claude --version >/dev/null 2>&1 || \
		(cd $(1)/node_modules/@anthropic-ai/claude-code && node install.cjs)
	$(1)/node_modules/.bin/claude --version
endef

# The real clients the tests drive the proxy with: the openai Node SDK and the Codex CLI (its
# native binary comes as an optional dependency for this platform), pinned, into the repo.
clients: $(CLIENTS_STAMP)

$(CLIENTS_STAMP):
	rm -rf $(CLIENTS_DIR)
	mkdir -p $(CLIENTS_DIR)
	npm install --prefix $(CLIENTS_DIR) --no-save --no-audit --no-fund --loglevel=error \
		openai@$(OPENAI_NODE_VERSION) @openai/codex@$(CODEX_VERSION)
	$(CODEX_PINNED) --version
	touch $@

# Installs the pinned CLI only when no `claude` is configured (CLAUDE_BIN) or on PATH.
run: setup
	@if [ -z "$$CLAUDE_BIN" ] && ! command -v claude >/dev/null 2>&1; then $(MAKE) --no-print-directory claude; fi
	exec $(PY) -m supervisor_conf.launch

# A worker host (README, "Running on several hosts"): only this host's workerds, each on TCP with
# mutual TLS, from this host's own WORKERS (the credentials never leave it).
run-workers: setup
	@if [ -z "$$CLAUDE_BIN" ] && ! command -v claude >/dev/null 2>&1; then $(MAKE) --no-print-directory claude; fi
	exec $(PY) -m supervisor_conf.launch --role workers

# Keys for every person and tool (README, "Keys"): make keys ARGS="create ci --rpm 60"
keys: setup
	$(PY) -m controller.keys $(ARGS)

# A CA (made once, never replaced) and one certificate per host for mutual TLS between hosts
# (README, "Running on several hosts"); it prints each host's TLS_* lines for its .env:
# make certs CERTS_ARGS="--out certs --host controller=10.0.0.1 --host worker-a=10.0.0.2"
certs: setup
	$(PY) -m common.certs $(CERTS_ARGS)

# Debian's Chromium for the dashboard's browser test (Playwright drives it; it never downloads one).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	$$( [ "$$(id -u)" -eq 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive \
		sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends chromium' 

# Debian's iptables for tests/netns.py's delay and loss between simulated hosts: this kernel has
# no sch_netem (tc's netem), so an NFQUEUE and a verdict process do it.
IPTABLES := /usr/sbin/iptables

$(IPTABLES):
	$$( [ "$$(id -u)" -eq 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive \
		sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends iptables'

IP := /usr/sbin/ip

$(IP):
	$$( [ "$$(id -u)" -eq 0 ] || echo sudo ) env DEBIAN_FRONTEND=noninteractive \
		sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends iproute2'

test: setup claude clients $(CHROMIUM) $(IPTABLES) $(IP)
	CLAUDE_BIN=$(abspath $(CLAUDE_PINNED)) CODEX_BIN=$(abspath $(CODEX_PINNED)) \
		OPENAI_NODE_DIR=$(abspath $(CLIENTS_DIR)/node_modules/openai) $(PY) -m pytest $(PYTEST_ARGS)

# The CLI stack tests on the oldest supported CLI (`make test` runs everything on the pin).
test-compat: setup claude-compat
	CLAUDE_BIN=$(abspath $(CLAUDE_COMPAT_BIN)) $(PY) -m pytest $(COMPAT_TESTS) $(PYTEST_ARGS)

# What `make bench` compares against and profiles with: LiteLLM's proxy in a venv of its own
# (pinned: the version the hot-path issue measured) and py-spy in the project's venv.
LITELLM_VERSION := 1.108.7
LITELLM_DIR := .tools/litellm
LITELLM_STAMP := $(LITELLM_DIR)/.installed-$(LITELLM_VERSION)
PY_SPY_VERSION := 0.4.3
PY_SPY_STAMP := $(VENV)/.installed-py-spy-$(PY_SPY_VERSION)

litellm: $(LITELLM_STAMP)

$(LITELLM_STAMP):
	rm -rf $(LITELLM_DIR)
	$(PYTHON) -m venv $(LITELLM_DIR)
	$(LITELLM_DIR)/bin/pip install -q --upgrade pip
	$(LITELLM_DIR)/bin/pip install -q 'litellm[proxy]==$(LITELLM_VERSION)'
	touch $@

py-spy: $(PY_SPY_STAMP)

$(PY_SPY_STAMP): $(VENV)/.installed
	$(VENV)/bin/pip install -q py-spy==$(PY_SPY_VERSION)
	touch $@

bench: setup claude litellm py-spy $(IPTABLES) $(IP)
	CLAUDE_BIN=$(abspath $(CLAUDE_PINNED)) $(PY) -m bench

# The hot-path comparison only, with every proxy process recorded by py-spy during the
# concurrency-10 phases: flame graphs and top functions in bench/results/profiles/.
bench-profile: setup litellm py-spy
	BENCH_PROFILE=1 $(PY) -m bench --only hot_path

lint: setup
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy common frontdoor controller workerd supervisor_conf tests bench

fmt: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .tools var .mypy_cache .ruff_cache .pytest_cache test-artifacts
