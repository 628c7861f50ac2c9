//! The multi-resolution plan: which analysis each band gets. Pure; built once per settings
//! and stream format.
//!
//! Level 0 analyses the full-rate signal with a window of at most 25 ms. Level `j` has a window
//! `2^j` times longer, computed from the signal decimated by a cascade of half-band stages, so
//! the FFT stays small: a level taps the cascade at the lowest rate that still keeps its bands
//! in the alias-free part of the spectrum. Each band goes to the shortest window that gives it
//! [`TARGET_BINS`] bins of its own (enough for a Hann main lobe to fit inside it), and never
//! fewer than [`MIN_BINS`].

use serde::Serialize;

use super::bands::{BandEdges, log_bands, octave_bands};
use crate::config::{AnalysisSettings, ConfigError, StreamFormat};

/// Bins a band should get: the Hann main lobe is four bins wide.
pub const TARGET_BINS: f64 = 4.0;
/// Bins a band must get: the honest-resolution floor.
pub const MIN_BINS: f64 = 2.0;
/// Longest level-0 window.
pub const MAX_SHORT_WINDOW_S: f64 = 0.025;
/// Deepest level: its window is 2^MAX_LEVEL times the level-0 window (about 11 s at 48 kHz,
/// what 1/24-octave bands at 20 Hz need for their bins).
pub const MAX_LEVEL: u32 = 9;
/// At a decimated level, bands stay below this fraction of the level's sample rate.
pub const PASS_FRACTION: f64 = 0.25;
/// Smallest FFT a decimated level uses.
pub const MIN_FFT_LEN: usize = 64;
/// Longest hop: the engine publishes at least every 10 ms of audio.
pub const MAX_HOP_S: f64 = 0.010;
/// Every level is recomputed at least this many times per window (level 0 every hop, so the
/// hop is at most a fifth of the level-0 window). A click between two analyses then reads at
/// most `cos^4(pi / 10)`, 0.87 dB, under one centred in a window (a Hann window's power at a
/// tenth of its length from the centre), and the windows' powers overlap-add flat to
/// well within 0.1 dB, so every analysis counts alike.
pub const UPDATES_PER_WINDOW: f64 = 5.0;
/// The fewest updates per window at which Hann windows' powers still overlap-add exactly flat
/// (`sin^4` summed over three shifts of a third is 9/8 everywhere): every sample counts alike
/// in a mean over many analyses, though a click may read up to 2.5 dB under one centred in a
/// window. For whole-file pictures, whose columns are means over many analyses.
pub const SPARSE_UPDATES_PER_WINDOW: f64 = 3.0;

/// What the outside world learns about one bar.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BandInfo {
    /// Lower edge, Hz.
    pub lo_hz: f64,
    /// Centre, Hz.
    pub center_hz: f64,
    /// Upper edge, Hz.
    pub hi_hz: f64,
    /// Nominal centre (fractional-octave layouts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nominal_hz: Option<f64>,
    /// The band's nominal upper edge passes the Nyquist frequency: `hi_hz` is clamped there
    /// and only the part below is measured.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Length of the analysis window behind this bar, ms.
    pub window_ms: f64,
    /// How often the bar's analysis is recomputed, ms of audio.
    pub update_ms: f64,
    /// Frequency bins of its own analysis that fall in the band.
    pub bins: f64,
    /// Audio time from the start of a stream (or of a new analysis after a settings change)
    /// until the band's window holds only signal: the window, plus the decimation's delay.
    /// Until then the band reads low, and frames list it as settling.
    pub settled_s: f64,
    /// When the band below has a longer window: that window, whose newest spectrum corrects
    /// this band's lower edge (so that a tone across the edge sums to its level); the part of
    /// the band near that edge follows the longer window in time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_window_ms: Option<f64>,
}

/// One analysis level.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelPlan {
    /// Window is `2^level` times the level-0 window.
    pub level: u32,
    /// Cascade stage this level reads (0: the full-rate signal).
    pub tap: usize,
    /// FFT length at the tapped rate.
    pub fft_len: usize,
    /// Hops between recomputations.
    pub interval: u64,
    /// Indices of the bands this level measures.
    pub bands: Vec<usize>,
}

