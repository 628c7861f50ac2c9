//! Audio files as a source, decoded with Symphonia (WAV in every PCM and float format, plus
//! FLAC, Ogg Vorbis and ADPCM WAV).
//!
//! Runs on the source thread. A file that is truncated, damaged or not audio ends with a
//! [`SourceError`] that names the file and, where it matters, the position.

use std::fs::File;
use std::path::Path;

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use super::{Source, SourceError};
use crate::config::{SampleKind, StreamFormat};

/// An open audio file.
pub struct FileSource {
    path: String,
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    format: StreamFormat,
    total: Option<u64>,
    decoded: u64,
    pending: Vec<f32>,
    pending_pos: usize,
    done: bool,
    /// Plain interleaved PCM that is converted here, not by the decoder.
    raw: Option<RawPcm>,
    /// What the file holds, for headers: "WAV, 24-bit integer" and the like.
    pub description: String,
    /// How the samples are stored (what a recording of this file keeps).
    pub kind: SampleKind,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("path", &self.path)
            .field("format", &self.format)
            .finish()
    }
}

fn describe(err: &SymError) -> String {
    match err {
        SymError::IoError(e) => e.to_string(),
        SymError::DecodeError(m) => format!("damaged data ({m})"),
        SymError::Unsupported(m) => format!("unsupported ({m})"),
        SymError::LimitError(m) => format!("exceeds a safety limit ({m})"),
        other => other.to_string(),
    }
}

/// Why a file no reader took (whose first bytes are `magic`) is refused: WAV variants
/// spektr's reader lacks get named.
fn unknown_format(magic: [u8; 4]) -> String {
    match &magic {
        b"RIFX" => "a big-endian (RIFX) WAV, which spektr cannot read yet".into(),
        b"RF64" | b"BW64" => "an RF64/BW64 WAV, which spektr cannot read yet".into(),
        _ => "not an audio file spektr can read (WAV, FLAC or Ogg Vorbis)".into(),
    }
}

