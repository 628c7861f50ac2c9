//! File names and WAV header repair.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A new recording's path in `dir`: `spektr-YYYYMMDD-HHMMSS.wav`, with `-2`, `-3`... when that
/// name (or its sidecar) is taken.
pub fn unique_recording_path(dir: &Path, now: chrono::DateTime<chrono::Local>) -> PathBuf {
    crate::paths::unique_stem(dir, now, &["wav", "json"]).with_extension("wav")
}

/// The folder recordings go to by default: the user's music folder, or the home folder.
pub fn default_dir() -> PathBuf {
    crate::paths::app_dir(dirs::audio_dir())
}

/// Where the header's fields are, as found in the file.
struct Layout {
    /// Offset of the data chunk's size field.
    data_size_at: u64,
    /// Bytes per frame.
    frame_bytes: u64,
}

fn layout(file: &mut File) -> std::io::Result<Layout> {
    let mut head = [0u8; 256];
    file.seek(SeekFrom::Start(0))?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    if n < 12 || &head[..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(bad("not a WAV file"));
    }
    let mut at = 12usize;
    let mut frame_bytes = None;
    while at + 8 <= n {
        let id = &head[at..at + 4];
        let size = u32::from_le_bytes([head[at + 4], head[at + 5], head[at + 6], head[at + 7]]);
        if id == b"fmt " && at + 24 <= n {
            frame_bytes = Some(u64::from(u16::from_le_bytes([
                head[at + 20],
                head[at + 21],
            ])));
        }
        if id == b"data" {
            let frame_bytes = frame_bytes
                .filter(|&b| b > 0)
                .ok_or_else(|| bad("no fmt chunk"))?;
            return Ok(Layout {
                data_size_at: at as u64 + 4,
                frame_bytes,
            });
        }
        at += 8 + size as usize + (size as usize & 1);
    }
    Err(bad("no data chunk in the first 256 bytes"))
}

/// Makes the header of a WAV file agree with what is on disk: the data chunk holds every
/// complete frame in the file (a partly written last frame is cut off). Only overwrites bytes
/// already allocated, so it works on a full disk. Returns the frames in the file.
pub fn repair_header(path: &Path) -> std::io::Result<u64> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let layout = layout(&mut file)?;
    let len = file.metadata()?.len();
    let data_start = layout.data_size_at + 4;
    let data = len.saturating_sub(data_start);
    let frames = data / layout.frame_bytes;
    // The 32-bit size fields cap a WAV file at 4 GiB.
    let frames = frames.min((u64::from(u32::MAX) - data_start) / layout.frame_bytes);
    let data = frames * layout.frame_bytes;
    if data_start + data < len {
        file.set_len(data_start + data)?;
    }
    file.seek(SeekFrom::Start(4))?;
    file.write_all(&((data_start + data - 8) as u32).to_le_bytes())?;
    file.seek(SeekFrom::Start(layout.data_size_at))?;
    file.write_all(&(data as u32).to_le_bytes())?;
    file.sync_data()?;
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repair_cuts_partial_frames_and_fixes_sizes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 48_000,
            bits_per_sample: 24,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).expect("create");
        for i in 0..200 {
            w.write_sample(i * 1000).expect("write");
        }
        w.finalize().expect("finalize");
        // Written after the last header update, then killed: 101 more samples (half a frame
        // at the end) are on disk that the header does not count.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("append");
        for i in 200..301i32 {
            f.write_all(&(i * 1000).to_le_bytes()[..3]).expect("append");
        }
        drop(f);
        let frames = repair_header(&path).expect("repair");
        assert_eq!(frames, 150);
        let r = hound::WavReader::open(&path).expect("open");
        let samples: Vec<i32> = r.into_samples().map(|s| s.expect("sample")).collect();
        assert_eq!(samples, (0..300).map(|i| i * 1000).collect::<Vec<_>>());
    }

    #[test]
    fn names_are_unique() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = chrono::Local::now();
        let a = unique_recording_path(dir.path(), now);
        std::fs::write(&a, b"x").expect("write");
        let b = unique_recording_path(dir.path(), now);
        assert_ne!(a, b);
        assert!(b.to_string_lossy().ends_with("-2.wav"));
    }
}
