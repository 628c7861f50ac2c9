//! Real-time safety: the callbacks and the engine's steady state allocate nothing.
//!
//! A counting global allocator counts every allocation made on a thread while that thread has
//! counting armed. The real engine ([`Engine::run`]) runs on a counted thread, draining a real
//! stream fed by another thread, with every consumer attached: the display's triple buffer, a
//! recording (samples, capture gaps, pause and resume, forwarded to a real writer thread) and
//! the live NDJSON output (formatted on the engine, written by its own thread); for 10 000 hops
//! each. The capture callbacks (cpal's, for every sample format, and the PulseAudio one) run
//! counted too, with the ring overflowing part of the time, and so does the generator's output
//! callback.
// The audio callback's rules (clippy.toml) are for the callback only.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use spektr::capture::callback::CallbackState;
use spektr::capture::convert::ToF32;
use spektr::capture::pulse::{Feed, Pcm};
use spektr::config::{AnalysisSettings, BandLayout, BarsFrom, Smoothing, StreamFormat, Weighting};
use spektr::engine::{Analyzer, EngineExit, EngineHandle};
use spektr::publish::{FrameSink, frame_buffer};

#[path = "support/counting.rs"]
mod counting;
use counting::counted;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

const HOPS: u64 = 10_000;

/// Runs the engine with `sink` for [`HOPS`] hops of a test signal, recording when `record`,
/// pausing and resuming once on the way; returns the allocations on the engine thread and the
/// hops analyzed.
fn steady_state_allocations<S: FrameSink + Send>(
    settings: AnalysisSettings,
    format: StreamFormat,
    make_sink: impl FnOnce(&Analyzer) -> S,
    record: bool,
) -> (u64, u64) {
    let mut analyzer = Analyzer::new(&settings, format).expect("analyzer");
    let hops_per_frame = analyzer.plan().hops_per_frame;
    let hop_frames = analyzer.plan().frame_period / hops_per_frame as f64;
    let total_frames = ((HOPS as f64 + 0.5) * hop_frames) as usize;
    // Warm-up outside the counted region: every level computes at least once.
    let mut warm_sink = make_sink(&analyzer);
    warm_up(
        &mut analyzer,
        format.sample_rate as usize * format.channels,
        |a| {
            a.write_frame(warm_sink.frame_mut());
            let _ = warm_sink.publish();
        },
    );
    let hops_before = analyzer.samples_in();
    let (writer, reader) = spektr::stream::channel(format, true);
    let mut callback = CallbackState::new(writer, format.channels, format.sample_rate);
    let (mut handle, engine) = EngineHandle::unstarted(reader, analyzer, warm_sink, false);
    handle.set_gain_db(6.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let recording = record.then(|| {
        let mut request = spektr::record::RecordRequest::new(
            dir.path().join("steady.wav"),
            format,
            spektr::config::SampleKind::Float(32),
        );
        // Room for the whole run: this test is about the engine, not the disk's speed.
        request.ring_seconds = total_frames as f64 / f64::from(format.sample_rate) + 1.0;
        let (recording, tap) = spektr::record::Recording::start(request).expect("recording");
        handle.record(tap).expect("engine takes the tap");
        recording
    });
    // With the recording, the window's spectrogram too (its own analyzer on 1/12 octave, every
    // frame into a ring the test drains), warmed up outside the count.
    let mut spectrogram = record.then(|| {
        let fine =
            spektr::engine::spectro::settings(&settings, spektr::config::BandLayout::TwelfthOctave);
        let (mut feed, frames) = spektr::engine::spectro::feed(&fine, format).expect("feed");
        let warm: Vec<f32> = (0..format.sample_rate as usize * 2 * format.channels)
            .map(|i| ((i as f32) * 0.01).sin() * 0.3)
            .collect();
        feed.feed(&warm, 0, f64::from(format.sample_rate));
        handle
            .spectrogram(Some(feed))
            .expect("engine takes the feed");
        (frames, 0u64)
    });

    let (outcome, allocs) = std::thread::scope(|scope| {
        let thread = scope.spawn(|| counted(|| engine.run()));
        handle.wake(thread.thread().clone());
        // Tones, noise-like content and full-scale runs, so every branch runs.
        let ch = format.channels;
        let mut block = vec![0.0f32; 480 * ch];
        // Once, a block longer than the ring: its tail is dropped, and the gap is recorded.
        let burst =
            vec![
                0.1f32;
                (spektr::stream::RING_SECONDS * 1.2 * f64::from(format.sample_rate)) as usize * ch
            ];
        let mut sent = 0usize;
        let ring_frames = callback.free_frames();
        let start = Instant::now();
        while sent < total_frames {
            let n = (total_frames - sent).min(480);
            for i in 0..n {
                let t = (sent + i) as f32 / format.sample_rate as f32;
                let x = 0.5 * (std::f32::consts::TAU * 997.0 * t).sin()
                    + 0.2 * (std::f32::consts::TAU * 43.0 * t).sin();
                let x = if (sent + i) % 20_000 < 10 { 1.0 } else { x };
                block[i * ch..(i + 1) * ch].fill(x);
            }
            // Up to 8 times real time, and never more than half a ring ahead of the engine: the
            // ring overflows but once, on purpose, however slow the machine (a clock alone was
            // not enough: on a slow 2-core machine the engine fell behind with 6 channels and a
            // recording, and the dropped hops failed the count).
            let due = Duration::from_secs_f64(sent as f64 / f64::from(format.sample_rate) / 8.0);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
            let waiting = Instant::now();
            while callback.free_frames() < ring_frames / 2 {
                assert!(
                    waiting.elapsed() < Duration::from_secs(60),
                    "the engine stopped reading its ring"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            callback.process(&block[..n * ch], Some(Duration::from_millis(3)));
            if let Some((frames, taken)) = spectrogram.as_mut() {
                let whole = frames.ring.slots() / frames.record * frames.record;
                if let Ok(chunk) = frames.ring.read_chunk(whole) {
                    *taken += (whole / frames.record) as u64;
                    chunk.commit_all();
                }
            }
            if sent == 480 * 1000 {
                callback.process(&burst, Some(Duration::from_millis(3)));
                std::thread::sleep(Duration::from_millis(100));
            }
            if sent == total_frames / 3 {
                handle.set_paused(true);
                std::thread::sleep(Duration::from_millis(20));
            }
            if sent == total_frames / 3 + 480 * 20 {
                handle.set_paused(false);
            }
            sent += n;
        }
        drop(callback);
        handle.wake_now();
        thread.join().expect("engine thread")
    });
    assert_eq!(outcome.exit, EngineExit::EndOfStream);
    if let Some(recording) = recording {
        let finished = recording.wait().expect("finished");
        assert!(finished.complete(), "{}", finished.message());
        assert!(finished.frames > 0);
    }
    let analyzer = outcome.analyzer;
    let hops = ((analyzer.samples_in() - hops_before) as f64 / hop_frames).round() as u64;
    if let Some((_, taken)) = spectrogram {
        // A frame every `hops_per_frame` hops, less the paused ones and the overflow's.
        assert!(
            taken as f64 >= 0.8 * hops as f64 / hops_per_frame as f64,
            "the spectrogram's feed sent {taken} frames in {hops} hops"
        );
    }
    (allocs, hops)
}

/// The writing end of a pipe whose reading end a thread drains (as a consumer of live
/// NDJSON does).
/// A pipe a thread drains, as the engine's own handle on it (opened anew, not blocking).
fn drained_pipe() -> spektr::cli::output::DirectOut {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let file = std::fs::File::from(std::os::fd::OwnedFd::from(writer));
    let direct = spektr::cli::output::DirectOut::new(file).expect("a pipe takes direct writes");
    assert!(
        matches!(direct, spektr::cli::output::DirectOut::Pipe(_)),
        "{direct:?}"
    );
    direct
}

fn stereo() -> StreamFormat {
    StreamFormat {
        sample_rate: 48_000,
        channels: 2,
    }
}

fn triple_buffer(a: &Analyzer) -> spektr::publish::FrameInput {
    if a.trace_count() > 0 {
        // Frames with a trace per channel, as the window's buffer is made.
        return triple_buffer::triple_buffer(&a.new_frame()).0;
    }
    frame_buffer(a.bands().len(), a.format().channels).0
}

#[test]
fn engine_steady_state_allocates_nothing_with_every_consumer() {
    let hops_at_least = HOPS - HOPS / 10;
    let (allocs, hops) =
        steady_state_allocations(AnalysisSettings::default(), stereo(), triple_buffer, false);
    assert!(hops >= hops_at_least, "ran {hops} hops");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations in {hops} hops (default settings)"
    );
    // Calibrated: the SPL meter runs hop by hop too.
    let calibrated = AnalysisSettings {
        spl_offset_db: Some(100.0),
        ..Default::default()
    };
    let (allocs, hops) = steady_state_allocations(calibrated, stereo(), triple_buffer, false);
    assert!(hops >= hops_at_least, "ran {hops} hops");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations in {hops} hops (calibrated)"
    );
    let (allocs, hops) =
        steady_state_allocations(AnalysisSettings::default(), stereo(), triple_buffer, true);
    assert!(hops >= hops_at_least, "ran {hops} hops");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations in {hops} hops while recording, pausing and resuming, with the \
         spectrogram's feed"
    );
    // The live NDJSON output: lines formatted on the engine thread into a reused buffer.
    let ndjson = |a: &Analyzer| {
        let info = spektr::cli::output::InputInfo {
            source: "test".into(),
            sample_format: None,
            duration_s: None,
        };
        let out = spektr::cli::output::Output::live(
            Box::new(std::io::sink()),
            // The engine writes lines itself to a pipe that takes them at once.
            Some(drained_pipe()),
        )
        .expect("output");
        spektr::cli::output::OutputSink::new(
            spektr::cli::output::OutputFormat::Ndjson,
            a,
            &info,
            out,
            None,
            // Every frame compared with a reference, as `--reference` does.
            Some(std::sync::Arc::new(
                spektr::reference::Reference::from_levels(
                    "r",
                    "",
                    "dBFS",
                    a.format().sample_rate,
                    a.bands(),
                    &vec![-50.0; a.bands().len()],
                ),
            )),
        )
    };
    let (allocs, hops) =
        steady_state_allocations(AnalysisSettings::default(), stereo(), ndjson, true);
    assert!(hops >= hops_at_least, "ran {hops} hops");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations in {hops} hops with the live NDJSON output and a recording"
    );

    let busy = AnalysisSettings {
        bands: BandLayout::ThirdOctave,
        weighting: Weighting::A,
        smoothing: Smoothing::Fast,
        ..Default::default()
    };
    let six = StreamFormat {
        sample_rate: 44_100,
        channels: 6,
    };
    let (allocs, hops) = steady_state_allocations(busy, six, triple_buffer, true);
    assert!(hops >= hops_at_least, "ran {hops} hops");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations in {hops} hops (third-octave, A, fast, 6 channels, recording)"
    );

    // Every --bars-from mode: channel pairs in one complex transform and a channel alone
    // (3 channels), the mid and side mixes, one channel picked; traces in the frame and in
    // the NDJSON line.
    for (bars_from, channels) in [
        (BarsFrom::Each, 3),
        (BarsFrom::Mid, 2),
        (BarsFrom::Side, 2),
        (BarsFrom::Channel(1), 2),
        (BarsFrom::Mean, 1),
    ] {
        let settings = AnalysisSettings {
            bars_from,
            ..Default::default()
        };
        let format = StreamFormat {
            sample_rate: 48_000,
            channels,
        };
        for ndjson_out in [false, true] {
            let (allocs, hops) = if ndjson_out {
                steady_state_allocations(settings.clone(), format, ndjson, false)
            } else {
                steady_state_allocations(settings.clone(), format, triple_buffer, false)
            };
            assert!(hops >= hops_at_least, "ran {hops} hops");
            assert_eq!(
                allocs, 0,
                "{allocs} allocations in {hops} hops (--bars-from {bars_from}, {channels} channels, NDJSON {ndjson_out})"
            );
        }
    }
}

