//! Measuring a room with `spektr analyze` (issue 16): calibration (an SPL offset and a
//! measurement microphone's correction file), the infinite average and the max-hold.

#![allow(clippy::print_stderr)]

use serde_json::Value;

use super::cli::{fails, ok};
use super::common::ndjson;

/// Each band's power mean over the frames from `from_s` on, in dB.
fn mean_bars(lines: &[Value], from_s: f64) -> Vec<f64> {
    let frames: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "frame" && l["t"].as_f64().unwrap_or(0.0) >= from_s)
        .collect();
    assert!(frames.len() > 30, "{} frames", frames.len());
    let bars = frames[0]["bars_db"].as_array().expect("bars").len();
    (0..bars)
        .map(|b| {
            let p: f64 = frames
                .iter()
                .map(|f| 10f64.powf(f["bars_db"][b].as_f64().expect("bar") / 10.0))
                .sum::<f64>()
                / frames.len() as f64;
            10.0 * p.log10()
        })
        .collect()
}

fn centres(header: &Value) -> Vec<f64> {
    header["bands"]
        .as_array()
        .expect("bands")
        .iter()
        .map(|b| b["center_hz"].as_f64().expect("centre"))
        .collect()
}

/// The band holding `hz`.
fn band_of(header: &Value, hz: f64) -> usize {
    header["bands"]
        .as_array()
        .expect("bands")
        .iter()
        .position(|b| b["lo_hz"].as_f64() <= Some(hz) && b["hi_hz"].as_f64() > Some(hz))
        .expect("a band holds it")
}

#[test]
fn a_calibrated_sine_reads_its_spl_in_the_bars_and_the_header_says_so() {
    // A calibrator's 94 dB SPL tone that reads -20 dBFS: an offset of 114 dB.
    let out = ok(&[
        "analyze",
        // Long enough for Slow (1 s) to settle within 0.01 dB.
        "synth:sine=1000@-20,duration=6",
        "--spl-offset",
        "114",
        "--no-progress",
    ]);
    let lines = ndjson(&out);
    let header = &lines[0];
    assert_eq!(header["unit"], "dB SPL", "{header}");
    assert_eq!(header["calibration"]["spl_offset_db"], 114.0, "{header}");
    assert_eq!(header["settings"]["spl_offset_db"], 114.0);
    let band = band_of(header, 1000.0);
    let mean = mean_bars(&lines, 1.0)[band];
    assert!((mean - 94.0).abs() <= 0.05, "{mean} dB SPL");
    // The SPL meter (A weighting by default: 0 dB at 1 kHz) reads it too.
    assert_eq!(header["spl_meter"]["weighting"], "a", "{header}");
    let last = lines
        .iter()
        .rev()
        .find(|l| l["type"] == "frame")
        .expect("frame");
    for key in ["fast_db", "slow_db", "max_db"] {
        let v = last["spl"][key].as_f64().expect("spl");
        assert!((v - 94.0).abs() <= 0.05, "{key} {v}: {}", last["spl"]);
    }
    let summary = lines.last().expect("summary");
    let leq = summary["spl"]["leq_db"].as_f64().expect("leq");
    assert!((leq - 94.0).abs() <= 0.05, "{}", summary["spl"]);
    // The meters stay in dBFS.
    let rms = last["channels"][0]["rms_dbfs"].as_f64().expect("rms");
    assert!((rms + 20.0).abs() < 0.1, "{rms} dBFS");
    // Smoothed bars would be time-weighted twice: the meter is left out, and the header says
    // why.
    let smoothed = ndjson(&ok(&[
        "analyze",
        "synth:sine=1000@-20,duration=1",
        "--spl-offset",
        "114",
        "--smoothing",
        "fast",
        "--no-progress",
    ]));
    assert_eq!(smoothed[0]["spl_meter"]["shown"], false, "{}", smoothed[0]);
    assert!(smoothed.iter().all(|l| l.get("spl").is_none()));
    // Uncalibrated, the unit is dBFS and there is no calibration.
    let plain = ndjson(&ok(&[
        "analyze",
        "synth:sine=1000@-20,duration=1",
        "--no-progress",
    ]));
    assert_eq!(plain[0]["unit"], "dBFS");
    assert_eq!(plain[0]["calibration"], Value::Null);
}

