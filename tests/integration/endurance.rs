//! Endurance: a long stretch of audio through the whole pipeline at faster than real time: a
//! looped file source pumping the sample ring, the engine publishing into the triple buffer
//! while it forwards every sample to a recording, and a reader taking frames from the triple
//! buffer the way the window's timer does (`update()`, then the newest frame). Resident memory
//! must stay flat, frame times must never go backwards, and the recording must equal the
//! source looped, sample for sample.
//!
//! `make test` runs 10 minutes of audio. The full soak is an hour (about 15 s):
//! `SPEKTR_SOAK_SECONDS=3600 cargo test --test integration endurance -- --nocapture`.

#![allow(clippy::print_stderr)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use spektr::config::{AnalysisSettings, SampleKind, StreamFormat};
use spektr::engine::{Analyzer, EngineExit, EngineHandle};
use spektr::publish::frame_buffer;
use spektr::record::{RecordRequest, Recording};
use spektr::source::file::FileSource;
use spektr::source::{Source, pump_with};

use super::common;

const RATE: u32 = 48_000;
/// An odd length, so loop seams fall anywhere in a hop.
const SOURCE_FRAMES: usize = 7 * RATE as usize + 123;

/// A 16-bit stereo source: tones, a sweep-like chirp and noise, different per channel.
fn write_source(path: &std::path::Path) -> Vec<i16> {
    let mut seed = 0x1234_5678_u32;
    let mut samples = Vec::with_capacity(SOURCE_FRAMES * 2);
    for i in 0..SOURCE_FRAMES {
        let t = i as f64 / f64::from(RATE);
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed as f64 / u32::MAX as f64 - 0.5) * 0.05;
        let l = 0.4 * (std::f64::consts::TAU * 1000.0 * t).sin() + noise;
        let r = 0.3 * (std::f64::consts::TAU * (100.0 + 50.0 * t) * t).sin() - noise;
        samples.extend([l, r].map(|x| (x * 32767.0).round() as i16));
    }
    common::write_i16_wav(path, RATE, 2, samples.iter().copied());
    samples
}

/// Resident memory of this process, bytes.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// Set in the child process that runs the soak alone.
const CHILD: &str = "SPEKTR_SOAK_CHILD";

#[test]
fn a_long_run_keeps_memory_flat_time_monotonic_and_the_recording_exact() {
    if std::env::var_os(CHILD).is_some() {
        soak();
        return;
    }
    // The resident set is the whole process's: the other tests of this binary, running
    // beside the soak, would count in it (5 MB seen in CI). So the soak runs as this one
    // test in a process of its own, this binary run again.
    let _one_at_a_time = super::common::exclusive();
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "endurance::a_long_run_keeps_memory_flat_time_monotonic_and_the_recording_exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("run the soak");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    assert!(out.status.success(), "the soak failed:\n{stdout}{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the soak did not run:\n{stdout}"
    );
}

