//! Live capture through real sound systems on a machine without a sound card: ALSA's `file`
//! plugin fed from a FIFO at real-time pace, and a private PulseAudio daemon with a null sink
//! whose monitor is "what you hear". Nothing here skips: a missing piece fails the test.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::common::{band_index, last_frame_bars, ndjson, wait_output, write_i16_wav};

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
    /// Fed in blocks of spektr's default capture period (10 ms).
    fn new() -> Self {
        Self::fed_in(480)
    }

    /// The FIFO fed in blocks of `chunk` frames: ALSA's file plugin reads one period per read,
    /// so the writer feeds whole periods of the length spektr asks for.
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

    /// spektr on a machine with ALSA and no sound server: no PulseAudio to find, so its
    /// default audio system is ALSA, whose default device is the fixture's.
    fn spektr(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("ALSA_CONFIG_PATH", self.dir.path().join("asound.conf"))
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .env_remove("PULSE_SERVER")
            .env_remove("PULSE_RUNTIME_PATH")
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
    let _one_at_a_time = super::common::exclusive();
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
    // spektr's default period, 10 ms: the audio system delivers it.
    let block = summary["capture_block_frames"]
        .as_u64()
        .expect("block size");
    assert!((456..=504).contains(&block), "{summary}");
    let latency = &summary["latency_ms"]["sound_to_publication"];
    assert!(latency["p99"].as_f64().is_some(), "{summary}");
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
        fx.spektr(&["devices", "--json"]).spawn().expect("spawn"),
        Duration::from_secs(20),
    );
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let alsa = v["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .find(|h| h["host"] == "alsa")
        .expect("alsa listed");
    let devices = alsa["devices"].as_array().expect("devices");
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

/// `--period 20`: the audio system delivers 20 ms blocks (half the wakes of the 10 ms default);
/// frames still come 60 a second at the right times and levels.
#[test]
fn a_longer_capture_period_keeps_frames_and_levels() {
    let _one_at_a_time = super::common::exclusive();
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
    // The period asked for is the one the audio system delivers.
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
        fx.spektr(&["analyze", "--source", "device:nope"]),
        2,
        "no input device named 'nope'",
    );
    fails(
        fx.spektr(&["analyze", "--source", "monitor"]),
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
    // No server where the environment says: the error names the socket it tried.
    let none = fx.dir.path().join("none");
    let mut no_server = fx.spektr(&["analyze", "--source", "monitor", "--host", "pulseaudio"]);
    no_server.env("PULSE_SERVER", format!("unix:{}", none.display()));
    fails(
        no_server,
        3,
        &format!("{} (no such socket)", none.display()),
    );
    let mut no_server = fx.spektr(&["analyze", "--source", "monitor", "--host", "pulseaudio"]);
    no_server.env("PULSE_RUNTIME_PATH", &none);
    fails(
        no_server,
        3,
        &format!("{}/native (from PULSE_RUNTIME_PATH)", none.display()),
    );
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
    let _one_at_a_time = super::common::exclusive();
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

/// Live output is written frame by frame: a reader gets each frame as it is made (not in
/// bursts), a failed write is exit 3 with one line, and a reader that goes away (`| head -1`)
/// is a quiet exit 0.
#[test]
fn live_output_goes_out_per_frame_and_its_end_is_reported_honestly() {
    let _one_at_a_time = super::common::exclusive();
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args(["analyze", "--source", "synth:demo", "--seconds", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut arrivals = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if line.contains("\"type\":\"frame\"") {
            arrivals.push(Instant::now());
        }
    }
    let out = wait_output(child, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(arrivals.len() >= 170, "{} frames", arrivals.len());
    let longest = arrivals
        .windows(2)
        .skip(10)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .expect("frames");
    assert!(
        longest <= Duration::from_millis(40),
        "frames arrived {longest:?} apart"
    );

    // A full disk: one error line, exit 3.
    let out = wait_output(
        Command::new(BIN)
            .args([
                "analyze",
                "--source",
                "synth:demo",
                "--seconds",
                "2",
                "-o",
                "/dev/full",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn"),
        Duration::from_secs(20),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(
        err.starts_with("error: cannot write /dev/full:") && err.contains("No space left"),
        "{err}"
    );

    // The reader takes one line and goes: spektr ends quietly, with success.
    let mut child = Command::new(BIN)
        .args(["analyze", "--source", "synth:demo", "--seconds", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut first)
        .expect("one line");
    assert!(first.contains("\"type\":\"header\""), "{first}");
    let start = Instant::now();
    let out = wait_output(child, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "it noticed the reader was gone"
    );
}
