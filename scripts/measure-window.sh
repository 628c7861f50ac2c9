#!/usr/bin/env bash
# Measures spektr's window under Xvfb with the software renderer: CPU (whole process and the
# UI thread alone) and resident memory, live, frozen and minimized, over SECONDS each.
#   scripts/measure-window.sh [SECONDS] [VIEW]     (needs: make build; xvfb, xdotool, openbox)
# VIEW is the window's --view: bars (the default), spectrogram or both.
# openbox is there so that "minimized" is what a desktop does: the window manager iconifies
# the window and marks it hidden, which is what the app checks.
set -euo pipefail
secs=${1:-10}
view=${2:-bars}
bin=./target/release/spektr
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
for t in Xvfb xdotool openbox; do command -v $t >/dev/null || { echo "$t missing: scripts/install-deps.sh test" >&2; exit 1; }; done
tick=$(getconf CLK_TCK)
exec 3< <(Xvfb -displayfd 1 -screen 0 1280x800x24 -nolisten tcp 2>/dev/null)
read -r disp <&3
export DISPLAY=:$disp
cfg=$(mktemp -d)
openbox >/dev/null 2>&1 &
wm=$!
"$bin" --source "synth:demo,duration=86400" --view "$view" --config "$cfg/settings.toml" --stats >/dev/null 2>"$cfg/stderr" &
pid=$!
trap 'kill $pid $wm 2>/dev/null; pkill -f "Xvfb -displayfd" 2>/dev/null || true; rm -rf "$cfg"' EXIT
win=$(xdotool search --sync --name '^spektr' | head -1)
sleep 3
cpu() { awk '{print $14+$15}' "$1"; }
measure() {
    local p0 u0 p1 u1
    p0=$(cpu /proc/$pid/stat); u0=$(cpu /proc/$pid/task/$pid/stat)
    sleep "$secs"
    p1=$(cpu /proc/$pid/stat); u1=$(cpu /proc/$pid/task/$pid/stat)
    local rss; rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
    pct() { awk -v a="$1" -v b="$2" -v t="$tick" -v s="$secs" 'BEGIN { printf "%.1f", (b - a) * 100 / t / s }'; }
    printf '| %s | %s %% | %s %% | %d MB |\n' "$1" "$(pct "$p0" "$p1")" "$(pct "$u0" "$u1")" $((rss / 1024))
}
echo "| window state (960x540, $view view, demo signal, 60 Hz) | whole process, % of one core | UI thread | resident memory |"
echo "|---|---|---|---|"
measure live
# A click on the toolbar's first button, Freeze (Unfreeze when frozen), through XTEST, until
# the window is seen to change state (the demo signal moves every frame: live, two pictures
# 0.3 s apart differ; frozen, they are equal). One click alone was lost now and then, and
# "frozen" then measured live.
still() {
    import -window "$win" "$cfg/a.png"; sleep 0.3; import -window "$win" "$cfg/b.png"
    cmp -s "$cfg/a.png" "$cfg/b.png"
}
toggle() {
    local want=$1
    for _ in 1 2 3 4 5; do
        xdotool mousemove --window "$win" 37 20 click 1; sleep 0.3
        if [ "$want" = frozen ] && still; then return; fi
        if [ "$want" = live ] && ! still; then return; fi
    done
    echo "the window did not become $want" >&2; exit 1
}
toggle frozen
measure frozen
toggle live
xdotool windowminimize --sync "$win"
measure minimized
# SIGTERM closes the window as its close button does; --stats then reports the latency from a
# frame's publication to the UI timer reading it (live part of the run).
kill -TERM $pid; wait $pid || true
grep -q "frames shown" "$cfg/stderr" || { echo "no --stats from the window:" >&2; cat "$cfg/stderr" >&2; exit 1; }
sed -n "s/^window: latency from a frame's publication to the window reading it: median \([0-9.]*\) ms, p90 [0-9.]* ms, p99 \([0-9.]*\) ms.*/| window latency, publication to the UI reading the frame: median; p99 | \1 ms; \2 ms |/p" "$cfg/stderr"
sed -n "s/^window: latency from the sound .* to the window reading the frame: median \([0-9.]*\) ms, p90 [0-9.]* ms, p99 \([0-9.]*\) ms.*/| window latency, sound to the UI reading its frame (demo signal, paced): median; p99 | \1 ms; \2 ms |/p" "$cfg/stderr"
