//! The capture callback without a device: format conversion and overflow behaviour.

use spektr::capture::callback::CallbackState;
use spektr::capture::convert::ToF32;
use spektr::config::StreamFormat;
use spektr::stream::channel;

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
    let (writer, reader) = channel(format, true);
    let stats = writer.stats().clone();
    let mut consumer = reader.samples;
    let capacity_frames = consumer.buffer().capacity() / 2;
    assert_eq!(capacity_frames, 192_000, "four seconds");
    let mut state = CallbackState::new(writer, 2, 48_000);
    // Left carries the frame number, right its negative minus a half: order is checkable.
    let frame_values = |frame: usize| [frame as f32, -(frame as f32) - 0.5];
    let mut sent = 0;
    // Five seconds in 10 ms buffers while nothing reads: the last second cannot fit.
    for _ in 0..500 {
        let buffer: Vec<f32> = (sent..sent + 480).flat_map(frame_values).collect();
        state.process(&buffer, None);
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
    state.process(&buffer, None);
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
    let (writer, mut reader) = channel(format, true);
    let stats = writer.stats().clone();
    let mut state = CallbackState::new(writer, 3, 48_000);
    state.process(&[0.1f32, 0.2, 0.3, 0.4, 0.5], None);
    assert_eq!(reader.samples.slots(), 3);
    assert_eq!(stats.dropped_frames(), 0);
    assert_eq!(reader.arrival_of(0).expect("arrival").end_frame, 1);
}

/// The capture timestamp a device reports dates the block's sound: its newest frame was
/// captured `delay - block length` ago.
#[test]
fn a_reported_capture_delay_dates_the_sound() {
    let format = StreamFormat {
        sample_rate: 48_000,
        channels: 1,
    };
    let (writer, mut reader) = channel(format, true);
    let mut state = CallbackState::new(writer, 1, 48_000);
    // 480 frames (10 ms), the first captured 30 ms ago: the newest 20 ms ago.
    let before = std::time::Instant::now();
    state.process(&[0.0f32; 480], Some(std::time::Duration::from_millis(30)));
    let a = reader.arrival_of(479).expect("arrival");
    let age = a.at.duration_since(a.sound_end).as_secs_f64();
    assert!((age - 0.020).abs() < 0.0005, "{age}");
    assert!(a.at >= before);
    // No timestamp: the newest frame counts as captured when the block came.
    state.process(&[0.0f32; 480], None);
    let a = reader.arrival_of(959).expect("arrival");
    assert!(a.at.duration_since(a.sound_end) < std::time::Duration::from_millis(1));
}
