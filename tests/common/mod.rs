//! Helpers shared by the integration tests: known signals, and running the analyzer on them.
#![allow(dead_code)]

use spektr::config::{AnalysisSettings, StreamFormat};
use spektr::engine::Analyzer;
use spektr::publish::Frame;

/// `secs` of a sine at `freq_hz` with peak `amplitude`, on `channels` identical channels.
pub fn sine(freq_hz: f64, amplitude: f64, secs: f64, rate: u32, channels: usize) -> Vec<f32> {
    let n = (secs * f64::from(rate)).round() as usize;
    let mut out = Vec::with_capacity(n * channels);
    for i in 0..n {
        let x = (amplitude
            * (std::f64::consts::TAU * (freq_hz * i as f64 / f64::from(rate)).fract()).sin())
            as f32;
        out.extend(std::iter::repeat_n(x, channels));
    }
    out
}

/// Runs `signal` through a fresh analyzer and returns every frame.
pub fn analyze(
    settings: &AnalysisSettings,
    format: StreamFormat,
    signal: &[f32],
) -> (Analyzer, Vec<Frame>) {
    let mut a = Analyzer::new(settings, format).expect("settings are valid");
    let frames = feed(&mut a, signal);
    (a, frames)
}

/// Feeds `signal` into `a`, collecting the frames it publishes.
pub fn feed(a: &mut Analyzer, signal: &[f32]) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut rest = signal;
    while rest.len() >= a.format().channels {
        let fed = a.feed(rest);
        rest = &rest[fed.consumed..];
        if fed.frame_due {
            let mut f = a.new_frame();
            a.write_frame(&mut f);
            frames.push(f);
        }
    }
    frames
}

/// Mean of linear power over frames, in dB, per bar.
pub fn mean_bars_db(frames: &[Frame]) -> Vec<f64> {
    let bars = frames[0].bars_db.len();
    (0..bars)
        .map(|b| {
            let p: f64 = frames
                .iter()
                .map(|f| 10f64.powf(f64::from(f.bars_db[b]) / 10.0))
                .sum::<f64>()
                / frames.len() as f64;
            10.0 * p.log10()
        })
        .collect()
}

/// Writes a 16-bit WAV file.
pub fn write_i16_wav(
    path: &std::path::Path,
    rate: u32,
    channels: u16,
    samples: impl IntoIterator<Item = i16>,
) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for s in samples {
        w.write_sample(s).expect("write sample");
    }
    w.finalize().expect("finalize wav");
}

/// Waits for `child` (stdout and stderr piped), draining both pipes so a full pipe cannot
/// block it; a child still running at `deadline` is killed and fails the test.
pub fn wait_output(
    mut child: std::process::Child,
    deadline: std::time::Duration,
) -> std::process::Output {
    use std::io::Read;
    let start = std::time::Instant::now();
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            v
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return std::process::Output {
                status,
                stdout: out.join().expect("stdout"),
                stderr: err.join().expect("stderr"),
            };
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("the child process did not finish within {deadline:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A runtime folder for a private PulseAudio daemon with a null sink `testsink`.
pub fn pulse_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("pulse")).expect("runtime dir");
    std::fs::write(
        dir.path().join("test.pa"),
        "load-module module-native-protocol-unix auth-anonymous=1\n\
         load-module module-null-sink sink_name=testsink rate=48000 channels=2 format=float32le\n\
         set-default-sink testsink\nset-default-source testsink.monitor\n",
    )
    .expect("test.pa");
    dir
}

/// Points `cmd` at the private daemon in `dir`.
pub fn pulse_env<'a>(
    cmd: &'a mut std::process::Command,
    dir: &std::path::Path,
) -> &'a mut std::process::Command {
    cmd.env("XDG_RUNTIME_DIR", dir)
        .env("PULSE_RUNTIME_PATH", dir.join("pulse"))
        .env(
            "PULSE_SERVER",
            format!("unix:{}", dir.join("pulse/native").display()),
        )
        .env("HOME", dir)
}

/// Starts the daemon for `dir` and waits for its socket. A missing `pulseaudio` fails the test.
pub fn start_pulse(dir: &std::path::Path) -> std::process::Child {
    let mut cmd = std::process::Command::new("pulseaudio");
    cmd.args(["-n", "-F"])
        .arg(dir.join("test.pa"))
        .args(["--daemonize=no", "--exit-idle-time=-1"]);
    let child = pulse_env(&mut cmd, dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect(
            "pulseaudio is not installed: 'make test' installs it (scripts/install-deps.sh test)",
        );
    let socket = dir.join("pulse/native");
    let start = std::time::Instant::now();
    while !socket.exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "pulseaudio did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    child
}

/// Every line of NDJSON output, parsed.
pub fn ndjson(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect()
}

/// The index of the third-octave band with nominal centre `nominal` in a header.
pub fn band_index(header: &serde_json::Value, nominal: f64) -> usize {
    header["bands"]
        .as_array()
        .expect("bands")
        .iter()
        .position(|b| b["nominal_hz"].as_f64() == Some(nominal))
        .expect("band")
}

/// The bars of the last frame in parsed NDJSON.
pub fn last_frame_bars(lines: &[serde_json::Value]) -> Vec<f64> {
    let frame = lines
        .iter()
        .rev()
        .find(|l| l["type"] == "frame")
        .expect("a frame");
    frame["bars_db"]
        .as_array()
        .expect("bars")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect()
}
