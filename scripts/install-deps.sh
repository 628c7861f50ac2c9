#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages spektr needs, only those that are missing.
#   scripts/install-deps.sh build   what building needs (ALSA headers, fontconfig, pkg-config)
#   scripts/install-deps.sh test    the above plus what the tests need
#   scripts/install-deps.sh compare the above plus the peer and tools of scripts/compare.py
#   scripts/install-deps.sh plot    what building needs plus matplotlib (scripts/plot-mask.py)
#   scripts/install-deps.sh loudness what building needs plus ffmpeg (scripts/compare-loudness.py)
#   scripts/install-deps.sh render  what building needs plus sox and ffmpeg (scripts/compare-render.py)
set -euo pipefail

want=(pkg-config libasound2-dev libfontconfig1-dev
      # the window's runtime: X11 client libraries and a font fontconfig finds
      libxkbcommon-x11-0 libxcursor1 libxi6 libx11-xcb1 libxrandr2 fonts-dejavu-core)
if [ "${1:-build}" = test ] || [ "${1:-build}" = compare ]; then
    # Live-capture tests on desktops as users have them: a private PulseAudio daemon, and
    # PipeWire with WirePlumber, its PulseAudio service and a session bus; paplay, pacat,
    # parec and pactl play, measure and steer. mkfifo comes with coreutils.
    want+=(pulseaudio pulseaudio-utils pipewire pipewire-pulse wireplumber dbus-daemon)
    # Window tests: a virtual display, keys, screenshots, and a window manager so that a
    # window can be minimized (iconified) as on a desktop.
    want+=(xvfb xauth xdotool imagemagick openbox)
    # The file dialog where no desktop portal runs (rfd falls back to zenity).
    want+=(zenity)
    # Recording tests: tmpfs mounts for full and read-only disks, kill -INT for Ctrl-C.
    want+=(mount procps)
fi
if [ "${1:-build}" = plot ]; then
    # The system interpreter's matplotlib: scripts/plot-mask.py runs /usr/bin/python3.
    want+=(python3 python3-matplotlib)
fi
if [ "${1:-build}" = loudness ]; then
    # The reference loudness meter (Debian's ffmpeg, its ebur128 filter) and the interpreter.
    want+=(ffmpeg python3)
fi
if [ "${1:-build}" = render ]; then
    # The peer that draws spectrograms from the command line, and the file generator.
    want+=(sox ffmpeg python3)
fi
if [ "${1:-build}" = compare ]; then
    # The peer analyzer and the harness's interpreter.
    want+=(cava python3)
fi

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "spektr: installing system packages: ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
        echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

for tool in cargo rustfmt clippy-driver; do
    command -v "$tool" >/dev/null || {
        echo "error: '$tool' not found: install Rust with rustup (https://rustup.rs), components rustfmt and clippy" >&2
        exit 1
    }
done
