//! The real binary in a real window: Xvfb, xdotool for keys, ImageMagick for screenshots.
//! Missing tools fail the test (`make test` installs them).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::common;
use super::common::x11::{Xvfb, bar_pixels, decode_rgba, screenshot};

#[test]
fn the_window_freezes_and_snapshots_on_keys() {
    let _one_at_a_time = super::common::exclusive();
    let x = Xvfb::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let shots = dir.path().join("shots");
    let shots_arg = shots.to_str().expect("path");
    let (mut app, window) = x.open_spektr(&[
        "--source",
        "synth:sine=1000@-6,sine=100@-20,duration=600",
        "--bands",
        "third-octave",
        "--smoothing",
        "none",
        "--snapshots",
        shots_arg,
    ]);
    let name = x.run("xdotool", &["getwindowname", &window]);
    assert!(
        String::from_utf8_lossy(&name.stdout).contains("spektr \u{2014} synth:sine=1000@-6"),
        "title"
    );
    std::thread::sleep(Duration::from_millis(2500));

    let live = screenshot(&x, &window, &dir.path().join("live.png"));
    assert!(
        bar_pixels(&live) > 2000,
        "bars are drawn ({} teal pixels)",
        bar_pixels(&live)
    );

    // Keys go to the focused window; without a window manager, focus it by hand.
    x.run("xdotool", &["windowfocus", &window]);
    x.run(
        "xdotool",
        &["mousemove", "--window", &window, "400", "530", "click", "1"],
    );
    x.run("xdotool", &["key", "space"]);
    std::thread::sleep(Duration::from_millis(400));
    let a = screenshot(&x, &window, &dir.path().join("a.png"));
    std::thread::sleep(Duration::from_millis(800));
    let b = screenshot(&x, &window, &dir.path().join("b.png"));
    assert!(a == b, "the frozen display does not change");

    x.run("xdotool", &["key", "s"]);
    let start = Instant::now();
    let find = |ext: &str| {
        std::fs::read_dir(&shots).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == ext))
        })
    };
    while find("json").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no snapshot appeared in {}",
            shots.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let png = find("png").expect("snapshot png");
    let (pixels, w, h) = decode_rgba(&png);
    assert!(w >= 480 && h >= 300, "{w}x{h}");
    assert!(bar_pixels(&pixels) > 2000, "snapshot shows bars");
    let csv = std::fs::read_to_string(find("csv").expect("snapshot csv")).expect("csv");
    let level_at = |hz: f64| {
        csv.lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(|l| {
                l.split(',')
                    .map(|v| v.parse::<f64>().unwrap_or(f64::NAN))
                    .collect::<Vec<_>>()
            })
            .find(|v| v[0] <= hz && hz < v[2])
            .map(|v| v[4])
            .expect("band in csv")
    };
    assert!(
        (level_at(1000.0) + 6.02).abs() <= 1.0,
        "1 kHz in the snapshot: {}",
        level_at(1000.0)
    );
    assert!(
        (level_at(100.0) + 20.0).abs() <= 1.0,
        "100 Hz in the snapshot: {}",
        level_at(100.0)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(find("json").expect("json")).expect("read"))
            .expect("parse");
    assert_eq!(json["frozen"], true);
    // Every loudness value, with the target and the values against it.
    let loudness = &json["loudness"];
    let i = loudness["integrated_lufs"].as_f64().expect("integrated");
    assert!((-7.0..-4.0).contains(&i), "{loudness}");
    for key in [
        "momentary_lufs",
        "short_term_lufs",
        "true_peak_dbtp",
        "max_momentary_lufs",
        "plr_lu",
    ] {
        assert!(loudness[key].is_number(), "{key}: {loudness}");
    }
    assert_eq!(loudness["target"]["name"], "EBU R 128");
    assert!(
        loudness["relative_lu"]["integrated"].is_number(),
        "{loudness}"
    );
    assert_eq!(
        loudness["true_peak_dbtp_per_channel"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert!(csv.contains("\nloudness,value\nmomentary_lufs,"), "{csv}");
    assert!(
        json["source"]
            .as_str()
            .expect("source")
            .starts_with("synth:")
    );

    let _ = app.kill();
    let _ = app.wait();
}

#[test]
fn the_window_records_and_marks_freeze_and_snapshot_in_the_sidecar() {
    let _one_at_a_time = super::common::exclusive();
    let x = Xvfb::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let takes = dir.path().join("takes");
    let shots = dir.path().join("shots");
    let (mut app, window) = x.open_spektr(&[
        "--source",
        "synth:sine=1000@-6,duration=600",
        "--recordings",
        takes.to_str().expect("path"),
        "--snapshots",
        shots.to_str().expect("path"),
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    x.run("xdotool", &["windowfocus", &window]);
    x.run(
        "xdotool",
        &["mousemove", "--window", &window, "400", "530", "click", "1"],
    );
    let find = |dir: &std::path::Path, ext: &str| {
        std::fs::read_dir(dir).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == ext))
        })
    };
    let wait_for = |what: &dyn Fn() -> bool, label: &str| {
        let start = Instant::now();
        while !what() {
            assert!(start.elapsed() < Duration::from_secs(15), "{label}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    x.run("xdotool", &["key", "r"]);
    wait_for(&|| find(&takes, "wav").is_some(), "R started no recording");
    std::thread::sleep(Duration::from_millis(1000));
    // The red indicator is on screen while recording.
    let shot = screenshot(&x, &window, &dir.path().join("rec.png"));
    let red = shot
        .chunks_exact(4)
        .filter(|p| p[0] > 200 && p[1] < 100 && p[2] < 100)
        .count();
    assert!(red > 30, "a red recording indicator ({red} red pixels)");
    x.run("xdotool", &["key", "space"]);
    std::thread::sleep(Duration::from_millis(500));
    x.run("xdotool", &["key", "s"]);
    wait_for(&|| find(&shots, "json").is_some(), "S saved no snapshot");
    std::thread::sleep(Duration::from_millis(500));
    x.run("xdotool", &["key", "r"]);
    let wav = find(&takes, "wav").expect("wav");
    let sidecar = wav.with_extension("json");
    let complete = || {
        std::fs::read_to_string(&sidecar)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["complete"] == true)
    };
    wait_for(&complete, "R again did not finish the recording");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sidecar).expect("sidecar")).expect("json");
    let events = meta["events"].as_array().expect("events");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["freeze", "snapshot"], "{meta}");
    let rate = meta["sample_rate"].as_f64().expect("rate");
    let freeze_s = events[0]["position"].as_f64().expect("position") / rate;
    assert!(
        freeze_s > 0.5,
        "the freeze is marked where it happened: {freeze_s} s"
    );
    assert_eq!(meta["ended"]["reason"], "stopped");
    let r = hound::WavReader::open(&wav).expect("the recording opens");
    let seconds = r.duration() as f64 / f64::from(r.spec().sample_rate);
    assert!(seconds > 1.5, "{seconds} s recorded");
    let _ = app.kill();
    let _ = app.wait();
}

