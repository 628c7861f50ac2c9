#!/usr/bin/env python3
"""spektr against cava, on the same audio at real-time pace: CPU per second of audio.

Both programs compute 32 bars 60 times a second from the same audio, two ways:

  desktop  a private PulseAudio desktop (the system's default.pa, a null sink "speakers" and a
           separate default input, as in tests/integration/common/pulse.rs) playing music with
           `paplay FILE`; cava reads the sink's monitor (its `pulse` input), spektr too, with its
           defaults: `spektr analyze --source monitor --bars 32 --fps 60`, NDJSON on stdout.
  fifo     the demo signal (tones and pink noise, 48 kHz stereo) paced to real time: cava from a
           FIFO, s16le (its `fifo` input); spektr through ALSA's `file` plugin reading a FIFO
           (hermetic config, no sound server: its default audio system is then ALSA, its
           default period 10 ms), f32le, `spektr analyze --source default`.

Runs alternate (cava, spektr, spektr --period 20, cava, ...) so machine noise hits all alike. CPU is
user + system time of the whole process (every thread), read from /proc/<pid>/stat between
WARMUP_S after the audio starts and 1 s before it ends: start-up is left out for both. Each
run also checks that the program produced its frames (a program that printed nothing would
look cheap). spektr's runs also give its latency from the sound to each frame (`--stats`).

  scripts/compare.py [--seconds 30] [--rounds 3] [--all]   (needs: make build; cava, python3)

With --all (what `make compare` runs) the table also carries, from the same run, the engine
against the raw realfft cost of its FFT work and offline throughput (`cargo bench --bench
engine`), and the window's CPU and memory live, frozen and minimized
(scripts/measure-window.sh, Xvfb with a window manager).

Prints one Markdown table on stdout; progress goes to stderr.
"""

import argparse
import array
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave

RATE = 48_000
CHANNELS = 2
CHUNK_FRAMES = 480  # spektr's default capture period (10 ms): ALSA's file plugin reads one per read
LONG_PERIOD_MS = 20  # spektr's --period for the extra row: half the callback's wakes
WARMUP_S = 3.0
BIN = os.environ.get("SPEKTR", "target/release/spektr")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def cpu_s(pid):
    """CPU seconds of every live thread of `pid` so far, in nanoseconds from the scheduler
    (/proc/PID/task/*/schedstat; /proc/PID/stat counts in 10 ms ticks, a third of a
    millisecond per second over a 30 s run)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


def make_pcm(work, seconds):
    """The demo signal as s16le bytes, and the same samples as f32le (x / 32768)."""
    wav = os.path.join(work, "demo.wav")
    subprocess.run(
        [BIN, "record", wav, "--source", f"synth:demo,duration={seconds},rate={RATE},channels={CHANNELS}",
         "--fast", "--format", "i16", "--quiet"],
        check=True,
    )
    with wave.open(wav) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, CHANNELS, 2)
        s16 = w.readframes(w.getnframes())
    ints = array.array("h")
    ints.frombytes(s16)
    f32 = array.array("f", (x / 32768.0 for x in ints)).tobytes()
    return s16, f32


class Feeder(threading.Thread):
    """Writes `data` into the FIFO at `path` at real-time pace, reopening when the reader
    closes it (programs may open the device once to probe it), then closes it."""

    def __init__(self, path, data, bytes_per_frame, chunk_frames=CHUNK_FRAMES):
        super().__init__(daemon=True)
        self.path, self.data, self.bpf = path, data, bytes_per_frame
        self.chunk_frames = chunk_frames
        self.started = threading.Event()
        self.start_time = None
        self.stop = False

    def run(self):
        chunk = self.chunk_frames * self.bpf
        pos = 0
        while not self.stop and pos < len(self.data):
            try:
                fd = os.open(self.path, os.O_WRONLY)
            except OSError:
                return
            t0 = time.monotonic()
            first = pos
            if self.start_time is None:
                self.start_time = t0
                self.started.set()
            try:
                while not self.stop and pos < len(self.data):
                    os.write(fd, self.data[pos:pos + chunk])
                    pos += chunk
                    due = t0 + (pos - first) / self.bpf / RATE
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
            except OSError:
                pass
            finally:
                os.close(fd)


def drain(stream, counter):
    for _ in stream:
        counter[0] += 1


def fifo(work, name):
    """A FIFO in `work`, made once and reused by later runs."""
    path = os.path.join(work, name)
    if not os.path.exists(path):
        os.mkfifo(path)
    return path


def switches(pid):
    """Context switches (voluntary and not) of every thread of `pid` so far: its wakes."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if "ctxt_switches" in line:
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


