//! Hostile input: a corpus of malformed and unusual audio files, built here byte by byte, each
//! given to `spektr analyze`. Every file either analyzes correctly (where the content is known,
//! its tone reads at its level) or ends with exit 3 and one `error:` line, within a time bound,
//! never a panic or a hang.
//!
//! `SPEKTR_CORPUS_DIR=dir cargo test --test integration hostile` keeps the corpus in `dir` for other tools
//! (the fuzzer's seeds, a look with a hex editor).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::common;
use super::common::{band_index, last_frame_bars, ndjson};

const BIN: &str = env!("CARGO_BIN_EXE_spektr");
/// No file, however hostile, may keep spektr longer than this.
const DEADLINE: Duration = Duration::from_secs(10);

/// What a corpus file must do.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Analyze, and the 1 kHz tone reads -6 dBFS (±0.5 dB) in the bars.
    Tone,
    /// Analyze (content not a tone: only finite, well-formed output is checked).
    Analyzes,
    /// Exit 3 with one `error:` line.
    Refused,
    /// Either of the two above: formats a reader may or may not support.
    Either,
}

/// A -6 dBFS 1 kHz sine, `frames` long, as f64 in -1..1.
fn tone(rate: u32, frames: usize) -> impl Iterator<Item = f64> {
    (0..frames).map(move |i| 0.5 * (std::f64::consts::TAU * 1000.0 * i as f64 / rate as f64).sin())
}

fn le16(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}
fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// A `fmt ` chunk body for PCM/float (`tag` 1 or 3).
fn fmt_body(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let align = channels as u32 * (bits as u32).div_ceil(8);
    let mut v = Vec::new();
    v.extend(le16(tag));
    v.extend(le16(channels));
    v.extend(le32(rate));
    v.extend(le32(rate.wrapping_mul(align)));
    v.extend(le16(align as u16));
    v.extend(le16(bits));
    v
}

/// A WAVE_FORMAT_EXTENSIBLE `fmt ` body with the PCM sub-format.
fn fmt_extensible(channels: u16, rate: u32, container: u16, valid: u16) -> Vec<u8> {
    let mut v = fmt_body(0xFFFE, channels, rate, container);
    v.extend(le16(22));
    v.extend(le16(valid));
    // One speaker position per channel, in order (what hound writes).
    v.extend(le32(((1u64 << channels.min(32)) - 1) as u32));
    // KSDATAFORMAT_SUBTYPE_PCM
    v.extend([
        1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71,
    ]);
    v
}

fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = id.to_vec();
    v.extend(le32(body.len() as u32));
    v.extend(body);
    if body.len() % 2 == 1 {
        v.push(0);
    }
    v
}

/// A RIFF/WAVE file from its chunks, with a correct RIFF size.
fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = chunks.concat();
    let mut v = b"RIFF".to_vec();
    v.extend(le32(body.len() as u32 + 4));
    v.extend(b"WAVE");
    v.extend(body);
    v
}

/// A WAV file of one fmt chunk with body `fmt` and one data chunk with body `data`.
fn wav(fmt: &[u8], data: &[u8]) -> Vec<u8> {
    riff(&[chunk(b"fmt ", fmt), chunk(b"data", data)])
}

/// `base` with `bytes` written over it at `at`.
fn patched(base: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    v[at..at + bytes.len()].copy_from_slice(bytes);
    v
}

fn pcm16(rate: u32, channels: usize, secs: f64) -> Vec<u8> {
    tone(rate, (rate as f64 * secs) as usize)
        .flat_map(|x| {
            let s = ((x * 32767.0).round() as i16).to_le_bytes();
            std::iter::repeat_n(s, channels).flatten()
        })
        .collect()
}

fn pcm24(rate: u32, channels: usize, secs: f64) -> Vec<u8> {
    tone(rate, (rate as f64 * secs) as usize)
        .flat_map(|x| {
            let s = ((x * 8_388_607.0).round() as i32).to_le_bytes();
            std::iter::repeat_n([s[0], s[1], s[2]], channels).flatten()
        })
        .collect()
}

fn wav16(rate: u32, channels: u16, secs: f64) -> Vec<u8> {
    wav(
        &fmt_body(1, channels, rate, 16),
        &pcm16(rate, channels as usize, secs),
    )
}