/// Under a window manager (openbox), as on a desktop: a minimized window's timer does no
/// work, and SIGTERM closes the window the way its close button does, so the recording in
/// progress is finalized; `--stats` reports what the window did.
#[test]
fn a_minimized_window_idles_and_sigterm_finalizes_the_recording() {
    let _one_at_a_time = super::common::exclusive();
    let x = Xvfb::start();
    let mut wm = x.window_manager();
    let dir = tempfile::tempdir().expect("tempdir");
    let takes = dir.path().join("takes");
    let settings = dir.path().join("settings.toml");
    let (app, window) = x.open_spektr_with(
        &[
            "--source",
            "synth:sine=1000@-6,duration=600",
            "--recordings",
            takes.to_str().expect("path"),
            "--config",
            settings.to_str().expect("path"),
            "--stats",
        ],
        Stdio::piped(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let start = Instant::now();
    let mut pressed: Option<Instant> = None;
    let wav = loop {
        let found = std::fs::read_dir(&takes).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "wav"))
        });
        if let Some(wav) = found {
            break wav;
        }
        // A key sent while the window manager is still placing the window can be lost:
        // press again when nothing came of it (a recording makes its file at once).
        // A key sent to a named window goes as a synthetic event, which the toolkit ignores
        // unless that window has the focus: activate it, then type through XTEST.
        if pressed.is_none_or(|t| t.elapsed() > Duration::from_secs(2)) {
            x.run("xdotool", &["windowactivate", "--sync", &window]);
            x.run("xdotool", &["key", "r"]);
            pressed = Some(Instant::now());
        }
        if start.elapsed() > Duration::from_secs(15) {
            let _ = Command::new("kill")
                .args(["-TERM", &app.id().to_string()])
                .status();
            let output = common::wait_output(app, Duration::from_secs(20));
            panic!(
                "R started no recording: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(500));
    let minimized = x.run("xdotool", &["windowminimize", "--sync", &window]);
    assert!(minimized.status.success(), "xdotool windowminimize failed");
    std::thread::sleep(Duration::from_millis(2000));

    let kill = Command::new("kill")
        .args(["-TERM", &app.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let output = common::wait_output(app, Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let _ = wm.kill();
    let _ = wm.wait();
    assert!(
        output.status.success(),
        "SIGTERM closes the window cleanly: {:?}\n{stderr}",
        output.status
    );
    // "window: 140 frames shown; ticks idle while minimized 118, while frozen 0"
    let counts: Vec<u64> = stderr
        .lines()
        .find(|l| l.contains("frames shown"))
        .unwrap_or_else(|| panic!("no --stats line in: {stderr}"))
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [shown, idle_minimized, idle_frozen] = counts[..] else {
        panic!("unexpected --stats line: {stderr}");
    };
    assert!(shown > 20, "frames were shown before minimizing: {stderr}");
    // Two seconds minimized at ~60 ticks a second; a loaded machine may run fewer.
    assert!(
        idle_minimized >= 30,
        "the timer kept working while minimized: {stderr}"
    );
    assert_eq!(idle_frozen, 0, "{stderr}");
    assert!(
        stderr.contains("from a frame's publication to the window reading it: median"),
        "{stderr}"
    );
    let sidecar: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(wav.with_extension("json")).expect("sidecar"),
    )
    .expect("json");
    assert_eq!(sidecar["complete"], true, "{sidecar}");
    let r = hound::WavReader::open(&wav).expect("the recording opens");
    let seconds = r.duration() as f64 / f64::from(r.spec().sample_rate);
    assert!(seconds > 2.0, "{seconds} s recorded");
}

/// "Open audio file..." (O) opens the desktop's file dialog (here zenity: no D-Bus session, so
/// no portal) and the window switches to the chosen file.
#[test]
fn the_file_dialog_opens_the_chosen_file() {
    let _one_at_a_time = super::common::exclusive();
    let x = Xvfb::start();
    let mut wm = x.window_manager();
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("chosen-tone.wav");
    common::write_i16_wav(
        &wav,
        48_000,
        1,
        (0..48_000 * 20).map(|i| {
            let t = f64::from(i) / 48_000.0;
            (16_000.0 * (std::f64::consts::TAU * 440.0 * t).sin()) as i16
        }),
    );
    let settings = dir.path().join("settings.toml");
    let (mut app, window) = x.open_spektr(&[
        "--source",
        "synth:sine=1000@-6,duration=600",
        "--config",
        settings.to_str().expect("path"),
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    // Typed through XTEST into the activated window (a synthetic key to a named window is
    // ignored without focus); a key lost while the window manager places the window is
    // pressed again.
    let dialog = (0..3).find_map(|_| {
        x.run("xdotool", &["windowactivate", "--sync", &window]);
        x.run("xdotool", &["key", "o"]);
        x.wait_window("--class", "zenity", 8)
    });
    let result = dialog.map(|dialog| {
        // GTK needs a moment after mapping before it takes keys, and under load a typed key
        // or the Enter can still be lost (the location field completes as it is typed): the
        // path is typed again while the dialog stays open.
        (0..3).find_map(|attempt| {
            if attempt > 0 && x.wait_window("--class", "zenity", 1).is_none() {
                return None;
            }
            x.run("xdotool", &["windowactivate", "--sync", &dialog]);
            std::thread::sleep(Duration::from_millis(1500));
            // Ctrl+L: the file chooser's location field (selected, so typing replaces it);
            // then the path and Enter.
            x.run("xdotool", &["key", "ctrl+l"]);
            x.run("xdotool", &["key", "ctrl+a"]);
            x.run(
                "xdotool",
                &["type", "--delay", "10", wav.to_str().expect("path")],
            );
            std::thread::sleep(Duration::from_millis(700));
            x.run("xdotool", &["key", "Return"]);
            x.wait_window("--name", "chosen-tone.wav", 10)
        })
    });
    let _ = app.kill();
    let _ = app.wait();
    let _ = wm.kill();
    let _ = wm.wait();
    let switched = result.expect("O opened no file dialog (zenity: 'make test' installs it)");
    assert!(
        switched.is_some(),
        "the window did not switch to the chosen file"
    );
}

/// Pixels of the spectrogram's loudest colours (magma's top: orange to pale yellow), per
/// screen row.
fn bright_rows(pixels: &[u8], width: u32) -> Vec<usize> {
    let mut rows = vec![0usize; pixels.len() / 4 / width as usize];
    for (i, p) in pixels.chunks_exact(4).enumerate() {
        if p[0] > 230 && p[1] > 120 && p[2] > 70 && p[2] < 200 {
            rows[i / width as usize] += 1;
        }
    }
    rows
}

#[test]
fn the_spectrogram_scrolls_live_stops_when_frozen_and_snapshots_its_matrix() {
    let _one_at_a_time = super::common::exclusive();
    let x = Xvfb::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let shots = dir.path().join("shots");
    let config = dir.path().join("settings.toml");
    let (mut app, window) = x.open_spektr(&[
        "--view",
        "spectrogram",
        "--source",
        "synth:sine=1029.3@-12,sine=257.3@-40,duration=600",
        "--snapshots",
        shots.to_str().expect("path"),
        "--config",
        config.to_str().expect("path"),
    ]);
    std::thread::sleep(Duration::from_millis(3000));
    let a = screenshot(&x, &window, &dir.path().join("a.png"));
    std::thread::sleep(Duration::from_millis(500));
    let b = screenshot(&x, &window, &dir.path().join("b.png"));
    assert!(a != b, "the live spectrogram scrolls");
    let (_, width, _) = decode_rgba(&dir.path().join("b.png"));
    let rows = bright_rows(&b, width);
    let (tone_y, most) = rows
        .iter()
        .enumerate()
        .max_by_key(|&(_, n)| *n)
        .map(|(y, n)| (y, *n))
        .expect("rows");
    assert!(
        most > 150,
        "the 1 kHz tone's row is drawn bright ({most} pixels at most in a row)"
    );

    x.run("xdotool", &["windowfocus", &window]);
    x.run(
        "xdotool",
        &["mousemove", "--window", &window, "400", "530", "click", "1"],
    );
    x.run("xdotool", &["key", "space"]);
    std::thread::sleep(Duration::from_millis(400));
    let c = screenshot(&x, &window, &dir.path().join("c.png"));
    std::thread::sleep(Duration::from_millis(800));
    let d = screenshot(&x, &window, &dir.path().join("d.png"));
    assert!(c == d, "the frozen spectrogram does not change");

    // The pointer on the tone's row, where it is bright; the snapshot says what is under it.
    let tone_x = (0..width as usize)
        .rev()
        .find(|&px| {
            let p = &d[(tone_y * width as usize + px) * 4..][..4];
            p[0] > 230 && p[1] > 120
        })
        .expect("a bright pixel on the row")
        .saturating_sub(40);
    x.run(
        "xdotool",
        &[
            "mousemove",
            "--window",
            &window,
            &tone_x.to_string(),
            &tone_y.to_string(),
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    x.run("xdotool", &["key", "s"]);
    let start = Instant::now();
    let json_path = loop {
        let found = std::fs::read_dir(&shots).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with(".json"))
        });
        if let Some(p) = found {
            break p;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no snapshot");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(200));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json")).expect("parse");
    let s = &json["spectrogram"];
    let pointer = &s["pointer"];
    let centre = pointer["center_hz"]
        .as_f64()
        .expect("the cell under the pointer");
    assert!(
        (centre / 1029.3).log2().abs() <= 1.5 / 12.0,
        "the pointer's cell is the tone's row, or the next: {pointer}"
    );
    assert!(
        (pointer["level_db"].as_f64().expect("level") + 12.0).abs() <= 3.0,
        "{pointer}"
    );
    assert_eq!(s["layout"], "1/12 octave");
    assert_eq!(s["span_s"], 10.0);
    // The matrix: a line per pixel column, a level per band, the tones on their rows.
    let matrix =
        std::fs::read_to_string(shots.join(s["file"].as_str().expect("file"))).expect("matrix");
    let mut lines = matrix.lines();
    let header: Vec<f64> = lines
        .next()
        .expect("header")
        .split(',')
        .skip(1)
        .map(|v| v.parse().expect("a band centre"))
        .collect();
    let columns: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split(',')
                .map(|v| v.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    assert_eq!(
        columns.len() as u64,
        s["columns"].as_u64().expect("columns")
    );
    let band = |hz: f64| {
        1 + header
            .iter()
            .position(|&c| (c / hz).log2().abs() < 0.5 / 12.0)
            .expect("the tone's band")
    };
    // Band centres (1/12 octave puts 1 kHz on an edge).
    for (hz, want) in [(1029.3, -12.0), (257.3, -40.0)] {
        let levels: Vec<f64> = columns
            .iter()
            .map(|c| c[band(hz)])
            .filter(|v| !v.is_nan())
            .collect();
        assert!(levels.len() > 50, "{hz} Hz has readings: {}", levels.len());
        let last = levels[levels.len() - 1];
        assert!((last - want).abs() <= 1.5, "{hz} Hz reads {last}");
    }
    let times: Vec<f64> = columns.iter().map(|c| c[0]).collect();
    assert!(
        times.windows(2).all(|w| w[1] > w[0]),
        "column times increase"
    );
    assert!(
        (times[times.len() - 1] - times[0] - 10.0).abs() < 0.1,
        "10 s span"
    );

    let _ = app.kill();
    let _ = app.wait();
}

/// Where `colour`'s pixels are: (x, y) of each, within 12 of it in every channel.
fn pixels_of(rgba: &[u8], width: u32, colour: [u8; 3]) -> Vec<(usize, usize)> {
    rgba.chunks_exact(4)
        .enumerate()
        .filter(|(_, p)| (0..3).all(|c| p[c].abs_diff(colour[c]) <= 12))
        .map(|(i, _)| (i % width as usize, i / width as usize))
        .collect()
}

#[test]
fn a_reference_line_stays_where_it_was_and_the_difference_view_shows_the_change() {
    let _one_at_a_time = super::common::exclusive();
    let x = Xvfb::start();
    let dir = tempfile::tempdir().expect("tempdir");
    // Six seconds of 1 kHz at -12 dBFS, then thirty of 1 kHz at -36 and 250 Hz at -12.
    let wav = dir.path().join("change.wav");
    let rate = 48_000u32;
    common::write_i16_wav(
        &wav,
        rate,
        1,
        (0..rate as usize * 36).map(|i| {
            let t = i as f64 / f64::from(rate);
            let tone =
                |hz: f64, db: f64| 10f64.powf(db / 20.0) * (std::f64::consts::TAU * hz * t).sin();
            let v = if i < rate as usize * 6 {
                tone(1000.0, -12.0)
            } else {
                tone(1000.0, -36.0) + tone(250.0, -12.0)
            };
            (v * 32767.0).round() as i16
        }),
    );
    let config = dir.path().join("settings.toml");
    let (mut app, window) = x.open_spektr(&[
        "--source",
        &format!("file:{}", wav.display()),
        "--config",
        config.to_str().expect("path"),
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    x.run("xdotool", &["windowfocus", &window]);
    x.run(
        "xdotool",
        &["mousemove", "--window", &window, "400", "530", "click", "1"],
    );
    // T stores the spectrum on screen (keys sent by XTEST can be lost: again until it is kept).
    let kept = dir.path().join("references.json");
    let start = Instant::now();
    while !kept.exists() {
        assert!(start.elapsed() < Duration::from_secs(3), "T stored nothing");
        x.run("xdotool", &["key", "t"]);
        std::thread::sleep(Duration::from_millis(300));
    }
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&kept).expect("kept")).expect("JSON");
    let loudest = saved["references"][0]["bands"]
        .as_array()
        .expect("bands")
        .iter()
        .map(|b| b["level_db"].as_f64().expect("level"))
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(
        (loudest + 12.0).abs() < 1.5,
        "stored during the -12 dBFS tone: {loudest}"
    );

    // The reference's line (its first colour, #ff5c8a): its highest pixels are the 1 kHz
    // band's, at -12 dB.
    const REF: [u8; 3] = [0xff, 0x5c, 0x8a];
    let top_line = |rgba: &[u8], width: u32| {
        let line = pixels_of(rgba, width, REF);
        // The legend's text at the plot's top is in the same colour: below it, rows as wide
        // as a band's slot.
        let y = line
            .iter()
            .map(|p| p.1)
            .filter(|&y| y > 75 && line.iter().filter(|p| p.1 == y).count() >= 12)
            .min()
            .expect("a reference line");
        let xs: Vec<usize> = line.iter().filter(|p| p.1 == y).map(|p| p.0).collect();
        (y, xs[xs.len() / 2])
    };
    let before = screenshot(&x, &window, &dir.path().join("stored.png"));
    let (_, width, _) = decode_rgba(&dir.path().join("stored.png"));
    let (y, band_x) = top_line(&before, width);
    // The signal changes: the 1 kHz bar falls by 24 dB, the line stays.
    std::thread::sleep(Duration::from_millis(6500));
    let after = screenshot(&x, &window, &dir.path().join("changed.png"));
    assert_eq!(top_line(&after, width).0, y, "the line stayed where it was");
    let bar_at = |rgba: &[u8], y: usize| {
        let p = &rgba[(y * width as usize + band_x) * 4..][..4];
        bar_pixels(p) == 1
    };
    assert!(
        bar_at(&before, y + 6),
        "the bar reached the line when it was stored"
    );
    assert!(!bar_at(&after, y + 6), "the 1 kHz bar fell below its line");

    // D: the live bars minus the reference, on +/-24 dB: 1 kHz down (violet), 250 Hz up.
    const DOWN: [u8; 3] = [0xd7, 0x7c, 0xf2];
    // D toggles: pressed again only when 2 s showed nothing (XTEST lost the key).
    let diff = (0..3)
        .find_map(|_| {
            x.run("xdotool", &["key", "d"]);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(200));
                let shot = screenshot(&x, &window, &dir.path().join("difference.png"));
                if pixels_of(&shot, width, DOWN).len() > 300 {
                    return Some(shot);
                }
            }
            None
        })
        .expect("D showed no difference view");
    let down = pixels_of(&diff, width, DOWN);
    let below: Vec<_> = down.iter().filter(|p| p.0.abs_diff(band_x) < 6).collect();
    assert!(
        below.len() > 100,
        "the 1 kHz band goes down ({} pixels)",
        below.len()
    );
    // The reference is now the 0 dB line, in the middle of the plot.
    let (mid, _) = top_line(&diff, width);
    assert!(mid > y + 100, "the line moved to 0 dB: from y {y} to {mid}");
    let _ = app.kill();
    let _ = app.wait();
}