#[test]
fn the_counter_sees_allocations() {
    // Proves the allocator above is installed and counting: an allocation while armed counts.
    let (v, allocs) = counted(|| Vec::<u8>::with_capacity(10));
    drop(v);
    assert_eq!(allocs, 1);
}

/// Runs the real callback body over 5 000 buffers of `T`, with the ring overflowing part of
/// the time, and returns the allocations it made.
fn callback_allocations<T: ToF32 + Default>(make: impl Fn(usize) -> T) -> u64 {
    let (writer, mut reader) = spektr::stream::channel(stereo(), true);
    let mut state = CallbackState::new(writer, 2, 48_000);
    let buffer: Vec<T> = (0..960).map(&make).collect();
    let (_, allocs) = counted(|| {
        for i in 0..5_000 {
            state.process(&buffer, Some(Duration::from_millis(2)));
            // Drain now and then: the ring alternates between room and overflow.
            if i % 900 == 899 {
                drain(&mut reader);
            }
        }
    });
    allocs
}

fn drain(reader: &mut spektr::stream::StreamReader) {
    if let Ok(chunk) = reader.samples.read_chunk(reader.samples.slots()) {
        chunk.commit_all();
    }
    if let Some(a) = reader.arrivals.as_mut() {
        while a.pop().is_ok() {}
    }
    while reader.gaps.pop().is_ok() {}
}

