//! Real-time safety: the engine's steady state allocates nothing.
//!
//! A counting global allocator counts every allocation made on the engine thread once it is
//! armed. The real engine loop (`engine::run`) drains a real rtrb ring fed by another thread
//! and publishes into the real triple buffer, for 10 000 hops; once more while recording
//! (forwarding samples and capture gaps to a real writer thread).

use spektr::capture::callback::{Arrival, CallbackState, GAPS, Gap, ToF32};
use spektr::config::{AnalysisSettings, BandLayout, Smoothing, StreamFormat, Weighting};
use spektr::engine::{self, Analyzer, EngineControl, EngineExit, EngineInput};
use spektr::publish::frame_buffer;
use spektr::source::sample_ring;

#[path = "common/counting.rs"]
mod counting;
use counting::counted;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

const HOPS: u64 = 10_000;

fn steady_state_allocations(
    settings: AnalysisSettings,
    format: StreamFormat,
    record: bool,
) -> (u64, u64) {
    let mut analyzer = Analyzer::new(&settings, format).expect("analyzer");
    let hops_per_frame = analyzer.plan().hops_per_frame;
    let hop_frames = analyzer.plan().frame_period / hops_per_frame as f64;
    let total_frames = ((HOPS as f64 + 0.5) * hop_frames) as usize;
    let (mut input, mut output) = frame_buffer(analyzer.bands().len(), format.channels);
    let (mut ring, samples, stats) = sample_ring(format);
    let (mut arrivals_tx, arrivals) = rtrb::RingBuffer::<Arrival>::new(1 << 16);
    let (mut gaps_tx, gaps) = rtrb::RingBuffer::<Gap>::new(GAPS);
    let mut engine_input = EngineInput::live(samples, stats, arrivals, gaps);
    let control = EngineControl::default();
    control.set_gain_db(6.0);
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
        control.install_tap(tap);
        recording
    });
    let mut gap_frames = 0u64;

    // Warm-up outside the counted region: every level computes at least once.
    let warm: Vec<f32> = (0..format.sample_rate as usize * format.channels)
        .map(|i| ((i as f32) * 0.01).sin() * 0.3)
        .collect();
    let mut rest = &warm[..];
    while !rest.is_empty() {
        let fed = analyzer.feed(rest);
        rest = &rest[fed.consumed..];
        if fed.frame_due {
            analyzer.write_frame(spektr::publish::FrameSink::frame_mut(&mut input));
        }
    }
    let hops_before = analyzer.samples_in();

    let allocs = std::thread::scope(|scope| {
        let engine = scope.spawn(|| {
            counted(|| engine::run(&mut engine_input, &mut analyzer, &mut input, &control))
        });
        ring.wake_on_push(engine.thread().clone());
        // Tones, noise-like content and full-scale runs, so every branch runs.
        let ch = format.channels;
        let mut block = vec![0.0f32; 4800 * ch];
        let mut sent = 0usize;
        while sent < total_frames {
            let n = (total_frames - sent).min(4800);
            for i in 0..n {
                let t = (sent + i) as f32 / format.sample_rate as f32;
                let x = 0.5 * (std::f32::consts::TAU * 997.0 * t).sin()
                    + 0.2 * (std::f32::consts::TAU * 43.0 * t).sin();
                let x = if (sent + i) % 20_000 < 10 { 1.0 } else { x };
                block[i * ch..(i + 1) * ch].fill(x);
            }
            // Now and then a capture gap before the block, as the callback reports them.
            if sent > 0 && sent.is_multiple_of(4800 * 50) {
                let _ = gaps_tx.push(Gap {
                    at_frame: sent as u64,
                    frames: 100,
                });
                gap_frames += 100;
            }
            ring.push_blocking(&block[..n * ch]).expect("engine alive");
            sent += n;
            let _ = arrivals_tx.push(Arrival {
                end_frame: sent as u64,
                at: std::time::Instant::now(),
            });
        }
        drop(ring);
        let (exit, allocs) = engine.join().expect("engine thread");
        assert_eq!(exit, EngineExit::EndOfStream);
        allocs
    });
    assert!(output.update(), "frames were published");
    if let Some(recording) = recording {
        assert_eq!(
            recording.position(),
            total_frames as u64 + gap_frames,
            "the recording ran to the end"
        );
        engine_input.end_recording();
        let finished = recording.wait().expect("finished");
        assert!(finished.complete(), "{}", finished.message());
        assert_eq!(finished.frames, total_frames as u64 + gap_frames);
    }
    let hops = ((analyzer.samples_in() - hops_before) as f64 / hop_frames).round() as u64;
    (allocs, hops)
}

#[test]
fn engine_steady_state_allocates_nothing() {
    let stereo = StreamFormat {
        sample_rate: 48_000,
        channels: 2,
    };
    let (allocs, hops) = steady_state_allocations(AnalysisSettings::default(), stereo, false);
    assert!(hops >= HOPS, "ran {hops} hops");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations in {hops} hops (default settings)"
    );
    let (allocs, hops) = steady_state_allocations(AnalysisSettings::default(), stereo, true);
    assert!(hops >= HOPS, "ran {hops} hops");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations in {hops} hops while recording"
    );

    let busy = AnalysisSettings {
        bands: BandLayout::ThirdOctave,
        weighting: Weighting::A,
        smoothing: Smoothing::Fast,
        ..Default::default()
    };
    let (allocs, hops) = steady_state_allocations(
        busy,
        StreamFormat {
            sample_rate: 44_100,
            channels: 6,
        },
        false,
    );
    assert!(hops >= HOPS, "ran {hops} hops");
    assert_eq!(
        allocs, 0,
        "{allocs} allocations in {hops} hops (third-octave, A, fast, 6 channels)"
    );
}

#[test]
fn the_counter_sees_allocations() {
    // Proves the allocator above is installed and counting: an allocation while armed counts.
    let (v, allocs) = counted(|| Vec::<u8>::with_capacity(10));
    drop(v);
    assert_eq!(allocs, 1);
}

/// Runs the real callback body over `buffers` buffers of `T`, with the ring overflowing part of
/// the time, and returns the allocations it made.
fn callback_allocations<T: ToF32 + Default>(make: impl Fn(usize) -> T) -> u64 {
    let format = StreamFormat {
        sample_rate: 48_000,
        channels: 2,
    };
    let (ring, mut consumer, _stats) = sample_ring(format);
    let (arrivals_tx, mut arrivals) = rtrb::RingBuffer::<Arrival>::new(64);
    let (gaps_tx, mut gaps) = rtrb::RingBuffer::<Gap>::new(GAPS);
    let mut state = CallbackState::new(ring, 2, arrivals_tx, gaps_tx);
    let buffer: Vec<T> = (0..960).map(&make).collect();
    let (_, allocs) = counted(|| {
        for i in 0..5_000 {
            state.process(&buffer);
            // Drain now and then: the ring alternates between room and overflow.
            if i % 300 == 299 {
                if let Ok(chunk) = consumer.read_chunk(consumer.slots()) {
                    chunk.commit_all();
                }
                while arrivals.pop().is_ok() {}
                while gaps.pop().is_ok() {}
            }
        }
    });
    allocs
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
