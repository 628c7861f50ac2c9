#!/usr/bin/env bash
# The window's cost in each view: scripts/measure-window.sh for bars, spectrogram and both, one
# after the other in one run (the README's view table; `make compare-views`).
#   scripts/measure-views.sh [SECONDS]
set -euo pipefail
secs=${1:-10}
here=$(dirname "$0")
echo "| view (960x540, demo signal, 60 Hz, software renderer) | live: whole process, % of one core | frozen | minimized |"
echo "|---|---:|---:|---:|"
for view in bars spectrogram both; do
    out=$("$here/measure-window.sh" "$secs" "$view")
    cell() { echo "$out" | awk -F'|' -v s="$1" '$2 ~ "^ "s" $" {gsub(/ /, "", $3); print $3}'; }
    echo "| $view | $(cell live) | $(cell frozen) | $(cell minimized) |"
done