#[test]
fn the_callback_allocates_nothing_for_any_sample_format() {
    let counts = [
        ("i8", callback_allocations(|i| (i % 200) as i8)),
        ("i16", callback_allocations(|i| (i * 37) as i16)),
        (
            "i24",
            callback_allocations(|i| {
                cpal::I24::new((i as i32 * 999) % 8_000_000).expect("in range")
            }),
        ),
        (
            "i32",
            callback_allocations(|i| (i as i32).wrapping_mul(1_234_567)),
        ),
        ("i64", callback_allocations(|i| i as i64 * 1_000_000_007)),
        ("u8", callback_allocations(|i| (i % 256) as u8)),
        ("u16", callback_allocations(|i| (i * 91) as u16)),
        (
            "u24",
            callback_allocations(|i| {
                cpal::U24::new((i as i32 * 777) % 16_000_000).expect("in range")
            }),
        ),
        (
            "u32",
            callback_allocations(|i| (i as u32).wrapping_mul(2_654_435_761)),
        ),
        ("u64", callback_allocations(|i| i as u64 * 3)),
        ("f32", callback_allocations(|i| (i as f32 * 0.01).sin())),
        ("f64", callback_allocations(|i| (i as f64 * 0.01).sin())),
    ];
    for (name, allocs) in counts {
        assert_eq!(allocs, 0, "{allocs} allocations in the callback for {name}");
    }
}