/// A deterministic xorshift, so the corpus is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The corpus: (name, bytes, what spektr must do with it).
fn corpus() -> Vec<(String, Vec<u8>, Expect)> {
    use Expect::*;
    let mut c: Vec<(String, Vec<u8>, Expect)> = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>, e: Expect| c.push((name.to_string(), bytes, e));
    let good = wav16(48_000, 2, 1.0);

    add("baseline-16bit-stereo.wav", good.clone(), Tone);
    add(
        "extensible-24in32-stereo.wav",
        wav(&fmt_extensible(2, 48_000, 24, 24), &pcm24(48_000, 2, 1.0)),
        Tone,
    );
    add(
        "odd-chunks-before-fmt.wav",
        riff(&[
            chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00odd!!\x00"),
            chunk(b"junk", &[0u8; 3]),
            chunk(b"fmt ", &fmt_body(1, 2, 48_000, 16)),
            chunk(b"fact", &le32(48_000)),
            chunk(b"data", &pcm16(48_000, 2, 1.0)),
        ]),
        Tone,
    );
    add(
        "riff-size-too-small.wav",
        patched(&good, 4, &le32(36)),
        Either,
    );
    add(
        "riff-size-huge.wav",
        patched(&good, 4, &le32(0xFFFF_FFF0)),
        Either,
    );
    add(
        "data-size-streaming-ffffffff.wav",
        patched(&good, 40, &le32(0xFFFF_FFFF)),
        Either,
    );
    add(
        "data-size-beyond-file.wav",
        patched(&good, 40, &le32(1 << 30)),
        Refused,
    );
    add(
        "data-odd-partial-frame.wav",
        {
            let mut data = pcm16(48_000, 2, 1.0);
            data.push(0x7F);
            wav(&fmt_body(1, 2, 48_000, 16), &data)
        },
        Either,
    );
    add(
        "zero-length-data.wav",
        wav(&fmt_body(1, 2, 48_000, 16), &[]),
        Refused,
    );
    add(
        "no-data-chunk.wav",
        riff(&[chunk(b"fmt ", &fmt_body(1, 2, 48_000, 16))]),
        Refused,
    );
    add(
        "no-fmt-chunk.wav",
        riff(&[chunk(b"data", &pcm16(48_000, 2, 0.1))]),
        Refused,
    );
    add(
        "data-before-fmt.wav",
        riff(&[
            chunk(b"data", &pcm16(48_000, 2, 0.5)),
            chunk(b"fmt ", &fmt_body(1, 2, 48_000, 16)),
        ]),
        Either,
    );
    add(
        "fmt-too-short.wav",
        wav(&fmt_body(1, 2, 48_000, 16)[..10], &pcm16(48_000, 2, 0.1)),
        Refused,
    );
    add(
        "huge-junk-chunk-first.wav",
        {
            let mut v = b"RIFF\xF0\xFF\xFF\xFFWAVEjunk".to_vec();
            v.extend(le32(0xFFFF_FFF0));
            v.extend([0u8; 64]);
            v
        },
        Refused,
    );
    add(
        "ten-thousand-tiny-chunks.wav",
        {
            let mut chunks: Vec<Vec<u8>> = (0..10_000).map(|_| chunk(b"pad ", &[0, 0])).collect();
            chunks.push(chunk(b"fmt ", &fmt_body(1, 2, 48_000, 16)));
            chunks.push(chunk(b"data", &pcm16(48_000, 2, 1.0)));
            riff(&chunks)
        },
        Tone,
    );
    add(
        "channels-18-extensible-at-8k.wav",
        wav(&fmt_extensible(18, 8_000, 16, 16), &pcm16(8_000, 18, 1.0)),
        Tone,
    );
    add(
        "channels-31-extensible-at-8k.wav",
        wav(&fmt_extensible(31, 8_000, 16, 16), &pcm16(8_000, 31, 1.0)),
        Either,
    );
    // symphonia 0.6 keeps channels in a 32-bit mask: 32 overflows a shift inside it.
    add(
        "channels-32-extensible-at-8k.wav",
        wav(&fmt_extensible(32, 8_000, 16, 16), &pcm16(8_000, 32, 1.0)),
        Either,
    );
    // Plain PCM (tag 1) beyond two channels: old writers make it, symphonia refuses it.
    add(
        "channels-6-plain-pcm-tag.wav",
        wav(&fmt_body(1, 6, 48_000, 16), &pcm16(48_000, 6, 1.0)),
        Either,
    );
    add(
        "channels-65535-claimed.wav",
        wav(&fmt_body(1, 65_535, 48_000, 16), &pcm16(48_000, 2, 0.1)),
        Refused,
    );
    add(
        "channels-zero.wav",
        wav(&fmt_body(1, 0, 48_000, 16), &pcm16(48_000, 2, 0.1)),
        Refused,
    );
    for rate in [1u32, 100, 7_999, 4_000_000_000] {
        add(
            &format!("rate-{rate}.wav"),
            wav(&fmt_body(1, 1, rate, 16), &pcm16(8_000, 1, 0.1)),
            Refused,
        );
    }
    add("rate-768000-mono.wav", wav16(768_000, 1, 0.5), Tone);
    add("rate-8000-mono.wav", wav16(8_000, 1, 1.0), Tone);
    add(
        "bits-0.wav",
        wav(&fmt_body(1, 2, 48_000, 0), &pcm16(48_000, 2, 0.1)),
        Refused,
    );
    add(
        "bits-64-int.wav",
        wav(&fmt_body(1, 2, 48_000, 64), &[0u8; 1600]),
        Refused,
    );
    add(
        "block-align-wrong.wav",
        {
            let mut f = fmt_body(1, 2, 48_000, 16);
            f[12..14].copy_from_slice(&le16(3));
            wav(&f, &pcm16(48_000, 2, 0.5))
        },
        Either,
    );
    add(
        "float64-nan-and-inf.wav",
        {
            let mut data = Vec::new();
            for (i, x) in tone(48_000, 48_000).enumerate() {
                let x = match i % 1000 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => f64::NEG_INFINITY,
                    _ => x,
                };
                data.extend(x.to_le_bytes());
            }
            wav(&fmt_body(3, 1, 48_000, 64), &data)
        },
        Analyzes,
    );
    add(
        "mp3-in-wav-tag-0x55.wav",
        wav(&fmt_body(0x55, 2, 48_000, 0), &[0xFF; 4000]),
        Refused,
    );
    add(
        "adpcm-tag-2-garbage.wav",
        wav(&fmt_body(2, 2, 48_000, 4), &[0x5A; 4000]),
        Either,
    );
    add(
        "rifx-big-endian.wav",
        patched(&wav16(48_000, 2, 0.5), 0, b"RIFX"),
        Refused,
    );
    add(
        "rf64-with-ds64.wav",
        {
            let data = pcm16(48_000, 2, 1.0);
            let mut ds64 = Vec::new();
            ds64.extend((data.len() as u64 + 36 + 28 + 8).to_le_bytes()); // riff size
            ds64.extend((data.len() as u64).to_le_bytes()); // data size
            ds64.extend(48_000u64.to_le_bytes()); // sample count
            ds64.extend(le32(0)); // table length
            let mut v = b"RF64\xFF\xFF\xFF\xFFWAVE".to_vec();
            v.extend(chunk(b"ds64", &ds64));
            v.extend(chunk(b"fmt ", &fmt_body(1, 2, 48_000, 16)));
            v.extend(b"data\xFF\xFF\xFF\xFF");
            v.extend(data);
            v
        },
        Either,
    );
    add(
        "flac-magic-then-garbage.flac",
        b"fLaC\x00\x00\x00\x22garbage garbage garbage".to_vec(),
        Refused,
    );
    add(
        "ogg-magic-then-garbage.ogg",
        b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00garbage".to_vec(),
        Refused,
    );
    add(
        "random-64k.wav",
        {
            let mut r = Rng(0x5eed);
            (0..65_536).map(|_| r.next() as u8).collect()
        },
        Refused,
    );
    add(
        "riff-header-only.wav",
        b"RIFF\x04\x00\x00\x00WAVE".to_vec(),
        Refused,
    );
    add("one-byte.wav", b"R".to_vec(), Refused);

    // Seeded header mutations of the baseline: one to four bytes of the first 64 changed.
    let mut r = Rng(0xbad5eed);
    for i in 0..60 {
        let mut v = good.clone();
        for _ in 0..1 + r.next() % 4 {
            let at = (r.next() % 64) as usize;
            v[at] = r.next() as u8;
        }
        add(&format!("mutant-{i:02}.wav"), v, Either);
    }
    c
}