WAKES = {}


def measure(proc, feeder, seconds):
    """CPU seconds per audio second of `proc` over the steady part of the feed (its wakes per
    second go to WAKES[pid])."""
    if not feeder.started.wait(20):
        raise RuntimeError("the program never opened its input")
    t0 = feeder.start_time + WARMUP_S
    t1 = feeder.start_time + seconds - 1.0
    time.sleep(max(0.0, t0 - time.monotonic()))
    c0, s0, w0 = cpu_s(proc.pid), switches(proc.pid), time.monotonic()
    time.sleep(max(0.0, t1 - time.monotonic()))
    c1, s1, w1 = cpu_s(proc.pid), switches(proc.pid), time.monotonic()
    WAKES[proc.pid] = (s1 - s0) / (w1 - w0)
    log(f"  {(c1 - c0) / (w1 - w0) * 1000:.2f} ms CPU per s, "
        f"{WAKES[proc.pid]:.0f} wakes per s")
    return (c1 - c0) / (w1 - w0)


def run_cava(work, s16, seconds):
    pipe = fifo(work, "cava.fifo")
    conf = os.path.join(work, "cava.conf")
    with open(conf, "w") as f:
        f.write(f"""[general]
framerate = 60
bars = 32
autosens = 0
sleep_timer = 0
[input]
method = fifo
source = {pipe}
sample_rate = {RATE}
sample_bits = 16
[output]
method = raw
raw_target = /dev/stdout
data_format = ascii
channels = mono
""")
    proc = subprocess.Popen(["cava", "-p", conf], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    lines = [0]
    threading.Thread(target=drain, args=(proc.stdout, lines), daemon=True).start()
    feeder = Feeder(pipe, s16, 2 * CHANNELS)
    feeder.start()
    try:
        cost = measure(proc, feeder, seconds)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        feeder.stop = True
    # cava prints a line per frame from start-up on, feed or not: expect at least the feed's.
    if lines[0] < 50 * (seconds - 2):
        raise RuntimeError(f"cava printed {lines[0]} frames in a {seconds} s run")
    return cost, WAKES[proc.pid]


LATENCY = re.compile(r"latency from the sound.*?: median ([\d.]+) ms, p90 ([\d.]+) ms, "
                     r"p99 ([\d.]+) ms, max ([\d.]+) ms")


def spektr_finish(proc, err, lines, seconds):
    """Checks a spektr run that ended by itself; its latency figures (median, p90, p99, max)."""
    time.sleep(0.2)
    if proc.returncode != 0:
        raise RuntimeError("spektr failed: " + "".join(err).strip())
    if lines[0] < 60 * seconds:
        raise RuntimeError(f"spektr printed {lines[0]} frames for {seconds} s of audio")
    stats = LATENCY.search("".join(err))
    return tuple(float(x) for x in stats.groups()) if stats else None


def start_spektr(args, env):
    proc = subprocess.Popen([BIN, "analyze"] + args + ["--stats", "--format", "ndjson"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = [0]
    threading.Thread(target=drain, args=(proc.stdout, lines), daemon=True).start()
    err = []
    threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
    return proc, lines, err


def run_spektr(work, f32, seconds, period=None):
    pipe = fifo(work, "alsa.fifo")
    conf = os.path.join(work, "asound.conf")
    with open(conf, "w") as f:
        f.write(f"""defaults.namehint.showall on
defaults.pcm.minperiodtime 5000
pcm.tone {{ type file slave.pcm {{ type null }} file "/dev/null" infile "{pipe}" format "raw" }}
pcm.!default {{ type asym playback.pcm {{ type null }} capture.pcm "tone" }}
""")
    # No sound server to find: spektr's default audio system is then ALSA.
    env = dict(os.environ, ALSA_CONFIG_PATH=conf, XDG_RUNTIME_DIR=work)
    env.pop("PULSE_SERVER", None)
    env.pop("PULSE_RUNTIME_PATH", None)
    # spektr stops at --seconds of audio; the feed holds a little more so its end never
    # reaches the plugin (which would repeat the last period).
    proc, lines, err = start_spektr(
        ["--source", "default", "--bars", "32", "--fps", "60", "--seconds", str(seconds)]
        + (["--period", str(period)] if period else []), env)
    # ALSA's file plugin reads one period per read from the FIFO: the feed comes in periods.
    chunk = round(period * RATE / 1000) if period else CHUNK_FRAMES
    feeder = Feeder(pipe, f32, 4 * CHANNELS, chunk)
    feeder.start()
    try:
        cost = measure(proc, feeder, seconds)
        proc.wait(seconds + 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        feeder.stop = True
    return cost, spektr_finish(proc, err, lines, seconds), WAKES[proc.pid]


class Desktop:
    """A private PulseAudio desktop playing music, as the tests' rig: the system's default.pa,
    a null sink "speakers" (its monitor is what you hear), a null source "mic" as the default
    input, `paplay FILE` playing (its default buffer). Programs get `env`."""

    def __init__(self, work, music_s):
        self.dir = os.path.join(work, "desktop")
        os.makedirs(self.dir, exist_ok=True)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=self.dir, HOME=self.dir)
        for k in ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "PULSE_SINK", "PULSE_SOURCE"):
            self.env.pop(k, None)
        pa = os.path.join(self.dir, "desktop.pa")
        with open(pa, "w") as f:
            f.write(".include /etc/pulse/default.pa\n"
                    "load-module module-null-sink sink_name=speakers "
                    "sink_properties=device.description=Speakers\n"
                    "load-module module-null-source source_name=mic description=Microphone\n"
                    "set-default-sink speakers\nset-default-source mic\n")
        self.daemon = subprocess.Popen(
            ["pulseaudio", "-n", "-F", pa, "--daemonize=no", "--exit-idle-time=-1"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("pulseaudio did not start")
            time.sleep(0.05)
        self.music = os.path.join(self.dir, "music.wav")
        subprocess.run([BIN, "record", self.music, "--source",
                        f"synth:demo,duration={music_s},rate=44100,channels=2",
                        "--fast", "--format", "i16", "--quiet"], check=True)
        self.player = subprocess.Popen(["paplay", self.music], env=self.env)
        time.sleep(1.0)

    def close(self):
        for p in (self.player, self.daemon):
            p.kill()
            p.wait()


class Timer:
    """Stands in for the feeder where the audio comes from a sound server: the run's start."""

    def __init__(self):
        self.start_time = time.monotonic()
        self.started = threading.Event()
        self.started.set()


def run_cava_pulse(work, desktop, seconds):
    conf = os.path.join(work, "cava-pulse.conf")
    with open(conf, "w") as f:
        f.write("""[general]
framerate = 60
bars = 32
autosens = 0
sleep_timer = 0
[input]
method = pulse
source = speakers.monitor
[output]
method = raw
raw_target = /dev/stdout
data_format = ascii
channels = mono
""")
    proc = subprocess.Popen(["cava", "-p", conf], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=desktop.env)
    lines = [0]
    threading.Thread(target=drain, args=(proc.stdout, lines), daemon=True).start()
    try:
        cost = measure(proc, Timer(), seconds)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if lines[0] < 50 * (seconds - 2):
        raise RuntimeError(f"cava printed {lines[0]} frames in a {seconds} s run")
    return cost, WAKES[proc.pid]


def run_spektr_pulse(desktop, seconds):
    proc, lines, err = start_spektr(
        ["--source", "monitor", "--bars", "32", "--fps", "60", "--seconds", str(seconds)],
        desktop.env)
    try:
        cost = measure(proc, Timer(), seconds)
        proc.wait(seconds + 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return cost, spektr_finish(proc, err, lines, seconds), WAKES[proc.pid]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=30, help="audio per run (default 30)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each program (default 3)")
    ap.add_argument("--all", action="store_true",
                    help="also the engine bench and the window's cost (make compare)")
    args = ap.parse_args()
    if args.seconds < WARMUP_S + 3:
        ap.error(f"--seconds must be at least {WARMUP_S + 3:.0f}")
    for tool in ("cava",):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
            sys.exit(f"error: {tool} not found (apt-get install {tool})")
    if not os.access(BIN, os.X_OK):
        sys.exit(f"error: {BIN} not found: run 'make build' first")

    with tempfile.TemporaryDirectory() as work:
        s16, f32 = make_pcm(work, args.seconds + 2)
        cava, spektr, latency, long_period, long_latency = [], [], [], [], []
        cava_pa, spektr_pa, latency_pa = [], [], []
        wakes = {"cava_pa": [], "spektr_pa": [], "cava": [], "spektr": [], "long": []}
        desktop = Desktop(work, args.rounds * 2 * (args.seconds + 5) + 30)
        try:
            for r in range(args.rounds):
                log(f"round {r + 1}/{args.rounds}: desktop: cava ...")
                cost, w = run_cava_pulse(work, desktop, args.seconds)
                cava_pa.append(cost)
                wakes["cava_pa"].append(w)
                log(f"round {r + 1}/{args.rounds}: desktop: spektr ...")
                cost, lat, w = run_spektr_pulse(desktop, args.seconds)
                spektr_pa.append(cost)
                wakes["spektr_pa"].append(w)
                if lat:
                    latency_pa.append(lat)
        finally:
            desktop.close()
        for r in range(args.rounds):
            log(f"round {r + 1}/{args.rounds}: fifo: cava ...")
            cost, w = run_cava(work, s16, args.seconds)
            cava.append(cost)
            wakes["cava"].append(w)
            log(f"round {r + 1}/{args.rounds}: fifo: spektr ...")
            cost, lat, w = run_spektr(work, f32, args.seconds)
            spektr.append(cost)
            wakes["spektr"].append(w)
            if lat:
                latency.append(lat)
            log(f"round {r + 1}/{args.rounds}: fifo: spektr --period {LONG_PERIOD_MS} ...")
            cost, lat, w = run_spektr(work, f32, args.seconds, LONG_PERIOD_MS)
            long_period.append(cost)
            wakes["long"].append(w)
            if lat:
                long_latency.append(lat)

    rows = []
    if args.all:
        rows += bench_rows() + window_rows()

    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    print(f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores of {cpu}, "
          f"{os.uname().sysname} {os.uname().release}.")
    print()
    print("| measure | result |")
    print("|---|---|")
    runs = f"median of {args.rounds} alternated runs of {args.seconds} s"

    def lat_text(figures):
        if not figures:
            return "n/a"
        return (f"median {statistics.median(x[0] for x in figures):.1f} ms, "
                f"p90 {statistics.median(x[1] for x in figures):.1f} ms, "
                f"worst p99 {max(x[2] for x in figures):.1f} ms, "
                f"worst max {max(x[3] for x in figures):.1f} ms")

    c, s = statistics.median(cava_pa), statistics.median(spektr_pa)
    print(f"| desktop (PulseAudio, music from paplay): cava 0.7 on the monitor (32 bars, 60 fps), "
          f"CPU per second of audio ({runs}) | {c * 1000:.2f} ms |")
    print(f"| desktop: spektr --source monitor with its defaults (32 bars, 60 fps, NDJSON out) | "
          f"{s * 1000:.2f} ms |")
    print(f"| desktop: spektr / cava (goal <= 0.5) | {s / c:.2f} |")
    wk = {k: statistics.median(v) for k, v in wakes.items()}
    print(f"| desktop: wakes (context switches of every thread) per second: cava; spektr | "
          f"{wk['cava_pa']:.0f}; {wk['spektr_pa']:.0f} |")
    print(f"| desktop: spektr's latency from the sound to each frame's publication | "
          f"{lat_text(latency_pa)} |")
    c, s = statistics.median(cava), statistics.median(spektr)
    print(f"| fifo: cava 0.7 (fifo, 32 bars, 60 fps), CPU per second of audio | {c * 1000:.2f} ms |")
    print(f"| fifo: spektr (ALSA capture, its default 10 ms periods) | {s * 1000:.2f} ms |")
    print(f"| fifo: spektr / cava | {s / c:.2f} |")
    print(f"| fifo: wakes per second: cava; spektr; spektr --period {LONG_PERIOD_MS} | "
          f"{wk['cava']:.0f}; {wk['spektr']:.0f}; {wk['long']:.0f} |")
    lp = statistics.median(long_period)
    print(f"| fifo: spektr with --period {LONG_PERIOD_MS}; / cava | {lp * 1000:.2f} ms; "
          f"{lp / c:.2f} |")
    print(f"| fifo: spektr's latency from the sound to each frame's publication (10 ms; 20 ms "
          f"periods) | {lat_text(latency)}; {lat_text(long_latency)} |")
    for row in rows:
        print(row)


def bench_rows():
    """The rows `cargo bench --bench engine` prints (engine vs raw FFT, per hop, offline)."""
    log("cargo bench --bench engine ...")
    out = subprocess.run(["cargo", "bench", "--locked", "--bench", "engine"], check=True,
                         capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if l.startswith("| ") and not l.startswith("| measure")]


def window_rows():
    """scripts/measure-window.sh's rows, one per state, folded into the two columns."""
    log("scripts/measure-window.sh ...")
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([os.path.join(here, "measure-window.sh")], check=True,
                         capture_output=True, text=True).stdout
    rows = []
    for l in out.splitlines():
        cells = [x.strip() for x in l.strip("|").split("|")]
        if len(cells) == 4 and cells[1].endswith("%"):
            rows.append(f"| window {cells[0]}: CPU of the whole process; of the UI thread; "
                        f"resident memory | {cells[1]}; {cells[2]}; {cells[3]} |")
        elif len(cells) == 2 and cells[0].startswith("window latency"):
            rows.append(l)
    return rows


if __name__ == "__main__":
    main()