#[test]
fn the_pulseaudio_callback_allocates_nothing_for_any_stream_format() {
    for pcm in [
        Pcm::U8,
        Pcm::S16,
        Pcm::S24,
        Pcm::S24In32,
        Pcm::S32,
        Pcm::F32,
    ] {
        let (writer, mut reader) = spektr::stream::channel(stereo(), true);
        let mut feed = Feed::new(writer, pcm, 2, Arc::new(AtomicU64::new(2000)));
        let block: Vec<u8> = (0..441 * 2 * pcm.bytes()).map(|i| (i * 7) as u8).collect();
        let (_, allocs) = counted(|| {
            for i in 0..5_000 {
                // Whole blocks, and now and then a frame split across two.
                if i % 7 == 3 {
                    let cut = pcm.bytes() + 1;
                    feed.write(&block[..cut]);
                    feed.write(&block[cut..]);
                } else {
                    feed.write(&block);
                }
                if i % 900 == 899 {
                    drain(&mut reader);
                }
            }
        });
        assert_eq!(
            allocs, 0,
            "{allocs} allocations in the callback for {pcm:?}"
        );
    }
}

/// The engine reading a sound server's socket itself (PulseAudio and PipeWire captures): a
/// test plays the server on the other end of a socket pair, sending 441-frame blocks at 20
/// times real time; the engine converts, analyzes and publishes them, and asks for the latency
/// on the way, allocating nothing.
#[test]
fn the_engine_reading_a_sound_server_allocates_nothing() {
    use std::io::Write;
    let format = StreamFormat {
        sample_rate: 44_100,
        channels: 2,
    };
    let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
    let reader = spektr::capture::pulse::capture_from(ours, 7, Pcm::S16, format);
    let mut analyzer = Analyzer::new(&AnalysisSettings::default(), format).expect("analyzer");
    let mut frames = triple_buffer(&analyzer);
    // Warm-up outside the counted region, as in the other engine tests.
    warm_up(&mut analyzer, 44_100 * 2, |a| {
        a.write_frame(frames.frame_mut());
        let _ = frames.publish();
    });
    let before = analyzer.samples_in();
    let (_handle, engine) = EngineHandle::unstarted(reader, analyzer, frames, false);
    let blocks = 8_000u64;
    let (outcome, allocs) = std::thread::scope(|scope| {
        let thread = scope.spawn(|| counted(|| engine.run()));
        let mut packet = Vec::new();
        let payload = 441 * 4;
        packet.extend_from_slice(&(payload as u32).to_be_bytes());
        packet.extend_from_slice(&7u32.to_be_bytes());
        packet.extend_from_slice(&0u64.to_be_bytes());
        packet.extend_from_slice(&0u32.to_be_bytes());
        for i in 0..441 {
            let x = ((i as f32 * 0.07).sin() * 12_000.0) as i16;
            packet.extend_from_slice(&x.to_le_bytes());
            packet.extend_from_slice(&x.to_le_bytes());
        }
        let start = Instant::now();
        for k in 0..blocks {
            let due = Duration::from_micros(k * 10_000 / 20);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
            // Now and then the block split across two writes, as a socket may deliver it.
            if k % 13 == 5 {
                theirs.write_all(&packet[..700]).expect("write");
                theirs.write_all(&packet[700..]).expect("write");
            } else {
                theirs.write_all(&packet).expect("write");
            }
        }
        // The server goes away: the capture ends, and with it the stream.
        drop(theirs);
        thread.join().expect("engine thread")
    });
    assert_eq!(outcome.exit, EngineExit::EndOfStream);
    let analyzed = outcome.analyzer.samples_in() - before;
    assert_eq!(analyzed, blocks * 441, "every block was analyzed");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations reading, converting and analyzing {blocks} blocks"
    );
}

