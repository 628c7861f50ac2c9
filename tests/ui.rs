//! The window's logic with Slint's testing backend: no display, real capture and engine
//! threads behind it, Slint timers driven by mocked time.

// The audio callback's rules (clippy.toml) are for the callback only.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use slint::{ComponentHandle, Model};
use spektr::capture::HostChoice;
use spektr::settings::UserSettings;

#[path = "integration/common/mod.rs"]
mod common;
use common::write_i16_wav;
use spektr::ui::{App, MainWindow, Ui, WindowOptions};

struct Harness {
    window: MainWindow,
    app: Rc<RefCell<App>>,
    _timer: slint::Timer,
    dir: tempfile::TempDir,
}

fn open(source: &str) -> Harness {
    open_in(source, tempfile::tempdir().expect("tempdir"))
}

/// The window on `source` with its settings (and references, snapshots) in `snapshots`.
fn open_in(source: &str, snapshots: tempfile::TempDir) -> Harness {
    // Once per thread (a test may open the window twice).
    thread_local!(static INIT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    if !INIT.with(|done| done.replace(true)) {
        i_slint_backend_testing::init_no_event_loop();
    }
    let window = MainWindow::new().expect("window");
    let options = WindowOptions {
        source: Some(source.to_string()),
        host: HostChoice::Auto,
        user: UserSettings {
            bands: spektr::config::BandLayout::ThirdOctave,
            smoothing: spektr::config::Smoothing::None,
            snapshots: Some(snapshots.path().to_path_buf()),
            recordings: Some(snapshots.path().join("takes")),
            ..Default::default()
        },
        settings_path: Some(snapshots.path().join("settings.toml")),
        warning: None,
        period_ms: None,
    };
    let app = App::new(&window, options).expect("app");
    let timer = App::start_timer(&app);
    window.show().expect("show");
    Harness {
        window,
        app,
        _timer: timer,
        dir: snapshots,
    }
}

/// Lets `ms` of real time pass (audio keeps flowing) while Slint's timers tick every 16 ms.
fn run_for(ms: u64) {
    for _ in 0..ms / 16 {
        std::thread::sleep(Duration::from_millis(16));
        i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(16));
    }
}

fn key(h: &Harness, text: &str) {
    let text: slint::SharedString = text.into();
    h.window
        .window()
        .dispatch_event(slint::platform::WindowEvent::KeyPressed { text: text.clone() });
    h.window
        .window()
        .dispatch_event(slint::platform::WindowEvent::KeyReleased { text });
}

fn band_of(h: &Harness, label: &str) -> usize {
    let ui = h.window.global::<Ui>();
    (0..ui.get_bands().row_count())
        .find(|&i| ui.get_bands().row_data(i).is_some_and(|b| b.label == label))
        .expect("labelled band")
}

#[test]
fn the_timer_copies_frames_into_the_model() {
    let h = open("synth:sine=1000@-6,duration=60");
    run_for(1500);
    assert!(
        h.app.borrow().stats.frames_shown > 40,
        "shown {}",
        h.app.borrow().stats.frames_shown
    );
    let ui = h.window.global::<Ui>();
    let bar = ui
        .get_bars()
        .row_data(band_of(&h, "1k"))
        .expect("1 kHz bar");
    assert!((bar.db + 6.02).abs() < 0.5, "1 kHz bar reads {}", bar.db);
    assert!(
        bar.level > 0.9,
        "drawn near the top of a -96..0 dB scale: {}",
        bar.level
    );
    let meter = ui.get_meters().row_data(0).expect("left meter");
    assert_eq!(meter.name, "L");
    assert_eq!(meter.peak_text, "-6.0");
    assert!(
        ui.get_title().contains("synth:sine=1000@-6"),
        "{}",
        ui.get_title()
    );
    assert!(
        ui.get_status().contains("48000 Hz, 2 ch"),
        "{}",
        ui.get_status()
    );
}

#[test]
fn freeze_by_key_stops_the_display_while_analysis_goes_on() {
    let h = open("synth:sine=1000@-6,duration=60");
    run_for(600);
    key(&h, " ");
    assert!(h.window.global::<Ui>().get_frozen());
    let (shown, at) = {
        let app = h.app.borrow();
        (app.stats.frames_shown, app.shown_time_s())
    };
    run_for(800);
    assert_eq!(
        h.app.borrow().stats.frames_shown,
        shown,
        "no updates while frozen"
    );
    key(&h, " ");
    assert!(!h.window.global::<Ui>().get_frozen());
    run_for(100);
    let now = h.app.borrow().shown_time_s();
    assert!(
        now >= at + 0.7,
        "unfreezing jumps to live: {at:.2} s -> {now:.2} s"
    );
}

fn button(h: &Harness, label: &str) -> Vec<i_slint_backend_testing::ElementHandle> {
    i_slint_backend_testing::ElementHandle::find_by_accessible_label(&h.window, label)
        .filter(|e| e.accessible_role() == Some(i_slint_backend_testing::AccessibleRole::Button))
        .collect()
}

