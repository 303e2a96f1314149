# The two commands a newcomer needs: `make run` and `make test`. Each sets itself up first.
.PHONY: install proto run test lint typecheck bench soak clean

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTO := protos/authsvc/v1/auth.proto
GENERATED := src/authsvc/v1/auth_pb2.py src/authsvc/v1/auth_pb2_grpc.py src/authsvc/v1/auth_pb2.pyi
# google/rpc/status.proto comes with googleapis-common-protos (installed with grpcio-status).
GOOGLEAPIS = $$($(BIN)/python -c 'import google.rpc.status_pb2 as m, pathlib; print(pathlib.Path(m.__file__).parents[2])')
PROTOC = $(BIN)/python -m grpc_tools.protoc -I protos -I $(GOOGLEAPIS) --python_out=src --grpc_python_out=src --pyi_out=src

install: $(STAMP) $(GENERATED)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Generated code is not committed: it is made from the proto, so it can never drift from it.
$(GENERATED) &: $(PROTO) $(STAMP)
	$(PROTOC) $(PROTO)

proto: $(STAMP)
	$(PROTOC) $(PROTO)

# AuthService (gRPC, 127.0.0.1:50051) and the REST facade (http://127.0.0.1:8080), stopped together.
run: install
	$(BIN)/python -m http_facade.devrun

lint: install
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench

typecheck: install
	$(BIN)/mypy
	$(BIN)/mypy examples
	$(BIN)/mypy bench

# Debian packages some tests and the bench drive as real peers (command:package), installed
# through apt-get when missing (as root, else with sudo): fixtures only start them.
TEST_TOOLS := nginx:nginx caddy:caddy pgbouncer:pgbouncer
BENCH_TOOLS := h2load:nghttp2-client wrk:wrk
define ensure_tools
	@missing=""; for pair in $(1); do \
		command -v $${pair%%:*} >/dev/null || [ -x /usr/sbin/$${pair%%:*} ] || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "installing$$missing from Debian"; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing \
		|| { $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; }; \
	fi
endef

test: install lint typecheck
	$(call ensure_tools,$(TEST_TOOLS))
	$(BIN)/python -m pytest

# The issue-6 benchmark (about 4.5 minutes on 2 cores): a table on stdout, bench/results/latest.json.
# Installs the `bench` extra, and h2load (Debian nghttp2-client) and wrk (see ensure_tools).
# `make bench BENCH_ARGS="--only 1a,1b --no-profile"`: see `python -m bench --help`.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: install $(BENCH_STAMP)
	$(call ensure_tools,$(BENCH_TOOLS))
	$(BIN)/python -m bench $(BENCH_ARGS)

# Issue 17's soak: two replicas and the facade under mixed load, a line per process each minute.
# SOAK_MINUTES (default 10, at least 1), SOAK_CONCURRENCY (default 8).
soak: install $(BENCH_STAMP)
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) $(GENERATED) .pytest_cache .ruff_cache .mypy_cache
