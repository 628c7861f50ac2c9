//! Pure adapters from the engine's values to the window's model rows and texts. No Slint
//! backend needed: unit-tested here.

use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::{BandText, BarData, GridLine, MainWindow, MeterData, MeterLevel, TraceMark, Ui};
use super::{DB_RANGE, METER_RANGE};
use crate::config::{BarsFrom, StreamFormat};
use crate::engine::BandInfo;
use crate::engine::dsp::FLOOR_DB;
use crate::publish::Frame;

/// The dB grid lines of the scale `(lo, hi)`, every 12 dB from the top.
pub fn grid((lo, hi): (f32, f32)) -> Vec<GridLine> {
    let mut lines = Vec::new();
    let mut db = hi;
    while db >= lo {
        lines.push(GridLine {
            at: (db - lo) / (hi - lo),
            text: format!("{db:.0}").into(),
        });
        db -= 12.0;
    }
    lines
}

/// The difference view's grid: every 6 dB, signed, 0 in the middle.
pub fn diff_grid((lo, hi): (f32, f32)) -> Vec<GridLine> {
    let mut lines = Vec::new();
    let mut db = hi;
    while db >= lo {
        lines.push(GridLine {
            at: (db - lo) / (hi - lo),
            text: if db > 0.0 {
                format!("+{db:.0}")
            } else {
                format!("{db:.0}")
            }
            .into(),
        });
        db -= 6.0;
    }
    lines
}

fn fraction(db: f32, (lo, hi): (f32, f32)) -> f32 {
    ((db - lo) / (hi - lo)).clamp(0.0, 1.0)
}

pub fn hz(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.3}k", v / 1000.0)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + ""
    } else {
        format!("{v:.0}")
    }
}

/// Labels under the bars: one near each of the usual decade marks, never crowded.
pub fn band_texts(bands: &[BandInfo]) -> Vec<BandText> {
    const MARKS: [f64; 10] = [
        20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0, 20_000.0,
    ];
    let mut labelled = vec![String::new(); bands.len()];
    for mark in MARKS {
        if let Some(i) = bands
            .iter()
            .position(|b| b.lo_hz <= mark * 1.06 && mark * 0.94 < b.hi_hz)
        {
            labelled[i] = if mark >= 1000.0 {
                format!("{}k", mark / 1000.0)
            } else {
                format!("{mark:.0}")
            };
        }
    }
    bands
        .iter()
        .zip(labelled)
        .map(|(b, label)| BandText {
            range: if b.partial {
                format!(
                    "{} - {} Hz (partial: cut at Nyquist)",
                    hz(b.lo_hz),
                    hz(b.hi_hz)
                )
            } else {
                format!("{} - {} Hz", hz(b.lo_hz), hz(b.hi_hz))
            }
            .into(),
            window: format!("{:.0} ms window, {:.1} bins", b.window_ms, b.bins).into(),
            label: label.into(),
            partial: b.partial,
        })
        .collect()
}

/// A bar row for a level and its peak-hold marker on the scale `range` (`show_hold` false:
/// no marker), whether its window is full yet, and its strongest frequency.
pub fn bar_row(
    db: f32,
    hold: f32,
    range: (f32, f32),
    show_hold: bool,
    settled: bool,
    peak_hz: f32,
    tilt_db: f32,
) -> BarData {
    BarData {
        settled,
        peak_hz,
        // The display's tilt moves the picture; the numbers stay as measured.
        level: fraction(db + tilt_db, range),
        hold: if show_hold {
            fraction(hold + tilt_db, range)
        } else {
            0.0
        },
        db,
        hold_db: hold,
    }
}

/// The meter's name for channel `c` of `channels`.
pub fn channel_name(channels: usize, c: usize) -> SharedString {
    crate::publish::channel_label(channels, c).into()
}

/// A meter's words: name, numbers, clip light.
pub fn meter_text(
    name: SharedString,
    m: &crate::publish::ChannelLevels,
    clipped: bool,
) -> MeterData {
    let text = |db: f32| -> SharedString {
        if db <= FLOOR_DB {
            "-inf".into()
        } else {
            format!("{db:.1}").into()
        }
    };
    MeterData {
        name,
        peak_text: text(m.peak_dbfs),
        rms_text: text(m.rms_dbfs),
        clipped,
    }
}

