//! Snapshot: the window as PNG and the displayed frame's numbers as CSV and JSON, in one go.
//! Runs on the UI thread (rare, user-triggered; the files are small).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::engine::BandInfo;
use crate::publish::Frame;

/// Everything a snapshot records besides the picture.
#[derive(Debug)]
pub struct SnapshotData<'a> {
    /// What was captured.
    pub source: &'a str,
    /// The bars.
    pub bands: &'a [BandInfo],
    /// The displayed frame.
    pub frame: &'a Frame,
    /// Settings in force, as JSON.
    pub settings: serde_json::Value,
    /// The picture's scale and tilt (the numbers are never tilted).
    pub display: serde_json::Value,
    /// Whether the display was frozen.
    pub frozen: bool,
    /// The stream's rate and channels, where known.
    pub sample_rate: Option<u32>,
    pub channels: Option<usize>,
    /// The unit the levels are in ("dBFS").
    pub unit: &'static str,
    /// The references shown and the difference view.
    pub references: serde_json::Value,
    /// The loudness panel's values, with the target and the values against it (`null` with
    /// loudness off).
    pub loudness: serde_json::Value,
    /// The spectrogram as shown: its matrix as CSV, and its description.
    pub spectrogram: Option<(String, serde_json::Value)>,
}

/// The folder snapshots go to by default: the user's pictures folder, or the home folder.
pub fn default_dir() -> PathBuf {
    crate::paths::app_dir(dirs::picture_dir())
}

/// A file stem in `dir` that no existing file uses: `spektr-YYYYMMDD-HHMMSS[-N]`.
pub fn unique_stem(dir: &Path, now: chrono::DateTime<chrono::Local>) -> PathBuf {
    crate::paths::unique_stem(dir, now, &["png", "csv", "json", "spectrogram.csv"])
}

/// Writes `<stem>.png` from RGBA pixels, `<stem>.csv` and `<stem>.json`. Returns the PNG path.
pub fn write(
    stem: &Path,
    rgba: &[u8],
    width: u32,
    height: u32,
    data: &SnapshotData<'_>,
    now: chrono::DateTime<chrono::Local>,
) -> std::io::Result<PathBuf> {
    if let Some(dir) = stem.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let png_path = stem.with_extension("png");
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&png_path)?);
        let mut enc = png::Encoder::new(file, width, height);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(std::io::Error::other)?;
        w.write_image_data(rgba).map_err(std::io::Error::other)?;
    }
    let f = data.frame;
    let mut csv = String::from(
        "lo_hz,center_hz,hi_hz,window_ms,level_db,peak_hold_db,strongest_hz,settled,partial\n",
    );
    for (i, b) in data.bands.iter().enumerate() {
        csv.push_str(&format!(
            "{:.3},{:.3},{:.3},{:.1},{:.2},{:.2},{:.2},{},{}\n",
            b.lo_hz,
            b.center_hz,
            b.hi_hz,
            b.window_ms,
            f.bars_db.get(i).copied().unwrap_or(f32::NAN),
            f.peak_hold_db.get(i).copied().unwrap_or(f32::NAN),
            f.peak_hz.get(i).copied().unwrap_or(0.0),
            f.settled.get(i).copied().unwrap_or(true),
            b.partial
        ));
    }
    csv.push_str("\nchannel,peak_dbfs,rms_dbfs,clipped\n");
    for (c, m) in f.channels.iter().enumerate() {
        csv.push_str(&format!(
            "{},{:.2},{:.2},{}\n",
            c + 1,
            m.peak_dbfs,
            m.rms_dbfs,
            m.clipped
        ));
    }
    if let Some(values) = data.loudness.as_object() {
        csv.push_str("\nloudness,value\n");
        for (key, v) in values {
            if v.is_object() {
                continue;
            }
            let text = match v {
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            csv.push_str(&format!("{key},{text}\n"));
        }
    }
    std::fs::File::create(stem.with_extension("csv"))?.write_all(csv.as_bytes())?;
    let spectrogram = match &data.spectrogram {
        Some((matrix, meta)) => {
            let path = stem.with_extension("spectrogram.csv");
            std::fs::write(&path, matrix)?;
            let mut meta = meta.clone();
            meta["file"] = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .into();
            meta
        }
        None => serde_json::Value::Null,
    };
    let json = serde_json::json!({
        "source": data.source,
        "time": now.to_rfc3339(),
        "audio_time_s": f.time_s,
        "frozen": data.frozen,
        "settings": data.settings,
        "display": data.display,
        "sample_rate": data.sample_rate,
        "channel_count": data.channels,
        "unit": data.unit,
        "db_convention": crate::engine::DB_CONVENTION,
        "bands": data.bands.iter().enumerate().map(|(i, b)| serde_json::json!({
            "lo_hz": b.lo_hz, "center_hz": b.center_hz, "hi_hz": b.hi_hz, "window_ms": b.window_ms,
            "level_db": f.bars_db.get(i), "peak_hold_db": f.peak_hold_db.get(i),
            "strongest_hz": f.peak_hz.get(i), "settled": f.settled.get(i), "partial": b.partial,
        })).collect::<Vec<_>>(),
        "channels": f.channels.iter().map(|m| serde_json::json!({
            "peak_dbfs": m.peak_dbfs, "rms_dbfs": m.rms_dbfs, "clipped": m.clipped,
        })).collect::<Vec<_>>(),
        "spl_meter": f.spl,
        "dropped_frames": f.dropped_frames,
        "loudness": data.loudness,
        "spectrogram": spectrogram,
        "references": data.references,
    });
    let mut text = serde_json::to_string_pretty(&json).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(stem.with_extension("json"), text)?;
    Ok(png_path)
}
