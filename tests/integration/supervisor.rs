//! The live session's control plane in one process: switching sources without a restart,
//! pause and resume, gain and settings reaching the one engine that runs.

use std::time::{Duration, Instant};

use spektr::capture::supervisor::{Command as Cmd, Event, Options, Supervisor};
use spektr::capture::{HostChoice, Period, SourceSpec, StreamInfo};
use spektr::config::{AnalysisSettings, BandLayout, StreamFormat};
use spektr::live::{Latest, LiveEvent, LiveOptions, LiveSession};
use spektr::stream::StreamReader;

fn next_event(s: &Supervisor, what: &str) -> Event {
    s.events
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("no event while waiting for {what}"))
}

fn started(s: &Supervisor) -> (StreamInfo, StreamReader) {
    loop {
        match next_event(s, "Started") {
            Event::Started { info, reader, .. } => return (info, *reader),
            Event::Failed { error, .. } => panic!("failed: {error}"),
            _ => {}
        }
    }
}

/// Frames available in the ring after `wait`.
fn frames_after(reader: &mut StreamReader, wait: Duration) -> usize {
    std::thread::sleep(wait);
    let n = reader.samples.slots();
    if let Ok(chunk) = reader.samples.read_chunk(n) {
        chunk.commit_all();
    }
    n / reader.format.channels
}

fn synth_options() -> Options {
    Options {
        host: HostChoice::Auto,
        looped: false,
        reconnect: false,
        period: Period::default(),
    }
}

#[test]
fn switching_source_changes_format_without_a_restart() {
    let s = Supervisor::spawn(
        "synth:sine=1000,duration=60,rate=48000,channels=2"
            .parse()
            .expect("spec"),
        synth_options(),
    )
    .expect("spawn");
    let (info, mut reader) = started(&s);
    assert_eq!(
        info.name,
        "synth:sine=1000,duration=60,rate=48000,channels=2"
    );
    assert_eq!(
        info.format,
        StreamFormat {
            sample_rate: 48_000,
            channels: 2
        }
    );
    assert!(frames_after(&mut reader, Duration::from_millis(300)) > 0);

    s.send(Cmd::SetSource(
        "synth:sine=440,duration=60,rate=44100,channels=1"
            .parse()
            .expect("spec"),
    ));
    let (info, mut reader2) = started(&s);
    assert_eq!(
        info.format,
        StreamFormat {
            sample_rate: 44_100,
            channels: 1
        }
    );
    // The old stream is closed: its ring is abandoned; the new one flows.
    assert!(reader.samples.is_abandoned());
    assert!(frames_after(&mut reader2, Duration::from_millis(300)) > 0);

    // A bad source is reported, and the supervisor stays alive for the next command.
    s.send(Cmd::SetSource(SourceSpec::File("/nonexistent.wav".into())));
    match next_event(&s, "Failed") {
        Event::Failed { error, .. } => {
            assert!(error.contains("cannot open /nonexistent.wav"), "{error}")
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    s.send(Cmd::SetSource(
        "synth:sine=100,duration=60".parse().expect("spec"),
    ));
    let (info, _) = started(&s);
    assert_eq!(info.format.sample_rate, 48_000);
}

#[test]
fn pause_holds_a_file_or_generator_where_it_is() {
    let s = Supervisor::spawn(
        "synth:sine=1000,duration=60".parse().expect("spec"),
        synth_options(),
    )
    .expect("spawn");
    let (_, mut reader) = started(&s);
    assert!(frames_after(&mut reader, Duration::from_millis(200)) > 0);
    s.send(Cmd::Pause);
    assert!(matches!(next_event(&s, "Paused"), Event::Paused));
    frames_after(&mut reader, Duration::from_millis(50));
    assert_eq!(
        frames_after(&mut reader, Duration::from_millis(300)),
        0,
        "nothing flows while paused"
    );
    s.send(Cmd::Resume);
    assert!(matches!(next_event(&s, "Resumed"), Event::Resumed));
    assert!(frames_after(&mut reader, Duration::from_millis(300)) > 0);
}

fn session(spec: &str, settings: AnalysisSettings) -> LiveSession<Latest> {
    let options = LiveOptions {
        host: HostChoice::Auto,
        looped: false,
        reconnect: true,
        period: Period::default(),
        settings,
        gain_db: 0.0,
    };
    let mut s = LiveSession::start(spec.parse().expect("spec"), options, Latest::default())
        .expect("session");
    s.wait_started().expect("started");
    s
}

/// The newest frame the session published within `wait`.
fn newest(s: &mut LiveSession<Latest>, wait: Duration) -> spektr::publish::Frame {
    std::thread::sleep(wait);
    let out = s.publisher().output().expect("a frame buffer");
    assert!(out.update(), "frames were published");
    out.read().clone()
}

#[test]
fn gain_and_settings_reach_the_one_engine_that_runs() {
    let third = AnalysisSettings {
        bands: BandLayout::ThirdOctave,
        ..Default::default()
    };
    let mut s = session("synth:sine=1000@-12,duration=60", third.clone());
    let band = |s: &LiveSession<Latest>| {
        s.bands()
            .iter()
            .position(|b| b.nominal_hz == Some(1000.0))
            .expect("band")
    };
    let b = band(&s);
    let f = newest(&mut s, Duration::from_millis(600));
    assert!((f.bars_db[b] + 12.04).abs() < 0.3, "{}", f.bars_db[b]);
    s.set_gain_db(6.0);
    let f = newest(&mut s, Duration::from_millis(600));
    assert!(
        (f.bars_db[b] + 6.02).abs() < 0.3,
        "-12 dBFS + 6 dB gain reads {}",
        f.bars_db[b]
    );
    assert!(
        (f.channels[0].peak_dbfs + 6.02).abs() < 0.1,
        "meters see the gain too"
    );
    // New settings: a new analyzer on the same stream, its frames in a new buffer.
    s.apply(AnalysisSettings::default()).expect("apply");
    assert!(s.publisher().take_replaced());
    assert_eq!(s.bands().len(), 32);
    let f = newest(&mut s, Duration::from_millis(600));
    assert_eq!(f.bars_db.len(), 32);
    assert!(f.time_s > 1.5, "the stream's time went on: {} s", f.time_s);
}

#[test]
fn pause_stops_frames_and_resume_brings_them_back() {
    let mut s = session(
        "synth:sine=1000@-12,duration=60",
        AnalysisSettings::default(),
    );
    let before = newest(&mut s, Duration::from_millis(300)).time_s;
    s.set_paused(true);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.poll().contains(&LiveEvent::Paused(true)) {
        assert!(Instant::now() < deadline, "no pause event");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    let out = s.publisher().output().expect("buffer");
    out.update();
    let held = out.read().time_s;
    std::thread::sleep(Duration::from_millis(400));
    assert!(!out.update(), "no frames while paused");
    s.set_paused(false);
    let after = newest(&mut s, Duration::from_millis(400)).time_s;
    assert!(before <= held && held < after, "{before} {held} {after}");
}