#[test]
fn freeze_by_click_and_the_accessible_labels() {
    let h = open("synth:sine=1000@-6,duration=60");
    run_for(300);
    let freeze = button(&h, "Freeze");
    assert_eq!(freeze.len(), 1, "one Freeze button");
    freeze[0].invoke_accessible_default_action();
    assert!(h.window.global::<Ui>().get_frozen());
    for label in ["Snapshot", "Pause", "spectrum", "status"] {
        assert!(
            i_slint_backend_testing::ElementHandle::find_by_accessible_label(&h.window, label)
                .next()
                .is_some(),
            "{label}"
        );
    }
    button(&h, "Unfreeze")[0].invoke_accessible_default_action();
    assert!(!h.window.global::<Ui>().get_frozen());
}

#[test]
fn clip_lights_latch_until_clicked() {
    // Half a second of full-scale square wave, then quiet: the light must stay on after.
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("clip.wav");
    let samples = (0..48_000 * 20).map(|i| {
        let frame = i / 2;
        if frame < 24_000 {
            if (frame / 48) % 2 == 0 {
                i16::MAX
            } else {
                i16::MIN
            }
        } else {
            ((frame % 100) as i16 - 50) * 10
        }
    });
    write_i16_wav(&wav, 48_000, 2, samples);
    let h = open(&format!("file:{}", wav.display()));
    run_for(1500);
    let ui = h.window.global::<Ui>();
    let left = |ui: &Ui| ui.get_meters().row_data(0).expect("meter");
    assert!(left(&ui).clipped, "latched after the clipping stopped");
    let light =
        i_slint_backend_testing::ElementHandle::find_by_accessible_label(&h.window, "clip L")
            .next()
            .expect("clip light");
    light.invoke_accessible_default_action();
    run_for(200);
    assert!(!left(&ui).clipped, "reset by a click");
    assert!(
        ui.get_meters().row_data(1).expect("right").clipped,
        "the other channel stays latched"
    );
}

#[test]
fn settings_changes_reach_the_engine_and_are_saved() {
    let h = open("synth:sine=1000@-12,duration=60");
    run_for(500);
    let ui = h.window.global::<Ui>();
    assert_eq!(ui.get_bars().row_count(), 31, "third-octave bands");
    // The panel's controls, as a person uses them.
    ui.set_settings_open(true);
    run_for(50);
    let log = button(&h, "Bands: Log");
    assert_eq!(log.len(), 1, "the Bands choice");
    log[0].invoke_accessible_default_action();
    run_for(400);
    assert_eq!(
        ui.get_bars().row_count(),
        32,
        "the engine now runs the log layout"
    );
    assert_eq!(h.app.borrow().bands().len(), 32);
    button(&h, "Bars up")[0].invoke_accessible_default_action();
    run_for(400);
    assert_eq!(ui.get_bars().row_count(), 40);
    // Gain goes to the engine without a restart: -12 dBFS + 6 dB reads -6 on the meter.
    for _ in 0..6 {
        button(&h, "Gain up")[0].invoke_accessible_default_action();
    }
    run_for(600);
    let meter = ui.get_meters().row_data(0).expect("meter");
    assert_eq!(meter.peak_text, "-6.0", "gain reached the engine");
    let saved =
        std::fs::read_to_string(h.dir.path().join("settings.toml")).expect("saved settings");
    assert!(
        saved.contains("bands = \"log\"")
            && saved.contains("bars = 40")
            && saved.contains("gain_db = 6.0"),
        "{saved}"
    );
    h.app.borrow_mut().shutdown();
}

#[test]
fn the_source_picker_switches_sources_without_a_restart() {
    let h = open("synth:sine=1000@-6,duration=60");
    run_for(400);
    let ui = h.window.global::<Ui>();
    button(&h, "Source")[0].invoke_accessible_default_action();
    assert!(ui.get_sources_open());
    // Devices are listed on a helper thread; the demo signal is always there.
    let start = std::time::Instant::now();
    while ui.get_sources().row_count() == 0 {
        assert!(start.elapsed() < Duration::from_secs(15), "no source list");
        run_for(50);
    }
    button(&h, "source: Demo signal")[0].invoke_accessible_default_action();
    run_for(800);
    assert!(ui.get_title().contains("demo signal"), "{}", ui.get_title());
    assert!(!ui.get_sources_open(), "the picker closes");

    let wav = h.dir.path().join("tone.wav");
    write_i16_wav(
        &wav,
        44_100,
        1,
        (0..44_100 * 5).map(|i| ((i as f64 * 0.1).sin() * 8000.0) as i16),
    );
    ui.invoke_open_file(wav.display().to_string().into());
    run_for(800);
    assert!(ui.get_title().contains("tone.wav"), "{}", ui.get_title());
    assert!(
        ui.get_status().contains("44100 Hz, 1 ch"),
        "{}",
        ui.get_status()
    );
    // A path that is not audio: a notice, and the current source stays.
    ui.invoke_open_file("/nonexistent.wav".into());
    run_for(400);
    assert!(
        ui.get_notice().contains("cannot open /nonexistent.wav"),
        "{}",
        ui.get_notice()
    );
    let shown = h.app.borrow().stats.frames_shown;
    run_for(400);
    assert!(
        h.app.borrow().stats.frames_shown > shown,
        "the file keeps playing"
    );
    assert!(ui.get_title().contains("tone.wav"), "{}", ui.get_title());
    h.app.borrow_mut().shutdown();
}