impl FileSource {
    /// Opens and probes `path`; fails with a reason a person can act on.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| SourceError::Open {
            path: name.clone(),
            reason: e.to_string(),
        })?;
        if meta.is_dir() {
            return Err(SourceError::Open {
                path: name,
                reason: "is a directory".into(),
            });
        }
        if meta.len() == 0 {
            return Err(SourceError::Unsupported {
                path: name,
                reason: "the file is empty".into(),
            });
        }
        let open_err = |e: std::io::Error| SourceError::Open {
            path: name.clone(),
            reason: e.to_string(),
        };
        let mut file = File::open(path).map_err(open_err)?;
        let mut magic = [0u8; 4];
        // A file shorter than that keeps zeros: the probe says what is wrong with it.
        let _ = std::io::Read::read_exact(&mut file, &mut magic);
        std::io::Seek::rewind(&mut file).map_err(open_err)?;
        let ext = path.extension().and_then(|e| e.to_str());
        Self::from_media(name.clone(), Box::new(file), ext, magic)
    }

    /// Reads audio held in memory, as if it were a file called `name` (for the fuzz targets,
    /// and anything that has the bytes already).
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Self, SourceError> {
        let magic: [u8; 4] = bytes
            .get(..4)
            .and_then(|m| m.try_into().ok())
            .unwrap_or_default();
        let ext = Path::new(name).extension().and_then(|e| e.to_str());
        Self::from_media(
            name.to_string(),
            Box::new(std::io::Cursor::new(bytes)),
            ext,
            magic,
        )
    }

    fn from_media(
        name: String,
        media: Box<dyn symphonia::core::io::MediaSource>,
        ext: Option<&str>,
        magic: [u8; 4],
    ) -> Result<Self, SourceError> {
        let mss = MediaSourceStream::new(media, MediaSourceStreamOptions::default());
        let mut hint = Hint::new();
        if let Some(ext) = ext {
            hint.with_extension(ext);
        }
        let unsupported = |reason: String| SourceError::Unsupported {
            path: name.clone(),
            reason,
        };
        // NOTE: symphonia can panic on absurd header fields (65535 channels overflowed a
        // multiplication in 0.6.1): its calls are fenced, so such a file gets one line too.
        let damaged = |what: &str, panic: String| SourceError::Unsupported {
            path: name.clone(),
            reason: format!("{what}: damaged or unsupported data ({panic})"),
        };
        let reader = crate::guard::fenced(|| {
            symphonia::default::get_probe().probe(
                &hint,
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
        })
        .map_err(|p| damaged("cannot read the header", p))?
        .map_err(|e| match e {
            SymError::Unsupported(_) => unsupported(unknown_format(magic)),
            other => unsupported(format!("cannot read the header: {}", describe(&other))),
        })?;
        let track = reader
            .default_track(TrackType::Audio)
            .ok_or_else(|| unsupported("has no audio track".into()))?;
        let track_id = track.id;
        let total = track.num_frames;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| unsupported("has no audio parameters".into()))?
            .clone();
        let sample_rate = params
            .sample_rate
            .ok_or_else(|| unsupported("the header gives no sample rate".into()))?;
        let channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(0);
        let format = StreamFormat {
            sample_rate,
            channels,
        }
        .validate()
        .map_err(|e| unsupported(e.to_string()))?;
        let decoder = crate::guard::fenced(|| {
            symphonia::default::get_codecs()
                .make_audio_decoder(&params, &AudioDecoderOptions::default())
        })
        .map_err(|p| damaged("cannot decode", p))?
        .map_err(|e| unsupported(format!("cannot decode: {}", describe(&e))))?;
        if total == Some(0) {
            return Err(unsupported(
                "holds no audio (the data chunk is empty)".into(),
            ));
        }
        let sample_kind = file_kind(params.codec, params.sample_format, params.bits_per_sample);
        Ok(FileSource {
            description: sample_kind.to_string(),
            kind: sample_kind,
            path: name,
            reader,
            decoder,
            track_id,
            format,
            total,
            decoded: 0,
            pending: Vec::new(),
            pending_pos: 0,
            done: false,
            raw: RawPcm::of(&params),
        })
    }

    fn seconds(&self, frames: u64) -> f64 {
        frames as f64 / f64::from(self.format.sample_rate)
    }

    /// Decodes the next packet into `pending`; false at the end.
    fn refill(&mut self) -> Result<bool, SourceError> {
        loop {
            let at_s = self.seconds(self.decoded);
            let corrupt = |path: &str, reason: String| SourceError::Corrupt {
                path: path.to_string(),
                reason: format!("at {at_s:.2} s: {reason}"),
            };
            let next = crate::guard::fenced(|| self.reader.next_packet())
                .map_err(|p| corrupt(&self.path, format!("damaged data ({p})")))?;
            let packet = match next {
                Ok(Some(p)) => p,
                Ok(None) => return self.finish(None),
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return self.finish(Some("the data ends early"));
                }
                Err(e) => return Err(corrupt(&self.path, describe(&e))),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            if let Some(raw) = self.raw {
                let frames = raw.convert(&packet.data, self.format.channels, &mut self.pending);
                if frames == 0 {
                    continue;
                }
                self.decoded += frames as u64;
                self.pending_pos = 0;
                return Ok(true);
            }
            let path = &self.path;
            let buf = crate::guard::fenced(|| self.decoder.decode(&packet))
                .map_err(|p| corrupt(path, format!("damaged data ({p})")))?
                .map_err(|e| corrupt(path, describe(&e)))?;
            if buf.frames() == 0 {
                continue;
            }
            if buf.spec().channels().count() != self.format.channels {
                return Err(SourceError::Corrupt {
                    path: path.clone(),
                    reason: format!("at {at_s:.2} s: the channel count changes"),
                });
            }
            self.decoded += buf.frames() as u64;
            buf.copy_to_vec_interleaved(&mut self.pending);
            self.pending_pos = 0;
            return Ok(true);
        }
    }

    fn finish(&mut self, early: Option<&str>) -> Result<bool, SourceError> {
        self.done = true;
        match self.total {
            Some(total) if self.decoded < total => Err(SourceError::Corrupt {
                path: self.path.clone(),
                reason: format!(
                    "truncated: the audio stops at {:.2} s but the header promises {:.2} s",
                    self.seconds(self.decoded),
                    self.seconds(total)
                ),
            }),
            _ if self.decoded == 0 => Err(SourceError::Unsupported {
                path: self.path.clone(),
                reason: early.map_or("holds no audio".into(), |e| format!("holds no audio ({e})")),
            }),
            _ => Ok(false),
        }
    }
}