/// A meter's columns, with its peak marker at `held_db`.
pub fn meter_level(m: &crate::publish::ChannelLevels, held_db: f32) -> MeterLevel {
    MeterLevel {
        peak: fraction(m.peak_dbfs, METER_RANGE),
        rms: fraction(m.rms_dbfs, METER_RANGE),
        hold: fraction(held_db, METER_RANGE),
    }
}

/// The status line: the source, its format, the analysis, the latency from the sound to the
/// screen, and the counters.
#[allow(clippy::too_many_arguments)]
pub fn status_text(
    source: &str,
    format: StreamFormat,
    sample_format: &str,
    bands: &[BandInfo],
    bars_from: BarsFrom,
    latency_ms: f64,
    dropped: u64,
    xruns: u64,
) -> String {
    let shortest = bands
        .iter()
        .map(|b| b.window_ms)
        .fold(f64::INFINITY, f64::min);
    let longest = bands.iter().map(|b| b.window_ms).fold(0.0, f64::max);
    let latency = if latency_ms.is_finite() {
        format!("{latency_ms:.1} ms")
    } else {
        "n/a".into()
    };
    format!(
        "{source} \u{b7} {} Hz, {} ch, {sample_format} \u{b7} {} bands ({}), windows {shortest:.0}-{longest:.0} ms \u{b7} sound to screen {latency} \u{b7} dropped {dropped} \u{b7} xruns {xruns} \u{b7} dBFS (AES17)",
        format.sample_rate,
        format.channels,
        bands.len(),
        bars_from_text(bars_from, format.channels),
    )
}

/// What the bars measure, in a few words for the status line.
///
/// ```
/// use spektr::config::BarsFrom;
/// use spektr::ui::adapters::bars_from_text;
/// assert_eq!(bars_from_text(BarsFrom::Mean, 2), "mean power");
/// assert_eq!(bars_from_text(BarsFrom::Channel(1), 2), "R only");
/// assert_eq!(bars_from_text(BarsFrom::Mean, 1), "mono");
/// ```
pub fn bars_from_text(mode: BarsFrom, channels: usize) -> String {
    match mode {
        _ if channels == 1 => "mono".into(),
        BarsFrom::Mean => "mean power".into(),
        BarsFrom::Mid => "mid".into(),
        BarsFrom::Side => "side".into(),
        BarsFrom::Channel(c) => format!("{} only", channel_name(channels, c)),
        BarsFrom::Each => "each channel".into(),
    }
}

/// The `--bars-from` modes a source of `channels` channels offers, in the settings panel's
/// order, with their button texts.
pub fn bars_from_choices(channels: usize) -> Vec<(BarsFrom, String)> {
    let mut v = vec![(BarsFrom::Mean, "Mean".to_string())];
    if channels > 1 {
        v.push((BarsFrom::Mid, "Mid".into()));
        if channels == 2 {
            v.push((BarsFrom::Side, "Side".into()));
        }
        if channels <= 8 {
            v.extend(
                (0..channels)
                    .map(|c| (BarsFrom::Channel(c), channel_name(channels, c).to_string())),
            );
        }
        v.push((BarsFrom::Each, "Each".into()));
    }
    v
}

/// One short line per channel trace in `frame` (`--bars-from each`): bar, channel and level
/// as fractions of the scale `range`.
pub fn trace_marks(frame: &Frame, range: (f32, f32), tilts: &[f32], out: &mut Vec<TraceMark>) {
    out.clear();
    let bars = frame.bars_db.len().max(1);
    for (i, &db) in frame.traces_db.iter().enumerate() {
        let tilt = tilts.get(i % bars).copied().unwrap_or(0.0);
        out.push(TraceMark {
            bar: (i % bars) as i32,
            channel: (i / bars) as i32,
            level: fraction(db + tilt, range),
        });
    }
}

/// Each band's display tilt, dB: `db_per_oct` per octave of its centre about 1 kHz.
///
/// ```
/// let t = spektr::ui::adapters::tilts(&[1000.0, 2000.0, 250.0], 4.5);
/// assert_eq!(t, vec![0.0, 4.5, -9.0]);
/// ```
pub fn tilts(centres_hz: &[f64], db_per_oct: f32) -> Vec<f32> {
    centres_hz
        .iter()
        .map(|&hz| {
            if db_per_oct == 0.0 || hz <= 0.0 {
                0.0
            } else {
                (f64::from(db_per_oct) * (hz / 1000.0).log2()) as f32
            }
        })
        .collect()
}