/// Feeds `samples` of a sine (outside any counted region) until every level has computed;
/// `frame` publishes each frame that falls due.
fn warm_up(analyzer: &mut Analyzer, samples: usize, mut frame: impl FnMut(&mut Analyzer)) {
    let warm: Vec<f32> = (0..samples)
        .map(|i| ((i as f32) * 0.01).sin() * 0.3)
        .collect();
    let mut rest = &warm[..];
    while !rest.is_empty() {
        let fed = analyzer.feed(rest);
        rest = &rest[fed.consumed..];
        if fed.frame_due {
            frame(analyzer);
        }
    }
}

#[test]
fn loudness_allocates_nothing_over_an_hour() {
    // An hour of stereo in hops (as the analyzer feeds it), read at 60 frames a second, the
    // level stepping through 40 dB every 7 s so that the gates, the histogram and the range
    // keep moving; counted after the first second (the meter's buffers fill then).
    let rate = 48_000usize;
    let mut l = spektr::engine::loudness::Loudness::new(stereo(), false).expect("meter");
    let period: Vec<f32> = (0..7 * rate)
        .flat_map(|i| {
            let db = -50.0 + 40.0 * (i / rate) as f32 / 6.0;
            let x = 10f32.powf(db / 20.0) * (i as f32 * 0.131).sin();
            [x, 0.7 * x]
        })
        .collect();
    let mut tp = vec![None; 2];
    let hop = 200 * 2;
    let mut fed = 0usize;
    let mut allocs = 0;
    while fed < 3600 * rate {
        let at = (fed % (7 * rate)) * 2;
        let block = &period[at..(at + hop).min(period.len())];
        let ((), n) = counted(|| {
            l.feed(block);
            if (fed / 200).is_multiple_of(4) {
                std::hint::black_box(l.read(&mut tp));
            }
        });
        if fed >= rate {
            allocs += n;
        }
        fed += block.len() / 2;
    }
    let r = l.read(&mut tp);
    assert!(r.integrated_lufs.is_some() && r.range_lu.is_some(), "{r:?}");
    assert_eq!(allocs, 0, "{allocs} allocations over an hour of loudness");
}

#[test]
fn the_generators_output_callback_allocates_nothing() {
    // What the ALSA output's callback runs: every kind of signal, through its fade-in, a
    // change of level, a sweep's repeat, a stop and its fade-out, in 10 ms buffers.
    for spec in [
        "pink@-20",
        "white@-20",
        "sine=1000@-12",
        "sweep=20-20000@-12",
        "demo",
    ] {
        use spektr::capture::playback::{fill_output, scratch_for};
        let controls = Arc::new(spektr::generate::Controls::default());
        let spec = spektr::source::synth::SynthSpec::parse(spec).expect("spec");
        let mut signal =
            spektr::generate::Signal::new(&spec, 48_000, 2, None, controls.clone()).expect("ok");
        let mut scratch = scratch_for(2);
        let (mut f, mut i16s, mut i32s) = (vec![0.0f32; 960], vec![0i16; 960], vec![0i32; 960]);
        let (_, allocs) = counted(|| {
            for i in 0..1_500 {
                if i == 700 {
                    controls.set_gain_db(-6.0);
                }
                if i == 1_400 {
                    controls.stop();
                }
                // The callback's body, for each sample type a device may take.
                match i % 3 {
                    0 => fill_output(&mut signal, &mut scratch, &mut f),
                    1 => fill_output(&mut signal, &mut scratch, &mut i16s),
                    _ => fill_output(&mut signal, &mut scratch, &mut i32s),
                };
            }
        });
        assert_eq!(allocs, 0, "{allocs} allocations playing {spec:?}");
    }
}
