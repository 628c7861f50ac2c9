#!/usr/bin/env bash
# Fuzzes spektr's file reading, settings parsing, microphone correction files and references with cargo-fuzz (libFuzzer, AddressSanitizer,
# debug assertions and overflow checks on).
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     default 30 (what `make test` runs)
#   scripts/fuzz.sh 3600                     the long run: an hour per target
# Seeds: the hostile-input corpus of tests/integration/hostile.rs and a few settings files. A crash leaves
# its input in fuzz/artifacts/<target>/ and fails this script.
set -euo pipefail
secs=${1:-30}
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/read_file" "$work/settings" "$work/mic_cal" "$work/reference"
# Before RUSTC_BOOTSTRAP is set: cargo's fingerprints include it, and the test build is reused.
if ! SPEKTR_CORPUS_DIR="$work/read_file" cargo test --locked --test integration -q \
    hostile::every_hostile_file >"$work/corpus.log" 2>&1; then
    tail -40 "$work/corpus.log" >&2
    echo "error: the hostile corpus could not be written (cargo test --test integration hostile)" >&2
    exit 1
fi
if [ -z "$(ls -A "$work/read_file")" ]; then
    echo "error: the hostile corpus is empty: no seeds to fuzz from" >&2
    exit 1
fi
# cargo-fuzz passes nightly-only compiler flags (sanitizers); the stable toolchain takes them
# with RUSTC_BOOTSTRAP, which keeps CI on the one toolchain these machines have. The fuzz
# build has its own target folder (fuzz/target), so the main build is untouched.
export RUSTC_BOOTSTRAP=1
printf 'bars = 48\nbands = "log"\nweighting = "a"\nsmoothing = "fast"\ndb_floor = -96.0\ngain_db = 6.0\n' \
    >"$work/settings/settings.toml"
printf 'synth:sine=1000@-6,pink@-20,duration=2,rate=44100,channels=1' >"$work/settings/synth"
printf 'monitor:alsa_output.pci.analog-stereo' >"$work/settings/source"
printf '"Sens Factor =-.6383dB, SERNO: 7023270"\n20.0\t-1.2\n1000\t0.0\n20000\t2.5\n' >"$work/mic_cal/umik.txt"
printf '*1000Hz -40.3\n10 -3\n1000 0\n20000 -1.5\n' >"$work/mic_cal/dayton.txt"
printf 'REW cal\n20, 1.0, 0\n1000, 0.0, 0\n20000, -1.0, 12.5\n' >"$work/mic_cal/rew.cal"
printf '{"type":"spektr-reference","version":1,"name":"room","unit":"dBFS","sample_rate":48000,"bands":[{"lo_hz":17.8,"center_hz":20.0,"hi_hz":22.4,"level_db":-61.25},{"lo_hz":22.4,"center_hz":25.1,"hi_hz":28.2,"level_db":-60.5}]}\n' >"$work/reference/ref.json"
printf 'lo_hz,center_hz,hi_hz,window_ms,level_db,peak_hold_db\n70.711,100.000,141.421,80.0,-20.50,-18.00\n\nchannel,peak_dbfs\n1,-3.00\n' >"$work/reference/snap.csv"
for target in read_file settings mic_cal reference; do
    echo "fuzzing $target for ${secs} s"
    log="$work/$target.log"
    if ! cargo fuzz run "$target" "$work/$target" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        grep -vE '^(#[0-9]+|INFO:)' "$log" | tail -40 >&2
        echo "fuzz target $target failed: its input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^stat::(number_of_executed_units|new_units_added)' "$log" || true
done