/// Everything the analyzer needs to build its state.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Stream the plan is for.
    pub format: StreamFormat,
    /// Settings after validation (fmax clamped below Nyquist).
    pub settings: AnalysisSettings,
    /// Bar edges.
    pub edges: Vec<BandEdges>,
    /// Published band descriptions, in bar order.
    pub bands: Vec<BandInfo>,
    /// Levels in use.
    pub levels: Vec<LevelPlan>,
    /// Per cascade stage (index 0 is stage 1): the frequency to keep alias-free, as a fraction
    /// of that stage's input rate.
    pub stage_protect: Vec<f64>,
    /// Samples per frame (fractional).
    pub frame_period: f64,
    /// Hops per published frame.
    pub hops_per_frame: u64,
}

impl Plan {
    /// Hop length in seconds (mean).
    pub fn hop_s(&self) -> f64 {
        self.frame_period / self.hops_per_frame as f64 / f64::from(self.format.sample_rate)
    }

    /// Every FFT the plan runs: (length, runs per second of audio).
    pub fn fft_schedule(&self) -> Vec<(usize, f64)> {
        let hops_per_s = 1.0 / self.hop_s();
        self.levels
            .iter()
            .map(|l| (l.fft_len, hops_per_s / l.interval as f64))
            .collect()
    }
}

fn pow2_floor(x: f64) -> u64 {
    if x < 1.0 {
        1
    } else {
        1u64 << (x.log2().floor() as u32)
    }
}

/// Bins a band from `lo_hz` to `hi_hz` needs for the IEC 61260-1 class 1 stop band below it.
///
/// The mask's stop-band breakpoints (40.5, 60 and 70 dB at `G^2`, `G^3`, `G^4`, mapped to the
/// band's width by Formula (9)) lie closer below a wide band, in its own bandwidths, than above
/// it: 0.82 bandwidths under an octave band's lower edge for 60 dB. A Hann window's leakage
/// falls from 31.5 dB at 2.5 bins by 18 dB per doubling of the distance, so the band needs its
/// bins that fine. Third-octaves and narrower need fewer than [`TARGET_BINS`]; octaves about 12.
fn mask_bins(lo_hz: f64, hi_hz: f64) -> f64 {
    let g = 10f64.powf(0.3);
    let r = hi_hz / lo_hz;
    let b = g.ln() / r.ln();
    let half = r.sqrt();
    let width = half - 1.0 / half;
    [(2.0, 40.5), (3.0, 60.0), (4.0, 70.0)]
        .iter()
        .map(|&(x, db): &(f64, f64)| {
            let omega =
                1.0 + (g.powf(1.0 / (2.0 * b)) - 1.0) / (g.sqrt() - 1.0) * (g.powf(x) - 1.0);
            let below_edge = (1.0 / half - 1.0 / omega) / width;
            let distance = 2.5 * 2f64.powf((db - 31.5) / 18.0);
            distance / below_edge
        })
        .fold(0.0, f64::max)
}

/// Bins a band from `lo_hz` to `hi_hz` gets when it can: enough for a Hann main lobe, and for
/// the class 1 stop band below a wide band.
pub fn target_bins(lo_hz: f64, hi_hz: f64) -> f64 {
    TARGET_BINS.max(mask_bins(lo_hz, hi_hz))
}

/// Builds the plan, or says which setting cannot work with this stream.
pub fn plan(settings: &AnalysisSettings, format: StreamFormat) -> Result<Plan, ConfigError> {
    plan_with(settings, format, UPDATES_PER_WINDOW)
}

