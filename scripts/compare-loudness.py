#!/usr/bin/env python3
"""`spektr loudness` against ffmpeg's ebur128 filter (`-af ebur128=peak=true`, its frame lines at verbose level, not printed), on the same files
in the same run: CPU per file on one core, the values side by side, and wall time over all the
files with --jobs 1 and 2.

The files are made here by ffmpeg's own generators (lavfi), 90 s each: pink noise whose level
swings 12 dB, a chord with a slow tremolo and a different right channel, a 1 kHz tone at
-23 dBFS, noise bursts with near-full-scale peaks (true peak matters), and one each at 44.1 and
96 kHz, in WAV (16 and 24 bit) and FLAC.

CPU is user + system time of the child process (getrusage, microseconds), so both sides count their
decoding. ffmpeg runs with `-threads 1` (its ebur128 filter is single-threaded; with
peak=true it resamples to 192 kHz for the true peak); spektr with `--jobs 1`. Runs alternate
(ffmpeg, spektr, ffmpeg, ...) so machine noise hits both alike; the table gives medians.
ffmpeg's summary prints one decimal: its values here come from a second, untimed run with
`metadata=1` (three decimals, the last 100 ms frame's integrated loudness, range and true
peak).

  scripts/compare-loudness.py [--rounds 3] [--seconds 90]   (needs: make build; ffmpeg)

Prints one Markdown table on stdout; progress goes to stderr.
"""

import argparse
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("SPEKTR", "target/release/spektr")

# name, lavfi source, rate, channels, codec arguments, extension
FILES = [
    ("pink, level swinging 12 dB", "anoisesrc=color=pink:amplitude=0.25:seed=7,volume='pow(10,(-6+6*sin(2*PI*t/20))/20)':eval=frame",
     48000, 2, ["-c:a", "pcm_s16le"], "wav"),
    ("chord with tremolo, L != R", "aevalsrc='0.2*(sin(2*PI*220*t)+0.7*sin(2*PI*277.2*t)+0.5*sin(2*PI*329.6*t))*(0.6+0.4*sin(2*PI*0.7*t))|0.2*(sin(2*PI*110*t)+0.6*sin(2*PI*440*t))*(0.6+0.4*cos(2*PI*0.3*t))'",
     48000, 2, ["-c:a", "pcm_s24le"], "wav"),
    ("1 kHz at -23 dBFS", "aevalsrc='0.0707946*sin(2*PI*1000*t)|0.0707946*sin(2*PI*1000*t)'",
     48000, 2, ["-c:a", "pcm_s24le"], "wav"),
    ("noise bursts, peaks near 0 dBFS", "anoisesrc=color=white:amplitude=0.9:seed=3,volume='if(lt(mod(t,2),0.25),1,0.05)':eval=frame,lowpass=f=15000",
     44100, 2, ["-c:a", "flac"], "flac"),
    ("pink at 96 kHz", "anoisesrc=color=pink:amplitude=0.1:seed=11",
     96000, 2, ["-c:a", "pcm_s24le"], "wav"),
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def make(dirname, seconds):
    paths = []
    for i, (name, src, rate, ch, codec, ext) in enumerate(FILES):
        path = os.path.join(dirname, f"{i + 1}.{ext}")
        layout = "stereo" if ch == 2 else "mono"
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
               "-i", f"{src}", "-t", str(seconds), "-ar", str(rate), "-ac", str(ch),
               "-channel_layout", layout, *codec, "-y", path]
        # anoisesrc is mono: -ac 2 puts it on both channels (3 dB down; the level is not the
        # point there). The tones are made with both channels.
        subprocess.run(cmd, check=True)
        paths.append((name, path))
    return paths


