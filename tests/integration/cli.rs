//! `spektr analyze` as a user runs it: real files written here, the real binary, its stdout,
//! stderr and exit code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::common;
use super::common::{band_index, last_frame_bars, ndjson};

const BIN: &str = env!("CARGO_BIN_EXE_spektr");

/// Runs spektr with a deadline; a hang fails the test instead of stalling CI.
pub(super) fn spektr(args: &[&str], deadline: Duration) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spektr");
    common::wait_output(child, deadline)
}

pub(super) fn ok(args: &[&str]) -> String {
    let out = spektr(args, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "spektr {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Asserts the documented failure shape: the exit code and exactly one `error:` line.
pub(super) fn fails(args: &[&str], code: i32, needle: &str) {
    let out = spektr(args, Duration::from_secs(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "spektr {args:?}: stderr {err}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "spektr {args:?}: want one line, got {err:?}"
    );
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "spektr {args:?}: {err:?} lacks {needle:?}"
    );
}

/// Two tones at third-octave centres: 100 Hz at -12 dBFS and 1 kHz at -6 dBFS.
fn two_tones(rate: u32, channels: usize, secs: f64) -> Vec<f64> {
    let n = (secs * f64::from(rate)) as usize;
    let mut v = Vec::with_capacity(n * channels);
    for i in 0..n {
        let t = i as f64 / f64::from(rate);
        let x = 0.251_188_6 * (std::f64::consts::TAU * 100.0 * t).sin()
            + 0.5 * (std::f64::consts::TAU * 1000.0 * t).sin();
        v.extend(std::iter::repeat_n(x, channels));
    }
    v
}

#[derive(Clone, Copy, Debug)]
enum Fmt {
    I8,
    I16,
    I24,
    I32,
    F32,
    F64,
}

fn write_wav(path: &Path, fmt: Fmt, rate: u32, channels: usize, samples: &[f64]) {
    if let Fmt::F64 = fmt {
        // hound does not write 64-bit float: the header by hand (WAVE_FORMAT_IEEE_FLOAT).
        let data_len = (samples.len() * 8) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data_len).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&3u16.to_le_bytes());
        b.extend_from_slice(&(channels as u16).to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * channels as u32 * 8).to_le_bytes());
        b.extend_from_slice(&(channels as u16 * 8).to_le_bytes());
        b.extend_from_slice(&64u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            b.extend_from_slice(&s.to_le_bytes());
        }
        std::fs::write(path, b).expect("write f64 wav");
        return;
    }
    let (bits, float) = match fmt {
        Fmt::I8 => (8, false),
        Fmt::I16 => (16, false),
        Fmt::I24 => (24, false),
        Fmt::I32 => (32, false),
        Fmt::F32 => (32, true),
        Fmt::F64 => unreachable!(),
    };
    let spec = hound::WavSpec {
        channels: channels as u16,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for &s in samples {
        match fmt {
            Fmt::I8 => w.write_sample((s * 127.0).round() as i8).expect("write"),
            Fmt::I16 => w.write_sample((s * 32767.0).round() as i16).expect("write"),
            Fmt::I24 => w
                .write_sample((s * 8_388_607.0).round() as i32)
                .expect("write"),
            Fmt::I32 => w
                .write_sample((s * 2_147_483_647.0).round() as i32)
                .expect("write"),
            Fmt::F32 => w.write_sample(s as f32).expect("write"),
            Fmt::F64 => unreachable!(),
        }
    }
    w.finalize().expect("finalize wav");
}

#[test]
fn every_wav_sample_format_analyzes_to_the_same_bars() {
    let dir = tempfile::tempdir().expect("tempdir");
    let signal = two_tones(48_000, 2, 2.5);
    let mut results = Vec::new();
    for fmt in [Fmt::F64, Fmt::F32, Fmt::I32, Fmt::I24, Fmt::I16, Fmt::I8] {
        let path = dir.path().join(format!("{fmt:?}.wav"));
        write_wav(&path, fmt, 48_000, 2, &signal);
        let text = ok(&[
            "analyze",
            path.to_str().expect("path"),
            "--bands",
            "third-octave",
        ]);
        let header = ndjson(&text)[0].clone();
        assert_eq!(header["sample_rate"], 48_000);
        assert_eq!(header["channels"], 2);
        let bars = last_frame_bars(&ndjson(&text));
        let (b100, b1k) = (band_index(&header, 100.0), band_index(&header, 1000.0));
        assert!(
            (bars[b100] + 12.0).abs() < 0.5 && (bars[b1k] + 6.02).abs() < 0.5,
            "{fmt:?}: {bars:?}"
        );
        results.push((fmt, bars));
    }
    let reference = results[0].1.clone();
    for (fmt, bars) in &results[1..] {
        for (b, (&r, &x)) in reference.iter().zip(bars).enumerate() {
            // 8-bit quantisation noise sits near -60 dB per band; compare what stands above it.
            let (floor, tol) = if matches!(fmt, Fmt::I8) {
                (-40.0, 0.3)
            } else {
                (-90.0, 0.05)
            };
            if r > floor {
                assert!((r - x).abs() <= tol, "{fmt:?} band {b}: {x} vs {r} (f64)");
            }
        }
    }
}