/// As `plan`, each level recomputed `updates` times per window (`UPDATES_PER_WINDOW`, or
/// `SPARSE_UPDATES_PER_WINDOW` for means over many analyses).
pub fn plan_with(
    settings: &AnalysisSettings,
    format: StreamFormat,
    updates: f64,
) -> Result<Plan, ConfigError> {
    let format = format.validate()?;
    settings.validate()?;
    settings.bars_from.validate(format.channels)?;
    let fs = f64::from(format.sample_rate);
    let nyquist = fs / 2.0;
    let mut settings = settings.clone();
    if settings.fmax_hz > nyquist {
        settings.fmax_hz = nyquist;
    }
    if settings.fmin_hz >= settings.fmax_hz {
        return Err(ConfigError::EmptyRange {
            fmin_hz: settings.fmin_hz,
            fmax_hz: settings.fmax_hz,
            note: format!(", the Nyquist frequency at {} Hz", format.sample_rate),
        });
    }
    let (edges, nominal): (Vec<BandEdges>, Vec<Option<f64>>) = match settings.bands.fraction() {
        None => {
            let e = log_bands(settings.bar_count(), settings.fmin_hz, settings.fmax_hz);
            let n = e.len();
            (e, vec![None; n])
        }
        Some(b) => {
            let bands = octave_bands(b, settings.fmin_hz, settings.fmax_hz, nyquist);
            if bands.is_empty() {
                return Err(ConfigError::NoThirdOctaveBand {
                    b,
                    fmin_hz: settings.fmin_hz,
                    fmax_hz: settings.fmax_hz,
                });
            }
            (
                bands.iter().map(|x| x.1).collect(),
                bands.iter().map(|x| Some(x.0)).collect(),
            )
        }
    };

    // Bands past the Nyquist frequency: gone when their lower edge is, else clamped there and
    // flagged (the log layout's outer edges may pass fmax by part of a band).
    let (edges, nominal): (Vec<BandEdges>, Vec<Option<f64>>) = edges
        .into_iter()
        .zip(nominal)
        .filter(|(e, _)| e.lo_hz < nyquist)
        .map(|(mut e, n)| {
            if e.hi_hz > nyquist {
                e.hi_hz = nyquist;
                e.partial = true;
            }
            (e, n)
        })
        .unzip();

    // Level-0 FFT: the longest power of two within the short-window limit.
    let n0 = pow2_floor(MAX_SHORT_WINDOW_S * fs).max(MIN_FFT_LEN as u64) as usize;
    let t0 = n0 as f64 / fs;
    let mut band_level = Vec::with_capacity(edges.len());
    for e in &edges {
        let bins_at = |j: u32| e.width_hz() * t0 * f64::from(1u32 << j);
        let target = target_bins(e.lo_hz, e.hi_hz);
        let level = (0..=MAX_LEVEL)
            .find(|&j| bins_at(j) >= target)
            .or_else(|| (0..=MAX_LEVEL).find(|&j| bins_at(j) >= MIN_BINS));
        match level {
            Some(j) => band_level.push(j),
            None => {
                return Err(ConfigError::BandTooNarrow {
                    lo_hz: e.lo_hz,
                    hi_hz: e.hi_hz,
                    needed_s: MIN_BINS / e.width_hz(),
                });
            }
        }
    }

    let frame_period = fs / settings.fps;
    let max_hop = (MAX_HOP_S * fs).min(n0 as f64 / updates);
    let hops_per_frame = (frame_period / max_hop).ceil().max(1.0) as u64;
    let hop_s = frame_period / hops_per_frame as f64 / fs;

    let max_decim_log2 = |j: u32| j + (n0 / MIN_FFT_LEN).trailing_zeros();
    let mut levels = Vec::new();
    for j in 0..=MAX_LEVEL {
        let bands: Vec<usize> = (0..edges.len()).filter(|&b| band_level[b] == j).collect();
        if bands.is_empty() {
            continue;
        }
        let f_top = bands.iter().map(|&b| edges[b].hi_hz).fold(0.0, f64::max);
        let tap = if j == 0 {
            0
        } else {
            let by_alias = (PASS_FRACTION * fs / f_top).log2().floor().max(0.0) as u32;
            by_alias.min(max_decim_log2(j))
        };
        let fft_len = (n0 << j) >> tap;
        let window_s = t0 * f64::from(1u32 << j);
        let interval = if j == 0 {
            1
        } else {
            pow2_floor(window_s / (updates * hop_s))
        };
        levels.push(LevelPlan {
            level: j,
            tap: tap as usize,
            fft_len,
            interval,
            bands,
        });
    }

    let stages = levels.iter().map(|l| l.tap).max().unwrap_or(0);
    let stage_protect: Vec<f64> = (1..=stages)
        .map(|k| {
            let input_rate = fs / f64::from(1u32 << (k - 1));
            levels
                .iter()
                .filter(|l| l.tap >= k)
                .flat_map(|l| l.bands.iter().map(|&b| edges[b].hi_hz))
                .fold(0.0, f64::max)
                / input_rate
        })
        .collect();

    // How long the cascade down to each stage takes to give only signal after a start, in
    // full-rate samples: stage s (from 1) needs its whole length at its input rate, 2^(s-1)
    // full-rate samples each.
    let mut delay_to = vec![0.0f64];
    for (s, &protect) in stage_protect.iter().enumerate() {
        let length = 4 * super::decimate::design_halfband(protect).len() - 2;
        delay_to.push(delay_to[s] + length as f64 * f64::from(1u32 << s));
    }

    let mut bands = Vec::with_capacity(edges.len());
    for (b, e) in edges.iter().enumerate() {
        let l = levels
            .iter()
            .find(|l| l.level == band_level[b])
            .expect("every band has a level");
        let window_s = t0 * f64::from(1u32 << l.level);
        let settled_s = window_s + delay_to[l.tap] / fs;
        bands.push(BandInfo {
            lo_hz: e.lo_hz,
            center_hz: e.center_hz,
            hi_hz: e.hi_hz,
            nominal_hz: nominal[b],
            partial: e.partial,
            window_ms: window_s * 1000.0,
            update_ms: l.interval as f64 * hop_s * 1000.0,
            bins: e.width_hz() * window_s,
            settled_s,
            edge_window_ms: None,
        });
    }
    for b in 1..bands.len() {
        if bands[b - 1].window_ms > bands[b].window_ms * 1.0001 {
            bands[b].edge_window_ms = Some(bands[b - 1].window_ms);
            // Its reading needs the band below's window full too.
            bands[b].settled_s = bands[b].settled_s.max(bands[b - 1].settled_s);
        }
    }

    Ok(Plan {
        format,
        settings,
        edges,
        bands,
        levels,
        stage_protect,
        frame_period,
        hops_per_frame,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BandLayout;

    fn default_plan(rate: u32) -> Plan {
        plan(
            &AnalysisSettings::default(),
            StreamFormat {
                sample_rate: rate,
                channels: 2,
            },
        )
        .expect("default settings plan")
    }

    #[test]
    fn honest_resolution_for_every_band() {
        for rate in [8_000, 44_100, 48_000, 96_000, 192_000, 384_000] {
            for bands in BandLayout::ALL {
                let s = AnalysisSettings {
                    bands,
                    ..Default::default()
                };
                let p = plan(
                    &s,
                    StreamFormat {
                        sample_rate: rate,
                        channels: 1,
                    },
                )
                .expect("plan");
                let short_ms = p.bands.iter().map(|b| b.window_ms).fold(f64::MAX, f64::min);
                for b in &p.bands {
                    assert!(b.bins >= TARGET_BINS, "{rate} Hz: {b:?}");
                    // The shortest window that gives the band its bins, and no longer.
                    let half = b.bins / 2.0;
                    assert!(
                        b.window_ms <= short_ms * 1.0001 || half < target_bins(b.lo_hz, b.hi_hz),
                        "{rate} Hz: {b:?}"
                    );
                }
                assert!(p.hop_s() <= MAX_HOP_S + 1e-12);
            }
        }
    }

    #[test]
    fn decimated_levels_keep_their_bands_alias_free() {
        let p = default_plan(48_000);
        for l in p.levels.iter().filter(|l| l.tap > 0) {
            let rate = 48_000.0 / f64::from(1u32 << l.tap);
            for &b in &l.bands {
                assert!(p.edges[b].hi_hz <= PASS_FRACTION * rate, "{l:?}");
            }
            assert!(l.fft_len >= MIN_FFT_LEN);
        }
        assert_eq!(p.levels[0].fft_len, 1024);
    }

    #[test]
    fn narrow_bands_at_low_frequency_are_refused() {
        let s = AnalysisSettings {
            bars: Some(128),
            fmin_hz: 10.0,
            fmax_hz: 40.0,
            ..Default::default()
        };
        let err = plan(
            &s,
            StreamFormat {
                sample_rate: 48_000,
                channels: 2,
            },
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::BandTooNarrow { .. }), "{err}");
    }

    #[test]
    fn fmax_is_clamped_below_nyquist() {
        let p = default_plan(8_000);
        assert!((p.edges.last().expect("bands").hi_hz - 4000.0).abs() < 1e-9);
        let s = AnalysisSettings {
            fmin_hz: 5000.0,
            ..Default::default()
        };
        let err = plan(
            &s,
            StreamFormat {
                sample_rate: 8_000,
                channels: 2,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("Nyquist"), "{err}");
    }
}