#[test]
fn pink_noise_through_a_correction_file_reads_the_files_inverse() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A Dayton-style file: a sensitivity line, then the microphone's response.
    let cal = dir.path().join("mic.txt");
    let points = [
        (20.0, -3.0),
        (100.0, 2.0),
        (1000.0, 0.0),
        (5000.0, 4.0),
        (20000.0, -6.0),
    ];
    let mut text = String::from("*1000Hz -40.3\n");
    for (hz, db) in points {
        text.push_str(&format!("{hz} {db}\n"));
    }
    std::fs::write(&cal, text).expect("write");
    let pink = "synth:pink@-20,duration=12";
    let base = ndjson(&ok(&["analyze", pink, "--no-progress"]));
    let with = ndjson(&ok(&[
        "analyze",
        pink,
        "--mic-cal",
        cal.to_str().expect("path"),
        "--no-progress",
    ]));
    let header = &with[0];
    assert_eq!(
        header["unit"], "dBFS",
        "a correction alone is no SPL calibration"
    );
    assert_eq!(header["calibration"]["mic"]["format"], "dayton", "{header}");
    assert_eq!(header["calibration"]["mic"]["points"], 5);
    let gain = |hz: f64| -> f64 {
        // Linear in dB over log frequency, held at the ends (written out independently).
        if hz <= points[0].0 {
            return points[0].1;
        }
        for w in points.windows(2) {
            let ((f0, g0), (f1, g1)) = (w[0], w[1]);
            if hz <= f1 {
                return g0 + (hz / f0).ln() / (f1 / f0).ln() * (g1 - g0);
            }
        }
        points[points.len() - 1].1
    };
    let (b0, b1) = (mean_bars(&base, 2.0), mean_bars(&with, 2.0));
    for (i, hz) in centres(header).into_iter().enumerate() {
        let change = b1[i] - b0[i];
        assert!(
            (change + gain(hz)).abs() <= 0.2,
            "band {i} at {hz:.0} Hz: changed {change:.2} dB, the file says {:.2}",
            gain(hz)
        );
    }
}

#[test]
fn hostile_correction_files_and_offsets_are_one_line_each() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    };
    let many: String = (1..=1_000_000).map(|i| format!("{i} 0\n")).collect();
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (write("empty.txt", b""), "no lines"),
        (write("words.txt", b"not a calibration\n"), "no lines"),
        (write("unsorted.cal", b"1000 0\n100 1\n"), "must rise"),
        (write("twice.cal", b"100 0\n1000 0\n1000 1\n"), "twice"),
        (write("nan.cal", b"100 NaN\n1000 0\n"), "not a number"),
        (write("lines.cal", many.as_bytes()), "larger than"),
        (
            write("junk.bin", b"\x7fELF\x02\x01\x01\x00\x00\x00junk\xff\xfe"),
            "binary",
        ),
        (
            write("dbv.txt", b"100 -44.1\n1000 -42.0\n10000 -41.5\n"),
            "dBV",
        ),
    ];
    let refused = |path: &std::path::Path, code: i32, says: &str| {
        let args = [
            "analyze",
            "synth:sine=1000@-20,duration=1",
            "--mic-cal",
            path.to_str().expect("path"),
        ];
        fails(&args, code, says);
    };
    for (path, says) in &cases {
        refused(path, 2, says);
    }
    // One that cannot be read at all is an input error.
    refused(&dir.path().join("missing.txt"), 3, "no such file");
    refused(dir.path(), 3, "folder");
    fails(
        &[
            "analyze",
            "synth:sine=1000,duration=1",
            "--spl-offset",
            "-5",
        ],
        2,
        "--spl-offset must be between",
    );
    fails(
        &[
            "analyze",
            "synth:sine=1000,duration=1",
            "--spl-offset",
            "nan",
        ],
        2,
        "--spl-offset",
    );
}

/// The frames' bars at their times.
fn frames(lines: &[Value]) -> Vec<(f64, Vec<f64>)> {
    lines
        .iter()
        .filter(|l| l["type"] == "frame")
        .map(|f| {
            let bars = f["bars_db"]
                .as_array()
                .expect("bars")
                .iter()
                .map(|v| v.as_f64().expect("bar"))
                .collect();
            (f["t"].as_f64().expect("t"), bars)
        })
        .collect()
}

/// The bars of the first frame at or after `t`.
fn bars_at(frames: &[(f64, Vec<f64>)], t: f64) -> &[f64] {
    &frames.iter().find(|(ft, _)| *ft >= t).expect("a frame").1
}

