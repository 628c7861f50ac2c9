//! The capture supervisor's control plane: switching sources without a restart, pause and
//! resume, gain, and picking a device up again when it returns.

use std::sync::Arc;
use std::time::{Duration, Instant};

use spektr::capture::supervisor::{Command as Cmd, Event, Options, Supervisor};
use spektr::capture::{HostChoice, SourceSpec};
use spektr::config::{AnalysisSettings, StreamFormat};
use spektr::engine::{Analyzer, EngineControl, EngineInput};

mod common;
use common::{pulse_dir, start_pulse};

fn next_event(s: &Supervisor, what: &str) -> Event {
    s.events
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("no event while waiting for {what}"))
}

fn started(s: &Supervisor) -> (String, StreamFormat, EngineInput) {
    loop {
        match next_event(s, "Started") {
            Event::Started {
                source,
                format,
                input,
                ..
            } => return (source, format, *input),
            Event::Failed { error, .. } => panic!("failed: {error}"),
            _ => {}
        }
    }
}

/// Frames available in the ring after `wait`.
fn frames_after(input: &mut EngineInput, channels: usize, wait: Duration) -> usize {
    std::thread::sleep(wait);
    let n = input.samples.slots();
    if let Ok(chunk) = input.samples.read_chunk(n) {
        chunk.commit_all();
    }
    n / channels
}

fn synth_options() -> Options {
    Options {
        host: HostChoice::Auto,
        looped: false,
        reconnect: false,
        period_ms: None,
    }
}

#[test]
fn switching_source_changes_format_without_a_restart() {
    let control = Arc::new(EngineControl::default());
    let s = Supervisor::spawn(
        "synth:sine=1000,duration=60,rate=48000,channels=2"
            .parse()
            .expect("spec"),
        synth_options(),
        control,
    )
    .expect("spawn");
    let (source, format, mut input) = started(&s);
    assert_eq!(source, "synth:sine=1000,duration=60,rate=48000,channels=2");
    assert_eq!(
        format,
        StreamFormat {
            sample_rate: 48_000,
            channels: 2
        }
    );
    assert!(frames_after(&mut input, 2, Duration::from_millis(300)) > 0);

    s.send(Cmd::SetSource(
        "synth:sine=440,duration=60,rate=44100,channels=1"
            .parse()
            .expect("spec"),
    ));
    let (_, format, mut input2) = started(&s);
    assert_eq!(
        format,
        StreamFormat {
            sample_rate: 44_100,
            channels: 1
        }
    );
    // The old stream is closed: its ring is abandoned; the new one flows.
    assert!(input.samples.is_abandoned());
    assert!(frames_after(&mut input2, 1, Duration::from_millis(300)) > 0);

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
    let (_, format, _) = started(&s);
    assert_eq!(format.sample_rate, 48_000);
}

#[test]
fn pause_stops_delivery_and_resume_restarts_it() {
    let control = Arc::new(EngineControl::default());
    let s = Supervisor::spawn(
        "synth:sine=1000,duration=60".parse().expect("spec"),
        synth_options(),
        control,
    )
    .expect("spawn");
    let (_, _, mut input) = started(&s);
    assert!(frames_after(&mut input, 2, Duration::from_millis(200)) > 0);
    s.send(Cmd::Pause);
    assert!(matches!(next_event(&s, "Paused"), Event::Paused));
    frames_after(&mut input, 2, Duration::from_millis(50));
    assert_eq!(
        frames_after(&mut input, 2, Duration::from_millis(300)),
        0,
        "nothing flows while paused"
    );
    s.send(Cmd::Resume);
    assert!(matches!(next_event(&s, "Resumed"), Event::Resumed));
    assert!(frames_after(&mut input, 2, Duration::from_millis(300)) > 0);
}

#[test]
fn gain_reaches_the_engine_and_only_the_analysis() {
    let control = Arc::new(EngineControl::default());
    let s = Supervisor::spawn(
        "synth:sine=1000@-12,duration=60".parse().expect("spec"),
        synth_options(),
        control.clone(),
    )
    .expect("spawn");
    let (_, format, mut input) = started(&s);
    s.send(Cmd::SetGain(6.0));
    let deadline = Instant::now() + Duration::from_secs(5);
    while control.gain_db() != 6.0 {
        assert!(Instant::now() < deadline, "gain never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Run the real engine loop on the stream for a second, then stop it.
    let mut analyzer = Analyzer::new(
        &AnalysisSettings {
            bands: spektr::config::BandLayout::ThirdOctave,
            ..Default::default()
        },
        format,
    )
    .expect("analyzer");
    let (mut frames_in, mut frames_out) =
        spektr::publish::frame_buffer(analyzer.bands().len(), format.channels);
    let stopper = control.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1200));
        stopper.stop();
    });
    spektr::engine::run(&mut input, &mut analyzer, &mut frames_in, &control);
    assert!(frames_out.update());
    let frame = frames_out.read();
    let b = analyzer
        .bands()
        .iter()
        .position(|b| b.nominal_hz == Some(1000.0))
        .expect("band");
    assert!(
        (frame.bars_db[b] + 6.02).abs() < 0.3,
        "-12 dBFS + 6 dB gain reads {}",
        frame.bars_db[b]
    );
    assert!(
        (frame.channels[0].peak_dbfs + 6.02).abs() < 0.1,
        "meters see the gain too"
    );
}

#[test]
fn a_lost_device_is_picked_up_again_when_it_returns() {
    let dir = pulse_dir();
    // The supervisor runs in this process: point it at the private daemon.
    let env = [
        ("XDG_RUNTIME_DIR", dir.path().to_path_buf()),
        ("PULSE_RUNTIME_PATH", dir.path().join("pulse")),
        ("HOME", dir.path().to_path_buf()),
    ];
    let server = format!("unix:{}", dir.path().join("pulse/native").display());
    let mut daemon = start_pulse(dir.path());
    let control = Arc::new(EngineControl::default());
    let options = Options {
        host: HostChoice::Pulseaudio,
        looped: false,
        reconnect: true,
        period_ms: None,
    };
    let s = with_env(&env, &server, || {
        Supervisor::spawn(SourceSpec::Monitor(None), options, control).expect("spawn")
    });
    let (source, _, _input) = started(&s);
    assert_eq!(source, "pulseaudio:testsink.monitor");

    daemon.kill().expect("kill");
    daemon.wait().expect("reap");
    loop {
        match next_event(&s, "DeviceLost") {
            Event::DeviceLost { reason } => {
                assert!(reason.contains("went away"), "{reason}");
                break;
            }
            Event::Started { .. } => panic!("started again before the daemon came back"),
            _ => {}
        }
    }
    let mut daemon = start_pulse(dir.path());
    let (source, _, _input) = started(&s);
    assert_eq!(
        source, "pulseaudio:testsink.monitor",
        "picked up again without being asked"
    );
    drop(s);
    let _ = daemon.kill();
    let _ = daemon.wait();
}

/// Runs `f` with the PulseAudio variables set for this process (the supervisor thread reads
/// them when it connects).
fn with_env<T>(env: &[(&str, std::path::PathBuf)], server: &str, f: impl FnOnce() -> T) -> T {
    // SAFETY: no other thread of this test reads these variables while they are set: the other
    // tests in this binary use synth sources, which never look at the environment.
    #[allow(unsafe_code)]
    unsafe {
        for (k, v) in env {
            std::env::set_var(k, v);
        }
        std::env::set_var("PULSE_SERVER", server);
    }
    f()
}