#[test]
fn r_records_and_closing_the_window_finalizes_the_file() {
    let h = open("synth:sine=1000@-6,duration=60");
    run_for(500);
    key(&h, "r");
    assert!(h.app.borrow().is_recording(), "R starts a recording");
    assert!(h.window.global::<Ui>().get_recording());
    run_for(1500);
    assert!(
        h.window
            .global::<Ui>()
            .get_rec_text()
            .starts_with("REC 00:0"),
        "the indicator shows the time"
    );
    // Closing the window while recording: the file is finalized, not left open.
    h.app.borrow_mut().shutdown();
    let app = h.app.borrow();
    let done = app.last_recording.as_ref().expect("the recording ended");
    assert!(done.complete(), "{}", done.message());
    assert!(done.frames > 48_000, "{} frames", done.frames);
    let r = hound::WavReader::open(&done.path).expect("the file opens");
    assert_eq!(u64::from(r.duration()), done.frames);
}

#[test]
fn average_and_max_hold_hold_what_was_played_until_z() {
    // Two seconds of a 1 kHz tone at -6 dBFS, then four of silence (the window loops files).
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("tone-then-silence.wav");
    let rate = 48_000u32;
    write_i16_wav(
        &wav,
        rate,
        1,
        (0..rate as usize * 6).map(|i| {
            if i < rate as usize * 2 {
                let t = i as f64 / f64::from(rate);
                (0.5 * (std::f64::consts::TAU * 1000.0 * t).sin() * 32767.0).round() as i16
            } else {
                0
            }
        }),
    );
    let h = open(&format!("file:{}", wav.display()));
    let ui = h.window.global::<Ui>();
    ui.set_settings_open(true);
    run_for(100);
    assert_eq!(ui.get_hold_badge().as_str(), "", "neither is on");
    button(&h, "Smoothing: Average")[0].invoke_accessible_default_action();
    button(&h, "Peak hold: Max")[0].invoke_accessible_default_action();
    ui.set_settings_open(false);
    run_for(1200);
    let badge = ui.get_hold_badge().to_string();
    assert!(
        badge.starts_with("AVERAGE ") && badge.ends_with(" s \u{b7} MAX-HOLD"),
        "{badge}"
    );
    let band = band_of(&h, "1k");
    let bar = |ui: &Ui| ui.get_bars().row_data(band).expect("bar");
    // Into the silence: the marker stays at the tone's level, the average still holds it.
    run_for(1800);
    let b = bar(&ui);
    assert!(b.hold_db > -7.0, "max-hold fell to {}", b.hold_db);
    assert!(b.db > -20.0, "the average forgot the tone: {}", b.db);
    // Z: both start over, on silence.
    key(&h, "z");
    run_for(600);
    let b = bar(&ui);
    assert!(b.hold_db < -60.0 && b.db < -60.0, "{b:?}");
    let badge = ui.get_hold_badge().to_string();
    assert!(
        badge.starts_with("AVERAGE 0 s") || badge.starts_with("AVERAGE 1 s"),
        "{badge}"
    );
    h.app.borrow_mut().shutdown();
}

#[test]
fn the_scale_top_and_the_tilt_move_the_picture_and_never_the_numbers() {
    let h = open("synth:sine=2000@-12,duration=60");
    run_for(600);
    let ui = h.window.global::<Ui>();
    let band = band_of(&h, "2k");
    let bar = |ui: &Ui| ui.get_bars().row_data(band).expect("bar");
    let before = bar(&ui);
    ui.set_settings_open(true);
    run_for(50);
    button(&h, "Tilt dB/oct: 6")[0].invoke_accessible_default_action();
    run_for(300);
    let after = bar(&ui);
    // The 2 kHz band is an octave above 1 kHz: drawn 6 dB higher on the -96..0 scale, its
    // number as measured.
    assert!((after.db - before.db).abs() < 0.1, "{before:?} {after:?}");
    let moved_db = (after.level - before.level) * 96.0;
    assert!((moved_db - 6.0).abs() < 0.2, "moved {moved_db} dB");
    assert_eq!(ui.get_hold_badge().as_str(), "TILT +6 dB/oct");
    // The top up by 6 dB: the grid's top line reads +6, the bar sits lower.
    button(&h, "Top up")[0].invoke_accessible_default_action();
    run_for(300);
    let top = ui.get_grid().row_data(0).expect("grid line");
    assert_eq!((top.at, top.text.as_str()), (1.0, "6"));
    let lower = bar(&ui);
    let want = (after.db + moved_db + 96.0) / 102.0;
    assert!((lower.level - want).abs() < 0.005, "{lower:?}, want {want}");
    let saved =
        std::fs::read_to_string(h.dir.path().join("settings.toml")).expect("saved settings");
    assert!(
        saved.contains("db_top = 6.0") && saved.contains("tilt_db_per_oct = 6.0"),
        "{saved}"
    );
    h.app.borrow_mut().shutdown();
}