#[test]
fn an_infinite_average_of_steady_noise_converges_as_one_over_the_root_of_time() {
    let pink = "synth:pink@-20,duration=20";
    let lines = ndjson(&ok(&[
        "analyze",
        pink,
        "--average",
        "infinite",
        "--no-progress",
    ]));
    let header = &lines[0];
    assert_eq!(header["settings"]["smoothing"], "infinite", "{header}");
    assert!(
        header["smoothing_rule"]
            .as_str()
            .is_some_and(|r| r.contains("averaged since the start")),
        "{header}"
    );
    let f = frames(&lines);
    let last = &f.last().expect("frames").1;
    // The spread of the running average about its final value, over the bands.
    let spread = |t: f64| {
        let at = bars_at(&f, t);
        let sq: f64 = at.iter().zip(last).map(|(a, b)| (a - b).powi(2)).sum();
        (sq / at.len() as f64).sqrt()
    };
    let (early, late) = (spread(2.0), spread(8.0));
    // Against the end at 20 s the deviations' variances go as 1/t - 1/20: 2.45 times less
    // spread at 8 s than at 2 s.
    let ratio = early / late;
    eprintln!("infinite average: spread {early:.3} dB at 2 s, {late:.3} dB at 8 s ({ratio:.2}x)");
    assert!((1.6..=4.0).contains(&ratio), "{early} dB, then {late} dB");
    // Unsmoothed, a frame of the same noise spreads far more than the average.
    let plain = frames(&ndjson(&ok(&["analyze", pink, "--no-progress"])));
    let raw = bars_at(&plain, 8.0);
    let sq: f64 = raw.iter().zip(last).map(|(a, b)| (a - b).powi(2)).sum();
    assert!((sq / raw.len() as f64).sqrt() > 5.0 * late);
}

#[test]
fn the_last_frame_of_an_infinite_average_is_the_runs_power_mean() {
    let pink = "synth:pink@-20,duration=10";
    let avg = ndjson(&ok(&[
        "analyze",
        pink,
        "--average",
        "infinite",
        "--no-progress",
    ]));
    let plain = ndjson(&ok(&["analyze", pink, "--no-progress"]));
    let last = &frames(&avg).last().expect("frames").1.clone();
    let f = frames(&plain);
    let settled: Vec<f64> = plain[0]["bands"]
        .as_array()
        .expect("bands")
        .iter()
        .map(|b| b["settled_s"].as_f64().expect("settled_s"))
        .collect();
    for (b, &from) in settled.iter().enumerate() {
        // The unsmoothed frames' power mean, from when the band's window held only signal.
        let after: Vec<f64> = f
            .iter()
            .filter(|(t, _)| *t > from)
            .map(|(_, bars)| 10f64.powf(bars[b] / 10.0))
            .collect();
        let mean = 10.0 * (after.iter().sum::<f64>() / after.len() as f64).log10();
        assert!(
            // The lowest bands' long windows give 10 s few analyses: ends weigh more there.
            (last[b] - mean).abs() <= if b < 4 { 0.1 } else { 0.02 },
            "band {b}: the average reads {:.3} dB, the frames' mean {mean:.3}",
            last[b]
        );
    }
}

#[test]
fn max_hold_keeps_every_band_a_sweep_passed_at_its_peak() {
    let sweep = "synth:sweep=100-8000@-6,duration=4";
    let hold_of = |extra: &[&str]| {
        let mut args = vec!["analyze", sweep, "--no-progress"];
        args.extend_from_slice(extra);
        let lines = ndjson(&ok(&args));
        let header = lines[0].clone();
        let frame = lines
            .iter()
            .rev()
            .find(|l| l["type"] == "frame")
            .expect("frame")
            .clone();
        let holds: Vec<(f64, f64)> = header["bands"]
            .as_array()
            .expect("bands")
            .iter()
            .zip(frame["peak_hold_db"].as_array().expect("holds"))
            .map(|(b, h)| {
                (
                    b["center_hz"].as_f64().expect("centre"),
                    h.as_f64().expect("hold"),
                )
            })
            .filter(|(hz, _)| (150.0..=5000.0).contains(hz))
            .collect();
        (header, holds)
    };
    let (header, held) = hold_of(&["--max-hold"]);
    assert_eq!(header["settings"]["max_hold"], true);
    assert!(held.len() > 10);
    for (hz, db) in &held {
        assert!(*db >= -9.0, "the {hz:.0} Hz band's marker fell to {db} dB");
    }
    // Without it the markers of the bands swept first have fallen far.
    let (_, fell) = hold_of(&[]);
    let lowest = fell.iter().map(|h| h.1).fold(f64::INFINITY, f64::min);
    assert!(lowest < -30.0, "{fell:?}");
}