/// Puts a complete picture into `window`'s models (for offscreen rendering).
pub fn show_still(
    window: &MainWindow,
    title: &str,
    status: &str,
    bands: &[BandInfo],
    frame: &Frame,
) {
    let ui = window.global::<Ui>();
    ui.set_title(title.into());
    ui.set_grid(ModelRc::new(VecModel::from(grid(DB_RANGE))));
    ui.set_bands(ModelRc::new(VecModel::from(band_texts(bands))));
    let bars: Vec<BarData> = (0..frame.bars_db.len())
        .map(|i| {
            bar_row(
                frame.bars_db[i],
                frame.peak_hold_db[i],
                DB_RANGE,
                true,
                frame.settled.get(i).copied().unwrap_or(true),
                frame.peak_hz.get(i).copied().unwrap_or(0.0),
                0.0,
            )
        })
        .collect();
    ui.set_bars(ModelRc::new(VecModel::from(bars)));
    let mut marks = Vec::new();
    trace_marks(frame, DB_RANGE, &[], &mut marks);
    ui.set_traces(ModelRc::new(VecModel::from(marks)));
    let n = frame.channels.len();
    let names: Vec<SharedString> = if frame.traces_db.is_empty() {
        Vec::new()
    } else {
        (0..n).map(|c| channel_name(n, c)).collect()
    };
    ui.set_trace_names(ModelRc::new(VecModel::from(names)));
    let meters: Vec<MeterData> = frame
        .channels
        .iter()
        .enumerate()
        .map(|(c, m)| meter_text(channel_name(n, c), m, m.clipped))
        .collect();
    ui.set_meters(ModelRc::new(VecModel::from(meters)));
    let levels: Vec<MeterLevel> = frame
        .channels
        .iter()
        .map(|m| meter_level(m, m.peak_dbfs))
        .collect();
    ui.set_levels(ModelRc::new(VecModel::from(levels)));
    ui.set_status(status.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_runs_from_the_top_every_12_db() {
        let g = grid((-96.0, 0.0));
        assert_eq!(g.len(), 9);
        assert_eq!(g[0].at, 1.0);
        assert_eq!(g[0].text.as_str(), "0");
        assert_eq!(g[8].at, 0.0);
        assert_eq!(g[8].text.as_str(), "-96");
    }

    #[test]
    fn a_bar_sits_at_its_fraction_of_the_scale() {
        let row = bar_row(-48.0, -24.0, (-96.0, 0.0), true, true, 0.0, 0.0);
        assert!((row.level - 0.5).abs() < 1e-6);
        assert!((row.hold - 0.75).abs() < 1e-6);
        assert_eq!(
            bar_row(-200.0, 0.0, (-96.0, 0.0), false, true, 0.0, 0.0).hold,
            0.0
        );
        assert_eq!(
            bar_row(-200.0, 0.0, (-96.0, 0.0), false, true, 0.0, 0.0).level,
            0.0
        );
    }

    #[test]
    fn meters_say_inf_below_the_floor() {
        let m = crate::publish::ChannelLevels {
            peak_dbfs: -6.04,
            rms_dbfs: FLOOR_DB,
            clipped: false,
            true_peak_dbtp: None,
        };
        let t = meter_text("L".into(), &m, true);
        assert_eq!(t.peak_text.as_str(), "-6.0");
        assert_eq!(t.rms_text.as_str(), "-inf");
        assert!(t.clipped);
    }

    #[test]
    fn the_status_line_names_what_the_latency_spans() {
        let s = status_text(
            "pulseaudio:speakers.monitor",
            StreamFormat {
                sample_rate: 48_000,
                channels: 2,
            },
            "s16le",
            &[],
            BarsFrom::Mean,
            23.4,
            0,
            0,
        );
        assert!(s.contains("sound to screen 23.4 ms"), "{s}");
        assert!(s.starts_with("pulseaudio:speakers.monitor"), "{s}");
    }
}
