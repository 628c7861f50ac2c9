//! Recording while analyzing: bit-exact files, a killed process, full and vanishing disks, a
//! slow disk, gaps in the capture. The disk tests mount tmpfs (CI runs as root); a missing
//! permission fails them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spektr::capture::callback::CallbackState;
use spektr::config::{AnalysisSettings, SampleKind, StreamFormat};
use spektr::engine::{Analyzer, EngineHandle};
use spektr::publish::{FrameInput, frame_buffer};
use spektr::record::{Ending, MarkKind, RecordRequest, Recording};

use super::common::{ndjson, wait_output};

const BIN: &str = env!("CARGO_BIN_EXE_spektr");

fn spektr(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run spektr");
    wait_output(child, Duration::from_secs(120))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A deterministic test signal that uses the whole range of `bits` (every value differs from
/// its neighbours, extremes included).
fn pattern(n: usize, bits: u32) -> Vec<i64> {
    let full = 1i64 << (bits - 1);
    let mut x = 0x1234_5678_9abc_def1u64;
    (0..n)
        .map(|i| match i % 97 {
            0 => -full,
            1 => full - 1,
            2 => 0,
            _ => {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % (2 * full as u64)) as i64 - full
            }
        })
        .collect()
}

fn write_wav(path: &Path, spec: hound::WavSpec, samples: &[i64]) {
    let mut w = hound::WavWriter::create(path, spec).expect("create");
    for &s in samples {
        match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Float, _) => {
                w.write_sample(s as f32 / 8_388_608.0).expect("write")
            }
            (_, 8) => w.write_sample(s as i8).expect("write"),
            (_, 16) => w.write_sample(s as i16).expect("write"),
            _ => w.write_sample(s as i32).expect("write"),
        }
    }
    w.finalize().expect("finalize");
}

/// Every sample of a WAV file as f64 (floats as they are, integers as integers).
fn read_wav(path: &Path) -> (hound::WavSpec, Vec<f64>) {
    let mut r = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("{} does not open: {e}", path.display()));
    let spec = r.spec();
    let samples = match spec.sample_format {
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .map(|s| f64::from(s.expect("sample")))
            .collect(),
        hound::SampleFormat::Int => r
            .samples::<i32>()
            .map(|s| f64::from(s.expect("sample")))
            .collect(),
    };
    (spec, samples)
}

/// Starts `spektr record OUT --source SOURCE --quiet` (output piped) and returns once the
/// recording has started.
fn record_live(out: &Path, source: &str) -> std::process::Child {
    let child = Command::new(BIN)
        .arg("record")
        .arg(out)
        .args(["--source", source, "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run spektr");
    wait_until_started(out);
    child
}

/// Waits for a recording's sidecar, which is written when the recording starts.
fn wait_until_started(out: &Path) {
    let wait = Instant::now();
    while !out.with_extension("json").exists() {
        assert!(wait.elapsed() < Duration::from_secs(20), "never started");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sidecar(wav: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(wav.with_extension("json")).expect("sidecar");
    serde_json::from_str(&text).expect("sidecar is JSON")
}

#[test]
fn file_sources_record_bit_exact_in_every_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&str, u16, hound::SampleFormat, u16, u32); 5] = [
        ("u8", 8, hound::SampleFormat::Int, 1, 8),
        ("i16", 16, hound::SampleFormat::Int, 2, 16),
        ("i24", 24, hound::SampleFormat::Int, 2, 24),
        // 32-bit integer content goes through f32: exact to 24 significant bits, which is
        // what converters deliver (the low byte is zero).
        ("i32", 32, hound::SampleFormat::Int, 1, 24),
        ("f32", 32, hound::SampleFormat::Float, 2, 24),
    ];
    for (name, bits, kind, channels, content_bits) in cases {
        let spec = hound::WavSpec {
            channels,
            sample_rate: 44_100,
            bits_per_sample: bits,
            sample_format: kind,
        };
        let mut samples = pattern(44_100 * 2 * channels as usize, content_bits);
        if name == "i32" {
            samples.iter_mut().for_each(|s| *s <<= 8);
        }
        let input = dir.path().join(format!("{name}.wav"));
        write_wav(&input, spec, &samples);
        let out = dir.path().join(format!("{name}-rec.wav"));
        let source = format!("file:{}", input.display());
        let run = spektr(&[
            "record",
            out.to_str().expect("path"),
            "--source",
            &source,
            "--fast",
            "--quiet",
        ]);
        assert!(run.status.success(), "{name}: {}", stderr(&run));
        let (got_spec, got) = read_wav(&out);
        let (want_spec, want) = read_wav(&input);
        assert_eq!(got_spec, want_spec, "{name}: the format is kept");
        assert_eq!(got.len(), want.len(), "{name}: every sample is there");
        let first_diff = got.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!(first_diff, None, "{name}: samples differ");
        let meta = sidecar(&out);
        assert_eq!(meta["complete"], true, "{name}: {meta}");
        assert_eq!(meta["ended"]["reason"], "source_ended", "{name}");
    }
}

