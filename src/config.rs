//! Raw settings to validated settings, with one clear error per impossible combination.
//!
//! Runs on whichever thread builds an analyzer (never the audio callback).

use serde::Serialize;
use thiserror::Error;

/// Default number of log-spaced bars.
pub const DEFAULT_BARS: usize = 32;
/// Bars allowed in the log layout.
pub const BARS_RANGE: std::ops::RangeInclusive<usize> = 8..=128;
/// Default lower edge of the analysed range.
pub const DEFAULT_FMIN_HZ: f64 = 20.0;
/// Default upper edge of the analysed range (clamped below Nyquist).
pub const DEFAULT_FMAX_HZ: f64 = 20_000.0;
/// Default frames per second of audio time.
pub const DEFAULT_FPS: f64 = 60.0;
/// Default time a peak-hold marker stays before it falls.
pub const DEFAULT_PEAK_HOLD_MS: f64 = 1000.0;
/// Default fall rate of a peak-hold marker once its hold time is over.
pub const DEFAULT_PEAK_FALL_DB_PER_S: f64 = 20.0;
/// Integration time of the RMS meters.
pub const DEFAULT_RMS_WINDOW_MS: f64 = 300.0;
/// Sample rates spektr accepts.
pub const SAMPLE_RATE_RANGE: std::ops::RangeInclusive<u32> = 8_000..=768_000;
/// The most channels spektr accepts.
pub const MAX_CHANNELS: usize = 32;
/// Channel counts spektr accepts.
pub const CHANNELS_RANGE: std::ops::RangeInclusive<usize> = 1..=MAX_CHANNELS;

/// Frequency weighting of the bars (IEC 61672-1:2013).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// Z: no weighting.
    Z,
    /// A: the classic loudness-contour weighting.
    A,
    /// C: flat with roll-off at the extremes.
    C,
}

/// How the bars are laid out in frequency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BandLayout {
    /// N bars of equal width in log frequency over fmin..fmax, 1 kHz at a band centre.
    Log,
    /// IEC 61260-1 octave bands.
    Octave,
    /// IEC 61260-1 one-third-octave bands.
    ThirdOctave,
    /// IEC 61260-1 one-sixth-octave bands.
    SixthOctave,
    /// IEC 61260-1 one-twelfth-octave bands.
    TwelfthOctave,
    /// IEC 61260-1 one-twenty-fourth-octave bands.
    TwentyFourthOctave,
}

impl BandLayout {
    /// Every layout, in the order the window offers them.
    pub const ALL: [BandLayout; 6] = [
        BandLayout::Log,
        BandLayout::Octave,
        BandLayout::ThirdOctave,
        BandLayout::SixthOctave,
        BandLayout::TwelfthOctave,
        BandLayout::TwentyFourthOctave,
    ];

    /// `b` of a `1/b`-octave layout; `None` for the log layout.
    pub fn fraction(self) -> Option<u32> {
        match self {
            BandLayout::Log => None,
            BandLayout::Octave => Some(1),
            BandLayout::ThirdOctave => Some(3),
            BandLayout::SixthOctave => Some(6),
            BandLayout::TwelfthOctave => Some(12),
            BandLayout::TwentyFourthOctave => Some(24),
        }
    }

    /// As the command line and the window name it: "log", "1/3", ...
    pub fn label(self) -> String {
        self.fraction()
            .map_or_else(|| "log".to_string(), |b| format!("1/{b}"))
    }
}

/// Which signal the bars measure. The meters always show every channel.
///
/// ```
/// use spektr::config::BarsFrom;
/// assert_eq!("mean".parse::<BarsFrom>(), Ok(BarsFrom::Mean));
/// assert_eq!("R".parse::<BarsFrom>(), Ok(BarsFrom::Channel(1)));
/// assert_eq!("3".parse::<BarsFrom>(), Ok(BarsFrom::Channel(2)));
/// assert_eq!(BarsFrom::Channel(0).to_string(), "1");
/// assert!("both".parse::<BarsFrom>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BarsFrom {
    /// The mean of every channel's own band power: identical channels read their level,
    /// uncorrelated channels of equal level read that level, antiphase content never cancels,
    /// and a tone on one of `n` channels reads `10 log10(n)` dB under its level (for stereo
    /// 3.01 dB: it carries half the channels' power).
    #[default]
    Mean,
    /// The band power of the mid signal, the mean of the channels' samples ((L+R)/2 for
    /// stereo): antiphase content cancels, as it does in a mono fold-down.
    Mid,
    /// The band power of the side signal (L-R)/2; stereo only.
    Side,
    /// One channel (0-based here; the command line counts from 1).
    Channel(usize),
    /// Every channel as its own trace; the bars are their mean power, as for `Mean`.
    Each,
}