#[test]
fn a_reference_from_analyze_compares_band_by_band_and_another_layout_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("room.json");
    let r = path.to_str().expect("path");
    let pink = |db: i32| format!("synth:pink@{db},duration=3");
    let quiet = pink(-20);
    ok(&[
        "analyze",
        &quiet,
        "--average",
        "infinite",
        "--no-progress",
        "-o",
        dir.path().join("a.ndjson").to_str().expect("path"),
        "--save-reference",
        r,
    ]);
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("saved")).expect("JSON");
    assert_eq!(saved["type"], "spektr-reference");
    assert_eq!(saved["name"], "room");
    assert_eq!(saved["unit"], "dBFS");
    assert_eq!(saved["sample_rate"], 48_000);
    let kept: Vec<f64> = saved["bands"]
        .as_array()
        .expect("bands")
        .iter()
        .map(|b| b["level_db"].as_f64().expect("level"))
        .collect();
    // The reference is the run's last frame: the whole run's average.
    let first = ndjson(&std::fs::read_to_string(dir.path().join("a.ndjson")).expect("ndjson"));
    let last = super::common::last_frame_bars(&first);
    assert_eq!(kept.len(), last.len());
    for (k, b) in kept.iter().zip(&last) {
        assert!((k - b).abs() <= 0.005, "kept {k}, the last frame {b}");
    }

    // The same signal against it: 0.0 in every band; 6 dB louder, 6.00 in every band.
    let against = |signal: &str| {
        ndjson(&ok(&[
            "analyze",
            signal,
            "--average",
            "infinite",
            "--no-progress",
            "--reference",
            r,
        ]))
    };
    let same = against(&quiet);
    assert_eq!(same[0]["reference"]["name"], "room");
    assert!(
        same[0]["reference"]["rule"]
            .as_str()
            .expect("rule")
            .starts_with("diff_db: each band's level minus the reference's")
    );
    let last_diff = |lines: &[Value]| -> Vec<f64> {
        lines
            .iter()
            .rev()
            .find(|l| l["type"] == "frame")
            .expect("frame")["diff_db"]
            .as_array()
            .expect("diff_db")
            .iter()
            .map(|v| v.as_f64().expect("diff"))
            .collect()
    };
    let diff = last_diff(&same);
    assert_eq!(diff.len(), kept.len());
    assert!(diff.iter().all(|d| *d == 0.0), "{diff:?}");
    let louder = against(&pink(-14));
    for d in last_diff(&louder) {
        assert!(
            (d - 6.0).abs() <= 0.011,
            "a band reads {d} dB over the reference"
        );
    }
    let summary = louder.last().expect("summary");
    let last = summary["reference"]["last_diff_db"]
        .as_array()
        .expect("last_diff_db");
    assert_eq!(last.len(), kept.len());
    for d in last {
        let d = d.as_f64().expect("diff");
        assert!((d - 6.0).abs() <= 0.011, "the summary says {d}");
    }

    // CSV: a diff column per band; the table: a "vs ref" column.
    let csv = ok(&[
        "analyze",
        &quiet,
        "--format",
        "csv",
        "--no-progress",
        "--reference",
        r,
    ]);
    let header = csv.lines().next().expect("header");
    assert_eq!(header.matches(",diff_").count(), kept.len(), "{header}");
    let table = ok(&[
        "analyze",
        &quiet,
        "--format",
        "summary",
        "--no-progress",
        "--reference",
        r,
    ]);
    assert!(
        table.contains("compared with reference \"room\""),
        "{table}"
    );
    assert!(table.contains("vs ref"), "{table}");

    // Another layout, rate or unit: one line, nothing analyzed.
    fails(
        &["analyze", &quiet, "--bars", "48", "--reference", r],
        2,
        "cannot compare with the reference",
    );
    fails(
        &[
            "analyze",
            "synth:pink@-20,duration=1,rate=44100",
            "--reference",
            r,
        ],
        2,
        "was measured at 48000 Hz; this input runs at 44100 Hz",
    );
    fails(
        &["analyze", &quiet, "--spl-offset", "100", "--reference", r],
        2,
        "is in dBFS; this analysis reads dB SPL",
    );
    // Hostile references: one line each; a missing one is an input error.
    let bad = dir.path().join("bad.json");
    for (text, needle) in [
        ("", "empty file"),
        ("{\"bands\":[{\"lo_hz\":1}]}", "no number \"center_hz\""),
        ("\u{0}\u{1}\u{2}\u{3}", "no \"lo_hz\" column"),
        (
            "{\"bands\":[{\"lo_hz\":1,\"center_hz\":2,\"hi_hz\":3,\"level_db\":1e99}]}",
            "not a measurement",
        ),
    ] {
        std::fs::write(&bad, text).expect("write");
        fails(
            &[
                "analyze",
                &quiet,
                "--reference",
                bad.to_str().expect("path"),
            ],
            2,
            needle,
        );
    }
    fails(
        &[
            "analyze",
            &quiet,
            "--reference",
            dir.path().join("missing.json").to_str().expect("path"),
        ],
        3,
        "no such file",
    );
}
