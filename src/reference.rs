//! Reference traces: a spectrum kept to compare the live one against (an RTA's stored trace).
//!
//! A reference is a level per band with the bands it was measured in. It comes from the
//! window's spectrum (the T key), from `spektr analyze --save-reference`, or from a snapshot's
//! JSON or CSV; all of them are read by [`Reference::load`]. A reference compares only with
//! an analysis of the same bands, rate and unit: anything else is refused with one line
//! (re-binning a spectrum into other bands would invent levels the reference never measured).
//!
//! The file it is kept in is the snapshot's shape cut down to what a comparison needs:
//!
//! ```json
//! {"type": "spektr-reference", "version": 1, "name": "before the bass trap",
//!  "source": "alsa:hw:1", "time": "2026-12-04T20:31:07+00:00", "unit": "dBFS",
//!  "sample_rate": 48000,
//!  "bands": [{"lo_hz": 17.8, "center_hz": 20.0, "hi_hz": 22.4, "level_db": -61.25}, ...]}
//! ```
//!
//! Levels are written with the digits that read back as the same 32-bit value, so a reference
//! from JSON holds exactly the levels it was made from; a snapshot's CSV holds them to 0.01 dB.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::BandInfo;

/// The window shows at most this many references at once.
pub const MAX_REFERENCES: usize = 4;
/// Larger files are not references (a snapshot's JSON is a few KB per hundred bands).
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// More bands than any layout spektr makes (1/24 octave from 1 Hz to 1 MHz is 480).
pub const MAX_BANDS: usize = 4096;
/// Levels outside this are not measurements, dB.
pub const LEVEL_LIMIT_DB: f64 = 400.0;
/// The difference view's scale, dB.
pub const DIFF_RANGE_DB: (f32, f32) = (-24.0, 24.0);
/// A reference's name is cut to this many characters.
pub const MAX_NAME_CHARS: usize = 40;
/// Band edges agree when they differ by no more than this (a snapshot's CSV rounds them to
/// 0.001 Hz), Hz.
const EDGE_TOLERANCE_HZ: f64 = 0.01;

/// One band of a reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RefBand {
    /// Lower edge, Hz.
    pub lo_hz: f64,
    /// Centre, Hz.
    pub center_hz: f64,
    /// Upper edge, Hz.
    pub hi_hz: f64,
    /// The level, in the reference's unit.
    pub level_db: f32,
}

/// A stored spectrum.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// What the user calls it ("Ref 1", "before the bass trap").
    pub name: String,
    /// What was measured (the source's name), where known.
    pub source: String,
    /// When, RFC 3339, where known.
    pub time: String,
    /// The levels' unit: "dBFS" or "dB SPL".
    pub unit: String,
    /// The analysis' sample rate, where known (a snapshot's CSV does not say).
    pub sample_rate: Option<u32>,
    /// The bands and their levels, lowest first.
    pub bands: Vec<RefBand>,
}

/// Why a file cannot be used as a reference: one line for the user.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("reference {file}: {reason}")]
pub struct RefError {
    /// The file, as given.
    pub file: String,
    /// What is wrong with it.
    pub reason: String,
    /// It could not be read at all (missing, a folder, no permission), as against read and
    /// found wrong.
    pub unreadable: bool,
}

impl Reference {
    /// A reference of `levels` measured in `bands`.
    pub fn from_levels(
        name: &str,
        source: &str,
        unit: &str,
        sample_rate: u32,
        bands: &[BandInfo],
        levels: &[f32],
    ) -> Self {
        Reference {
            name: clean_name(name),
            source: source.to_owned(),
            time: chrono::Local::now().to_rfc3339(),
            unit: unit.to_owned(),
            sample_rate: Some(sample_rate),
            bands: bands
                .iter()
                .zip(levels)
                .map(|(b, &level_db)| RefBand {
                    lo_hz: b.lo_hz,
                    center_hz: b.center_hz,
                    hi_hz: b.hi_hz,
                    level_db,
                })
                .collect(),
        }
    }