impl BarsFrom {
    /// Whether every channel is analysed on its own (else one mixed or picked signal is).
    pub fn per_channel(self) -> bool {
        matches!(self, BarsFrom::Mean | BarsFrom::Each)
    }

    /// The exact rule, as the output header and README state it, for `channels` channels.
    pub fn rule(self, channels: usize) -> String {
        let names = |c: usize| crate::publish::channel_label(channels, c);
        match self {
            BarsFrom::Mean | BarsFrom::Each if channels == 1 => {
                "the band power of the one channel".into()
            }
            BarsFrom::Mean => format!("the mean of the {channels} channels' own band powers"),
            BarsFrom::Each => format!(
                "the mean of the {channels} channels' own band powers; each channel's band power is also given as its own trace"
            ),
            BarsFrom::Mid if channels == 1 => "the band power of the one channel".into(),
            BarsFrom::Mid => format!(
                "the band power of the mid signal, the mean of the {channels} channels' samples"
            ),
            BarsFrom::Side => format!(
                "the band power of the side signal ({} - {}) / 2",
                names(0),
                names(1)
            ),
            BarsFrom::Channel(c) => format!("the band power of channel {} alone", names(c)),
        }
    }

    /// Checks the mode against the source's channel count.
    pub fn validate(self, channels: usize) -> Result<(), ConfigError> {
        match self {
            BarsFrom::Side if channels != 2 => Err(ConfigError::BarsFrom(format!(
                "--bars-from side needs a stereo source; this one has {channels} channel{}",
                if channels == 1 { "" } else { "s" }
            ))),
            BarsFrom::Channel(c) if c >= channels => Err(ConfigError::BarsFrom(format!(
                "--bars-from {}: the source has {channels} channel{}",
                c + 1,
                if channels == 1 { "" } else { "s" }
            ))),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for BarsFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BarsFrom::Mean => f.write_str("mean"),
            BarsFrom::Mid => f.write_str("mid"),
            BarsFrom::Side => f.write_str("side"),
            BarsFrom::Each => f.write_str("each"),
            BarsFrom::Channel(c) => write!(f, "{}", c + 1),
        }
    }
}

impl std::str::FromStr for BarsFrom {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mean" => Ok(BarsFrom::Mean),
            "mid" => Ok(BarsFrom::Mid),
            "side" => Ok(BarsFrom::Side),
            "each" => Ok(BarsFrom::Each),
            "l" | "left" => Ok(BarsFrom::Channel(0)),
            "r" | "right" => Ok(BarsFrom::Channel(1)),
            other => match other.parse::<usize>() {
                Ok(n) if CHANNELS_RANGE.contains(&n) => Ok(BarsFrom::Channel(n - 1)),
                _ => Err(format!(
                    "expected mean, mid, side, each, left, right or a channel number from 1 to {MAX_CHANNELS}, got '{s}'"
                )),
            },
        }
    }
}