#[test]
fn real_time_capture_path_records_bit_exact_and_stops_at_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let samples = pattern(48_000 * 2 * 3, 16);
    let input = dir.path().join("in.wav");
    write_wav(&input, spec, &samples);
    let out = dir.path().join("rec.wav");
    let source = format!("file:{}", input.display());
    // Real-time pace through the same callback state a device uses; a 1.5 s limit.
    let run = spektr(&[
        "record",
        out.to_str().expect("path"),
        "--source",
        &source,
        "--seconds",
        "1.5",
        "--quiet",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let (_, got) = read_wav(&out);
    assert_eq!(got.len(), 72_000 * 2, "exactly --seconds of audio");
    let want: Vec<f64> = samples[..got.len()].iter().map(|&s| s as f64).collect();
    let first_diff = got.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "samples differ: {}", sidecar(&out));
    assert_eq!(sidecar(&out)["ended"]["reason"], "limit");
}

#[test]
fn existing_files_are_never_overwritten_and_folders_get_unique_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = dir.path().join("taken.wav");
    std::fs::write(&taken, b"precious").expect("write");
    let run = spektr(&[
        "record",
        taken.to_str().expect("path"),
        "--source",
        "synth:sine=1000@-6,duration=1",
        "--fast",
        "--quiet",
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("already exists"), "{}", stderr(&run));
    assert_eq!(std::fs::read(&taken).expect("read"), b"precious");
    for _ in 0..2 {
        let run = spektr(&[
            "record",
            dir.path().to_str().expect("path"),
            "--source",
            "synth:sine=1000@-6,duration=1",
            "--fast",
            "--quiet",
        ]);
        assert!(run.status.success(), "{}", stderr(&run));
    }
    let wavs: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("spektr-") && n.ends_with(".wav"))
        .collect();
    assert_eq!(wavs.len(), 2, "two recordings, two names: {wavs:?}");
}

#[test]
fn a_killed_recorder_leaves_a_playable_file_missing_at_most_1_5_s() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("killed.wav");
    let mut child = record_live(&out, "synth:sine=440@-12,sine=3000@-20,duration=60");
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let ran = started.elapsed().as_secs_f64();
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let r = hound::WavReader::open(&out).expect("the killed recording opens");
    let frames = r.duration() as f64;
    let rate = f64::from(r.spec().sample_rate);
    let samples: Result<Vec<f32>, _> = r.into_samples::<f32>().collect();
    let samples = samples.expect("every sample the header promises is there");
    assert!(
        frames / rate >= ran - 1.5,
        "holds {:.2} s of {ran:.2} s",
        frames / rate
    );
    assert!(samples.iter().any(|&s| s.abs() > 0.1), "holds the signal");
    // The sidecar written on the way has the take's loudness up to there: the two tones
    // (-12 and -20 dBFS; 3 kHz weighs +2.5 dB more in K-weighting) read about -11.
    let meta = sidecar(&out);
    let i = meta["loudness"]["integrated_lufs"]
        .as_f64()
        .unwrap_or_else(|| panic!("{meta}"));
    assert!((-12.0..-10.0).contains(&i), "{meta}");
}

