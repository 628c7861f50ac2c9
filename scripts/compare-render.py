#!/usr/bin/env python3
"""`spektr render --view spectrogram` against `sox FILE -n spectrogram` (Debian's sox) on the
same 10-minute file in the same run: CPU of the whole process on one core, and wall time.

The file is made here by ffmpeg's generator (lavfi): 10 minutes of 48 kHz stereo 16-bit WAV,
pink noise with a rising tone over it. spektr draws its default 960x540 picture (a plot of
824x422 pixels, 1/12-octave rows on a log axis); sox its linear-axis picture with `-x 824
-y 257` (both channels, each 257 rows: about the same number of pixels). Runs alternate (sox,
spektr, sox, ...) so machine noise hits both alike; the table gives medians. spektr's
analysis runs on one thread for one file, so both use one core.

  scripts/compare-render.py [--rounds 3]   (needs: make build; sox, ffmpeg)

Prints one Markdown table on stdout; progress goes to stderr.
"""

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile

BIN = os.environ.get("SPEKTR", "target/release/spektr")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def load_cpu_of():
    """compare-loudness.py's measurement of one run (CPU of the child, wall, its output)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare-loudness.py")
    spec = importlib.util.spec_from_file_location("compare_loudness", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.cpu_of


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        wav = os.path.join(d, "ten-minutes.wav")
        log("making a 10-minute file ...")
        src = ("anoisesrc=color=pink:amplitude=0.1:seed=5[n];"
               "aevalsrc='0.3*sin(2*PI*100*pow(100,t/600)*t)':s=48000[s];[n][s]amix=inputs=2")
        subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                        "-filter_complex", src, "-t", "600", "-ar", "48000", "-ac", "2",
                        "-c:a", "pcm_s16le", "-y", wav], check=True)
        spektr = [BIN, "render", wav, "--view", "spectrogram", "--no-progress",
                  "-o", os.path.join(d, "spektr.png")]
        sox = ["sox", wav, "-n", "spectrogram", "-x", "824", "-y", "257",
               "-o", os.path.join(d, "sox.png")]
        cpu_of = load_cpu_of()
        runs = {"sox": [], "spektr": []}
        for r in range(args.rounds):
            for name, cmd in (("sox", sox), ("spektr", spektr)):
                log(f"round {r + 1}/{args.rounds}: {name} ...")
                runs[name].append(cpu_of(cmd)[:2])
        med = {k: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v))
               for k, v in runs.items()}
    print("| 10-minute 48 kHz stereo WAV to a spectrogram PNG | CPU s | wall s |")
    print("|---|---:|---:|")
    print(f"| sox 14.4 (`spectrogram -x 824 -y 257`: linear axis, 2 x 257 rows) | "
          f"{med['sox'][0]:.2f} | {med['sox'][1]:.2f} |")
    print(f"| spektr render --view spectrogram (960x540: log axis, 120 bands of 1/12 octave) | "
          f"{med['spektr'][0]:.2f} | {med['spektr'][1]:.2f} |")
    print(f"| sox / spektr | {med['sox'][0] / med['spektr'][0]:.1f}x | "
          f"{med['sox'][1] / med['spektr'][1]:.1f}x |")
    print(f"\nMedians of {args.rounds} alternated runs, this machine.")


if __name__ == "__main__":
    main()