impl Source for FileSource {
    fn format(&self) -> StreamFormat {
        self.format
    }

    fn total_frames(&self) -> Option<u64> {
        self.total
    }

    fn name(&self) -> String {
        self.path.clone()
    }

    fn sample_kind(&self) -> SampleKind {
        self.kind
    }

    fn description(&self) -> String {
        self.description.clone()
    }

    fn read(&mut self, out: &mut [f32]) -> Result<usize, SourceError> {
        let ch = self.format.channels;
        let mut written = 0;
        while written < out.len() {
            if self.pending_pos == self.pending.len() && (self.done || !self.refill()?) {
                break;
            }
            let n = (self.pending.len() - self.pending_pos).min(out.len() - written);
            out[written..written + n]
                .copy_from_slice(&self.pending[self.pending_pos..self.pending_pos + n]);
            self.pending_pos += n;
            written += n;
        }
        Ok(written / ch)
    }
}

/// Interleaved little-endian PCM in one of the usual WAV layouts. Symphonia's PCM decoder
/// reads such a packet a sample at a time into planes, which are then interleaved and
/// converted to f32 again: by `perf`, 30 % of `spektr loudness`'s time on a 24-bit WAV. Here
/// the packet's bytes become f32 in one pass, to the same values (a test compares them with
/// the decoder's). Other layouts and codecs go through the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RawPcm {
    S16,
    S24,
    F32,
}

impl RawPcm {
    /// The layout of a track with `params`, where it is one of these with every bit used.
    fn of(params: &symphonia::core::codecs::audio::AudioCodecParameters) -> Option<Self> {
        use symphonia::core::codecs::audio::well_known as w;
        let raw = match params.codec {
            c if c == w::CODEC_ID_PCM_S16LE => RawPcm::S16,
            c if c == w::CODEC_ID_PCM_S24LE => RawPcm::S24,
            c if c == w::CODEC_ID_PCM_F32LE => RawPcm::F32,
            _ => return None,
        };
        let bits = 8 * raw.bytes() as u32;
        let full = |b: Option<u32>| b.is_none_or(|b| b == bits);
        (full(params.bits_per_sample) && full(params.bits_per_coded_sample)).then_some(raw)
    }

    fn bytes(self) -> usize {
        match self {
            RawPcm::S16 => 2,
            RawPcm::S24 => 3,
            RawPcm::F32 => 4,
        }
    }

    /// Converts `data`'s whole frames into `out` (replacing what it held), as Symphonia's
    /// decoder and sample conversion do (a partial frame at the end is left out, as there);
    /// returns the frames.
    fn convert(self, data: &[u8], channels: usize, out: &mut Vec<f32>) -> usize {
        let frames = data.len() / (self.bytes() * channels);
        let data = &data[..frames * channels * self.bytes()];
        out.clear();
        match self {
            RawPcm::S16 => out.extend(
                data.chunks_exact(2)
                    .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0),
            ),
            RawPcm::S24 => out
                .extend(data.chunks_exact(3).map(|b| {
                    (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 / 8_388_608.0
                })),
            RawPcm::F32 => out.extend(
                data.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            ),
        }
        frames
    }
}

