# Kairos — developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.kairos-installed
PROTO_SRC := $(wildcard protos/kairos/v1/*.proto)
ARTIFACT ?= artifacts/ml100k-full

.DEFAULT_GOAL := help
.PHONY: help install system-deps protos test test-unit lint format bench clean k8s-validate loadtest demo up down status soak triton features eval model cold-start new-users retrain

demo: install  ## THE MAIN JOB: train/reuse a model, start Triton + user-state + ranker, ingest, replay, recommend, stop
	$(PY) -m deploy.local demo

up: install  ## start the local suite and leave it running (Triton, user-state, ranker)
	$(PY) -m deploy.local up

down:  ## stop the local suite started by `make up` (graceful SIGTERM)
	$(PY) -m deploy.local down

status:  ## which local-suite processes run
	$(PY) -m deploy.local status

RETRAIN_CONFIG ?= recmodel/configs/retrain.yaml
RETRAIN_ARGS ?=
retrain: install  ## one retraining run: event log + item store -> train -> gate vs served -> publish (docs/retraining.md)
	$(PY) -m recmodel.retrain --config $(RETRAIN_CONFIG) $(RETRAIN_ARGS)

help:  ## list targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install: $(STAMP) protos  ## create .venv, install torch==2.13.0 first, then the pinned dependency set (idempotent)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==25.3
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -r requirements.lock
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $@

system-deps:  ## install missing system packages the tests use (redis-server, promtool, openssl)
	./scripts/system-deps.sh

protos: $(STAMP)  ## regenerate gRPC stubs from protos/ into kairos/v1/
	$(PY) -m grpc_tools.protoc -I protos --python_out=. --pyi_out=. --grpc_python_out=. $(PROTO_SRC)

test: install system-deps  ## the whole suite: unit + integration against real servers
	$(PY) -m pytest -q -rs

test-unit: install  ## fast tests only
	$(PY) -m pytest -q -m "not integration"

lint: install  ## ruff lint + format check + mypy (config in pyproject.toml)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: install  ## ruff format + autofix
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: install $(ARTIFACT)/model.pt  ## benchmarks; figures printed and written under reports/bench/
	$(PY) -m bench.user_state_bench
	$(PY) -m bench.encoders_bench
	$(PY) -m bench.ranker_bench --artifact $(ARTIFACT)

.PHONY: bench-training
TRAINING_BENCH_ARGS ?=
bench-training: install  ## training seconds per step/epoch vs catalogue size (1.7k real, 5k/10k/100k synthesised), full vs sampled softmax -> reports/bench/training.{json,png}
	nice -n 10 $(PY) -m bench.training_bench $(TRAINING_BENCH_ARGS)

.PHONY: bench-open-loop
OPEN_LOOP_ARGS ?=
bench-open-loop: install $(ARTIFACT)/model.pt  ## open-loop Recommend bench: p50/p99/p99.9 + errors per fixed rate, RSS, start-up (10k/100k/1M; OPEN_LOOP_ARGS=--quick)
	-command -v npm >/dev/null && npm ci --prefix bench/js --no-audit --no-fund
	$(PY) -m bench.open_loop --artifact $(ARTIFACT) $(OPEN_LOOP_ARGS)

k8s-validate: install system-deps  ## render every kustomization; kubernetes-validate --strict; CRD schemas; promtool
	$(PY) -m deploy.k8s.validate
	$(PY) -m deploy.prometheus.check_rules --overlay cpu
	$(PY) -m deploy.prometheus.check_rules --overlay gpu

RANKER_ADDR ?= 127.0.0.1:50052
USER_STATE_ADDR ?= 127.0.0.1:50051
LOAD_USERS ?= 20
LOAD_SPAWN_RATE ?= 10
LOAD_TIME ?= 30s
loadtest: install  ## headless locust against the running suite (make up first): RPS, p50/p95/p99, errors vs SLOs
	$(PY) -m deploy.load.run --config deploy/load/slo.yaml --ranker $(RANKER_ADDR) --user-state $(USER_STATE_ADDR) \
		--users $(LOAD_USERS) --spawn-rate $(LOAD_SPAWN_RATE) --run-time $(LOAD_TIME)

$(ARTIFACT)/model.pt: | $(STAMP)
	$(PY) -m recmodel.train --config recmodel/configs/full.yaml --out $(ARTIFACT)

model: install $(ARTIFACT)/model.pt  ## train the served ID-free model into artifacts/ml100k-full (reused when present)

eval: install  ## full vs tuned SASRec + baselines, then the time/MoE/patchy-poster ablations on the served config, 5 seeds, paired tests -> reports/eval/ml100k-mm{,-time}.{md,json,png} (hours: each step prints its plan and expected duration, then progress per run; resumes from var/eval-runs and the committed reports/eval/runs)
	$(PY) -m recmodel.evaluate --config recmodel/configs/eval_ml100k.yaml
	$(PY) -m recmodel.evaluate --config recmodel/configs/eval_ml100k_time.yaml
	$(PY) -m recmodel.evaluation.summary_merge --config recmodel/configs/eval_ml100k.yaml

cold-start: install  ## cold-start protocol: time + random cold splits, models and baselines -> reports/eval/cold-start.{json,md} (~80 min)
	$(PY) -m recmodel.evaluation.cold_start --config recmodel/configs/eval_cold_start.yaml

new-users: install $(ARTIFACT)/model.pt  ## the served artifact on users seen with 0/1/3 events -> reports/eval/new-users.{json,md}
	$(PY) -m recmodel.evaluation.new_users --artifact $(ARTIFACT)

triton: install  ## local Triton (bundled tritonserver, python flavour): text_embed / image_embed; Ctrl-C stops it
	$(PY) -m encoders.triton serve

features: install  ## item text/image features of ml100k-mm into build/features/ml100k (resumable)
	$(PY) -m encoders.extract --out build/features/ml100k

soak: install  ## 10-minute soak: RSS growth, errors, latency drift -> reports/bench/soak.json + soak.png
	$(PY) -m bench.soak_bench --minutes 10

clean:  ## remove .venv, build outputs and generated stubs
	rm -rf $(VENV) build *.egg-info kairos/v1/*_pb2*.py kairos/v1/*_pb2.pyi