#[test]
fn rates_from_8k_to_384k_and_up_to_8_channels() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (rate, channels, fmt) in [
        (8_000, 1, Fmt::I16),
        (22_050, 3, Fmt::I24),
        (96_000, 2, Fmt::F32),
        (384_000, 8, Fmt::F32),
    ] {
        let path = dir.path().join(format!("{rate}-{channels}.wav"));
        write_wav(&path, fmt, rate, channels, &two_tones(rate, channels, 0.6));
        let text = ok(&[
            "analyze",
            path.to_str().expect("path"),
            "--bands",
            "third-octave",
        ]);
        let lines = ndjson(&text);
        let header = &lines[0];
        assert_eq!(header["sample_rate"], rate);
        assert_eq!(header["channels"], channels);
        let bars = last_frame_bars(&ndjson(&text));
        let b1k = band_index(header, 1000.0);
        assert!(
            (bars[b1k] + 6.02).abs() < 0.5,
            "{rate} Hz x{channels}: 1 kHz band {}",
            bars[b1k]
        );
        let frame = lines
            .iter()
            .rev()
            .find(|l| l["type"] == "frame")
            .expect("frame");
        assert_eq!(
            frame["channels"].as_array().expect("channels").len(),
            channels
        );
    }
}

#[test]
fn ndjson_has_header_frames_and_summary() {
    let text = ok(&["analyze", "synth:sine=1000@-6,duration=2"]);
    let lines = ndjson(&text);
    let header = &lines[0];
    assert_eq!(header["type"], "header");
    assert_eq!(header["version"], 1);
    assert!(
        header["db_convention"]
            .as_str()
            .expect("convention")
            .contains("AES17")
    );
    let bands = header["bands"].as_array().expect("bands");
    assert_eq!(bands.len(), 32);
    for b in bands {
        for key in ["lo_hz", "center_hz", "hi_hz", "window_ms"] {
            assert!(b[key].as_f64().is_some(), "band lacks {key}: {b}");
        }
    }
    assert_eq!(header["settings"]["fps"], 60.0);
    let frames: Vec<&Value> = lines.iter().filter(|l| l["type"] == "frame").collect();
    assert_eq!(frames.len(), 120);
    for (i, f) in frames.iter().enumerate() {
        let t = f["t"].as_f64().expect("t");
        assert!((t - (i + 1) as f64 / 60.0).abs() < 1e-5, "frame {i} at {t}");
        assert_eq!(f["bars_db"].as_array().expect("bars").len(), 32);
        assert_eq!(f["peak_hold_db"].as_array().expect("holds").len(), 32);
        assert_eq!(f["channels"].as_array().expect("channels").len(), 2);
    }
    let summary = lines.last().expect("summary");
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["frames"], 120);
    assert_eq!(summary["dropped_frames"], 0);
    assert!((summary["duration_s"].as_f64().expect("duration") - 2.0).abs() < 1e-9);
}

