# spektr: two commands for a new user on Debian or Ubuntu.
#   make run    install what is missing, build, start spektr
#   make test   install what the tests need, then run every check
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run test deps test-deps build bench compare compare-loudness compare-render compare-views fuzz screenshot mask-plot clean

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

build: deps
	$(CARGO) build --release --locked

# The window on the default input (the demo signal when there is none). Without a display,
# the headless summary of the demo signal instead.
run: build
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then ./target/release/spektr; else \
		echo "make run: no display, so here is 'spektr analyze synth:demo --format summary' instead"; \
		./target/release/spektr analyze synth:demo --format summary; fi

test: test-deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	$(CARGO) test --all-targets --locked
	$(CARGO) test --doc --locked
	$(CARGO) check --locked --no-default-features
	scripts/fuzz.sh 30

# Performance table for README: engine vs raw FFT, and offline throughput.
bench: build
	$(CARGO) bench --locked --bench engine

# The long fuzz run: an hour per target (make test runs 30 s each).
fuzz: test-deps
	scripts/fuzz.sh 3600

# The performance table: spektr against cava and against its raw FFT work, latency, the
# window's cost; every figure measured in this one run (scripts/compare.py --all).
compare: build
	@scripts/install-deps.sh compare
	scripts/compare.py --all

# The window's CPU in the bars, spectrogram and both views, live, frozen and minimized
# (scripts/measure-views.sh; the README's view table).
compare-views: build
	@scripts/install-deps.sh test
	scripts/measure-views.sh

# `spektr loudness` against ffmpeg's ebur128 filter: CPU per file, the values side by side, and
# --jobs scaling (scripts/compare-loudness.py; the README's loudness table).
compare-loudness: build
	@scripts/install-deps.sh loudness
	scripts/compare-loudness.py

# `spektr render --view spectrogram` against sox's spectrogram on a 10-minute file
# (scripts/compare-render.py; the README's spectrogram row).
compare-render: build
	@scripts/install-deps.sh render
	scripts/compare-render.py

# The README's screenshot, drawn offscreen by `spektr render` (no display needed).
screenshot: build
	./target/release/spektr render synth:demo,duration=4 --at 3 -o assets/screenshot.png
	./target/release/spektr render synth:sweep=30-16000@-12,pink@-54,duration=12 --view spectrogram \
		-o assets/spectrogram.png

# README's plot of every band's measured response against the IEC 61260-1 class 1 mask: tones
# swept through the analyzer (examples/filter_response.rs), drawn by scripts/plot-mask.py.
mask-plot: build
	@scripts/install-deps.sh plot
	$(CARGO) run --release --locked --example filter_response > target/filter-response.csv
	scripts/plot-mask.py target/filter-response.csv assets/filter-response.png

clean:
	$(CARGO) clean