/// A tmpfs of `size` mounted for the test, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs failed: the disk tests need root (CI runs as root)"
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Runs `spektr analyze --source <synth> --seconds 6 --record <out>` and does `act` after the
/// recording has run for a second; returns the output and the analysis frames' last time.
fn analyze_while(out: &Path, act: impl FnOnce()) -> (Output, f64) {
    let child = Command::new(BIN)
        .args([
            "analyze",
            "--source",
            "synth:sine=1000@-6,sine=100@-20,duration=60",
            "--seconds",
            "6",
            "--record",
        ])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run spektr");
    wait_until_started(out);
    std::thread::sleep(Duration::from_secs(1));
    act();
    let output = wait_output(child, Duration::from_secs(60));
    let lines = ndjson(&String::from_utf8_lossy(&output.stdout));
    let last_t = lines
        .iter()
        .filter_map(|l| l["t"].as_f64())
        .fold(0.0, f64::max);
    (output, last_t)
}

/// The file's frames agree with its header and every sample reads.
fn assert_playable(path: &Path) -> f64 {
    let r = hound::WavReader::open(path).expect("the recording opens");
    let frames = r.duration() as f64 / f64::from(r.spec().sample_rate);
    let n = r.len() as usize;
    let samples: Result<Vec<f32>, _> = r.into_samples::<f32>().collect();
    assert_eq!(samples.expect("samples").len(), n);
    frames
}

#[test]
fn a_full_disk_stops_the_recording_with_the_position_and_analysis_goes_on() {
    let fs = Tmpfs::mount("600k");
    let out = fs.path().join("full.wav");
    let (output, last_t) = analyze_while(&out, || {});
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(
        err.contains("recording stopped at") && err.contains("No space left on device"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        last_t >= 5.9,
        "analysis went on to the end: last frame at {last_t} s"
    );
    let held = assert_playable(&out);
    assert!(
        held > 1.0 && held < 2.0,
        "600 kB of 32-bit stereo: {held} s"
    );
    let meta = sidecar(&out);
    assert_eq!(meta["ended"]["reason"], "write_failed", "{meta}");
}

#[test]
fn dev_full_is_refused_with_one_line() {
    let run = spektr(&[
        "record",
        "/dev/full",
        "--source",
        "synth:sine=1000@-6,duration=2",
        "--fast",
        "--quiet",
    ]);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: cannot record to /dev/full: No space left on device"),
        "{err}"
    );
}

#[test]
fn a_vanished_folder_stops_the_recording_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("takes");
    std::fs::create_dir(&sub).expect("mkdir");
    let out = sub.join("gone.wav");
    let (output, last_t) = analyze_while(&out, || {
        std::fs::remove_dir_all(&sub).expect("remove the folder");
    });
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(
        err.contains("was deleted or moved while recording"),
        "{err}"
    );
    assert!(last_t >= 5.9, "analysis went on: {last_t}");
}

#[test]
fn a_read_only_disk_is_refused_with_one_line() {
    // A mounted file system refuses to turn read-only while a file on it is open for
    // writing, so this is what a user meets: recording onto a read-only disk.
    let fs = Tmpfs::mount("1m");
    let status = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(fs.path())
        .status()
        .expect("remount");
    assert!(status.success(), "remount read-only");
    let out = fs.path().join("ro.wav");
    let run = spektr(&[
        "record",
        out.to_str().expect("path"),
        "--source",
        "synth:sine=1000@-6,duration=1",
        "--fast",
        "--quiet",
    ]);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("Read-only file system"), "{err}");
}

/// An engine on a capture-like input, recording; the test plays the callback.
struct Rig {
    state: CallbackState,
    stats: Arc<spektr::stream::StreamStats>,
    engine: EngineHandle<FrameInput>,
    /// When the last recording was asked for, until the first block after it is delivered.
    asked: Option<Instant>,
    /// When `Recording::start` returned (the recording's own start lies between the two).
    started: Option<Instant>,
}

impl Rig {
    fn start(format: StreamFormat) -> Self {
        let (writer, reader) = spektr::stream::channel(format, true);
        let stats = writer.stats().clone();
        let state = CallbackState::new(writer, format.channels, format.sample_rate);
        let analyzer = Analyzer::new(&AnalysisSettings::default(), format).expect("analyzer");
        let (frames, _out) = frame_buffer(analyzer.bands().len(), format.channels);
        let engine = EngineHandle::spawn(reader, analyzer, frames, false, None).expect("engine");
        Rig {
            state,
            stats,
            engine,
            asked: None,
            started: None,
        }
    }

