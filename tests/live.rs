//! Live capture through real sound systems on a machine without a sound card: ALSA's `file`
//! plugin fed from a FIFO at real-time pace, and a private PulseAudio daemon with a null sink
//! whose monitor is "what you hear". Nothing here skips: a missing piece fails the test.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{
    band_index, last_frame_bars, ndjson, pulse_dir, pulse_env, start_pulse, wait_output,
    write_i16_wav,
};

const BIN: &str = env!("CARGO_BIN_EXE_spektr");
const RATE: f64 = 48_000.0;

/// f32le stereo: 1 kHz at -6 dBFS plus 100 Hz at -20 dBFS, from frame `from`, `frames` long.
fn two_tones(from: usize, frames: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames * 8);
    for i in from..from + frames {
        let t = i as f64 / RATE;
        let x = (0.5 * (std::f64::consts::TAU * 1000.0 * t).sin()
            + 0.1 * (std::f64::consts::TAU * 100.0 * t).sin()) as f32;
        out.extend_from_slice(&x.to_le_bytes());
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Runs a live analysis to its end and returns its parsed NDJSON (it must succeed).
fn run_live(mut cmd: Command) -> Vec<Value> {
    let out = wait_output(cmd.spawn().expect("spawn"), Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines(&out)
}

fn lines(out: &Output) -> Vec<Value> {
    ndjson(&String::from_utf8_lossy(&out.stdout))
}

/// A hermetic ALSA configuration whose `tone` PCM reads a FIFO, and a writer that feeds the
/// FIFO at real-time pace in 240-frame chunks (the ALSA period these settings give).
struct AlsaFixture {
    dir: tempfile::TempDir,
    fifo: PathBuf,
    done: Arc<AtomicBool>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl AlsaFixture {
    fn new() -> Self {
        Self::fed_in(240)
    }

    /// The FIFO fed in blocks of `chunk` frames: ALSA's file plugin reads one period per read,
    /// so a capture period longer than 5 ms needs blocks of its length.
    fn fed_in(chunk: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("tone.fifo");
        let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(status.success(), "mkfifo failed");
        let conf = format!(
            "defaults.namehint.showall on\ndefaults.pcm.minperiodtime 5000\n\
             pcm.tone {{\n type file\n slave.pcm {{ type null }}\n file \"/dev/null\"\n infile \"{}\"\n format \"raw\"\n}}\n\
             pcm.!default {{ type asym playback.pcm {{ type null }} capture.pcm \"tone\" }}\n",
            fifo.display()
        );
        std::fs::write(dir.path().join("asound.conf"), conf).expect("write config");
        let done = Arc::new(AtomicBool::new(false));
        let (d, path) = (done.clone(), fifo.clone());
        let writer = std::thread::spawn(move || {
            let mut frame = 0usize;
            // The capture side may open and close the FIFO (probing) before it streams: reopen.
            while !d.load(Ordering::Relaxed) {
                let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&path) else {
                    return;
                };
                let start = Instant::now();
                let first = frame;
                while !d.load(Ordering::Relaxed) {
                    if f.write_all(&two_tones(frame, chunk)).is_err() {
                        break;
                    }
                    frame += chunk;
                    let due = start + Duration::from_secs_f64((frame - first) as f64 / RATE);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
            }
        });
        AlsaFixture {
            dir,
            fifo,
            done,
            writer: Some(writer),
        }
    }

    fn spektr(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("ALSA_CONFIG_PATH", self.dir.path().join("asound.conf"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }
}

impl Drop for AlsaFixture {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        // Unblock a writer still waiting in open() for a reader.
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(0o4000)
            .open(&self.fifo);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// `spektr analyze` of `seconds` of the fixture's device in third-octave bands, with `extra`
/// arguments; its output (it must succeed) and how long it took.
fn analyze_tone(fx: &AlsaFixture, seconds: &str, extra: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let mut args = vec![
        "analyze",
        "--source",
        "device:tone",
        "--host",
        "alsa",
        "--seconds",
        seconds,
        "--bands",
        "third-octave",
    ];
    args.extend_from_slice(extra);
    let child = fx.spektr(&args).spawn().expect("spawn");
    let out = wait_output(child, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out, started.elapsed())
}

#[test]
fn alsa_device_two_tones_at_their_levels_in_real_time() {
    let fx = AlsaFixture::new();
    let (out, wall) = analyze_tone(&fx, "3", &["--stats"]);
    let lines = lines(&out);
    let header = &lines[0];
    assert_eq!(header["source"], "alsa:tone");
    let frames: Vec<&Value> = lines.iter().filter(|l| l["type"] == "frame").collect();
    assert_eq!(frames.len(), 180);
    for (i, f) in frames.iter().enumerate() {
        let t = f["t"].as_f64().expect("t");
        assert!((t - (i + 1) as f64 / 60.0).abs() < 1e-5, "frame {i} at {t}");
    }
    let last = last_frame_bars(&lines);
    let level = |hz| last[band_index(header, hz)];
    assert!(
        (level(1000.0) + 6.02).abs() <= 1.0,
        "1 kHz reads {}",
        level(1000.0)
    );
    assert!(
        (level(100.0) + 20.0).abs() <= 1.0,
        "100 Hz reads {}",
        level(100.0)
    );
    let summary = lines.last().expect("summary");
    assert_eq!(summary["dropped_frames"], 0);
    let block = summary["capture_block_frames"]
        .as_u64()
        .expect("block size");
    assert!((228..=252).contains(&block), "{summary}");
    assert!(summary["latency_ms"]["p99"].as_f64().is_some(), "{summary}");
    // Real time, not faster: three seconds of audio took about three seconds.
    assert!(wall >= Duration::from_millis(2900), "took {wall:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("median"),
        "--stats line"
    );
}

#[test]
fn alsa_devices_lists_the_fixture_pcm() {
    let fx = AlsaFixture::new();
    let out = wait_output(
        fx.spektr(&["devices", "--host", "alsa", "--json"])
            .spawn()
            .expect("spawn"),
        Duration::from_secs(20),
    );
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let devices = v["hosts"][0]["devices"].as_array().expect("devices");
    let tone = devices
        .iter()
        .find(|d| d["id"] == "tone")
        .expect("tone listed");
    assert_eq!(tone["kind"], "input");
    assert_eq!(tone["sample_rate"], 48_000);
    assert!(
        devices
            .iter()
            .any(|d| d["id"] == "default" && d["default"] == true)
    );
}

/// A private PulseAudio daemon with a null sink `testsink`, and a player looping a tone into it.
struct Pulse {
    dir: tempfile::TempDir,
    daemon: Child,
    player: Option<Child>,
}

fn need(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is not installed: 'make test' installs it (scripts/install-deps.sh test)"
    );
}

impl Pulse {
    fn start() -> Self {
        need("paplay");
        let dir = pulse_dir();
        let daemon = start_pulse(dir.path());
        let mut p = Pulse {
            dir,
            daemon,
            player: None,
        };
        p.play();
        p
    }

    fn play(&mut self) {
        let raw = self.dir.path().join("tone.f32le");
        std::fs::write(&raw, two_tones(0, 48_000 * 60)).expect("tone file");
        let mut cmd = Command::new("paplay");
        cmd.args([
            "--latency-msec=20",
            "--raw",
            "--format=float32le",
            "--rate=48000",
            "--channels=2",
            "--device=testsink",
        ])
        .arg(&raw);
        self.player = Some(
            pulse_env(&mut cmd, self.dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("paplay"),
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    fn spektr(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        pulse_env(&mut c, self.dir.path());
        c
    }

    fn kill_daemon(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        if let Some(p) = &mut self.player {
            let _ = p.kill();
            let _ = p.wait();
        }
        self.kill_daemon();
    }
}

#[test]
fn pulseaudio_monitor_shows_what_is_playing() {
    let pulse = Pulse::start();
    let out = wait_output(
        pulse
            .spektr(&["devices", "--host", "pulseaudio", "--json"])
            .spawn()
            .expect("spawn"),
        Duration::from_secs(20),
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let devices = v["hosts"][0]["devices"].as_array().expect("devices");
    assert!(
        devices.iter().any(|d| d["id"] == "testsink.monitor"
            && d["kind"] == "monitor"
            && d["default"] == true),
        "{devices:?}"
    );

    let lines = run_live(pulse.spektr(&[
        "analyze",
        "--source",
        "monitor",
        "--seconds",
        "2",
        "--bands",
        "third-octave",
    ]));
    let header = &lines[0];
    assert_eq!(header["source"], "pulseaudio:testsink.monitor");
    let level = last_frame_bars(&lines)[band_index(header, 1000.0)];
    assert!((level + 6.02).abs() <= 1.0, "1 kHz reads {level}");
    assert_eq!(lines.last().expect("summary")["type"], "summary");
}

#[test]
fn killing_the_pulseaudio_daemon_ends_capture_cleanly() {
    let mut pulse = Pulse::start();
    let child = pulse
        .spektr(&["analyze", "--source", "monitor", "--seconds", "60"])
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    pulse.kill_daemon();
    let out = wait_output(child, Duration::from_secs(15));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");
    let err_lines: Vec<&str> = err.lines().collect();
    assert_eq!(err_lines.len(), 1, "{err:?}");
    assert!(
        err_lines[0].starts_with("error: capture ended:") && err_lines[0].contains("went away"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    let lines = lines(&out);
    assert_eq!(
        lines.last().expect("summary")["type"],
        "summary",
        "the data so far is complete"
    );
}

/// `--period 20`: the audio system delivers 20 ms blocks (a quarter of the wakes of its 5 ms
/// default here); frames still come 60 a second at the right times and levels.
#[test]
fn a_longer_capture_period_keeps_frames_and_levels() {
    let fx = AlsaFixture::fed_in(960);
    let (out, wall) = analyze_tone(&fx, "2", &["--period", "20"]);
    let lines = lines(&out);
    let header = &lines[0];
    let frames = lines.iter().filter(|l| l["type"] == "frame").count();
    assert_eq!(frames, 120);
    let last = last_frame_bars(&lines);
    let level = last[band_index(header, 1000.0)];
    assert!((level + 6.02).abs() <= 1.0, "1 kHz reads {level}");
    let summary = lines.last().expect("summary");
    assert_eq!(summary["dropped_frames"], 0);
    // The period asked for is the one the audio system delivers (its default here is 240).
    let block = summary["capture_block_frames"]
        .as_u64()
        .expect("block size");
    assert!((912..=1008).contains(&block), "{summary}");
    assert!(
        wall >= Duration::from_millis(1900),
        "not real time: {wall:?}"
    );
    for bad in ["0", "500", "fast"] {
        fails(
            fx.spektr(&["analyze", "--source", "device:tone", "--period", bad]),
            2,
            "--period",
        );
    }
}

fn fails(mut cmd: Command, code: i32, needle: &str) {
    let out = wait_output(cmd.spawn().expect("spawn"), Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(
        err.starts_with("error: ") && err.contains(needle),
        "{err:?} lacks {needle:?}"
    );
}

#[test]
fn bad_sources_end_with_one_clear_line() {
    let fx = AlsaFixture::new();
    fails(
        fx.spektr(&["analyze", "--source", "device:nope", "--host", "alsa"]),
        2,
        "no input device named 'nope'",
    );
    fails(
        fx.spektr(&["analyze", "--source", "monitor", "--host", "alsa"]),
        2,
        "ALSA has no output monitors",
    );
    fails(
        fx.spektr(&["analyze", "--source", "usb:1"]),
        2,
        "bad source",
    );
    fails(
        fx.spektr(&["analyze", "synth:demo", "--source", "default"]),
        2,
        "cannot be used with",
    );
    let mut no_server = fx.spektr(&["analyze", "--source", "monitor", "--host", "pulseaudio"]);
    no_server.env(
        "PULSE_SERVER",
        format!("unix:{}", fx.dir.path().join("none").display()),
    );
    fails(no_server, 3, "PulseAudio is not available");
    // A file the analyzer cannot take, at real-time pace.
    let wav = fx.dir.path().join("4k.wav");
    write_i16_wav(&wav, 4000, 1, (0..4000).map(|i| (i % 100) as i16));
    fails(
        fx.spektr(&["analyze", "--source", &format!("file:{}", wav.display())]),
        3,
        "4000 Hz is not supported",
    );
}

#[test]
fn a_file_that_breaks_off_while_playing_live_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("cut.wav");
    write_i16_wav(
        &wav,
        48_000,
        2,
        (0..48_000 * 2).map(|i| ((i % 200) as i16 - 100) * 100),
    );
    let bytes = std::fs::read(&wav).expect("read");
    std::fs::write(&wav, &bytes[..bytes.len() / 2]).expect("truncate");
    let child = Command::new(BIN)
        .args(["analyze", "--source", &format!("file:{}", wav.display())])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = wait_output(child, Duration::from_secs(15));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains("truncated") && err.contains("0.50 s"), "{err}");
    assert_eq!(lines(&out).last().expect("summary")["type"], "summary");
    // A file that plays to its end is a clean exit.
    let whole = dir.path().join("whole.wav");
    std::fs::write(&whole, &bytes).expect("write");
    let child = Command::new(BIN)
        .args([
            "analyze",
            "--source",
            &format!("file:{}", whole.display()),
            "--format",
            "summary",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = wait_output(child, Duration::from_secs(15));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn paced_synth_runs_in_real_time_and_ctrl_c_ends_with_a_summary() {
    let child = Command::new(BIN)
        .args([
            "analyze",
            "--source",
            "synth:sine=1000@-6,duration=60",
            "--bands",
            "third-octave",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = wait_output(child, Duration::from_secs(10));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = lines(&out);
    let summary = lines.last().expect("summary");
    assert_eq!(summary["type"], "summary");
    let duration = summary["duration_s"].as_f64().expect("duration");
    assert!(
        (0.5..3.0).contains(&duration),
        "real-time pace: {duration} s of audio in about 1.5 s"
    );
    assert_eq!(summary["dropped_frames"], 0);
}