#[test]
fn the_loudness_panel_reads_against_the_target_keeps_measuring_while_frozen_and_resets_on_l() {
    let h = open("synth:sine=1000@-23,duration=60");
    run_for(3600);
    let ui = h.window.global::<Ui>();
    let l = ui.get_loudness();
    // Tech 3341's display: one decimal, the unit always shown; LU against the target.
    assert_eq!(
        (l.m.as_str(), l.s.as_str(), l.i.as_str()),
        ("-23.0 LUFS", "-23.0 LUFS", "-23.0 LUFS"),
        "{l:?}"
    );
    assert_eq!((l.m_rel.as_str(), l.i_rel.as_str()), ("+0.0 LU", "+0.0 LU"));
    assert_eq!(l.tp.as_str(), "-23.0 dBTP");
    assert!(!l.tp_over && !l.lra_stable, "{l:?}");
    assert!(l.target.contains("-23 LUFS"), "{}", l.target);
    let level = ui.get_loudness_level();
    assert!(
        (level.m - ui.get_loudness_target_at()).abs() < 0.01,
        "M sits on the target line: {level:?}"
    );
    let history = ui.get_loudness_history();
    assert_eq!(
        (history.size().width, history.size().height),
        (180, 56),
        "three minutes, a column a second"
    );

    // Freeze holds the display, not the measurement.
    let measured = |ui: &Ui| ui.get_loudness().measured.to_string();
    key(&h, " ");
    let at = measured(&ui);
    run_for(2000);
    assert_eq!(measured(&ui), at, "the display is frozen");
    key(&h, " ");
    run_for(300);
    let secs = |t: &str| -> u64 {
        let (m, s) = t.split_once(':').expect("m:ss");
        m.parse::<u64>().expect("m") * 60 + s.parse::<u64>().expect("ss")
    };
    assert!(
        secs(&measured(&ui)) >= secs(&at) + 2,
        "measured on while frozen: {at} -> {}",
        measured(&ui)
    );

    // Another target: the values against it change, the measurement does not.
    ui.set_loudness_target(1);
    ui.invoke_settings_changed();
    run_for(300);
    let l = ui.get_loudness();
    assert_eq!(l.i.as_str(), "-23.0 LUFS");
    assert_eq!(l.i_rel.as_str(), "-9.0 LU", "{l:?}");
    assert!(
        secs(&l.measured) >= 4,
        "a settings change keeps the measurement"
    );

    // L starts integrated, range and the maxima over.
    key(&h, "l");
    run_for(200);
    let l = ui.get_loudness();
    assert_eq!(
        (l.i.as_str(), l.max_m.as_str(), l.measured.as_str()),
        ("--", "--", "0:00"),
        "{l:?}"
    );
    h.app.borrow_mut().shutdown();
}

#[test]
fn the_true_peak_turns_red_above_the_targets_limit_and_loudness_can_be_off() {
    let h = open("synth:sine=1000@-6,duration=60");
    run_for(1000);
    let ui = h.window.global::<Ui>();
    assert!(!ui.get_loudness().tp_over, "-6 dBTP is under EBU's -1");
    ui.set_loudness_target(2);
    ui.set_tp_limit(-12);
    ui.invoke_settings_changed();
    run_for(300);
    assert!(ui.get_loudness().tp_over, "-6 dBTP is over a -12 limit");
    let saved =
        std::fs::read_to_string(h.dir.path().join("settings.toml")).expect("saved settings");
    assert!(
        saved.contains("loudness_target = \"custom\"")
            && saved.contains("true_peak_limit_dbtp = -12.0"),
        "{saved}"
    );
    // Off: the engine measures nothing and the panel goes.
    let panel = |h: &Harness| {
        i_slint_backend_testing::ElementHandle::find_by_accessible_label(&h.window, "loudness")
            .next()
            .is_some()
    };
    assert!(panel(&h), "the panel is there");
    ui.set_loudness_on(false);
    ui.invoke_settings_changed();
    run_for(300);
    assert!(h.app.borrow().shown().loudness.is_none());
    assert!(!panel(&h), "no panel");
    h.app.borrow_mut().shutdown();
}

/// The spectrogram's plot in window coordinates (the component's edges, see app.slint).
fn spectrogram_plot(h: &Harness) -> (f32, f32, f32, f32) {
    let view =
        i_slint_backend_testing::ElementHandle::find_by_accessible_label(&h.window, "spectrogram")
            .next()
            .expect("the spectrogram is shown");
    let (at, size) = (view.absolute_position(), view.size());
    (
        at.x + 40.0,
        at.y + 18.0,
        size.width - 98.0,
        size.height - 40.0,
    )
}

fn readout(h: &Harness) -> String {
    i_slint_backend_testing::ElementHandle::find_by_accessible_label(
        &h.window,
        "spectrogram readout",
    )
    .next()
    .and_then(|e| e.accessible_description())
    .map(|s| s.to_string())
    .unwrap_or_default()
}