    /// Starts a recording, hands its tap to the engine and waits until the engine has taken
    /// it, so that every block delivered afterwards is the recording's.
    fn record(&mut self, request: RecordRequest) -> Recording {
        self.asked = Some(Instant::now());
        let (recording, tap) = Recording::start(request).expect("start the recording");
        self.started = Some(Instant::now());
        self.engine.record(tap).expect("engine takes it");
        let start = Instant::now();
        while !recording.started() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the engine never took the tap"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        recording
    }

    /// The callback with `block`. The first block after a recording was asked for is the
    /// sound of that moment, however slowly this machine got here: a block captured later
    /// would rightly begin the file with silence up to it, which is not what these tests
    /// are about (`a_late_first_sound_starts_the_file_with_listed_silence` is).
    fn process<T: spektr::capture::convert::ToF32>(&mut self, block: &[T]) {
        let delay = self.asked.take().map(|at| at.elapsed());
        self.state.process(block, delay);
    }
}

/// Plays the callback with a known signal and works out what the recording must hold.
struct Feeder<'a> {
    source: &'a [i64],
    fed: usize,
    /// The recording as it must be: samples kept, silence where frames were dropped.
    expected: Vec<f64>,
    /// (position, frames) of each gap.
    gaps: Vec<(u64, u64)>,
    /// Dropped frames not yet reported (a gap is reported before the next samples that fit).
    pending: u64,
}

impl Feeder<'_> {
    /// Delivers `frames` frames; returns the frames the engine can have forwarded by now.
    fn deliver(&mut self, rig: &mut Rig, frames: usize) -> u64 {
        let block: Vec<i16> = self.source[self.fed * 2..(self.fed + frames) * 2]
            .iter()
            .map(|&s| s as i16)
            .collect();
        self.fed += frames;
        let before = rig.stats.dropped_frames();
        rig.process(&block);
        let dropped = (rig.stats.dropped_frames() - before) as usize;
        let kept = frames - dropped;
        if kept > 0 {
            self.pending = 0;
        }
        self.expected
            .extend(block[..kept * 2].iter().map(|&s| f64::from(s)));
        if dropped > 0 {
            let at = (self.expected.len() / 2) as u64;
            match self.gaps.last_mut() {
                Some(last) if self.pending > 0 => last.1 += dropped as u64,
                _ => self.gaps.push((at, dropped as u64)),
            }
            self.expected.extend(std::iter::repeat_n(0.0, dropped * 2));
            self.pending += dropped as u64;
        }
        (self.expected.len() / 2) as u64 - self.pending
    }
}