#[test]
fn the_header_says_what_the_bars_measure_and_each_gives_a_trace_per_channel() {
    let lines = ndjson(&ok(&["analyze", "synth:demo,duration=1"]));
    assert_eq!(lines[0]["bars_from"], "mean");
    assert_eq!(
        lines[0]["bars_rule"],
        "the mean of the 2 channels' own band powers"
    );
    assert_eq!(lines[0]["traces"], serde_json::json!([]));
    assert!(lines[1].get("traces_db").is_none());

    let lines = ndjson(&ok(&[
        "analyze",
        "synth:demo,duration=1",
        "--bars-from",
        "each",
    ]));
    assert_eq!(lines[0]["bars_from"], "each");
    assert_eq!(lines[0]["traces"], serde_json::json!(["L", "R"]));
    let frames: Vec<&Value> = lines.iter().filter(|l| l["type"] == "frame").collect();
    for f in &frames {
        let traces = f["traces_db"].as_array().expect("traces");
        assert_eq!(traces.len(), 2);
        for t in traces {
            assert_eq!(t.as_array().expect("trace").len(), 32);
        }
    }
    // The same signal on both channels: each trace is the bars.
    let last = frames.last().expect("frames");
    assert_eq!(last["traces_db"][0], last["bars_db"]);
    assert_eq!(last["traces_db"][1], last["bars_db"]);

    let text = ok(&[
        "analyze",
        "synth:demo,duration=1",
        "--bars-from",
        "right",
        "--format",
        "csv",
    ]);
    assert!(text.lines().count() > 50, "{text}");
    fails(
        &["analyze", "synth:demo,channels=1", "--bars-from", "side"],
        2,
        "--bars-from side needs a stereo source; this one has 1 channel",
    );
    fails(
        &["analyze", "synth:demo", "--bars-from", "both"],
        2,
        "expected mean, mid, side, each, left, right or a channel number",
    );
}

#[test]
fn gain_and_seconds_apply_offline_too() {
    let text = ok(&[
        "analyze",
        "synth:sine=1000@-12,duration=3",
        "--bands",
        "third-octave",
        "--gain",
        "6",
        "--seconds",
        "1",
    ]);
    let lines = ndjson(&text);
    assert_eq!(lines.iter().filter(|l| l["type"] == "frame").count(), 60);
    let b1k = band_index(&lines[0], 1000.0);
    let bars = last_frame_bars(&ndjson(&text));
    assert!(
        (bars[b1k] + 6.02).abs() < 0.3,
        "-12 dBFS with +6 dB gain reads {}",
        bars[b1k]
    );
    fails(&["analyze", "synth:demo", "--seconds", "0"], 2, "--seconds");
    fails(&["analyze", "synth:demo", "--gain", "500"], 2, "--gain");
}

#[test]
fn csv_has_a_header_row_and_a_row_per_frame() {
    let text = ok(&[
        "analyze",
        "synth:sine=1000@-6,duration=1,channels=1",
        "--format",
        "csv",
        "--bars",
        "16",
    ]);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 61);
    let header: Vec<&str> = rows[0].split(',').collect();
    // Time, the bars, the meters, loudness (M, S, I, LRA, max M, max S) and a true peak.
    assert_eq!(header.len(), 1 + 16 + 3 + 6 + 1);
    assert_eq!(header[0], "t_s");
    assert_eq!(header[17], "ch1_peak_dbfs");
    assert_eq!(header[20], "momentary_lufs");
    assert_eq!(header[26], "ch1_true_peak_dbtp");
    // The momentary window is not full before 0.4 s: an empty field, not a number.
    let first: Vec<&str> = rows[1].split(',').collect();
    assert_eq!(first[20], "", "{}", rows[1]);
    assert!(
        rows[1..]
            .iter()
            .all(|r| r.split(',').count() == header.len())
    );
}

#[test]
fn output_file_and_summary_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.ndjson");
    let stdout = ok(&["analyze", "synth:demo", "-o", out.to_str().expect("path")]);
    assert!(stdout.is_empty());
    let written = std::fs::read_to_string(&out).expect("output file");
    assert!(written.starts_with("{\"type\":\"header\""));
    let summary = ok(&["analyze", "synth:demo", "--format", "summary"]);
    assert!(
        summary.contains("window") && summary.contains("channel 1: peak"),
        "{summary}"
    );
    fails(
        &["analyze", "synth:demo", "-o", "/nonexistent-dir/x.ndjson"],
        3,
        "cannot write",
    );
}