def cpu_of(cmd):
    """Runs `cmd`; returns (CPU seconds of the child, wall seconds, stdout, stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed: {p.stderr.strip()[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, p.stdout, p.stderr


def ffmpeg_timed(path):
    return cpu_of(["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-threads", "1", "-i", path,
                   "-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-"])


def ffmpeg_values(path, dirname):
    meta = os.path.join(dirname, "meta.txt")
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
                    "-i", path, "-af",
                    f"ebur128=peak=true:metadata=1,ametadata=mode=print:file={meta}",
                    "-f", "null", "-"], check=True)
    last = {}
    with open(meta) as f:
        for line in f:
            m = re.match(r"lavfi\.r128\.(I|LRA|true_peak)=(-?[\d.]+|-?inf)", line.strip())
            if m:
                last[m.group(1)] = float(m.group(2))
    tp = last.get("true_peak", 0.0)
    return {
        "i": last.get("I"),
        "lra": last.get("LRA"),
        "tp": 20 * math.log10(tp) if tp > 0 else None,
    }


def spektr_timed(path):
    return cpu_of([BIN, "loudness", "--json", "--jobs", "1", "--no-progress", path])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=90.0)
    args = ap.parse_args()
    if not os.path.exists(BIN):
        raise SystemExit(f"error: {BIN} not found: run make build first")
    with tempfile.TemporaryDirectory() as d:
        log(f"making {len(FILES)} files of {args.seconds:.0f} s with ffmpeg's generators ...")
        files = make(d, args.seconds)
        rows = []
        for name, path in files:
            f_cpu, s_cpu = [], []
            for r in range(args.rounds):
                f_cpu.append(ffmpeg_timed(path)[0])
                cpu, _, out, _ = spektr_timed(path)
                s_cpu.append(cpu)
                mine = json.loads(out.splitlines()[0])
            theirs = ffmpeg_values(path, d)
            rows.append((name, path, statistics.median(f_cpu), statistics.median(s_cpu), mine, theirs))
            log(f"  {name}: ffmpeg {statistics.median(f_cpu):.3f} s, spektr {statistics.median(s_cpu):.3f} s CPU")
        paths = [p for _, p in files]
        wall = {}
        for jobs in (1, 2):
            runs = [cpu_of([BIN, "loudness", "--jobs", str(jobs), "--no-progress", *paths])[1]
                    for _ in range(args.rounds)]
            wall[jobs] = statistics.median(runs)
        ffmpeg_wall = statistics.median(
            sum(ffmpeg_timed(p)[1] for p in paths) for _ in range(args.rounds))

    def num(v, fmt="{:.2f}"):
        return "n/a" if v is None else fmt.format(v)

    def diff(a, b):
        return "n/a" if a is None or b is None else f"{a - b:+.2f}"

    print("| file (90 s unless said) | ffmpeg CPU s | spektr CPU s | ffmpeg / spektr "
          "| I ffmpeg | I spektr | diff LU | TP ffmpeg | TP spektr | diff dB | LRA ffmpeg | LRA spektr |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios, di, dtp = [], [], []
    for name, path, fc, sc, mine, theirs in rows:
        ratio = fc / sc if sc > 0 else float("inf")
        ratios.append(ratio)
        i_m, tp_m, lra_m = mine["integrated_lufs"], mine["true_peak_dbtp"], mine["range_lu"]
        if i_m is not None and theirs["i"] is not None:
            di.append(abs(i_m - theirs["i"]))
        if tp_m is not None and theirs["tp"] is not None:
            dtp.append(abs(tp_m - theirs["tp"]))
        rate = f"{mine['sample_rate'] / 1000:g} kHz {os.path.splitext(path)[1][1:].upper()}"
        print(f"| {name} ({rate}) | {fc:.3f} | {sc:.3f} | {ratio:.1f}x "
              f"| {num(theirs['i'])} | {num(i_m)} | {diff(i_m, theirs['i'])} "
              f"| {num(theirs['tp'])} | {num(tp_m)} | {diff(tp_m, theirs['tp'])} "
              f"| {num(theirs['lra'], '{:.1f}')} | {num(lra_m, '{:.1f}')} |")
    print()
    print(f"spektr per file on one core: {min(ratios):.1f}x to {max(ratios):.1f}x faster than ffmpeg "
          f"(median {statistics.median(ratios):.1f}x); integrated loudness within {max(di):.2f} LU "
          f"of ffmpeg's, true peak within {max(dtp):.2f} dB.")
    print(f"All {len(rows)} files: `spektr loudness --jobs 1` {wall[1]:.2f} s wall, `--jobs 2` "
          f"{wall[2]:.2f} s ({wall[1] / wall[2]:.2f}x on {os.cpu_count()} cores); ffmpeg one after "
          f"another {ffmpeg_wall:.2f} s.")


if __name__ == "__main__":
    main()