/// The readout's band centre (its first line: "972 Hz band (944 to 1000 Hz)").
fn readout_hz(text: &str) -> f64 {
    text.split(" Hz band")
        .next()
        .and_then(|c| c.parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

/// The readout's level (its second line: "-8.8 dBFS").
fn readout_db(text: &str) -> f64 {
    text.lines()
        .nth(1)
        .and_then(|l| l.strip_suffix(" dBFS"))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

#[test]
fn the_spectrogram_view_is_remembered_and_its_readout_names_the_tones_row() {
    let h = open("synth:sine=1029.3@-12,sine=257.3@-30,duration=60");
    run_for(300);
    assert!(
        h.app.borrow().spectrogram_bands().is_none(),
        "bars only at first: no feed"
    );
    key(&h, "v");
    assert_eq!(h.window.global::<Ui>().get_view(), 1);
    let saved = std::fs::read_to_string(h.dir.path().join("settings.toml")).expect("saved");
    assert!(saved.contains("view = \"spectrogram\""), "{saved}");
    assert!(
        i_slint_backend_testing::ElementHandle::find_by_accessible_label(&h.window, "spectrum")
            .next()
            .is_none(),
        "the spectrogram view has no bars"
    );
    run_for(2500);
    let bands = h.app.borrow().spectrogram_bands().expect("a feed").to_vec();
    assert!(bands.len() >= 100, "1/12 octave rows: {}", bands.len());
    let (lo, hi) = (bands[0].lo_hz, bands[bands.len() - 1].hi_hz);
    let (x, y, w, hgt) = spectrogram_plot(&h);
    // The pointer on the louder tone's row, a second before the newest column.
    // Band centres (1/12 octave puts 1 kHz on an edge).
    for (tone, want_db) in [(1029.3f64, -12.0f64), (257.3, -30.0)] {
        let fy = ((hi / tone).ln() / (hi / lo).ln()) as f32;
        let position = slint::LogicalPosition::new(x + w * 0.9, y + hgt * fy);
        h.window
            .window()
            .dispatch_event(slint::platform::WindowEvent::PointerMoved { position });
        run_for(200);
        let text = readout(&h);
        let band = bands
            .iter()
            .find(|b| b.lo_hz <= tone && tone < b.hi_hz)
            .unwrap_or_else(|| {
                panic!(
                    "the tone's band: {:?}",
                    bands.iter().map(|b| (b.lo_hz, b.hi_hz)).collect::<Vec<_>>()
                )
            });
        let named = readout_hz(&text);
        // Within one row: the band's own centre, or a neighbour's.
        assert!(
            (named / band.center_hz).log2().abs() <= 1.0 / 12.0 + 1e-6,
            "{tone} Hz: the readout says {text:?}"
        );
        let level = readout_db(&text);
        assert!((level - want_db).abs() <= 3.0, "{tone} Hz level: {text:?}");
    }
    // Frozen, the readout reads the history: the left of the plot, seconds ago, still holds
    // the tone.
    key(&h, " ");
    run_for(1000);
    let fy = ((hi / 1029.3).ln() / (hi / lo).ln()) as f32;
    let position = slint::LogicalPosition::new(x + w * 0.8, y + hgt * fy);
    h.window
        .window()
        .dispatch_event(slint::platform::WindowEvent::PointerMoved { position });
    run_for(100);
    let frozen = readout(&h);
    assert!(frozen.contains("before the newest"), "{frozen:?}");
    assert!(
        frozen.lines().nth(1).is_some_and(|l| l.ends_with("dBFS")),
        "{frozen:?}"
    );
    key(&h, "v");
    assert_eq!(h.window.global::<Ui>().get_view(), 2, "both");
    run_for(200);
    let spectrum =
        i_slint_backend_testing::ElementHandle::find_by_accessible_label(&h.window, "spectrum")
            .next()
            .expect("both views");
    // Both: the spectrogram runs down above the bars, on their frequency axis. The two plots
    // have the same left and right edges (app.slint: 36 px of scale, 8 px of margin).
    let view =
        i_slint_backend_testing::ElementHandle::find_by_accessible_label(&h.window, "spectrogram")
            .next()
            .expect("the spectrogram is shown");
    let (at, size) = (view.absolute_position(), view.size());
    assert!(
        (at.x - spectrum.absolute_position().x).abs() < 0.5
            && (size.width - spectrum.size().width).abs() < 0.5,
        "one frequency axis"
    );
    assert!(
        at.y < spectrum.absolute_position().y,
        "the spectrogram above the bars"
    );
    let (x, y, w, hgt) = (
        at.x + 36.0,
        at.y + 18.0,
        size.width - 44.0,
        size.height - 18.0,
    );
    key(&h, " ");
    run_for(1500);
    // The pointer over the bar holding the louder tone, near the bottom (the newest): the
    // readout names a row inside that bar, at the tone's level.
    let bars = h.app.borrow().bands().to_vec();
    let i = bars
        .iter()
        .position(|b| b.lo_hz <= 1029.3 && 1029.3 < b.hi_hz)
        .expect("the tone's bar");
    let bar = &bars[i];
    let centre = |b: &spektr::engine::BandInfo| (b.lo_hz * b.hi_hz).sqrt();
    // Across the bar at the tone's own place on its log scale.
    let u = ((1029.3 / bar.lo_hz).ln() / (bar.hi_hz / bar.lo_hz).ln()) as f32;
    let position =
        slint::LogicalPosition::new(x + w * (i as f32 + u) / bars.len() as f32, y + hgt * 0.9);
    h.window
        .window()
        .dispatch_event(slint::platform::WindowEvent::PointerMoved { position });
    run_for(200);
    let text = readout(&h);
    let named = readout_hz(&text);
    assert!(
        bar.lo_hz <= named && named < bar.hi_hz,
        "the bar {:.0} Hz ({:.0} to {:.0}): the readout says {text:?}",
        centre(bar),
        bar.lo_hz,
        bar.hi_hz
    );
    assert!(
        (named / 1029.3f64).log2().abs() <= 1.0 / 12.0 + 1e-6,
        "the tone's row: {text:?}"
    );
    let level = readout_db(&text);
    assert!((level + 12.0).abs() <= 3.0, "the tone's level: {text:?}");
    // A tenth of the 10 s span from the bottom: about a second before the newest.
    let ago = text
        .split(" s before the newest")
        .next()
        .and_then(|t| t.rsplit('(').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    assert!(
        (ago - 1.0).abs() <= 0.3,
        "near the bottom is recent: {text:?}"
    );
    key(&h, "v");
    run_for(100);
    assert!(
        h.app.borrow().spectrogram_bands().is_none(),
        "bars again: the feed stops"
    );
}

/// The newest snapshot JSON in `dir`, once it is there.
fn snapshot_json(dir: &std::path::Path) -> (std::path::PathBuf, serde_json::Value) {
    let path = std::fs::read_dir(dir)
        .expect("snapshots")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("spektr-"))
        })
        .max()
        .expect("a snapshot");
    let json = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
    (path, json)
}

#[test]
fn a_stored_reference_stays_while_the_signal_changes_and_the_difference_view_shows_the_change() {
    // 1 kHz at -12 dBFS for three seconds, then 1 kHz at -30 and 4 kHz at -12 for thirty (long
    // enough that a slow machine is not back at the start when the test looks).
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("change.wav");
    let rate = 48_000u32;
    write_i16_wav(
        &wav,
        rate,
        1,
        (0..rate as usize * 33).map(|i| {
            let t = i as f64 / f64::from(rate);
            let tone =
                |hz: f64, db: f64| 10f64.powf(db / 20.0) * (std::f64::consts::TAU * hz * t).sin();
            let v = if i < rate as usize * 3 {
                tone(1000.0, -12.0)
            } else {
                tone(1000.0, -30.0) + tone(4000.0, -12.0)
            };
            (v * 32767.0).round() as i16
        }),
    );
    let h = open(&format!("file:{}", wav.display()));
    let ui = h.window.global::<Ui>();
    key(&h, "d");
    run_for(300);
    assert!(!ui.get_difference(), "no reference yet: no difference view");
    let k1 = band_of(&h, "1k");
    let k4 = h
        .app
        .borrow()
        .bands()
        .iter()
        .position(|b| b.lo_hz < 4000.0 && b.hi_hz > 4000.0)
        .expect("the 4 kHz band");
    run_for(1200);
    key(&h, "t");
    run_for(50);
    let rows = ui.get_references();
    assert_eq!(rows.row_count(), 1);
    let row = rows.row_data(0).expect("row");
    assert_eq!(row.name.as_str(), "Ref 1");
    assert!(row.drawn && !row.compared, "{row:?}");
    let mark = |ui: &Ui, band: usize| {
        let marks = ui.get_ref_marks();
        (0..marks.row_count())
            .filter_map(|i| marks.row_data(i))
            .find(|m| m.bar == band as i32)
            .expect("a mark in the band")
    };
    // The line sits at -12 dB on the -96..0 scale.
    let at_store = mark(&ui, k1);
    assert!(
        ((at_store.level * 96.0 - 96.0) + 12.0).abs() < 0.5,
        "{at_store:?}"
    );

    // The signal changes: the bars follow it, the line stays where it was.
    run_for(3000);
    let bar = |ui: &Ui, band: usize| ui.get_bars().row_data(band).expect("bar");
    assert!((bar(&ui, k1).db + 30.0).abs() < 1.0, "{:?}", bar(&ui, k1));
    assert!((bar(&ui, k4).db + 12.0).abs() < 1.0, "{:?}", bar(&ui, k4));
    assert_eq!(mark(&ui, k1), at_store);

    // D: the live bars against the reference, on a +/-24 dB scale.
    key(&h, "d");
    run_for(300);
    assert!(ui.get_difference());
    assert_eq!(ui.get_difference_name().as_str(), "Ref 1");
    assert!(
        ui.get_hold_badge().starts_with("DIFFERENCE"),
        "{}",
        ui.get_hold_badge()
    );
    let top = ui.get_grid().row_data(0).expect("grid");
    assert_eq!((top.at, top.text.as_str()), (1.0, "+24"));
    let d1 = bar(&ui, k1);
    assert!(
        (d1.db + 18.0).abs() < 1.0,
        "the 1 kHz band is 18 dB down: {d1:?}"
    );
    assert!(
        d1.level < 0.5 && ((d1.level - 0.5) * 48.0 - d1.db).abs() < 0.01,
        "{d1:?}"
    );
    let d4 = bar(&ui, k4);
    assert!(d4.db > 24.0 && d4.level == 1.0, "4 kHz is new: {d4:?}");
    assert!(
        (mark(&ui, k1).level - 0.5).abs() < 1e-6,
        "the reference is the 0 dB line"
    );

    // A snapshot keeps the measured levels, the reference and the view.
    ui.set_frozen(true);
    run_for(50);
    // (The testing backend has no picture to take: a blank one stands in.)
    h.app
        .borrow_mut()
        .snapshot_with(slint::SharedPixelBuffer::new(4, 4));
    assert!(
        ui.get_notice().starts_with("snapshot saved"),
        "{}",
        ui.get_notice()
    );
    let shots = h.dir.path();
    let (snap, json) = snapshot_json(shots);
    assert_eq!(json["unit"], "dBFS");
    assert_eq!(json["sample_rate"], 48_000);
    let level = |bands: &serde_json::Value, i: usize| bands[i]["level_db"].as_f64().expect("level");
    assert!(
        (level(&json["bands"], k1) + 30.0).abs() < 1.0,
        "measured, not the difference"
    );
    let kept = &json["references"]["shown"][0];
    assert_eq!(kept["name"], "Ref 1");
    assert!((level(&kept["bands"], k1) + 12.0).abs() < 0.5);
    assert_eq!(json["references"]["difference"]["against"], "Ref 1");

    // The snapshot as a second reference: exactly the levels it holds.
    ui.invoke_load_reference(snap.to_string_lossy().as_ref().into());
    run_for(50);
    assert_eq!(ui.get_references().row_count(), 2);
    let saved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shots.join("references.json")).expect("kept"),
    )
    .expect("JSON");
    let loaded = &saved["references"][1];
    let n = json["bands"].as_array().expect("bands").len();
    for i in 0..n {
        assert_eq!(
            level(&loaded["bands"], i),
            level(&json["bands"], i),
            "band {i}"
        );
    }
    assert_eq!(saved["compare"], 0);
    assert_eq!(saved["difference"], true);
    h.app.borrow_mut().shutdown();
    let Harness {
        window, dir: shots, ..
    } = h;
    drop(window);

    // They come back at the next start; in another layout they are kept but not drawn.
    let h = open_in(&format!("file:{}", wav.display()), shots);
    let ui = h.window.global::<Ui>();
    run_for(600);
    assert_eq!(ui.get_references().row_count(), 2);
    assert!(ui.get_difference(), "the difference view comes back");
    ui.set_settings_open(true);
    run_for(50);
    button(&h, "Bands: 1/6")[0].invoke_accessible_default_action();
    run_for(600);
    let row = ui.get_references().row_data(0).expect("row");
    assert!(!row.drawn, "{row:?}");
    assert!(
        row.detail.contains("was measured in 31 bands"),
        "{}",
        row.detail
    );
    assert!(!ui.get_difference());
    assert_eq!(ui.get_ref_marks().row_count(), 0);
    // A snapshot of another layout is refused with one line; the list stays.
    ui.invoke_load_reference(snap.to_string_lossy().as_ref().into());
    run_for(50);
    assert!(
        ui.get_notice().contains("cannot compare with it"),
        "{}",
        ui.get_notice()
    );
    assert_eq!(ui.get_references().row_count(), 2);
    ui.set_settings_open(false);
    ui.set_references_open(true);
    run_for(50);
    button(&h, "remove Ref 1")[0].invoke_accessible_default_action();
    run_for(50);
    assert_eq!(ui.get_references().row_count(), 1);
    h.app.borrow_mut().shutdown();
}