    /// Reads a reference, a snapshot's JSON or a snapshot's CSV at `path`.
    pub fn load(path: &Path) -> Result<Self, RefError> {
        use crate::paths::SmallFileError;
        let name = path.display().to_string();
        let bytes = crate::paths::read_small(path, MAX_FILE_BYTES).map_err(|e| match e {
            SmallFileError::Unreadable(reason) => RefError {
                file: name.clone(),
                reason,
                unreadable: true,
            },
            SmallFileError::TooLarge => RefError {
                file: name.clone(),
                reason: format!(
                    "larger than {} MB: not a snapshot or a reference",
                    MAX_FILE_BYTES >> 20
                ),
                unreadable: false,
            },
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::parse(&bytes, &name, &stem)
    }

    /// Parses a reference's, a snapshot JSON's or a snapshot CSV's bytes; `file` names it in
    /// errors, `stem` names the reference when the file does not.
    pub fn parse(bytes: &[u8], file: &str, stem: &str) -> Result<Self, RefError> {
        let fail = |reason: String| RefError {
            file: file.to_owned(),
            reason,
            unreadable: false,
        };
        if bytes.is_empty() {
            return Err(fail("empty file".into()));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| fail("not text: a snapshot's .json or .csv is".into()))?;
        let reference = if text.trim_start().starts_with('{') {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| fail(format!("not valid JSON ({e})")))?;
            from_json(&value, stem)
        } else {
            from_csv(text, stem)
        }
        .map_err(&fail)?;
        reference.check().map_err(fail)?;
        Ok(reference)
    }

    /// A reference from JSON already parsed (an entry of the window's list); `stem` names it
    /// when the JSON does not.
    pub fn from_value(value: &serde_json::Value, stem: &str) -> Result<Self, String> {
        let r = from_json(value, stem)?;
        r.check()?;
        Ok(r)
    }

    /// The reference's own checks: bands in order, numbers in range.
    fn check(&self) -> Result<(), String> {
        if self.bands.is_empty() {
            return Err("no bands".into());
        }
        if self.bands.len() > MAX_BANDS {
            return Err(format!(
                "{} bands: more than {MAX_BANDS}, not a spektr spectrum",
                self.bands.len()
            ));
        }
        if !matches!(self.unit.as_str(), "dBFS" | "dB SPL") {
            return Err(format!(
                "unit \"{}\": a reference is in dBFS or dB SPL",
                self.unit.escape_debug()
            ));
        }
        if let Some(rate) = self.sample_rate
            && !crate::config::SAMPLE_RATE_RANGE.contains(&rate)
        {
            return Err(format!(
                "sample rate {rate} Hz is outside {}..={} Hz",
                crate::config::SAMPLE_RATE_RANGE.start(),
                crate::config::SAMPLE_RATE_RANGE.end()
            ));
        }
        let mut last = 0.0;
        for (i, b) in self.bands.iter().enumerate() {
            let n = i + 1;
            let edges = [b.lo_hz, b.center_hz, b.hi_hz];
            if edges
                .iter()
                .any(|v| !v.is_finite() || *v <= 0.0 || *v > 1e6)
            {
                return Err(format!("band {n}: its edges must be between 0 and 1 MHz"));
            }
            if !(b.lo_hz <= b.center_hz && b.center_hz <= b.hi_hz) {
                return Err(format!("band {n}: its centre is not between its edges"));
            }
            if b.center_hz <= last {
                return Err(format!(
                    "band {n}: the bands are not in rising order of frequency"
                ));
            }
            last = b.center_hz;
            if !b.level_db.is_finite() || f64::from(b.level_db).abs() > LEVEL_LIMIT_DB {
                return Err(format!(
                    "band {n}: level {} is not a measurement",
                    b.level_db
                ));
            }
        }
        Ok(())
    }

    /// Whether this reference compares with an analysis of `bands` at `sample_rate` in
    /// `unit`; if not, why, in words (the caller says which settings to change).
    pub fn fits(&self, bands: &[BandInfo], sample_rate: u32, unit: &str) -> Result<(), String> {
        let same = bands.len() == self.bands.len()
            && bands.iter().zip(&self.bands).all(|(a, b)| {
                (a.lo_hz - b.lo_hz).abs() <= EDGE_TOLERANCE_HZ
                    && (a.center_hz - b.center_hz).abs() <= EDGE_TOLERANCE_HZ
                    && (a.hi_hz - b.hi_hz).abs() <= EDGE_TOLERANCE_HZ
            });
        if !same {
            return Err(format!(
                "\"{}\" was measured in {}; this analysis has {}",
                self.name,
                layout_words(self.bands.iter().map(|b| (b.lo_hz, b.hi_hz))),
                layout_words(bands.iter().map(|b| (b.lo_hz, b.hi_hz))),
            ));
        }
        if let Some(rate) = self.sample_rate
            && rate != sample_rate
        {
            return Err(format!(
                "\"{}\" was measured at {rate} Hz; this input runs at {sample_rate} Hz",
                self.name
            ));
        }
        if self.unit != unit {
            return Err(format!(
                "\"{}\" is in {}; this analysis reads {unit}",
                self.name, self.unit
            ));
        }
        Ok(())
    }

    /// The levels, band by band.
    pub fn levels(&self) -> impl ExactSizeIterator<Item = f32> + '_ {
        self.bands.iter().map(|b| b.level_db)
    }