impl Serialize for BarsFrom {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for BarsFrom {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Exponential smoothing of band power over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Smoothing {
    /// Each frame stands alone.
    None,
    /// Time constant 125 ms (like IEC 61672 "F").
    Fast,
    /// Time constant 1 s (like IEC 61672 "S").
    Slow,
    /// A power average since the start or the last reset (an RTA's "infinite" average): each
    /// band's analyses count equally from when its window first holds only signal.
    Infinite,
}

impl Smoothing {
    /// Time constant in ms, or 0 for none.
    pub fn tau_ms(self) -> f64 {
        match self {
            Smoothing::None => 0.0,
            Smoothing::Fast => 125.0,
            Smoothing::Slow => 1000.0,
            Smoothing::Infinite => 0.0,
        }
    }
}

/// Settings as a person gives them (command line, later the config file). All optional parts
/// have their defaults filled in by `Default`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnalysisSettings {
    /// Band layout.
    pub bands: BandLayout,
    /// Bars for the log layout; `None` means the default (and is required for third-octave).
    pub bars: Option<usize>,
    /// Lower edge of the analysed range, Hz.
    pub fmin_hz: f64,
    /// Upper edge of the analysed range, Hz (clamped below Nyquist).
    pub fmax_hz: f64,
    /// Weighting applied to the bars (meters are unweighted).
    pub weighting: Weighting,
    /// Band power smoothing.
    pub smoothing: Smoothing,
    /// Frames per second of audio time.
    pub fps: f64,
    /// Peak-hold time, ms (0 disables holding; the marker then falls at once).
    pub peak_hold_ms: f64,
    /// Peak-hold fall rate after the hold time, dB/s.
    pub peak_fall_db_per_s: f64,
    /// Max-hold: the peak-hold markers never fall until a reset.
    pub max_hold: bool,
    /// Which signal the bars measure.
    pub bars_from: BarsFrom,
    /// Measure loudness and true peak (`--no-loudness` turns it off).
    pub loudness: bool,
    /// Count a mono channel twice in loudness (dual mono), as if on two speakers.
    pub dual_mono: bool,
    /// From dBFS to dB SPL (a calibration): added to the bars and their peak-hold markers,
    /// which then read dB SPL. `None`: uncalibrated, the bars read dBFS. Meters and loudness
    /// stay in dBFS and LUFS either way.
    pub spl_offset_db: Option<f64>,
    /// The frequency weighting of the SPL meter (shown when calibrated).
    pub spl_weighting: Weighting,
    /// A microphone's response, taken out of the bars bin by bin.
    #[serde(serialize_with = "serialize_mic")]
    pub mic: Option<std::sync::Arc<crate::calibration::MicCurve>>,
}

fn serialize_mic<S: serde::Serializer>(
    mic: &Option<std::sync::Arc<crate::calibration::MicCurve>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    mic.as_deref().serialize(s)
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        AnalysisSettings {
            bands: BandLayout::Log,
            bars: None,
            fmin_hz: DEFAULT_FMIN_HZ,
            fmax_hz: DEFAULT_FMAX_HZ,
            weighting: Weighting::Z,
            smoothing: Smoothing::None,
            fps: DEFAULT_FPS,
            peak_hold_ms: DEFAULT_PEAK_HOLD_MS,
            peak_fall_db_per_s: DEFAULT_PEAK_FALL_DB_PER_S,
            max_hold: false,
            bars_from: BarsFrom::Mean,
            loudness: true,
            dual_mono: false,
            spl_offset_db: None,
            spl_weighting: Weighting::A,
            mic: None,
        }
    }
}

/// A setting, or a combination of settings with a stream format, that cannot work. Each message
/// says what to change.
#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    /// The loudness meter cannot measure this stream.
    #[error("loudness cannot be measured on this input ({0}); --no-loudness leaves it out")]
    Loudness(String),
    /// A number out of its range.
    #[error("{name} must be between {min} and {max}, got {value}")]
    OutOfRange {
        /// Option name as the user typed it.
        name: &'static str,
        /// Smallest allowed value.
        min: String,
        /// Largest allowed value.
        max: String,
        /// What was given.
        value: String,
    },
    /// fmin not below fmax (after clamping fmax below Nyquist).
    #[error("--fmin ({fmin_hz} Hz) must be below --fmax ({fmax_hz} Hz{note})")]
    EmptyRange {
        /// Lower edge.
        fmin_hz: f64,
        /// Upper edge after clamping.
        fmax_hz: f64,
        /// Explains a clamp, if any.
        note: String,
    },
    /// --bars given with a fractional-octave layout.
    #[error(
        "--bars applies to --bands log only; third-octave and the other fractional-octave bands are fixed by IEC 61260-1"
    )]
    BarsWithThirdOctave,
    /// No band of a fractional-octave layout fits.
    #[error("no 1/{b}-octave band has its centre between {fmin_hz} Hz and {fmax_hz} Hz")]
    NoThirdOctaveBand {
        /// The layout's `b`.
        b: u32,
        /// Lower edge.
        fmin_hz: f64,
        /// Upper edge.
        fmax_hz: f64,
    },
    /// A band is too narrow for the resolution spektr can give it.
    #[error(
        "the band {lo_hz:.1}-{hi_hz:.1} Hz is too narrow to resolve honestly \
         (needs a window over {needed_s:.1} s); use fewer --bars or raise --fmin"
    )]
    BandTooNarrow {
        /// Lower edge.
        lo_hz: f64,
        /// Upper edge.
        hi_hz: f64,
        /// Window the band would need.
        needed_s: f64,
    },
    /// Unsupported stream format.
    #[error("{0}")]
    Format(String),
    /// A `--bars-from` mode the source's channels cannot give.
    #[error("{0}")]
    BarsFrom(String),
}

fn out_of_range(
    name: &'static str,
    min: impl ToString,
    max: impl ToString,
    value: impl ToString,
) -> ConfigError {
    ConfigError::OutOfRange {
        name,
        min: min.to_string(),
        max: max.to_string(),
        value: value.to_string(),
    }
}