/// Measures the calibrator's tone as the panel does, against `target` (0: 94 dB SPL); the
/// panel's result line.
fn calibrate(h: &Harness, target: i32) -> String {
    let ui = h.window.global::<Ui>();
    ui.set_cal_target(target);
    ui.invoke_calibrate_measure();
    // The measurement: 1 s of settling, 5 s of tone.
    run_for(6600);
    ui.get_cal_progress().to_string()
}

#[test]
fn a_calibrators_tone_sets_the_inputs_spl_and_others_are_refused_leaving_dbfs() {
    // A -20 dBFS 1 kHz sine calibrated as 94 dB SPL reads 94.0 afterwards.
    let h = open("synth:sine=1000@-20,duration=600");
    run_for(600);
    let ui = h.window.global::<Ui>();
    assert!(!ui.get_calibrated());
    // Not calibrated: the units stay dBFS.
    ui.invoke_units_changed(true);
    run_for(50);
    assert!(!ui.get_spl_units());
    assert!(
        ui.get_notice().contains("not calibrated"),
        "{}",
        ui.get_notice()
    );
    let result = calibrate(&h, 0);
    assert_eq!(result, "calibrated: offset +114.00 dB");
    assert!(
        ui.get_cal_text()
            .contains(": offset +114.00 dB (94.0 dB SPL read -20.00 dBFS at 1000 Hz"),
        "{}",
        ui.get_cal_text()
    );
    run_for(600);
    assert!(ui.get_spl_units() && ui.get_calibrated());
    let k1 = band_of(&h, "1k");
    let bar = ui.get_bars().row_data(k1).expect("bar");
    assert!((bar.db - 94.0).abs() <= 0.05, "{bar:?}");
    assert!(
        ui.get_hold_badge().starts_with("dB SPL"),
        "{}",
        ui.get_hold_badge()
    );
    // The SPL meter on the plot reads it too (A-weighted: 0 dB at 1 kHz), once every band's
    // window of the new analysis is full.
    run_for(2000);
    let spl = ui.get_spl_text().to_string();
    assert!(
        spl.starts_with("LAF 94.0   LAS 94.0   LAeq 94.0   LAFmax 94.0 dB SPL"),
        "{spl}"
    );
    assert!(
        ui.get_status().contains("bars in dB SPL (dBFS +114.00 dB)"),
        "{}",
        ui.get_status()
    );
    // The scale moves with the offset: its top line reads 114.
    assert_eq!(
        ui.get_grid().row_data(0).expect("grid").text.as_str(),
        "114"
    );
    // Kept for this input in the settings.
    let saved =
        std::fs::read_to_string(h.dir.path().join("settings.toml")).expect("saved settings");
    assert!(saved.contains("spl_units = true"), "{saved}");
    assert!(
        saved.contains("[calibrations.\"synth:sine=1000@-20,duration=600\"]"),
        "{saved}"
    );
    assert!(saved.contains("spl_offset_db = 114.0"), "{saved}");
    // Back to dBFS, and the tone reads -20 again.
    ui.invoke_units_changed(false);
    run_for(600);
    let bar = ui.get_bars().row_data(k1).expect("bar");
    assert!((bar.db + 20.0).abs() <= 0.05, "{bar:?}");
    h.app.borrow_mut().shutdown();

    // Not near 1 kHz, clipping, not steady (3 dB up and down every 1.5 s): each refused in
    // words, the input not calibrated.
    let dir = tempfile::tempdir().expect("tempdir");
    let wobble = dir.path().join("wobble.wav");
    let rate = 48_000u32;
    write_i16_wav(
        &wobble,
        rate,
        1,
        (0..rate as usize * 3).map(|i| {
            let t = i as f64 / f64::from(rate);
            let db = if t < 1.5 { -20.0 } else { -23.0 };
            (10f64.powf(db / 20.0) * (std::f64::consts::TAU * 1000.0 * t).sin() * 32767.0).round()
                as i16
        }),
    );
    let wobble = format!("file:{}", wobble.display());
    for (source, why) in [
        (
            "synth:sine=500@-20,duration=600",
            "not a calibrator's 1 kHz tone",
        ),
        ("synth:sine=1000@0,duration=600", "it may be clipping"),
        (wobble.as_str(), "not steady"),
    ] {
        let h = open(source);
        run_for(600);
        let result = calibrate(&h, 1);
        assert!(
            result.starts_with("not calibrated: ") && result.contains(why),
            "{source}: {result}"
        );
        let ui = h.window.global::<Ui>();
        assert!(!ui.get_calibrated() && !ui.get_spl_units(), "{source}");
        h.app.borrow_mut().shutdown();
    }
}