/// The soak itself, in a process of its own.
fn soak() {
    let seconds: f64 = std::env::var("SPEKTR_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600.0);
    let loops = (seconds * f64::from(RATE) / SOURCE_FRAMES as f64).ceil() as usize;
    let total_frames = (loops * SOURCE_FRAMES) as u64;

    let dir = tempfile::tempdir().expect("tempdir");
    let source_path = dir.path().join("source.wav");
    let source = write_source(&source_path);
    let format = StreamFormat {
        sample_rate: RATE,
        channels: 2,
    };

    let settings = AnalysisSettings::default();
    let analyzer = Analyzer::new(&settings, format).expect("analyzer");
    let (frames_in, mut frames_out) = frame_buffer(analyzer.bands().len(), format.channels);
    let (mut ring, reader) = spektr::stream::channel(format, false);
    let wav = dir.path().join("soak.wav");
    let (recording, tap) =
        Recording::start(RecordRequest::new(wav.clone(), format, SampleKind::Int(16)))
            .expect("start recording");

    let started = Instant::now();
    let mut engine = EngineHandle::spawn(reader, analyzer, frames_in, false, None).expect("engine");
    engine.record(tap).expect("engine takes the tap");
    ring.wake_on_push();

    // The source thread waits for the writer (as `spektr record --fast` does) instead of
    // overrunning it: this run is about endurance, not the disk's speed.
    let gauge = recording.gauge();
    let most = (spektr::record::RING_SECONDS / 2.0 * f64::from(RATE)) as u64;
    let path = source_path.clone();
    let pumper = std::thread::spawn(move || {
        for _ in 0..loops {
            let mut file = FileSource::open(&path).expect("open source");
            assert_eq!(file.format(), format);
            pump_with(&mut file, &mut ring, || {
                while gauge.backlog() > most && !gauge.ended() {
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
            .expect("pump");
        }
        // Dropping the ring's writer ends the stream: the engine drains it and returns.
    });

    // The reader: what the window's timer does, at a faster pace.
    let done = Arc::new(AtomicBool::new(false));
    let reader_done = done.clone();
    let reader = std::thread::spawn(move || {
        let (mut read, mut last_t, mut backwards) = (0u64, f64::NEG_INFINITY, Vec::new());
        loop {
            let finished = reader_done.load(Ordering::Acquire);
            if frames_out.update() {
                let t = frames_out.output_buffer().time_s;
                if t < last_t {
                    backwards.push((last_t, t));
                }
                last_t = t;
                read += 1;
            }
            if finished {
                return (read, last_t, backwards);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });

    // Memory, sampled as the run goes.
    let mut rss = Vec::new();
    while !engine.is_finished() {
        rss.push(rss_bytes());
        std::thread::sleep(Duration::from_millis(20));
    }
    pumper.join().expect("source thread");
    let exit = engine.join().expect("engine thread").exit;
    done.store(true, Ordering::Release);
    let (read, last_t, backwards) = reader.join().expect("reader thread");
    let finished = recording.wait().expect("the recording finished");
    let wall = started.elapsed().as_secs_f64();

    assert_eq!(exit, EngineExit::EndOfStream);
    assert!(finished.complete(), "{}", finished.message());
    assert_eq!(finished.frames, total_frames, "every frame recorded");
    assert!(
        backwards.is_empty(),
        "frame times went backwards: {backwards:?}"
    );
    let audio_s = total_frames as f64 / f64::from(RATE);
    assert!(
        (last_t - audio_s).abs() < 0.02,
        "the last frame is at {last_t} s of {audio_s} s"
    );
    assert!(read > 100, "the reader saw {read} frames");

    // Flat: after the first tenth (buffers, the writer's file cache accounting settle), the
    // resident set may not grow by more than 4 MB however long the run.
    let n = rss.len();
    assert!(n >= 10, "too few memory samples ({n})");
    let settled = &rss[n / 10..];
    let (lo, hi) = (
        *settled.iter().min().expect("samples"),
        *settled.iter().max().expect("samples"),
    );
    eprintln!(
        "soak: {audio_s:.0} s of audio in {wall:.1} s ({:.0}x real time), {read} frames read, \
         resident memory {:.1} to {:.1} MB after the first tenth",
        audio_s / wall,
        lo as f64 / 1e6,
        hi as f64 / 1e6
    );
    assert!(
        hi - lo < 4 << 20,
        "resident memory grew from {lo} to {hi} bytes"
    );

    // Bit-exact: the file is the source, looped.
    let mut reader = hound::WavReader::open(&wav).expect("open the recording");
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, RATE, 16)
    );
    assert_eq!(u64::from(reader.duration()), total_frames);
    for (i, s) in reader.samples::<i16>().enumerate() {
        let s = s.expect("read sample");
        let want = source[i % source.len()];
        assert_eq!(s, want, "sample {i} (frame {}) differs", i / 2);
    }
}