#[test]
fn loudness_reaches_frames_the_summary_and_the_text_and_can_be_left_out() {
    let lines = ndjson(&ok(&["analyze", "synth:sine=1000@-23,duration=4"]));
    assert_eq!(
        lines[0]["loudness"]["channels"].as_str(),
        Some("stereo: L and R at 1.0")
    );
    let frames: Vec<&Value> = lines.iter().filter(|l| l["type"] == "frame").collect();
    // Null, not a number, while a window is not full.
    let early = frames
        .iter()
        .find(|f| f["t"].as_f64() > Some(0.1))
        .expect("frame");
    assert!(early["loudness"]["momentary_lufs"].is_null(), "{early}");
    assert!(early["loudness"]["short_term_lufs"].is_null(), "{early}");
    let last = frames.last().expect("frames")["loudness"].clone();
    for key in ["momentary_lufs", "short_term_lufs", "integrated_lufs"] {
        let v = last[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key}: {last}"));
        assert!((v + 23.0).abs() < 0.1, "{key}: {v}");
    }
    assert_eq!(last["true_peak_dbtp"].as_array().map(Vec::len), Some(2));
    let summary = &lines.last().expect("summary")["loudness"];
    let i = summary["integrated_lufs"].as_f64().expect("integrated");
    let tp = summary["true_peak_dbtp"].as_f64().expect("true peak");
    assert!(
        (i + 23.0).abs() < 0.1 && (tp + 23.0).abs() < 0.2,
        "{summary}"
    );
    let plr = summary["plr_lu"].as_f64().expect("plr");
    assert!((plr - (tp - i)).abs() < 0.02, "{summary}");
    for key in ["range_lu", "max_momentary_lufs", "max_short_term_lufs"] {
        assert!(summary.get(key).is_some(), "{key}: {summary}");
    }

    let text = ok(&[
        "analyze",
        "synth:sine=1000@-23,duration=4",
        "--format",
        "summary",
    ]);
    assert!(text.contains("loudness: integrated -23.0 LUFS"), "{text}");

    // Silence: no loudness is a number.
    let lines = ndjson(&ok(&["analyze", "synth:silence,duration=2"]));
    let summary = &lines.last().expect("summary")["loudness"];
    assert!(
        summary["integrated_lufs"].is_null() && summary["true_peak_dbtp"].is_null(),
        "{summary}"
    );

    let lines = ndjson(&ok(&[
        "analyze",
        "synth:sine=1000@-23,duration=1",
        "--no-loudness",
    ]));
    assert!(lines[0]["loudness"].is_null());
    assert!(
        lines
            .iter()
            .all(|l| l.get("loudness").is_none_or(Value::is_null))
    );
}