fn wait_for_position(recording: &Recording, frames: u64) {
    let start = Instant::now();
    while recording.position() < frames {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the engine forwarded {} of {frames} frames",
            recording.position()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn dropped_capture_frames_become_marked_silence_at_their_position() {
    let format = StreamFormat {
        sample_rate: 48_000,
        channels: 2,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gaps.wav");
    let mut rig = Rig::start(format);
    let recording = rig.record(RecordRequest::new(
        path.clone(),
        format,
        SampleKind::Int(16),
    ));
    let source = pattern(48_000 * 2 * 12, 16);
    let mut feed = Feeder {
        source: &source,
        fed: 0,
        expected: Vec::new(),
        gaps: Vec::new(),
        pending: 0,
    };
    // Normal blocks, then bursts longer than the 4 s ring: their tails are dropped. The
    // engine takes the tap at its next chunk, so wait until it forwards.
    let mut total = 0;
    for _ in 0..20 {
        total = feed.deliver(&mut rig, 480);
    }
    wait_for_position(&recording, total);
    for burst in [230_000, 210_000] {
        total = feed.deliver(&mut rig, burst);
        wait_for_position(&recording, total);
        // Blocks that come while the ring is still full join the gap; the gap is reported
        // with the first block that fits.
        let mut blocks = 0;
        while feed.pending > 0 || blocks < 10 {
            total = feed.deliver(&mut rig, 480);
            wait_for_position(&recording, total);
            blocks += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let (expected, gaps) = (feed.expected, feed.gaps);
    recording.stop();
    let finished = recording.wait().expect("finished");
    assert_eq!(finished.ending, Ending::Stopped, "{}", finished.message());
    assert_eq!(gaps.len(), 2, "both bursts overflowed the ring");
    let (_, got) = read_wav(&path);
    assert_eq!(got.len(), expected.len(), "the timeline keeps its length");
    assert_eq!(
        got.iter().zip(&expected).position(|(a, b)| a != b),
        None,
        "samples and silence where they belong"
    );
    let meta = sidecar(&path);
    let marked: Vec<(u64, u64)> = meta["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "gap")
        .map(|e| {
            (
                e["position"].as_u64().expect("position"),
                e["frames"].as_u64().expect("frames"),
            )
        })
        .collect();
    assert_eq!(
        marked, gaps,
        "the sidecar lists each gap at its sample position"
    );
}

#[test]
fn a_slow_disk_fills_the_ring_and_the_file_holds_exactly_what_came_before() {
    let format = StreamFormat {
        sample_rate: 48_000,
        channels: 1,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = dir.path().join("slow.wav");
    let mut rig = Rig::start(format);
    let mut request = RecordRequest::new(path.clone(), format, SampleKind::Int(16));
    request.ring_seconds = 0.5;
    request.write_delay = Some(Duration::from_millis(300));
    let recording = rig.record(request);
    let source: Vec<i16> = pattern(48_000 * 6, 16).iter().map(|&s| s as i16).collect();
    // Deliver 6 s at 10x real time: the writer takes 100 ms per 300 ms.
    for block in source.chunks(4800) {
        rig.process(block);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(rig.stats.dropped_frames(), 0, "the capture itself kept up");
    let finished = recording.wait().expect("finished");
    assert_eq!(finished.ending, Ending::Overflow, "{}", finished.message());
    let message = finished.message();
    assert!(
        message.contains(&format!("recording stopped at {}", finished.duration()))
            && message.contains("did not keep up"),
        "{message}"
    );
    let (_, got) = read_wav(&path);
    assert_eq!(
        got.len() as u64,
        finished.frames,
        "the file ends at the reported position"
    );
    assert!(finished.frames > 0 && finished.frames < 48_000 * 6);
    let want: Vec<f64> = source[..got.len()].iter().map(|&s| f64::from(s)).collect();
    assert_eq!(got, want, "exactly the samples up to it");
    assert_eq!(sidecar(&path)["ended"]["reason"], "overflow");
}

#[test]
fn marks_land_in_the_sidecar_at_the_recording_position() {
    let format = StreamFormat {
        sample_rate: 48_000,
        channels: 2,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("marks.wav");
    let mut rig = Rig::start(format);
    let recording = rig.record(RecordRequest::new(
        path.clone(),
        format,
        SampleKind::Float(32),
    ));
    let block = vec![0.25f32; 4800 * 2];
    for _ in 0..10 {
        rig.process(&block);
    }
    wait_for_position(&recording, 48_000);
    recording.mark(MarkKind::Freeze, "");
    recording.mark(MarkKind::Snapshot, "/tmp/x.png");
    recording.stop();
    let finished = recording.wait().expect("finished");
    assert!(finished.complete());
    let meta = sidecar(&path);
    let events = meta["events"].as_array().expect("events");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["freeze", "snapshot"]);
    assert_eq!(events[0]["position"], 48_000);
    assert_eq!(events[1]["detail"], "/tmp/x.png");
}

#[test]
fn a_late_first_sound_starts_the_file_with_listed_silence() {
    let format = StreamFormat {
        sample_rate: 48_000,
        channels: 1,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("late.wav");
    let mut rig = Rig::start(format);
    let recording = rig.record(RecordRequest::new(
        path.clone(),
        format,
        SampleKind::Int(16),
    ));
    let asked = rig.asked.take().expect("asked");
    let started = rig.started.expect("started");
    // The source's first sound comes 300 ms after the recording was asked for (a server
    // running ahead, a device waking up): the file starts when the recording did.
    std::thread::sleep(Duration::from_millis(300).saturating_sub(asked.elapsed()));
    let now = Instant::now();
    let block = vec![0.5f32; 4800];
    for _ in 0..5 {
        rig.state.process(&block, Some(Duration::from_millis(100)));
    }
    // Every block forwarded: the position past the sound and still for 100 ms (the engine
    // may take the blocks in pieces).
    let (mut last, mut still_since) = (0, Instant::now());
    let meta_gap = loop {
        let p = recording.position();
        if p != last {
            (last, still_since) = (p, Instant::now());
        } else if p >= 24_000 && still_since.elapsed() >= Duration::from_millis(100) {
            break p - 24_000;
        }
        assert!(now.elapsed() < Duration::from_secs(20), "forwarded {p}");
        std::thread::sleep(Duration::from_millis(2));
    };
    recording.stop();
    let finished = recording.wait().expect("finished");
    assert!(finished.complete(), "{}", finished.message());
    let (_, got) = read_wav(&path);
    let silent = got
        .iter()
        .position(|&s| s != 0.0)
        .expect("the sound is there");
    assert_eq!(
        got.len() - silent,
        24_000,
        "all of the sound, after the silence"
    );
    assert_eq!(silent as u64, meta_gap);
    // The block's first frame was captured 100 ms before it came; the recording was asked
    // for between `asked` and `started` (a loaded machine takes milliseconds to make files).
    let frames = |from: Instant| (now - from).as_secs_f64() * 48_000.0 - 4800.0;
    let (least, most) = (frames(started), frames(asked));
    assert!(
        (least - 48.0..=most + 240.0).contains(&(silent as f64)),
        "{silent} silent frames, {least:.0} to {most:.0} expected"
    );
    let meta = sidecar(&path);
    let events = meta["events"].as_array().expect("events");
    assert_eq!(events[0]["kind"], "start_gap", "{meta}");
    assert_eq!(events[0]["position"], 0);
    assert_eq!(events[0]["frames"], silent);
}

#[test]
fn ctrl_c_stops_and_finalizes_with_exit_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("interrupted.wav");
    let child = record_live(&out, "synth:sine=1000@-6,duration=60");
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let output = wait_output(child, Duration::from_secs(20));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(output.stderr.is_empty(), "--quiet: {}", stderr(&output));
    let meta = sidecar(&out);
    assert_eq!(meta["complete"], true, "{meta}");
    assert_eq!(meta["ended"]["reason"], "stopped");
    // The take's loudness: a -6 dBFS 1 kHz stereo sine reads -6.0 LUFS.
    let loudness = &meta["loudness"];
    let i = loudness["integrated_lufs"].as_f64().expect("integrated");
    let tp = loudness["true_peak_dbtp"].as_f64().expect("true peak");
    assert!(
        (i + 6.0).abs() < 0.1 && (tp + 6.0).abs() < 0.2,
        "{loudness}"
    );
    assert!(
        loudness["range_lu"].is_number() || held_under_3_s(&meta),
        "{loudness}"
    );
    assert_eq!(loudness["channels"], "stereo: L and R at 1.0");
    let held = assert_playable(&out);
    assert!(held >= 1.2, "{held} s");
    assert_eq!(meta["frames"].as_f64().expect("frames") / 48_000.0, held);
}

/// A take under 3 s has no short-term value, so no range.
fn held_under_3_s(meta: &serde_json::Value) -> bool {
    meta["seconds"].as_f64().is_some_and(|s| s < 3.0)
}

#[test]
fn a_discarded_recording_leaves_nothing_behind() {
    let format = StreamFormat {
        sample_rate: 48_000,
        channels: 1,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("discard.wav");
    let mut rig = Rig::start(format);
    let recording = rig.record(RecordRequest::new(
        path.clone(),
        format,
        SampleKind::Int(16),
    ));
    assert!(path.exists() && path.with_extension("json").exists());
    let block = vec![0.5f32; 4800];
    for _ in 0..5 {
        rig.process(&block);
    }
    wait_for_position(&recording, 24_000);
    recording.discard();
    let finished = recording.wait().expect("finished");
    assert_eq!(finished.ending, Ending::Discarded);
    assert!(!path.exists() && !path.with_extension("json").exists());
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}
