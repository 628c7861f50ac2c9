# spektr: two commands for a new user on Debian or Ubuntu.
#   make run    install what is missing, build, start spektr
#   make test   install what the tests need, then run every check
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run test deps test-deps build bench clean

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

build: deps
	$(CARGO) build --release --locked

# Until the window exists, `make run` analyzes the built-in demo signal and prints a summary.
run: build
	./target/release/spektr analyze synth:demo --format summary

test: test-deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	$(CARGO) test --all-targets --locked
	$(CARGO) test --doc --locked

# Performance table for README: engine vs raw FFT, and offline throughput.
bench: build
	$(CARGO) bench --locked --bench engine

clean:
	$(CARGO) clean