/// How a source's samples are encoded, before the capture converts them to f32: what a
/// recording keeps by default. Unsigned integers count as integers of the same width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "bits", rename_all = "lowercase")]
pub enum SampleKind {
    /// Integer PCM of this many bits.
    Int(u16),
    /// Floating point of this many bits.
    Float(u16),
}

impl std::fmt::Display for SampleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SampleKind::Int(bits) => write!(f, "{bits}-bit integer"),
            SampleKind::Float(bits) => write!(f, "{bits}-bit float"),
        }
    }
}

/// The sample stream the analyzer is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StreamFormat {
    /// Frames per second.
    pub sample_rate: u32,
    /// Interleaved channels.
    pub channels: usize,
}

impl StreamFormat {
    /// Checks the format against what spektr supports.
    pub fn validate(self) -> Result<Self, ConfigError> {
        if !SAMPLE_RATE_RANGE.contains(&self.sample_rate) {
            return Err(ConfigError::Format(format!(
                "sample rate {} Hz is not supported (spektr takes {} to {} Hz)",
                self.sample_rate,
                SAMPLE_RATE_RANGE.start(),
                SAMPLE_RATE_RANGE.end()
            )));
        }
        if !CHANNELS_RANGE.contains(&self.channels) {
            return Err(ConfigError::Format(format!(
                "{} channels are not supported (spektr takes {} to {})",
                self.channels,
                CHANNELS_RANGE.start(),
                CHANNELS_RANGE.end()
            )));
        }
        Ok(self)
    }
}

impl AnalysisSettings {
    /// Checks everything that does not depend on the stream.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(bars) = self.bars {
            if self.bands != BandLayout::Log {
                return Err(ConfigError::BarsWithThirdOctave);
            }
            if !BARS_RANGE.contains(&bars) {
                return Err(out_of_range(
                    "--bars",
                    BARS_RANGE.start(),
                    BARS_RANGE.end(),
                    bars,
                ));
            }
        }
        let finite_in = |name, v: f64, lo: f64, hi: f64| {
            if v.is_finite() && (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(out_of_range(name, lo, hi, v))
            }
        };
        finite_in("--fmin", self.fmin_hz, 10.0, 100_000.0)?;
        finite_in("--fmax", self.fmax_hz, 20.0, 384_000.0)?;
        finite_in("--fps", self.fps, 1.0, 1000.0)?;
        finite_in("--peak-hold", self.peak_hold_ms, 0.0, 60_000.0)?;
        finite_in("--peak-fall", self.peak_fall_db_per_s, 0.1, 10_000.0)?;
        if let Some(db) = self.spl_offset_db {
            let r = crate::calibration::SPL_OFFSET_RANGE;
            finite_in("--spl-offset", db, *r.start(), *r.end())?;
        }
        if self.fmin_hz >= self.fmax_hz {
            return Err(ConfigError::EmptyRange {
                fmin_hz: self.fmin_hz,
                fmax_hz: self.fmax_hz,
                note: String::new(),
            });
        }
        Ok(())
    }

    /// The unit the bars read in: `dB SPL` when calibrated, else `dBFS`.
    pub fn unit(&self) -> &'static str {
        if self.spl_offset_db.is_some() {
            "dB SPL"
        } else {
            "dBFS"
        }
    }

    /// Bars in the log layout.
    pub fn bar_count(&self) -> usize {
        self.bars.unwrap_or(DEFAULT_BARS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        assert_eq!(AnalysisSettings::default().validate(), Ok(()));
    }

    #[test]
    fn impossible_combinations_are_refused() {
        let s = AnalysisSettings {
            bands: BandLayout::ThirdOctave,
            bars: Some(32),
            ..Default::default()
        };
        assert_eq!(s.validate(), Err(ConfigError::BarsWithThirdOctave));
        let s = AnalysisSettings {
            bars: Some(4),
            ..Default::default()
        };
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("--bars must be between 8 and 128")
        );
        let s = AnalysisSettings {
            fmin_hz: 5000.0,
            fmax_hz: 100.0,
            ..Default::default()
        };
        assert!(matches!(s.validate(), Err(ConfigError::EmptyRange { .. })));
        let s = AnalysisSettings {
            fps: f64::NAN,
            ..Default::default()
        };
        assert!(s.validate().is_err());
        let f = StreamFormat {
            sample_rate: 4000,
            channels: 2,
        };
        assert!(
            f.validate()
                .unwrap_err()
                .to_string()
                .contains("4000 Hz is not supported")
        );
        let f = StreamFormat {
            sample_rate: 48000,
            channels: 0,
        };
        assert!(f.validate().is_err());
    }
}
