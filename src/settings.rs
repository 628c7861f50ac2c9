//! The window's settings, persisted as TOML in the user's config folder (UI thread, at start and
//! on a change; never the engine). A missing file means defaults; a broken one means defaults
//! and a warning, never a crash.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{AnalysisSettings, BandLayout, BarsFrom, Smoothing, Weighting};

/// Lowest dB floor the bar scale offers.
pub const DB_FLOOR_RANGE: std::ops::RangeInclusive<f32> = -144.0..=-24.0;
/// Where the bar scale's top may be, dB (above 0 dBFS for a calibrated or gained display).
pub const DB_TOP_RANGE: std::ops::RangeInclusive<f32> = -60.0..=24.0;
/// The bar scale spans at least this much, dB.
pub const DB_MIN_SPAN: f32 = 24.0;
/// The display tilts the bars may take, dB per octave about 1 kHz.
pub const TILT_RANGE: std::ops::RangeInclusive<f32> = -12.0..=12.0;
/// Analysis gain range, dB.
pub const GAIN_RANGE: std::ops::RangeInclusive<f32> = -40.0..=40.0;

/// Loudness targets a person picks (EBU R 128 and the streaming services' normalisation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoudnessTarget {
    /// EBU R 128: -23 LUFS, true peak at most -1 dBTP.
    #[default]
    Ebu,
    /// Spotify, YouTube and others normalise to -14 LUFS; true peak at most -1 dBTP.
    Streaming,
    /// `target_lufs` and `true_peak_limit_dbtp`.
    Custom,
}

/// The loudness bar's scale (EBU Tech 3341): +9 (-18..+9 LU around the target), or +18
/// (-36..+18 LU).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoudnessScale {
    /// -18 to +9 LU.
    #[default]
    #[serde(rename = "+9")]
    Plus9,
    /// -36 to +18 LU.
    #[serde(rename = "+18")]
    Plus18,
}

impl LoudnessScale {
    /// The scale's ends, LU relative to the target.
    pub fn range_lu(self) -> (f64, f64) {
        match self {
            LoudnessScale::Plus9 => (-18.0, 9.0),
            LoudnessScale::Plus18 => (-36.0, 18.0),
        }
    }
}

/// A custom loudness target's range, LUFS, and its true-peak limit's, dBTP.
pub const TARGET_LUFS_RANGE: std::ops::RangeInclusive<f32> = -40.0..=-5.0;
pub const TRUE_PEAK_LIMIT_RANGE: std::ops::RangeInclusive<f32> = -12.0..=0.0;

/// What the window shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// The bars (the spectrum now).
    #[default]
    Bars,
    /// The scrolling spectrogram.
    Spectrogram,
    /// The spectrogram above the bars.
    Both,
}

impl View {
    /// Whether it shows a spectrogram.
    pub fn spectrogram(self) -> bool {
        self != View::Bars
    }

    /// Whether it shows the bars.
    pub fn bars(self) -> bool {
        self != View::Spectrogram
    }
}

/// The spectrogram's span range, seconds.
pub const SPAN_RANGE: std::ops::RangeInclusive<f32> = 5.0..=60.0;

/// One input's calibration: the window's Calibrate panel keeps it, per input.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InputCalibration {
    /// dBFS to dB SPL, dB: what a calibrator's tone measured.
    pub spl_offset_db: Option<f64>,
    /// How it was measured, in words ("94.0 dB SPL read -20.00 dBFS at 1000 Hz, 2026-12-04
    /// 21:30").
    pub measured: Option<String>,
    /// A measurement microphone's correction file.
    pub mic_cal: Option<PathBuf>,
}

