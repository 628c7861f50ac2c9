//! The capture callback without a device: format conversion and overflow behaviour.

use spektr::capture::callback::{Arrival, CallbackState, ToF32};
use spektr::config::StreamFormat;
use spektr::source::sample_ring;

#[test]
fn every_sample_format_converts_with_full_scale_at_one() {
    fn check<T: ToF32>(name: &str, min: T, zero: T, max: T, max_f: f64) {
        assert_eq!(min.to_f32(), -1.0, "{name} min");
        assert_eq!(zero.to_f32(), 0.0, "{name} zero");
        assert_eq!(max.to_f32(), max_f as f32, "{name} max");
    }
    check("i8", i8::MIN, 0, i8::MAX, 127.0 / 128.0);
    check("i16", i16::MIN, 0, i16::MAX, 32_767.0 / 32_768.0);
    check(
        "i24",
        cpal::I24::new(-(1 << 23)).expect("min"),
        cpal::I24::new(0).expect("0"),
        cpal::I24::new((1 << 23) - 1).expect("max"),
        8_388_607.0 / 8_388_608.0,
    );
    check(
        "i32",
        i32::MIN,
        0,
        i32::MAX,
        2_147_483_647.0 / 2_147_483_648.0,
    );
    check("i64", i64::MIN, 0, i64::MAX, 1.0);
    check("u8", 0u8, 128, u8::MAX, 127.0 / 128.0);
    check("u16", 0u16, 32_768, u16::MAX, 32_767.0 / 32_768.0);
    check(
        "u24",
        cpal::U24::new(0).expect("min"),
        cpal::U24::new(1 << 23).expect("mid"),
        cpal::U24::new((1 << 24) - 1).expect("max"),
        8_388_607.0 / 8_388_608.0,
    );
    check(
        "u32",
        0u32,
        1 << 31,
        u32::MAX,
        2_147_483_647.0 / 2_147_483_648.0,
    );
    check("u64", 0u64, 1 << 63, u64::MAX, 1.0);
    check("f32", -1.0f32, 0.0, 0.75, 0.75);
    check("f64", -1.0f64, 0.0, 0.75, 0.75);
    // Half scale is exact in every integer format.
    assert_eq!((-16_384i16).to_f32(), -0.5);
    assert_eq!((1i32 << 30).to_f32(), 0.5);
    assert_eq!(192u8.to_f32(), 0.5);
}

#[test]
fn a_stalled_engine_makes_the_callback_drop_whole_frames_and_count_them() {
    let format = StreamFormat {
        sample_rate: 48_000,
        channels: 2,
    };
    let (ring, mut consumer, stats) = sample_ring(format);
    let capacity_frames = consumer.buffer().capacity() / 2;
    assert_eq!(capacity_frames, 96_000, "two seconds");
    let (arrivals_tx, _arrivals) = rtrb::RingBuffer::<Arrival>::new(1024);
    let (gaps_tx, _gaps) = rtrb::RingBuffer::new(spektr::capture::callback::GAPS);
    let mut state = CallbackState::new(ring, 2, arrivals_tx, gaps_tx);
    // Left carries the frame number, right its negative minus a half: order is checkable.
    let frame_values = |frame: usize| [frame as f32, -(frame as f32) - 0.5];
    let mut sent = 0;
    // Three seconds in 10 ms buffers while nothing reads: the last second cannot fit.
    for _ in 0..300 {
        let buffer: Vec<f32> = (sent..sent + 480).flat_map(frame_values).collect();
        state.process(&buffer);
        sent += 480;
    }
    assert_eq!(
        stats.dropped_frames(),
        48_000,
        "exactly the frames that did not fit"
    );
    let chunk = consumer.read_chunk(consumer.slots()).expect("read");
    let (a, b) = chunk.as_slices();
    let got: Vec<f32> = a.iter().chain(b).copied().collect();
    chunk.commit_all();
    assert_eq!(got.len(), capacity_frames * 2);
    for (i, pair) in got.chunks_exact(2).enumerate() {
        assert_eq!(pair, frame_values(i), "frame {i}");
    }
    // Room again: later frames arrive whole and in order, after the counted gap.
    let buffer: Vec<f32> = (sent..sent + 480).flat_map(frame_values).collect();
    state.process(&buffer);
    let chunk = consumer.read_chunk(960).expect("read");
    let (a, b) = chunk.as_slices();
    let got: Vec<f32> = a.iter().chain(b).copied().collect();
    chunk.commit_all();
    for (i, pair) in got.chunks_exact(2).enumerate() {
        assert_eq!(pair, frame_values(sent + i));
    }
    assert_eq!(stats.dropped_frames(), 48_000);
}

#[test]
fn a_partial_trailing_frame_is_never_pushed() {
    let format = StreamFormat {
        sample_rate: 48_000,
        channels: 3,
    };
    let (ring, consumer, stats) = sample_ring(format);
    let (arrivals_tx, mut arrivals) = rtrb::RingBuffer::<Arrival>::new(16);
    let (gaps_tx, _gaps) = rtrb::RingBuffer::new(spektr::capture::callback::GAPS);
    let mut state = CallbackState::new(ring, 3, arrivals_tx, gaps_tx);
    state.process(&[0.1f32, 0.2, 0.3, 0.4, 0.5]);
    assert_eq!(consumer.slots(), 3);
    assert_eq!(stats.dropped_frames(), 0);
    assert_eq!(arrivals.pop().expect("arrival").end_frame, 1);
}
