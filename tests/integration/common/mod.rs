//! Helpers shared by the integration tests: known signals and running the analyzer on them
//! (here), WAV files, child processes, NDJSON, the desktop-like PulseAudio rig, the X display.
#![allow(dead_code, unused_imports)]

pub mod ndjson;
pub mod process;
pub mod pulse;
pub mod wav;
pub mod x11;

pub use ndjson::{band_index, last_frame_bars, ndjson};
pub use process::wait_output;
pub use wav::write_i16_wav;

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

/// Held by tests that measure time or load both cores (live capture at real time, the
/// window, the soak): one at a time, so that none of them measures another's load. Tests
/// that only check values run beside them.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