/// How a file's samples are stored: the format symphonia decodes, narrowed to the bits the
/// header declares (a 24-bit WAV in 32-bit containers is 24-bit). Lossy codecs decode to float.
fn file_kind(
    codec: symphonia::core::codecs::audio::AudioCodecId,
    format: Option<symphonia::core::audio::sample::SampleFormat>,
    bits: Option<u32>,
) -> SampleKind {
    use symphonia::core::audio::sample::SampleFormat as F;
    use symphonia::core::codecs::audio::well_known as w;
    if [
        w::CODEC_ID_PCM_F32LE,
        w::CODEC_ID_PCM_F32BE,
        w::CODEC_ID_PCM_F32LE_PLANAR,
        w::CODEC_ID_PCM_F32BE_PLANAR,
    ]
    .contains(&codec)
    {
        return SampleKind::Float(32);
    }
    if [
        w::CODEC_ID_PCM_F64LE,
        w::CODEC_ID_PCM_F64BE,
        w::CODEC_ID_PCM_F64LE_PLANAR,
        w::CODEC_ID_PCM_F64BE_PLANAR,
    ]
    .contains(&codec)
    {
        return SampleKind::Float(64);
    }
    if codec == w::CODEC_ID_VORBIS {
        return SampleKind::Float(32);
    }
    let width = match format {
        Some(F::U8 | F::S8) => 8,
        Some(F::U16 | F::S16) => 16,
        Some(F::U24 | F::S24) => 24,
        Some(F::U32 | F::S32) => 32,
        Some(F::F64) => return SampleKind::Float(64),
        Some(F::F32) => return SampleKind::Float(32),
        None => match bits {
            Some(b) => return SampleKind::Int(b.clamp(8, 32) as u16),
            None => return SampleKind::Float(32),
        },
    };
    SampleKind::Int(bits.map_or(width, |b| b.clamp(1, width as u32) as u16))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAV of `channels` channels in `spec`'s format holding every extreme and a sweep.
    fn wav(bits: u16, float: bool, channels: u16) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: 48_000,
            bits_per_sample: bits,
            sample_format: if float {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        };
        let mut bytes = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut bytes, spec).expect("writer");
        let max = ((1i64 << (bits - 1)) - 1) as i32;
        for i in 0..5_000i32 * i32::from(channels) {
            if float {
                let x = [(i as f32 * 0.013).sin(), 1.0, -1.0, 1e-30, -0.0][(i % 5) as usize];
                w.write_sample(x).expect("sample");
            } else {
                let x = [i * 7919 % max, max, -max - 1, 0, -1][(i % 5) as usize];
                w.write_sample(x).expect("sample");
            }
        }
        w.finalize().expect("finalize");
        bytes.into_inner()
    }

    fn read_all(mut source: FileSource) -> Vec<f32> {
        let mut out = Vec::new();
        let mut block = vec![0.0f32; 1000 * source.format.channels];
        loop {
            let n = source.read(&mut block).expect("read");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&block[..n * source.format.channels]);
        }
        out
    }

    #[test]
    fn plain_pcm_converts_to_the_decoders_values() {
        for (bits, float, raw) in [
            (16, false, RawPcm::S16),
            (24, false, RawPcm::S24),
            (32, true, RawPcm::F32),
        ] {
            for channels in [1, 2, 6] {
                let bytes = wav(bits, float, channels);
                let fast = FileSource::from_bytes("x.wav", bytes.clone()).expect("open");
                assert_eq!(fast.raw, Some(raw), "{bits} bits");
                let mut slow = FileSource::from_bytes("x.wav", bytes).expect("open");
                slow.raw = None;
                let (fast, slow) = (read_all(fast), read_all(slow));
                assert_eq!(fast.len(), 5_000 * usize::from(channels));
                let same = fast
                    .iter()
                    .zip(&slow)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same && fast.len() == slow.len(),
                    "{bits} bits, {channels} channels"
                );
            }
        }
    }

    #[test]
    fn other_layouts_go_through_the_decoder() {
        for (bits, float) in [(8, false), (32, false)] {
            let source = FileSource::from_bytes("x.wav", wav(bits, float, 2)).expect("open");
            assert_eq!(source.raw, None, "{bits} bits");
        }
    }
}