#[test]
fn a_hostile_microphone_file_is_refused_and_the_previous_one_stays() {
    let h = open("synth:pink@-20,duration=600");
    run_for(600);
    let ui = h.window.global::<Ui>();
    let good = h.dir.path().join("umik.txt");
    std::fs::write(
        &good,
        "\"Sens Factor =-.6383dB, SERNO: 7023270\"\n20 -1.0\n1000 0.0\n20000 2.0\n",
    )
    .expect("write");
    ui.invoke_load_mic(good.to_string_lossy().as_ref().into());
    run_for(300);
    assert!(
        ui.get_cal_mic_text().contains("umik.txt"),
        "{}",
        ui.get_cal_mic_text()
    );
    let bad = h.dir.path().join("junk.cal");
    std::fs::write(&bad, "\u{0}\u{1}binary").expect("write");
    ui.invoke_load_mic(bad.to_string_lossy().as_ref().into());
    run_for(100);
    assert!(ui.get_notice().contains("junk.cal"), "{}", ui.get_notice());
    assert!(
        ui.get_cal_mic_text().contains("umik.txt"),
        "the previous one stays"
    );
    let saved =
        std::fs::read_to_string(h.dir.path().join("settings.toml")).expect("saved settings");
    assert!(
        saved.contains("umik.txt") && !saved.contains("junk.cal"),
        "{saved}"
    );
    h.app.borrow_mut().shutdown();
}
