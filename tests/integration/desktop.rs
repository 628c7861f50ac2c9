//! spektr on a desktop as users have one (`common::pulse::Desktop`): PulseAudio started from
//! the system's default.pa, an output whose monitor is "what you hear", a separate default
//! input, music from `paplay FILE`. Everything with spektr's defaults: no `--host`, no
//! `--period`. Latency is measured from the outside: from the moment a burst is handed to the
//! sound server to the moment the line holding it reaches the reading end of spektr's stdout.

#![allow(clippy::print_stderr)]

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::common::pulse::{Desktop, RATE, Server, write_noise};
use super::common::wait_output;
use super::common::x11::{Xvfb, bar_pixels, screenshot};

/// Every stdout line of `child` with the moment it arrived, on a channel.
fn lines_with_arrival(child: &mut Child) -> mpsc::Receiver<(Instant, String)> {
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// The index of the band holding `hz` in a header.
fn band_at(header: &Value, hz: f64) -> usize {
    header["bands"]
        .as_array()
        .expect("bands")
        .iter()
        .position(|b| b["lo_hz"].as_f64() <= Some(hz) && Some(hz) < b["hi_hz"].as_f64())
        .expect("a band holds it")
}

/// The "Buffer Latency" and "Source Latency" pactl lists for spektr's capture stream, µs.
fn capture_latencies(d: &Desktop) -> Vec<(u64, u64)> {
    let text = d.pactl(&["list", "source-outputs"]);
    let number = |line: &str| -> u64 {
        line.split(':')
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    };
    let mut out = Vec::new();
    let mut buffer = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("Buffer Latency:") {
            buffer = Some(number(line));
        } else if line.starts_with("Source Latency:")
            && let Some(b) = buffer.take()
        {
            out.push((b, number(line)));
        }
    }
    out
}