/// Runs `spektr analyze` on `path`; returns (exit code, stdout, stderr), failing on a hang.
fn analyze(path: &Path) -> (Option<i32>, String, String) {
    let child = Command::new(BIN)
        .args([
            "analyze",
            path.to_str().expect("path"),
            "--bands",
            "third-octave",
            "--no-progress",
        ])
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spektr");
    let start = Instant::now();
    let out = common::wait_output(child, DEADLINE);
    assert!(start.elapsed() < DEADLINE, "{}: too slow", path.display());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Checks one file's outcome against its expectation; returns a complaint, if any.
fn check(name: &str, expect: Expect, code: Option<i32>, out: &str, err: &str) -> Option<String> {
    if err.contains("panicked") || err.contains("backtrace") || err.contains("RUST_BACKTRACE") {
        return Some(format!("{name}: panicked: {err}"));
    }
    match code {
        Some(3) => {
            let lines: Vec<&str> = err.lines().collect();
            if lines.len() != 1 || !lines[0].starts_with("error: ") {
                return Some(format!(
                    "{name}: exit 3 wants one `error:` line, got {err:?}"
                ));
            }
            if matches!(expect, Expect::Tone | Expect::Analyzes) {
                return Some(format!("{name}: refused a file it should analyze: {err}"));
            }
            None
        }
        Some(0) => {
            if expect == Expect::Refused {
                return Some(format!("{name}: analyzed a file it should refuse"));
            }
            let lines = ndjson(out);
            let frames = lines.iter().filter(|l| l["type"] == "frame").count();
            if frames == 0 || lines.last().map(|l| &l["type"]) != Some(&"summary".into()) {
                return Some(format!("{name}: exit 0 without frames and a summary"));
            }
            // serde_json refuses NaN and infinity, so parsed lines hold finite numbers only;
            // the floor is the lowest a value may be.
            let low = lines
                .iter()
                .filter(|l| l["type"] == "frame")
                .flat_map(|l| l["bars_db"].as_array().cloned().unwrap_or_default())
                .filter_map(|v| v.as_f64())
                .fold(f64::INFINITY, f64::min);
            if low < -120.0 {
                return Some(format!("{name}: a bar below the floor: {low}"));
            }
            if expect == Expect::Tone {
                let at = band_index(&lines[0], 1000.0);
                let bars = last_frame_bars(&lines);
                // Third-octave bands centre on 1 kHz; the neighbours hold the window's skirts.
                let power: f64 = [at.saturating_sub(1), at, at + 1]
                    .iter()
                    .filter_map(|&i| bars.get(i))
                    .map(|db| 10f64.powf(db / 10.0))
                    .sum();
                let level = 10.0 * power.log10();
                if (level + 6.0).abs() > 0.5 {
                    return Some(format!(
                        "{name}: the 1 kHz tone reads {level:.2} dB, not -6"
                    ));
                }
            }
            None
        }
        other => Some(format!("{name}: exit {other:?} (want 0 or 3): {err}")),
    }
}

#[test]
#[allow(clippy::print_stderr)]
fn every_hostile_file_analyzes_or_is_refused_in_one_line() {
    let keep = std::env::var_os("SPEKTR_CORPUS_DIR");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = keep.as_deref().map(Path::new).unwrap_or(tmp.path());
    std::fs::create_dir_all(dir).expect("corpus dir");
    let mut complaints = Vec::new();
    let (mut analyzed, mut refused) = (0, 0);
    for (name, bytes, expect) in corpus() {
        let path = dir.join(&name);
        std::fs::write(&path, &bytes).expect("write corpus file");
        let (code, out, err) = analyze(&path);
        match code {
            Some(0) => analyzed += 1,
            Some(3) => refused += 1,
            _ => {}
        }
        complaints.extend(check(&name, expect, code, &out, &err));
    }
    eprintln!("hostile corpus: {analyzed} analyzed, {refused} refused");
    assert!(complaints.is_empty(), "{}", complaints.join("\n"));
}
