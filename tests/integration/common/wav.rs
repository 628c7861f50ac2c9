//! WAV files for tests.

/// Writes a 16-bit WAV file.
pub fn write_i16_wav(
    path: &std::path::Path,
    rate: u32,
    channels: u16,
    samples: impl IntoIterator<Item = i16>,
) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for s in samples {
        w.write_sample(s).expect("write sample");
    }
    w.finalize().expect("finalize wav");
}