/// A burst player: `pacat` with a 10 ms buffer, fed silence at real time by a thread that
/// puts in a 100 ms burst of 8 kHz every half second. The music keeps its own player
/// (`paplay`, default buffer).
fn burst_player(d: &Desktop, bursts: usize) -> (Child, std::thread::JoinHandle<()>) {
    let mut pacat = d
        .env(&mut Command::new("pacat"))
        .args([
            "--playback",
            "--raw",
            "--format=s16le",
            &format!("--rate={RATE}"),
            "--channels=2",
            "--latency-msec=10",
            "--device=speakers",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pacat (pulseaudio-utils)");
    let mut stdin = pacat.stdin.take().expect("stdin");
    let feeder = std::thread::spawn(move || {
        let chunk = RATE as usize / 100;
        let silence = vec![0u8; chunk * 4];
        let mut burst = Vec::with_capacity(chunk * 4);
        for i in 0..chunk {
            let x = (0.25
                * (std::f64::consts::TAU * 8000.0 * i as f64 / f64::from(RATE)).sin()
                * 32_767.0) as i16;
            burst.extend_from_slice(&x.to_le_bytes());
            burst.extend_from_slice(&x.to_le_bytes());
        }
        let start = Instant::now();
        // One second of silence, then a burst (10 chunks) every 50 chunks.
        for i in 0..100 + bursts * 50 {
            let due = start + Duration::from_millis(10 * i as u64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let in_burst = i.checked_sub(100).is_some_and(|k| k % 50 < 10);
            if stdin
                .write_all(if in_burst { &burst } else { &silence })
                .is_err()
            {
                break;
            }
        }
    });
    (pacat, feeder)
}

/// The fragment of the reference recorder, ms: it sees a sound at most this long after the
/// sink played it.
const REFERENCE_MS: u64 = 5;

/// A reference recorder: `parec` on the monitor in 5 ms fragments, reporting the moment each
/// burst's first sample reached it (the burst's sharp 8 kHz steps stand out of music that has
/// nothing above 4 kHz). An observer apart from spektr, so the player's own buffering (which
/// drifts when it underruns) does not count against spektr.
fn reference_recorder(d: &Desktop) -> (Child, mpsc::Receiver<Instant>) {
    let mut parec = d
        .env(&mut Command::new("parec"))
        .args([
            "--raw",
            "--format=s16le",
            &format!("--rate={RATE}"),
            "--channels=2",
            &format!("--latency-msec={REFERENCE_MS}"),
            "--device=speakers.monitor",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("parec (pulseaudio-utils)");
    let mut out = parec.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = vec![0u8; 4096];
        let mut last = 0i32;
        let mut quiet_since: Option<Instant> = Some(Instant::now());
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            let at = Instant::now();
            let samples: Vec<i32> = buf[..n - n % 4]
                .chunks_exact(4)
                .map(|f| i32::from(i16::from_le_bytes([f[0], f[1]])))
                .collect();
            let steps: Vec<usize> = samples
                .iter()
                .enumerate()
                .filter_map(|(i, &s)| {
                    let step = (s - last).abs();
                    last = s;
                    (step > 4000).then_some(i)
                })
                .collect();
            // A burst steps by about 9000 every sample; music never does.
            let onset = (steps.len() >= 8).then(|| steps[0]);
            match onset {
                Some(i)
                    if quiet_since
                        .is_some_and(|q| at.duration_since(q) > Duration::from_millis(200)) =>
                {
                    // The onset was this many frames before the read's end.
                    let back = (samples.len() - i) as f64 / f64::from(RATE);
                    let _ = tx.send(at - Duration::from_secs_f64(back));
                    quiet_since = None;
                }
                Some(_) => quiet_since = None,
                None => {
                    quiet_since.get_or_insert(at);
                }
            }
        }
    });
    (parec, rx)
}

/// `name` as two tests, `name::on_pulseaudio` and `name::on_pipewire`: the same desktop on
/// each server.
macro_rules! on_both_servers {
    ($name:ident) => {
        mod $name {
            #[test]
            fn on_pulseaudio() {
                super::$name(super::Server::PulseAudio);
            }

            #[test]
            fn on_pipewire() {
                super::$name(super::Server::PipeWire);
            }
        }
    };
}

on_both_servers!(sound_reaches_the_ndjson_of_a_monitor_in_tens_of_milliseconds_and_nothing_drops);

fn sound_reaches_the_ndjson_of_a_monitor_in_tens_of_milliseconds_and_nothing_drops(server: Server) {
    let _one_at_a_time = super::common::exclusive();
    let mut d = Desktop::with(server);
    d.play_music(60.0);
    std::thread::sleep(Duration::from_millis(500));
    let mut child = d
        .spektr(&["analyze", "--source", "monitor", "--seconds", "30"])
        .spawn()
        .expect("spektr");
    let lines = lines_with_arrival(&mut child);
    let (_, header) = lines.recv_timeout(Duration::from_secs(10)).expect("header");
    let header: Value = serde_json::from_str(&header).expect("header is JSON");
    assert_eq!(header["source"], "pulseaudio:speakers.monitor");
    std::thread::sleep(Duration::from_secs(2));
    // With only the music player (2 s buffer) and spektr, spektr's stream holds about one
    // period, and the sink runs in blocks that short (its monitor is what spektr reads).
    let latencies = capture_latencies(&d);
    assert_eq!(latencies.len(), 1, "{latencies:?}");
    assert!(
        latencies[0].0 <= 25_000,
        "spektr's stream holds {latencies:?} µs"
    );
    let sinks = d.pactl(&["list", "sinks"]);
    let configured: u64 = sinks
        .lines()
        .find_map(|l| l.trim().strip_prefix("Latency:"))
        .and_then(|l| l.split("configured").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("the sink's configured latency");
    assert!(
        configured <= 25_000,
        "the sink runs in {configured} µs blocks"
    );

    let bursts = 20;
    let (mut parec, onsets) = reference_recorder(&d);
    std::thread::sleep(Duration::from_millis(300));
    let (mut pacat, feeder) = burst_player(&d, bursts);
    feeder.join().expect("feeder");
    std::thread::sleep(Duration::from_millis(300));
    for p in [&mut pacat, &mut parec] {
        let _ = p.kill();
        let _ = p.wait();
    }
    let sounds: Vec<Instant> = onsets.try_iter().collect();
    let out = wait_output(child, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<(Instant, Value)> = lines
        .try_iter()
        .map(|(t, l)| (t, serde_json::from_str(&l).expect("a JSON line")))
        .collect();
    let band = band_at(&header, 8000.0);
    let frames: Vec<&(Instant, Value)> = got.iter().filter(|(_, v)| v["type"] == "frame").collect();
    assert_eq!(sounds.len(), bursts, "the reference heard every burst");
    // Each burst: from the sound (the reference's onset, less its fragment at most) to the
    // first frame that shows it reaching this end of spektr's stdout.
    let mut delays: Vec<f64> = sounds
        .iter()
        .map(|&at| {
            let from = at - Duration::from_millis(100);
            frames
                .iter()
                .find(|(t, v)| *t >= from && v["bars_db"][band].as_f64().unwrap_or(-120.0) > -40.0)
                .map(|(t, _)| {
                    t.saturating_duration_since(at).as_secs_f64() * 1000.0 + REFERENCE_MS as f64
                })
                .unwrap_or(f64::INFINITY)
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    eprintln!("desktop ({server:?}): sound to NDJSON line, ms (sorted): {delays:.1?}");
    assert_eq!(delays.len(), bursts);
    let p90 = delays[(bursts * 9).div_ceil(10) - 1];
    let worst = delays[bursts - 1];
    assert!(p90 <= 40.0, "p90 {p90:.1} ms: {delays:.1?}");
    assert!(worst <= 80.0, "worst {worst:.1} ms: {delays:.1?}");
    // Frames came as they were made, not in the block-buffered bursts a pipe gets by default
    // (64 KB every 1.5 s): never 250 ms apart after the first second. A tighter bound would
    // measure the other tests' load on this 2-core machine (51 and 70 ms seen in CI), not
    // spektr; the latencies above bound how late each frame is.
    let gaps: Vec<f64> = frames
        .windows(2)
        .skip(60)
        .map(|w| w[1].0.duration_since(w[0].0).as_secs_f64() * 1000.0)
        .collect();
    let longest = gaps.iter().copied().fold(0.0, f64::max);
    eprintln!("desktop ({server:?}): longest time between two frame lines {longest:.1} ms");
    assert!(longest <= 250.0, "frames {longest:.1} ms apart");
    let summary = &got.last().expect("summary").1;
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["dropped_frames"], 0, "{summary}");
    let frame_count = summary["frames"].as_u64().expect("frames");
    assert!(frame_count >= 30 * 60 - 2, "{summary}");
    // What spektr reports spans the same way: from the sound, in tens of milliseconds.
    let reported = &summary["latency_ms"]["sound_to_publication"];
    eprintln!(
        "desktop ({server:?}): spektr's own figures {}",
        summary["latency_ms"]
    );
    assert!(reported["p99"].as_f64().expect("p99") < 40.0, "{summary}");
}

/// When the recording of `meta` (its sidecar) began, from spektr's start at `spawned`, and
/// how long before `until` that was; seconds.
fn startup_of(meta: &Value, spawned: SystemTime, until: SystemTime) -> (f64, f64) {
    let started = meta["started"].as_str().expect("started");
    let started: SystemTime = chrono::DateTime::parse_from_rfc3339(started)
        .expect("an RFC 3339 time")
        .into();
    let secs = |a: SystemTime, b: SystemTime| match b.duration_since(a) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    };
    (secs(spawned, started), secs(started, until))
}

/// The length of a WAV file by its header, seconds.
fn wav_seconds(path: &Path) -> f64 {
    let r = hound::WavReader::open(path).expect("the recording opens");
    f64::from(r.duration()) / f64::from(r.spec().sample_rate)
}

on_both_servers!(a_recording_of_a_monitor_holds_what_was_played_up_to_ctrl_c_or_a_kill);

fn a_recording_of_a_monitor_holds_what_was_played_up_to_ctrl_c_or_a_kill(server: Server) {
    let _one_at_a_time = super::common::exclusive();
    let mut d = Desktop::with(server);
    d.play_music(60.0);
    std::thread::sleep(Duration::from_millis(500));
    let dir = tempfile::tempdir().expect("tempdir");
    // Ctrl-C after 3 s, counted from the start as the user counts.
    let take = dir.path().join("ctrl-c.wav");
    let start = Instant::now();
    let spawned = SystemTime::now();
    let child = d
        .spektr(&[
            "record",
            take.to_str().expect("path"),
            "--source",
            "monitor",
        ])
        .spawn()
        .expect("spektr");
    std::thread::sleep(Duration::from_secs(3).saturating_sub(start.elapsed()));
    let interrupted = SystemTime::now();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = wait_output(child, Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let held = wav_seconds(&take);
    let meta = sidecar(&take);
    // The file holds everything from the moment the recording began to Ctrl-C. Before that
    // moment spektr was starting (connecting to the server, opening the stream): that time
    // is bounded too, since the user counts it.
    let (startup, asked) = startup_of(&meta, spawned, interrupted);
    eprintln!(
        "desktop ({server:?}): Ctrl-C after 3 s: the file holds {held:.3} s; the recording \
         began {startup:.3} s after the start, {asked:.3} s before Ctrl-C"
    );
    assert!(
        startup <= 0.5,
        "spektr took {startup:.3} s to start recording"
    );
    assert!((held - asked).abs() <= 0.1, "{held} s of {asked} s");
    assert_eq!(meta["complete"], true, "{meta}");
    assert_eq!(meta["source"], "pulseaudio:speakers.monitor");
    // Killed at 4 s: the header was brought up to date every half second.
    let take = dir.path().join("killed.wav");
    let mut child = d
        .spektr(&[
            "record",
            take.to_str().expect("path"),
            "--source",
            "monitor",
        ])
        .spawn()
        .expect("spektr");
    std::thread::sleep(Duration::from_secs(4));
    child.kill().expect("kill");
    let _ = child.wait();
    let held = wav_seconds(&take);
    eprintln!("desktop ({server:?}): killed at 4 s: the file holds {held:.3} s");
    assert!(held >= 2.5, "{held} s");
}

on_both_servers!(a_named_monitor_stays_put_and_default_follows_the_default_saying_so);

fn a_named_monitor_stays_put_and_default_follows_the_default_saying_so(server: Server) {
    let _one_at_a_time = super::common::exclusive();
    let mut d = Desktop::with(server);
    d.play_music(60.0);
    // The monitor is the default input, as on a desktop where someone picked it.
    d.pactl(&["set-default-source", "speakers.monitor"]);
    std::thread::sleep(Duration::from_millis(500));
    let mut child = d
        .spektr(&["analyze", "--source", "monitor", "--seconds", "5"])
        .spawn()
        .expect("spektr");
    let lines = lines_with_arrival(&mut child);
    std::thread::sleep(Duration::from_millis(1500));
    // The desktop picks the microphone: spektr's stream does not move with it.
    d.pactl(&["set-default-source", "mic"]);
    let changed = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let outputs = d.pactl(&["list", "short", "source-outputs"]);
    let sources = d.pactl(&["list", "short", "sources"]);
    let monitor_index = sources
        .lines()
        .find(|l| l.split('\t').nth(1) == Some("speakers.monitor"))
        .and_then(|l| l.split('\t').next())
        .expect("the monitor's index")
        .to_string();
    assert!(
        outputs
            .lines()
            .all(|l| l.split('\t').nth(1) == Some(monitor_index.as_str())),
        "spektr's stream moved: {outputs}"
    );
    let out = wait_output(child, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And it still hears the music (the microphone is silent): every frame after the change.
    let loud_after: Vec<bool> = lines
        .try_iter()
        .filter(|(t, _)| *t > changed + Duration::from_millis(200))
        .filter_map(|(_, l)| serde_json::from_str::<Value>(&l).ok())
        .filter(|v| v["type"] == "frame")
        .map(|v| v["channels"][0]["rms_dbfs"].as_f64().unwrap_or(-120.0) > -40.0)
        .collect();
    assert!(loud_after.len() > 100, "{}", loud_after.len());
    assert!(loud_after.iter().all(|&l| l), "the music was lost");

    // `default` follows the default input and says which device that is now.
    let mut child = d
        .spektr(&["analyze", "--source", "default", "--seconds", "5"])
        .spawn()
        .expect("spektr");
    let lines = lines_with_arrival(&mut child);
    std::thread::sleep(Duration::from_millis(1500));
    d.pactl(&["set-default-source", "speakers.monitor"]);
    let out = wait_output(child, Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("the default device is now speakers.monitor"),
        "{err}"
    );
    let header: Value =
        serde_json::from_str(&lines.recv().expect("header").1).expect("header is JSON");
    assert_eq!(header["source"], "pulseaudio:mic");
    let levels: Vec<f64> = lines
        .try_iter()
        .filter_map(|(_, l)| serde_json::from_str::<Value>(&l).ok())
        .filter(|v| v["type"] == "frame")
        .map(|v| v["channels"][0]["rms_dbfs"].as_f64().unwrap_or(-120.0))
        .collect();
    assert!(
        levels[..30].iter().all(|&l| l < -100.0),
        "the mic is silent"
    );
    assert!(
        levels[levels.len() - 30..].iter().all(|&l| l > -40.0),
        "then the monitor's music"
    );
}

#[test]
fn a_server_found_where_libpulse_finds_it_and_a_missing_one_named() {
    let _one_at_a_time = super::common::exclusive();
    let d = Desktop::start();
    // libpulse's PULSE_RUNTIME_PATH is the folder that holds `native`.
    let mut cmd = d.spektr(&["devices", "--json", "--host", "pulseaudio"]);
    cmd.env("XDG_RUNTIME_DIR", "/nonexistent")
        .env("PULSE_RUNTIME_PATH", d.dir.path().join("pulse"));
    let out = wait_output(cmd.spawn().expect("spawn"), Duration::from_secs(20));
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let host = &v["hosts"][0];
    assert_eq!(host["available"], true, "{v}");
    let ids: Vec<&str> = host["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"speakers.monitor") && ids.contains(&"mic"),
        "{ids:?}"
    );
    let mic = host["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["id"] == "mic")
        .expect("mic");
    assert_eq!(mic["default"], true);
    assert_eq!(mic["kind"], "input");
    // Nothing there: the listing says which socket it tried.
    let mut cmd = d.spektr(&["devices", "--host", "pulseaudio"]);
    cmd.env("XDG_RUNTIME_DIR", "/nonexistent");
    let out = wait_output(cmd.spawn().expect("spawn"), Duration::from_secs(20));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("/nonexistent/pulse/native (from XDG_RUNTIME_DIR)"),
        "{text}"
    );
}

on_both_servers!(killing_the_daemon_ends_analysis_and_recording_with_one_line_each);

fn killing_the_daemon_ends_analysis_and_recording_with_one_line_each(server: Server) {
    let _one_at_a_time = super::common::exclusive();
    let mut d = Desktop::with(server);
    d.play_music(60.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let take = dir.path().join("lost.wav");
    let analyze = d
        .spektr(&["analyze", "--source", "monitor", "--seconds", "60"])
        .spawn()
        .expect("spawn");
    let record = d
        .spektr(&[
            "record",
            take.to_str().expect("path"),
            "--source",
            "monitor",
        ])
        .spawn()
        .expect("spawn");
    let spawned = SystemTime::now();
    std::thread::sleep(Duration::from_millis(2000));
    let killed = SystemTime::now();
    d.kill_daemon();
    for (what, child) in [("analyze", analyze), ("record", record)] {
        let out = wait_output(child, Duration::from_secs(15));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{what}: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{what}: {err:?}");
        assert!(
            errors[0].starts_with("error: capture ended:") && errors[0].contains("went away"),
            "{what}: {err}"
        );
        assert!(!err.contains("panicked"), "{what}: {err}");
        if what == "analyze" {
            let text = String::from_utf8_lossy(&out.stdout);
            let last: Value = serde_json::from_str(text.lines().last().expect("lines"))
                .expect("the last line is JSON");
            assert_eq!(last["type"], "summary", "the data so far is complete");
        }
    }
    // The take the loss ended says so: incomplete, with the loss at its end.
    let meta = sidecar(&take);
    assert_eq!(meta["complete"], false, "{meta}");
    assert_eq!(meta["ended"]["reason"], "source_lost", "{meta}");
    let lost: Vec<&Value> = meta["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "device_lost")
        .collect();
    assert_eq!(lost.len(), 1, "{meta}");
    assert!(
        lost[0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("went away"),
        "{meta}"
    );
    let frames = meta["frames"].as_u64().expect("frames");
    assert_eq!(lost[0]["position"].as_u64(), Some(frames), "{meta}");
    // It holds what was played from the moment it began (both programs started at once on
    // two cores) until the server went away.
    let (startup, asked) = startup_of(&meta, spawned, killed);
    let held = wav_seconds(&take);
    eprintln!(
        "desktop ({server:?}): the take holds {held:.3} s; it began {startup:.3} s after the \
         start, {asked:.3} s before the server was killed"
    );
    assert!(
        startup <= 0.5,
        "spektr took {startup:.3} s to start recording"
    );
    assert!((held - asked).abs() <= 0.1, "{held} s of {asked} s");
}

/// The window with `args` on the desktop `d`, under Xvfb with openbox.
fn window_on(x: &Xvfb, d: &Desktop, args: &[&str]) -> (Child, String) {
    x.open_spektr_in(args, Stdio::piped(), |cmd| {
        d.env(cmd);
    })
}

/// Closes the window as a desktop's close button or a logout does (SIGTERM), and returns its
/// `--stats` lines.
fn close_window(app: Child) -> String {
    let status = Command::new("kill")
        .args(["-TERM", &app.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = wait_output(app, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one recording in `takes`, and its sidecar.
fn the_take(takes: &Path) -> (std::path::PathBuf, Value) {
    let wav = std::fs::read_dir(takes)
        .expect("takes")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "wav"))
        .expect("a recording");
    (wav.clone(), sidecar(&wav))
}

/// A recording's sidecar.
fn sidecar(wav: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(wav.with_extension("json")).expect("json"))
        .expect("sidecar")
}

/// The `window: N frames shown` figure of `--stats`.
fn frames_shown(stats: &str) -> f64 {
    stats
        .lines()
        .find_map(|l| l.strip_prefix("window: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no frame count in {stats}"))
}

#[test]
fn the_window_redraws_at_least_20_times_a_second_while_music_plays() {
    let _one_at_a_time = super::common::exclusive();
    let x = Xvfb::start();
    let mut wm = x.window_manager();
    let mut d = Desktop::start();
    d.play_music(60.0);
    let (app, _window) = window_on(&x, &d, &["--source", "monitor", "--stats"]);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(6));
    let stats = close_window(app);
    let seconds = start.elapsed().as_secs_f64();
    let _ = wm.kill();
    let _ = wm.wait();
    let shown = frames_shown(&stats);
    eprintln!("desktop window: {shown} frames in {seconds:.1} s; {stats}");
    // The whole run counts, the start (connecting, the server's first blocks) included.
    assert!(
        shown / seconds >= 20.0,
        "{shown} frames in {seconds:.1} s: {stats}"
    );
}

/// Waits until two screenshots of `window` a little apart differ in their bars: frames flow.
fn wait_until_moving(x: &Xvfb, window: &str, dir: &Path, within: Duration) {
    let start = Instant::now();
    let mut last = screenshot(x, window, &dir.join("moving.png"));
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = screenshot(x, window, &dir.join("moving.png"));
        if bar_pixels(&now) > 2000 && now != last {
            return;
        }
        assert!(start.elapsed() < within, "the bars never moved");
        last = now;
    }
}

#[test]
fn the_window_shows_a_loss_until_the_source_returns_and_the_recording_lists_both() {
    let _one_at_a_time = super::common::exclusive();
    let x = Xvfb::start();
    let mut wm = x.window_manager();
    let mut d = Desktop::start();
    d.play_music(120.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let takes = dir.path().join("takes");
    let (app, window) = window_on(
        &x,
        &d,
        &[
            "--source",
            "monitor",
            "--recordings",
            takes.to_str().expect("path"),
        ],
    );
    x.run("xdotool", &["windowactivate", "--sync", &window]);
    wait_until_moving(&x, &window, dir.path(), Duration::from_secs(10));
    x.run("xdotool", &["key", "r"]);
    std::thread::sleep(Duration::from_millis(1500));

    // The server goes away: the picture says so until it returns.
    d.kill_daemon();
    std::thread::sleep(Duration::from_millis(1500));
    let lost = screenshot(&x, &window, &dir.path().join("lost.png"));
    let red = lost
        .chunks_exact(4)
        .filter(|p| p[0] > 200 && p[1] < 100 && p[2] < 100)
        .count();
    assert_eq!(
        bar_pixels(&lost),
        0,
        "the bars are grey while the source is lost"
    );
    assert!(
        red > 60,
        "a SOURCE LOST badge and the recording light ({red} red pixels)"
    );
    std::thread::sleep(Duration::from_secs(5));
    let still = screenshot(&x, &window, &dir.path().join("still-lost.png"));
    assert_eq!(bar_pixels(&still), 0, "still shown as lost after 6 s");
    d.start_daemon();
    d.play_music(120.0);
    wait_until_moving(&x, &window, dir.path(), Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(1000));
    x.run("xdotool", &["key", "r"]);
    std::thread::sleep(Duration::from_millis(1000));
    close_window(app);
    let _ = wm.kill();
    let _ = wm.wait();
    // The take went on across the loss: the loss and the return are listed, the time away
    // written as silence, and it is complete (the user stopped it).
    let (wav, meta) = the_take(&takes);
    eprintln!("desktop window: the sidecar's events {}", meta["events"]);
    assert_eq!(meta["complete"], true, "{meta}");
    let events = meta["events"].as_array().expect("events");
    let at = |kind: &str| {
        events
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {meta}"))
    };
    let rate = f64::from(RATE);
    let lost_at = at("device_lost")["position"].as_f64().expect("position");
    let returned = at("device_returned");
    let away = returned["frames"].as_f64().expect("frames") / rate;
    assert!(lost_at / rate > 1.0, "{meta}");
    assert!((5.0..20.0).contains(&away), "away {away} s: {meta}");
    let back_at = returned["position"].as_f64().expect("position");
    assert!(
        ((back_at - lost_at) / rate - away).abs() < 0.01,
        "the silence lies between the loss and the return: {meta}"
    );
    assert!(
        wav_seconds(&wav) > back_at / rate + 0.5,
        "audio after the return"
    );
}

#[test]
fn pause_and_resume_while_recording_leave_the_file_and_sidecar_in_agreement() {
    let _one_at_a_time = super::common::exclusive();
    let x = Xvfb::start();
    let mut wm = x.window_manager();
    let mut d = Desktop::start();
    let noise_path = d.dir.path().join("noise.wav");
    let noise = write_noise(&noise_path, 30.0);
    d.play(&noise_path);
    let dir = tempfile::tempdir().expect("tempdir");
    let takes = dir.path().join("takes");
    let (app, window) = window_on(
        &x,
        &d,
        &[
            "--source",
            "monitor",
            "--recordings",
            takes.to_str().expect("path"),
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    x.run("xdotool", &["windowactivate", "--sync", &window]);
    for (key, wait_ms) in [("r", 1500), ("p", 1000), ("p", 1500), ("r", 800)] {
        x.run("xdotool", &["key", key]);
        std::thread::sleep(Duration::from_millis(wait_ms));
    }
    close_window(app);
    let _ = wm.kill();
    let _ = wm.wait();
    let (wav, meta) = the_take(&takes);
    let mut r = hound::WavReader::open(&wav).expect("opens");
    assert_eq!(r.spec().bits_per_sample, 16, "the monitor's own format");
    let rec: Vec<i16> = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    let events = meta["events"].as_array().expect("events");
    let pauses: Vec<&Value> = events.iter().filter(|e| e["kind"] == "pause").collect();
    let resumes: Vec<&Value> = events.iter().filter(|e| e["kind"] == "resume").collect();
    assert_eq!((pauses.len(), resumes.len()), (1, 1), "{meta}");
    let p = pauses[0]["position"].as_u64().expect("position") as usize;
    assert_eq!(resumes[0]["position"].as_u64(), Some(p as u64), "{meta}");
    let skipped = resumes[0]["frames"].as_u64().expect("skipped frames") as usize;
    assert!(
        (0.8..1.3).contains(&(skipped as f64 / f64::from(RATE))),
        "{skipped} frames not recorded while paused"
    );
    // Place both stretches of the recording in the noise, sample for sample.
    let frames = rec.len() / 2;
    assert!(p > 44_100 && frames > p + 44_100, "{p} of {frames}");
    let find = |at: usize| -> usize {
        let key = &rec[at * 2..at * 2 + 16];
        noise
            .chunks_exact(2)
            .enumerate()
            .position(|(i, _)| noise.get(i * 2..i * 2 + 16) == Some(key))
            .unwrap_or_else(|| panic!("frame {at} of the recording is not in the noise"))
    };
    let a = find(0);
    assert_eq!(
        &rec[..p * 2],
        &noise[a * 2..(a + p) * 2],
        "before the pause"
    );
    let b = find(p);
    assert_eq!(
        b,
        a + p + skipped,
        "the pause left out exactly what the sidecar says"
    );
    let rest = frames - p;
    assert_eq!(
        &rec[p * 2..],
        &noise[b * 2..(b + rest) * 2],
        "after the resume"
    );
}

on_both_servers!(the_generator_plays_pink_noise_that_the_monitor_reads_flat_per_third_octave);

fn the_generator_plays_pink_noise_that_the_monitor_reads_flat_per_third_octave(server: Server) {
    let _one_at_a_time = super::common::exclusive();
    let d = Desktop::with(server);
    // Into the default output (the null sink), as a user starts it: no device named.
    let generator = d
        .spektr(&["generate", "pink@-20"])
        .spawn()
        .expect("spektr generate");
    // Past its fade-in, the monitor's third-octave average over 20 s (at 31.5 Hz a band
    // 7.3 Hz wide: 146 degrees of freedom, a spread of 0.36 dB).
    std::thread::sleep(Duration::from_millis(2500));
    let analysis = d
        .spektr(&[
            "analyze",
            "--source",
            "monitor",
            "--bands",
            "1/3",
            "--average",
            "infinite",
            "--seconds",
            "20",
        ])
        .spawn()
        .expect("spektr analyze");
    let out = wait_output(analysis, Duration::from_secs(45));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = super::common::ndjson(&String::from_utf8_lossy(&out.stdout));
    let header = &lines[0];
    let bars = super::common::last_frame_bars(&lines);
    let centres: Vec<f64> = header["bands"]
        .as_array()
        .expect("bands")
        .iter()
        .map(|b| b["center_hz"].as_f64().expect("centre"))
        .collect();
    // 31.5 Hz to 16 kHz (below, 20 s holds too few of the longest windows for 1 dB).
    let read: Vec<(f64, f64)> = centres
        .iter()
        .zip(&bars)
        .filter(|(c, _)| (30.0..=17_000.0).contains(*c))
        .map(|(c, b)| (*c, *b))
        .collect();
    assert!(read.len() >= 28, "{read:?}");
    let mean = read.iter().map(|r| r.1).sum::<f64>() / read.len() as f64;
    eprintln!("desktop ({server:?}): pink noise from the generator, third octaves: {read:?}");
    for (hz, db) in &read {
        assert!(
            (db - mean).abs() <= 1.0,
            "the {hz:.0} Hz band reads {db:.2} dB, {:.2} from the mean {mean:.2}",
            db - mean
        );
    }
    assert!((-40.0..=-32.0).contains(&mean), "{mean} dB per band");
    // Ctrl-C fades it out: exit 0 and what it played.
    let status = Command::new("kill")
        .args(["-INT", &generator.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = wait_output(generator, Duration::from_secs(10));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("playing pink@-20 to Speakers"), "{err}");
    assert!(
        err.lines().last().is_some_and(|l| l.starts_with("played ")),
        "{err}"
    );
    // An output that is not there: one line.
    let out = wait_output(
        d.spektr(&["generate", "pink@-20", "--device", "nosuch"])
            .spawn()
            .expect("spektr"),
        Duration::from_secs(10),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no output device named 'nosuch'"), "{err}");
}

/// The generator's playback streams on the desktop's server now.
fn generator_streams(d: &Desktop) -> usize {
    d.pactl(&["list", "sink-inputs"])
        .lines()
        .filter(|l| l.contains("media.name = \"spektr test signal\""))
        .count()
}

#[test]
fn the_windows_generator_starts_and_stops_on_g_and_the_monitor_shows_it() {
    let _one_at_a_time = super::common::exclusive();
    let x = Xvfb::start();
    let mut wm = x.window_manager();
    let d = Desktop::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("settings.toml");
    let (app, window) = window_on(
        &x,
        &d,
        &[
            "--source",
            "monitor",
            "--config",
            config.to_str().expect("path"),
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let quiet = screenshot(&x, &window, &dir.path().join("quiet.png"));
    assert!(bar_pixels(&quiet) < 500, "nothing plays yet");
    x.run("xdotool", &["windowfocus", &window]);
    x.run(
        "xdotool",
        &["mousemove", "--window", &window, "300", "400", "click", "1"],
    );
    // G, and again only if XTEST lost it: each press is given 4 s to show on the server.
    let press_g_until = |playing: bool| {
        for _ in 0..3 {
            x.run("xdotool", &["key", "g"]);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(4) {
                if (generator_streams(&d) > 0) == playing {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!(
            "G did not {} the generator",
            if playing { "start" } else { "stop" }
        );
    };
    press_g_until(true);
    // Past the fade-in, its pink noise at -30 dBFS is on the bars.
    std::thread::sleep(Duration::from_millis(2500));
    let playing = screenshot(&x, &window, &dir.path().join("playing.png"));
    assert!(
        bar_pixels(&playing) > 5000,
        "the monitor shows the generator ({} bar pixels)",
        bar_pixels(&playing)
    );
    press_g_until(false);
    let stats = close_window(app);
    let _ = wm.kill();
    let _ = wm.wait();
    assert!(!stats.contains("panicked"), "{stats}");
}