/// What a person sets in the window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSettings {
    /// Band layout.
    pub bands: BandLayout,
    /// Bars in the log layout.
    pub bars: usize,
    /// Bottom of the bar scale, dB.
    pub db_floor: f32,
    /// Top of the bar scale, dB (0: full scale).
    pub db_top: f32,
    /// The picture's tilt, dB per octave about 1 kHz: the bars are drawn this much higher
    /// per octave above 1 kHz (lower below), as SPAN's 4.5 dB/oct shows music about flat. It
    /// changes the picture only, never a number.
    pub tilt_db_per_oct: f32,
    /// Smoothing of the bars.
    pub smoothing: Smoothing,
    /// Weighting of the bars.
    pub weighting: Weighting,
    /// What the bars measure (mean of the channels' powers, mid, side, one channel, each).
    pub bars_from: BarsFrom,
    /// Analysis gain, dB.
    pub gain_db: f32,
    /// Show peak-hold markers.
    pub peak_hold: bool,
    /// The markers never fall until a reset (max-hold).
    pub max_hold: bool,
    /// Where snapshots go (the pictures folder when absent).
    pub snapshots: Option<PathBuf>,
    /// Where recordings go (the music folder when absent).
    pub recordings: Option<PathBuf>,
    /// Sample format of recordings.
    pub record_format: crate::record::RecordFormat,
    /// Capture period to ask the audio system for, ms (absent: spektr's default, 10 ms).
    pub capture_period_ms: Option<f64>,
    /// Show the loudness panel and measure loudness (off: the engine spends nothing on it).
    pub loudness: bool,
    /// The loudness target the panel reads against.
    pub loudness_target: LoudnessTarget,
    /// The custom target, LUFS, and its true-peak limit, dBTP.
    pub target_lufs: f32,
    pub true_peak_limit_dbtp: f32,
    /// The loudness bar's scale.
    pub loudness_scale: LoudnessScale,
    /// Bars, spectrogram or both.
    pub view: View,
    /// The spectrogram's span, seconds (5 to 60).
    pub spectrogram_span_s: f32,
    /// The spectrogram's rows.
    pub spectrogram_bands: crate::spectrogram::FineLayout,
    /// The spectrogram's colour map.
    pub colormap: crate::spectrogram::ColorMap,
    /// The bars in dB SPL on inputs that are calibrated (never on one that is not).
    pub spl_units: bool,
    /// The SPL meter's frequency weighting.
    pub spl_weighting: Weighting,
    /// Calibrations, per input (its name as the window's title shows it).
    pub calibrations: std::collections::BTreeMap<String, InputCalibration>,
}

impl Default for UserSettings {
    fn default() -> Self {
        UserSettings {
            bands: BandLayout::Log,
            bars: crate::config::DEFAULT_BARS,
            db_floor: -96.0,
            db_top: 0.0,
            tilt_db_per_oct: 0.0,
            smoothing: Smoothing::Fast,
            weighting: Weighting::Z,
            bars_from: BarsFrom::Mean,
            gain_db: 0.0,
            peak_hold: true,
            max_hold: false,
            snapshots: None,
            recordings: None,
            record_format: crate::record::RecordFormat::Native,
            capture_period_ms: None,
            loudness: true,
            loudness_target: LoudnessTarget::Ebu,
            target_lufs: -16.0,
            true_peak_limit_dbtp: -1.0,
            loudness_scale: LoudnessScale::Plus9,
            view: View::Bars,
            spectrogram_span_s: 10.0,
            spectrogram_bands: crate::spectrogram::FineLayout::Twelfth,
            colormap: crate::spectrogram::ColorMap::Magma,
            spl_units: false,
            spl_weighting: Weighting::A,
            calibrations: Default::default(),
        }
    }
}

impl UserSettings {
    /// The analysis settings these ask for.
    pub fn analysis(&self) -> AnalysisSettings {
        AnalysisSettings {
            bands: self.bands,
            bars: (self.bands == BandLayout::Log).then_some(self.bars),
            smoothing: self.smoothing,
            weighting: self.weighting,
            bars_from: self.bars_from,
            loudness: self.loudness,
            max_hold: self.peak_hold && self.max_hold,
            ..Default::default()
        }
    }

    /// The loudness target in force: its name, LUFS and true-peak limit (dBTP).
    pub fn target(&self) -> (&'static str, f64, f64) {
        match self.loudness_target {
            LoudnessTarget::Ebu => ("EBU R 128", -23.0, -1.0),
            LoudnessTarget::Streaming => ("Streaming", -14.0, -1.0),
            LoudnessTarget::Custom => (
                "Custom",
                f64::from(self.target_lufs),
                f64::from(self.true_peak_limit_dbtp),
            ),
        }
    }