    /// The reference as JSON (its file's contents).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "spektr-reference",
            "version": 1,
            "name": self.name,
            "source": self.source,
            "time": self.time,
            "unit": self.unit,
            "sample_rate": self.sample_rate,
            "bands": self.bands,
        })
    }

    /// Writes the reference to `path` (whole or not at all: a temporary file, then renamed).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut text =
            serde_json::to_string_pretty(&self.to_json()).map_err(std::io::Error::other)?;
        text.push('\n');
        write_whole(path, text.as_bytes())
    }
}

/// Writes `bytes` to `path` through a temporary file beside it, so that a reader (or a crash)
/// sees the old file or the new one, never half of one.
pub fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// A name as shown: one line, at most [`MAX_NAME_CHARS`].
pub fn clean_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .chars()
        .take(MAX_NAME_CHARS)
        .collect();
    name.trim_end().to_owned()
}

/// A source's or a time's words as shown: one line, at most 200 characters.
fn clean_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// "32 bands of 17.8 to 22387 Hz".
fn layout_words(mut bands: impl ExactSizeIterator<Item = (f64, f64)>) -> String {
    let n = bands.len();
    let lo = bands.next().map_or(0.0, |b| b.0);
    let hi = bands.last().map_or(lo, |b| b.1);
    format!("{n} bands of {lo:.1} to {hi:.0} Hz")
}

fn number(v: &serde_json::Value, key: &str, n: usize) -> Result<f64, String> {
    v.get(key)
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| format!("band {n} has no number \"{key}\""))
}

/// A reference from a reference's or a snapshot's JSON.
fn from_json(value: &serde_json::Value, stem: &str) -> Result<Reference, String> {
    let bands = value.get("bands").and_then(|b| b.as_array()).ok_or(
        "no \"bands\" list: not a spektr snapshot or reference (a snapshot's .json has one)",
    )?;
    if bands.len() > MAX_BANDS {
        return Err(format!(
            "{} bands: more than {MAX_BANDS}, not a spektr spectrum",
            bands.len()
        ));
    }
    let bands = bands
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let n = i + 1;
            Ok(RefBand {
                lo_hz: number(b, "lo_hz", n)?,
                center_hz: number(b, "center_hz", n)?,
                hi_hz: number(b, "hi_hz", n)?,
                level_db: number(b, "level_db", n)? as f32,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let sample_rate = match value.get("sample_rate") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|r| u32::try_from(r).ok())
                .ok_or("\"sample_rate\" is not a whole number of Hz")?,
        ),
    };
    let name = clean_name(&text("name").unwrap_or_default());
    Ok(Reference {
        name: if name.is_empty() {
            clean_name(stem)
        } else {
            name
        },
        source: clean_text(&text("source").unwrap_or_default()),
        time: clean_text(&text("time").unwrap_or_default()),
        // Snapshots from before calibration are in dBFS.
        unit: text("unit").unwrap_or_else(|| "dBFS".into()),
        sample_rate,
        bands,
    })
}

