#!/usr/bin/env bash
# Records one hour of audio at faster than real time from a file source (a one-minute file,
# looped) and samples the recorder's resident memory as it goes: memory must stay flat.
# Usage: scripts/measure-recording.sh [SECONDS_OF_AUDIO]   (default 3600)
set -euo pipefail
seconds=${1:-3600}
bin=${SPEKTR:-target/release/spektr}
[ -x "$bin" ] || cargo build --release --locked
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" record "$work/source.wav" --source "synth:pink@-20,sine=1000@-12,duration=60,channels=2" \
    --fast --format i16 --quiet
start=$(date +%s.%N)
"$bin" record "$work/hour.wav" --source "file:$work/source.wav" --loop --fast \
    --seconds "$seconds" --quiet &
pid=$!
samples=()
while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$rss" ] && samples+=("$rss")
    sleep 0.1
done
wait "$pid"
end=$(date +%s.%N)
size=$(stat -c %s "$work/hour.wav")
printf '%s\n' "${samples[@]}" | awk -v secs="$seconds" -v start="$start" -v end="$end" -v size="$size" '
    { v[NR] = $1; if ($1 > max) max = $1; if (min == "" || $1 < min) min = $1 }
    END {
        n = NR
        wall = end - start
        printf "recorded %d s of audio (%.0f MB) in %.1f s wall: %.0fx real time\n", secs, size / 1e6, wall, secs / wall
        printf "resident memory (MB), %d samples: first %.1f, at 25%% %.1f, at 50%% %.1f, at 75%% %.1f, last %.1f; min %.1f, max %.1f\n",
            n, v[1] / 1024, v[int(n / 4) + 1] / 1024, v[int(n / 2) + 1] / 1024, v[int(3 * n / 4) + 1] / 1024, v[n] / 1024, min / 1024, max / 1024
    }'