#[test]
fn loudness_measures_many_files_in_order_with_an_album_line_and_one_line_per_bad_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tone = |name: &str, db: f64, rate: u32, channels: usize| {
        let path = dir.path().join(name);
        let amplitude = 10f64.powf(db / 20.0);
        let samples: Vec<f64> = common::sine(997.0, amplitude, 4.0, rate, channels)
            .into_iter()
            .map(f64::from)
            .collect();
        write_wav(&path, Fmt::I24, rate, channels, &samples);
        path.to_str().expect("path").to_string()
    };
    let a = tone("a.wav", -23.0, 48_000, 2);
    let b = tone("b.wav", -18.0, 44_100, 2);
    // Mono counts once: a -20 dBFS sine reads 3 dB lower; as dual mono, as stereo would.
    let m = tone("m.wav", -20.0, 48_000, 1);
    let bad = dir.path().join("bad.wav");
    std::fs::write(&bad, b"RIFF\0\0 not audio").expect("write");
    let bad = bad.to_str().expect("path");

    let out = spektr(
        &["loudness", &a, bad, &b, "--jobs", "2"],
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = err.lines().collect();
    assert_eq!(errors.len(), 2, "{err}");
    assert!(
        errors[0].starts_with("error: ") && errors[0].contains("bad.wav"),
        "{err}"
    );
    assert!(errors[1].contains("1 of 3 files"), "{err}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].contains("-23.0 LUFS") && lines[0].ends_with("a.wav"),
        "{text}"
    );
    assert!(
        lines[0].contains("TP -23.0 dBTP") && lines[0].contains("0:04.0"),
        "{text}"
    );
    assert!(
        lines[1].contains("-18.0 LUFS") && lines[1].ends_with("b.wav"),
        "{text}"
    );
    // Both files' blocks gated together: the energy mean of -23 and -18 LUFS.
    let album = 10.0 * ((10f64.powf(-2.3) + 10f64.powf(-1.8)) / 2.0).log10();
    assert!(
        lines[2].contains(&format!("{album:.1} LUFS")) && lines[2].contains("2 files"),
        "{text} (album {album:.2})"
    );

    // JSON: the summary's keys per file, in the order given, whatever the number of jobs.
    let json = |jobs: &str, extra: &[&str]| {
        let mut args = vec!["loudness", "--json", "--jobs", jobs, &a, &b, &m];
        args.extend_from_slice(extra);
        ndjson(&ok(&args))
    };
    let one = json("1", &[]);
    assert_eq!(one, json("3", &[]));
    assert_eq!(one.len(), 4);
    for (v, path, lufs) in [
        (&one[0], &a, -23.0),
        (&one[1], &b, -18.0),
        (&one[2], &m, -23.01),
    ] {
        assert_eq!(v["path"].as_str(), Some(path.as_str()), "{v}");
        let i = v["integrated_lufs"].as_f64().expect("integrated");
        assert!((i - lufs).abs() < 0.05, "{v}");
        for key in [
            "range_lu",
            "true_peak_dbtp",
            "max_momentary_lufs",
            "max_short_term_lufs",
            "plr_lu",
        ] {
            assert!(v[key].is_number(), "{key}: {v}");
        }
    }
    assert_eq!(one[1]["sample_rate"], 44_100);
    assert_eq!(
        one[2]["true_peak_dbtp_per_channel"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(one[3]["album"], true);
    assert_eq!(one[3]["files"], 3);
    let dual = json("2", &["--dual-mono"]);
    let i = dual[2]["integrated_lufs"].as_f64().expect("integrated");
    assert!((i + 20.0).abs() < 0.05, "{}", dual[2]);

    fails(&["loudness"], 2, "FILE");
    fails(&["loudness", &a, "--jobs", "0"], 2, "jobs");
    // One file: its error is the one line.
    fails(
        &["loudness", "/nonexistent.wav"],
        3,
        "cannot open /nonexistent.wav",
    );
}

fn valid_wav_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("v.wav");
    write_wav(&p, Fmt::I16, 48_000, 2, &two_tones(48_000, 2, 1.0));
    std::fs::read(p).expect("read back")
}

#[test]
fn broken_files_end_with_exit_3_and_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = valid_wav_bytes();
    let write = |name: &str, bytes: &[u8]| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    };
    let patch = |offset: usize, bytes: &[u8]| {
        let mut v = good.clone();
        v[offset..offset + bytes.len()].copy_from_slice(bytes);
        v
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (write("empty.wav", b""), "empty"),
        (
            write("text.wav", b"this is not audio at all, just some text\n"),
            "not an audio file",
        ),
        (write("truncated.wav", &good[..good.len() / 2]), "truncated"),
        (
            write("zero-channels.wav", &patch(22, &0u16.to_le_bytes())),
            "error",
        ),
        (
            write("rate-zero.wav", &patch(24, &0u32.to_le_bytes())),
            "error",
        ),
        (
            write("bits-7.wav", &patch(34, &7u16.to_le_bytes())),
            "error",
        ),
        (
            write("huge-fmt.wav", &patch(16, &0xFFFF_FFF0u32.to_le_bytes())),
            "error",
        ),
        (
            write("header-only.wav", &{
                let mut v = good[..44].to_vec();
                v[40..44].copy_from_slice(&0u32.to_le_bytes());
                v
            }),
            "no audio",
        ),
        (write("riff-only.wav", b"RIFF\x04\x00\x00\x00WAVE"), "error"),
        (dir.path().to_path_buf(), "directory"),
        (dir.path().join("missing.wav"), "cannot open"),
    ];
    for (path, needle) in cases {
        fails(&["analyze", path.to_str().expect("path")], 3, needle);
    }
}

#[test]
fn bad_arguments_end_with_exit_2_and_one_line() {
    fails(
        &["analyze", "synth:demo", "--bars", "4"],
        2,
        "--bars must be between 8 and 128",
    );
    fails(
        &[
            "analyze",
            "synth:demo",
            "--bars",
            "32",
            "--bands",
            "third-octave",
        ],
        2,
        "third-octave",
    );
    fails(
        &["analyze", "synth:demo", "--fmin", "5000", "--fmax", "100"],
        2,
        "--fmin",
    );
    fails(
        &["analyze", "synth:demo", "--bands", "octave"],
        2,
        "possible values",
    );
    fails(&["analyze", "synth:demo", "--fps", "0"], 2, "--fps");
    fails(&["analyze", "synth:demo", "--bogus"], 2, "--bogus");
    fails(&["analyze", "synth:square=100"], 2, "unknown item");
    fails(&["analyze"], 2, "INPUT");
    fails(
        &["analyze", "synth:sine=1000,rate=8000", "--fmin", "5000"],
        2,
        "Nyquist",
    );
    fails(&["--bars", "3"], 2, "--bars must be between 8 and 128");
    fails(&["--source", "usb:1"], 2, "bad source");
}

#[test]
fn the_window_without_a_display_says_so_in_one_line() {
    let out = Command::new(BIN)
        .args(["--source", "synth:demo"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run spektr");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(
        err.starts_with("error: no display") && err.contains("spektr analyze"),
        "{err}"
    );
}