/// A reference from a snapshot's CSV: its first table (a header with `lo_hz`, `center_hz`,
/// `hi_hz` and `level_db`, a row per band, up to the first empty line).
fn from_csv(text: &str, stem: &str) -> Result<Reference, String> {
    let mut lines = text.lines().map(str::trim).skip_while(|l| l.is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or("empty file")?
        .split(',')
        .map(str::trim)
        .collect();
    let column = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| {
            format!(
                "no \"{name}\" column: not a spektr snapshot's CSV or JSON (its first line names \
                 lo_hz, center_hz, hi_hz and level_db)"
            )
        })
    };
    let (lo, centre, hi, level) = (
        column("lo_hz")?,
        column("center_hz")?,
        column("hi_hz")?,
        column("level_db")?,
    );
    let mut bands = Vec::new();
    for (i, line) in lines.take_while(|l| !l.is_empty()).enumerate() {
        let n = i + 1;
        if n > MAX_BANDS {
            return Err(format!(
                "more than {MAX_BANDS} bands: not a spektr spectrum"
            ));
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let cell = |c: usize, what: &str| -> Result<f64, String> {
            cells
                .get(c)
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| format!("band {n}: no number for {what}"))
        };
        bands.push(RefBand {
            lo_hz: cell(lo, "lo_hz")?,
            center_hz: cell(centre, "center_hz")?,
            hi_hz: cell(hi, "hi_hz")?,
            level_db: cell(level, "level_db")? as f32,
        });
    }
    Ok(Reference {
        name: clean_name(stem),
        source: String::new(),
        time: String::new(),
        unit: "dBFS".into(),
        sample_rate: None,
        bands,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bands(n: usize) -> Vec<BandInfo> {
        (0..n)
            .map(|i| {
                let c = 100.0 * 2f64.powi(i as i32);
                BandInfo {
                    lo_hz: c / 2f64.sqrt(),
                    center_hz: c,
                    hi_hz: c * 2f64.sqrt(),
                    nominal_hz: None,
                    partial: false,
                    window_ms: 100.0,
                    update_ms: 10.0,
                    bins: 4.0,
                    settled_s: 0.1,
                    edge_window_ms: None,
                }
            })
            .collect()
    }

    fn parse(text: &str) -> Result<Reference, RefError> {
        Reference::parse(text.as_bytes(), "r.json", "r")
    }

    #[test]
    fn a_saved_reference_reads_back_exactly() {
        let levels = [-12.345_679_f32, -0.1, -96.0, 3.0e-7];
        let r = Reference::from_levels("room", "synth:demo", "dBFS", 48_000, &bands(4), &levels);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("room.json");
        r.save(&path).expect("save");
        let back = Reference::load(&path).expect("load");
        assert_eq!(back, r);
        assert!(back.levels().eq(levels));
        assert!(r.fits(&bands(4), 48_000, "dBFS").is_ok());
    }

    #[test]
    fn another_layout_rate_or_unit_is_refused_in_words() {
        let r = Reference::from_levels("room", "", "dBFS", 48_000, &bands(4), &[0.0; 4]);
        let e = r.fits(&bands(5), 48_000, "dBFS").unwrap_err();
        assert_eq!(
            e,
            "\"room\" was measured in 4 bands of 70.7 to 1131 Hz; this analysis has 5 bands of \
             70.7 to 2263 Hz"
        );
        let e = r.fits(&bands(4), 44_100, "dBFS").unwrap_err();
        assert!(
            e.contains("measured at 48000 Hz; this input runs at 44100 Hz"),
            "{e}"
        );
        let e = r.fits(&bands(4), 48_000, "dB SPL").unwrap_err();
        assert!(e.contains("is in dBFS; this analysis reads dB SPL"), "{e}");
    }

    #[test]
    fn a_snapshot_csv_is_read_to_its_first_empty_line() {
        let csv = "lo_hz,center_hz,hi_hz,window_ms,level_db,peak_hold_db\n\
                   70.711,100.000,141.421,80.0,-20.50,-18.00\n\
                   141.421,200.000,282.843,40.0,-30.25,-29.00\n\
                   \nchannel,peak_dbfs,rms_dbfs,clipped\n1,-3.00,-6.00,false\n";
        let r = Reference::parse(csv.as_bytes(), "snap.csv", "snap").expect("csv");
        assert_eq!(r.name, "snap");
        assert!(r.levels().eq([-20.5, -30.25]));
        assert!(
            r.fits(&bands(2), 44_100, "dBFS").is_ok(),
            "a CSV names no rate"
        );
    }

    #[test]
    fn hostile_files_get_one_line_each() {
        let band = |c: &str| format!("{{\"bands\":[{c}]}}");
        let cases = [
            ("".to_string(), "empty file"),
            ("hello, world".into(), "no \"lo_hz\" column"),
            ("{\"bands\": 3}".into(), "no \"bands\" list"),
            ("{\"bands\": [".into(), "not valid JSON"),
            (band(""), "no bands"),
            (
                band("{\"lo_hz\":1,\"center_hz\":2,\"hi_hz\":3}"),
                "band 1 has no number \"level_db\"",
            ),
            (
                band("{\"lo_hz\":1,\"center_hz\":2,\"hi_hz\":3,\"level_db\":null}"),
                "band 1 has no number \"level_db\"",
            ),
            (
                band("{\"lo_hz\":1,\"center_hz\":2,\"hi_hz\":3,\"level_db\":1e99}"),
                "band 1: level inf is not a measurement",
            ),
            (
                band("{\"lo_hz\":1,\"center_hz\":2,\"hi_hz\":3,\"level_db\":900}"),
                "band 1: level 900 is not a measurement",
            ),
            (
                band(
                    "{\"lo_hz\":1,\"center_hz\":2,\"hi_hz\":3,\"level_db\":0},\
                     {\"lo_hz\":1,\"center_hz\":2,\"hi_hz\":3,\"level_db\":0}",
                ),
                "band 2: the bands are not in rising order",
            ),
            (
                band("{\"lo_hz\":5,\"center_hz\":2,\"hi_hz\":3,\"level_db\":0}"),
                "band 1: its centre is not between its edges",
            ),
            (
                band("{\"lo_hz\":-1,\"center_hz\":2,\"hi_hz\":3,\"level_db\":0}"),
                "band 1: its edges must be between 0 and 1 MHz",
            ),
            (
                "{\"unit\":\"dBu\",\"bands\":[{\"lo_hz\":1,\"center_hz\":2,\"hi_hz\":3,\"level_db\":0}]}"
                    .into(),
                "unit \"dBu\"",
            ),
            (
                "{\"sample_rate\":-5,\"bands\":[{\"lo_hz\":1,\"center_hz\":2,\"hi_hz\":3,\"level_db\":0}]}"
                    .into(),
                "\"sample_rate\" is not a whole number",
            ),
        ];
        for (text, want) in cases {
            let e = parse(&text).expect_err(&text);
            let line = e.to_string();
            assert!(line.starts_with("reference r.json: "), "{line}");
            assert!(line.contains(want), "{text:?}: {line}");
            assert!(!line.contains('\n'), "{line}");
            assert!(!e.unreadable);
        }
        let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert!(
            Reference::parse(&junk, "junk", "junk")
                .unwrap_err()
                .reason
                .starts_with("not text")
        );
        let many = format!(
            "lo_hz,center_hz,hi_hz,level_db\n{}",
            (1..=MAX_BANDS + 1)
                .map(|i| format!("{i},{i},{i},0\n"))
                .collect::<String>()
        );
        assert!(
            parse(&many)
                .unwrap_err()
                .reason
                .starts_with("more than 4096 bands")
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let e = Reference::load(&dir.path().join("missing.json")).unwrap_err();
        assert!(e.unreadable && e.reason == "no such file", "{e}");
        let e = Reference::load(dir.path()).unwrap_err();
        assert!(e.unreadable, "{e}");
    }

    #[test]
    fn names_are_one_short_line() {
        assert_eq!(clean_name("  a\nb\tc  "), "a b c");
        assert_eq!(clean_name(&"x".repeat(100)).chars().count(), MAX_NAME_CHARS);
    }
}