    /// Problems with the values, as one line; `None` when all is well.
    pub fn problem(&self) -> Option<String> {
        if let Err(e) = self.analysis().validate() {
            return Some(e.to_string());
        }
        if !DB_FLOOR_RANGE.contains(&self.db_floor) {
            return Some(format!(
                "db_floor must be between {} and {}",
                DB_FLOOR_RANGE.start(),
                DB_FLOOR_RANGE.end()
            ));
        }
        if !DB_TOP_RANGE.contains(&self.db_top) {
            return Some(format!(
                "db_top must be between {} and {}",
                DB_TOP_RANGE.start(),
                DB_TOP_RANGE.end()
            ));
        }
        if self.db_top - self.db_floor < DB_MIN_SPAN {
            return Some(format!(
                "db_top must be at least {DB_MIN_SPAN} dB above db_floor ({} and {})",
                self.db_top, self.db_floor
            ));
        }
        if !TILT_RANGE.contains(&self.tilt_db_per_oct) {
            return Some(format!(
                "tilt_db_per_oct must be between {} and {}",
                TILT_RANGE.start(),
                TILT_RANGE.end()
            ));
        }
        for (input, c) in &self.calibrations {
            if let Some(db) = c.spl_offset_db
                && let Err(e) = crate::calibration::check_spl_offset(db)
            {
                return Some(format!("calibrations.\"{input}\": {e}"));
            }
        }
        if !GAIN_RANGE.contains(&self.gain_db) {
            return Some(format!(
                "gain_db must be between {} and {}",
                GAIN_RANGE.start(),
                GAIN_RANGE.end()
            ));
        }
        if !TARGET_LUFS_RANGE.contains(&self.target_lufs) {
            return Some(format!(
                "target_lufs must be between {} and {}",
                TARGET_LUFS_RANGE.start(),
                TARGET_LUFS_RANGE.end()
            ));
        }
        if !TRUE_PEAK_LIMIT_RANGE.contains(&self.true_peak_limit_dbtp) {
            return Some(format!(
                "true_peak_limit_dbtp must be between {} and {}",
                TRUE_PEAK_LIMIT_RANGE.start(),
                TRUE_PEAK_LIMIT_RANGE.end()
            ));
        }
        if !SPAN_RANGE.contains(&self.spectrogram_span_s) {
            return Some(format!(
                "spectrogram_span_s must be between {} and {}",
                SPAN_RANGE.start(),
                SPAN_RANGE.end()
            ));
        }
        if let Some(ms) = self.capture_period_ms
            && let Err(e) = crate::capture::check_period_ms(ms)
        {
            return Some(format!("capture_period_ms: {e}"));
        }
        None
    }
}

/// The settings file: `<config dir>/spektr/settings.toml`.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("spektr").join("settings.toml"))
}

/// Loads `path`: defaults if it does not exist; defaults and a one-line warning if it is
/// unreadable, not TOML, or holds impossible values.
pub fn load(path: &Path) -> (UserSettings, Option<String>) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (UserSettings::default(), None);
        }
        Err(e) => {
            return (
                UserSettings::default(),
                Some(format!(
                    "cannot read {}: {e}; using defaults",
                    path.display()
                )),
            );
        }
    };
    parse(&text, &path.display().to_string())
}

/// Settings from the text of a settings file called `name`: the settings, or the defaults
/// and a one-line warning.
///
/// ```
/// let (s, warning) = spektr::settings::parse("bars = 48", "settings.toml");
/// assert_eq!((s.bars, warning), (48, None));
/// let (s, warning) = spektr::settings::parse("bars = 2", "settings.toml");
/// assert_eq!(s.bars, 32);
/// assert!(warning.unwrap().starts_with("settings.toml: "));
/// ```
pub fn parse(text: &str, name: &str) -> (UserSettings, Option<String>) {
    match toml::from_str::<UserSettings>(text) {
        Ok(s) => match s.problem() {
            None => (s, None),
            Some(p) => (
                UserSettings::default(),
                Some(format!("{name}: {p}; using defaults")),
            ),
        },
        Err(e) => {
            let why = e.message().replace('\n', " ");
            (
                UserSettings::default(),
                Some(format!(
                    "{name} is not valid settings ({why}); using defaults"
                )),
            )
        }
    }
}

/// Writes `settings` to `path`, creating the folder.
pub fn save(path: &Path, settings: &UserSettings) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = toml::to_string_pretty(settings).map_err(std::io::Error::other)?;
    std::fs::write(
        path,
        format!("# spektr settings; edited by the window's settings panel\n{text}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_broken_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("spektr").join("settings.toml");
        assert_eq!(
            load(&path),
            (UserSettings::default(), None),
            "missing file: defaults, no warning"
        );
        let s = UserSettings {
            bands: BandLayout::ThirdOctave,
            db_floor: -72.0,
            gain_db: 6.0,
            peak_hold: false,
            loudness_target: LoudnessTarget::Custom,
            target_lufs: -18.0,
            loudness_scale: LoudnessScale::Plus18,
            ..Default::default()
        };
        save(&path, &s).expect("save");
        assert_eq!(load(&path), (s, None));
        for (text, needle) in [
            ("bars = [", "not valid settings"),
            ("bars = 500", "--bars must be between 8 and 128"),
            ("smoothing = \"sluggish\"", "not valid settings"),
            ("db_floor = 3.0", "db_floor"),
            ("target_lufs = 3.0", "target_lufs"),
            ("loudness_scale = \"+12\"", "not valid settings"),
        ] {
            std::fs::write(&path, text).expect("write");
            let (got, warning) = load(&path);
            assert_eq!(got, UserSettings::default(), "{text}");
            let warning = warning.expect("a warning");
            assert!(
                warning.contains(needle) && !warning.contains('\n'),
                "{text}: {warning}"
            );
        }
        // Unknown keys from a newer version are ignored, known ones kept.
        std::fs::write(&path, "bars = 48\nfuture_option = true\n").expect("write");
        assert_eq!(load(&path).0.bars, 48);
    }
}
