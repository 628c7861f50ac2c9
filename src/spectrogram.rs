//! A whole-file spectrogram: the analyzer's frames gathered into pixel columns, rows mapped
//! onto a log-frequency axis, coloured by a perceptually uniform map. Pure: `spektr render
//! --view spectrogram` draws the picture's text with the window's renderer around it.
//!
//! Each column is the power mean of the frames whose middle falls in it (a frame is itself
//! the mean over its hops, so nothing between columns is skipped); a column narrower than a
//! frame shows the frame that covers its middle, never an interpolation. Each band is as many
//! pixel rows as its share of the log-frequency axis: a row shows its band's level, so the
//! resolution is the band layout's, as with the bars.

/// The smallest spectrogram picture whose labels all fit, pixels (`render --size`).
pub const MIN_PICTURE: (u32, u32) = (320, 200);

/// A colour map, from the `colorous` crate (matplotlib's, CC0).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ColorMap {
    #[default]
    Magma,
    Inferno,
    Viridis,
    Grey,
}

impl ColorMap {
    /// The name the command line takes.
    pub fn name(self) -> &'static str {
        match self {
            ColorMap::Magma => "magma",
            ColorMap::Inferno => "inferno",
            ColorMap::Viridis => "viridis",
            ColorMap::Grey => "grey",
        }
    }

    /// The colour of `t` (0: the floor, 1: the top; clamped).
    pub fn rgb(self, t: f64) -> [u8; 3] {
        let t = if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let c = match self {
            ColorMap::Magma => colorous::MAGMA.eval_continuous(t),
            ColorMap::Inferno => colorous::INFERNO.eval_continuous(t),
            ColorMap::Viridis => colorous::VIRIDIS.eval_continuous(t),
            // colorous's greys run from white to black: dark is quiet here, as in the others.
            ColorMap::Grey => colorous::GREYS.eval_continuous(1.0 - t),
        };
        [c.r, c.g, c.b]
    }
}

/// A spectrogram's rows: the fine fractional-octave layouts.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum FineLayout {
    /// IEC 61260-1 one-twelfth-octave bands.
    #[default]
    #[value(name = "1/12")]
    #[serde(rename = "1/12")]
    Twelfth,
    /// IEC 61260-1 one-twenty-fourth-octave bands.
    #[value(name = "1/24")]
    #[serde(rename = "1/24")]
    TwentyFourth,
}

impl FineLayout {
    /// The analysis layout.
    pub fn bands(self) -> crate::config::BandLayout {
        match self {
            FineLayout::Twelfth => crate::config::BandLayout::TwelfthOctave,
            FineLayout::TwentyFourth => crate::config::BandLayout::TwentyFourthOctave,
        }
    }

    /// Bands an octave.
    pub fn per_octave(self) -> u32 {
        match self {
            FineLayout::Twelfth => 12,
            FineLayout::TwentyFourth => 24,
        }
    }
}

/// Frames gathered into `columns` columns spanning `from_s..to_s` of audio. Each band is
/// placed at its analysis window's middle: a frame's time is its windows' end, and a low
/// band's window is long (hundreds of ms), so placing it there would draw it late.
#[derive(Debug)]
pub struct Columns {
    bands: usize,
    columns: usize,
    from_s: f64,
    to_s: f64,
    /// Per band, how far its window's middle lies before the frame's end, seconds.
    lags_s: Vec<f64>,
    /// Per column and band: the sum of the powers of the frames whose middle is in it, their
    /// count; and the frame that covers the column's middle (NaN: none).
    sums: Vec<f64>,
    counts: Vec<u32>,
    cover: Vec<f32>,
}

/// Power (full scale 1) of a level in dBFS.
pub fn power_of(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

fn db_of(power: f64) -> f32 {
    (10.0 * power.max(1e-30).log10()) as f32
}

impl Columns {
    /// Room for `columns` columns of bands whose windows' middles lie `lags_s` before a
    /// frame's end, over `from_s..to_s` (`to_s > from_s`).
    pub fn new(lags_s: &[f64], columns: usize, from_s: f64, to_s: f64) -> Self {
        let bands = lags_s.len();
        Columns {
            bands,
            columns,
            from_s,
            to_s,
            lags_s: lags_s.to_vec(),
            sums: vec![0.0; bands * columns],
            counts: vec![0; bands * columns],
            cover: vec![f32::NAN; bands * columns],
        }
    }

    /// Column of audio time `t` (may lie outside).
    fn column_of(&self, t: f64) -> f64 {
        (t - self.from_s) / (self.to_s - self.from_s) * self.columns as f64
    }

    /// Adds one frame covering `start_s..end_s` of audio, its band powers (linear, full
    /// scale 1; NaN for a band whose window is not yet full, which is left out).
    pub fn add(&mut self, start_s: f64, end_s: f64, power: &[f32]) {
        let (bands, columns) = (self.bands, self.columns);
        for (k, (&p, &lag)) in power.iter().zip(&self.lags_s).enumerate() {
            if p.is_nan() {
                continue;
            }
            let (start, end) = (start_s - lag, end_s - lag);
            let mid = self.column_of(0.5 * (start + end)).floor();
            if mid >= 0.0 && (mid as usize) < columns {
                let at = mid as usize * bands + k;
                self.sums[at] += f64::from(p);
                self.counts[at] += 1;
            }
            // Columns whose middle this frame covers.
            let first = (self.column_of(start) - 0.5).ceil().max(0.0) as usize;
            let last = (self.column_of(end) - 0.5).floor();
            if last < 0.0 {
                continue;
            }
            for c in first..=(last as usize).min(columns.saturating_sub(1)) {
                self.cover[c * bands + k] = p;
            }
        }
    }

    /// Each column's level per band, dBFS (NaN where no frame reached). After a band's last
    /// reading (whose window's middle lies before the end, by the band's lag), its columns
    /// hold that reading: the newest there is of the file's end.
    pub fn levels_db(&self) -> Vec<Vec<f32>> {
        let bands = self.bands;
        let mut levels: Vec<Vec<f32>> = (0..self.columns)
            .map(|c| {
                (c * bands..(c + 1) * bands)
                    .map(|at| match self.counts[at] {
                        0 if self.cover[at].is_nan() => f32::NAN,
                        0 => db_of(f64::from(self.cover[at])),
                        n => db_of(self.sums[at] / f64::from(n)),
                    })
                    .collect()
            })
            .collect();
        for k in 0..bands {
            let last = (0..self.columns).rev().find(|&c| !levels[c][k].is_nan());
            if let Some(last) = last {
                let held = levels[last][k];
                for column in &mut levels[last + 1..] {
                    column[k] = held;
                }
            }
        }
        levels
    }
}

/// A file's frames kept for its picture, at most `cap` of them: when full, neighbours are
/// merged in pairs (power mean; each stored frame then stands for twice as many), so a file
/// of any length, or one whose header claims a length it does not have, takes bounded memory.
#[derive(Debug)]
pub struct FrameStore {
    bands: usize,
    cap: usize,
    /// Per stored frame: its span of audio, and its band powers (`bands` each).
    spans: Vec<(f64, f64)>,
    powers: Vec<f32>,
    /// Analyzer frames per stored frame, and the one being gathered.
    stride: usize,
    pending: Vec<f64>,
    pending_count: usize,
    pending_start: f64,
}

impl FrameStore {
    /// A store for frames of `bands` bands, `cap` of them at most (rounded up to even).
    pub fn new(bands: usize, cap: usize) -> Self {
        let cap = (cap.max(2) + 1) & !1;
        FrameStore {
            bands,
            cap,
            spans: Vec::with_capacity(cap),
            powers: Vec::with_capacity(cap * bands),
            stride: 1,
            pending: vec![0.0; bands],
            pending_count: 0,
            pending_start: 0.0,
        }
    }

    /// Adds an analyzer frame covering `start_s..end_s`, its band levels in dBFS (NaN for a
    /// band not to be drawn: its window not yet full).
    pub fn push(&mut self, start_s: f64, end_s: f64, bars_db: &[f32]) {
        if self.pending_count == 0 {
            // Full: halve before gathering the next, so that it gathers as many as the rest.
            if self.spans.len() == self.cap {
                self.halve();
            }
            self.pending_start = start_s;
        }
        for (p, &db) in self.pending.iter_mut().zip(bars_db) {
            *p += f64::from(power_of(db));
        }
        self.pending_count += 1;
        if self.pending_count == self.stride {
            self.store(end_s);
        }
    }

    fn store(&mut self, end_s: f64) {
        let n = self.pending_count as f64;
        self.spans.push((self.pending_start, end_s));
        self.powers
            .extend(self.pending.iter().map(|&p| (p / n) as f32));
        self.pending.iter_mut().for_each(|p| *p = 0.0);
        self.pending_count = 0;
    }

    /// Merges the stored frames in pairs.
    fn halve(&mut self) {
        let b = self.bands;
        for i in 0..self.spans.len() / 2 {
            self.spans[i] = (self.spans[2 * i].0, self.spans[2 * i + 1].1);
            for k in 0..b {
                let mean = 0.5 * (self.powers[2 * i * b + k] + self.powers[(2 * i + 1) * b + k]);
                self.powers[i * b + k] = mean;
            }
        }
        let half = self.spans.len() / 2;
        self.spans.truncate(half);
        self.powers.truncate(half * b);
        self.stride *= 2;
    }

    /// Keeps a last, partly gathered frame too.
    pub fn finish(&mut self, end_s: f64) {
        if self.pending_count > 0 {
            self.store(end_s);
        }
    }

    /// The end of the newest frame stored (0 before any).
    pub fn end_s(&self) -> f64 {
        self.spans.last().map_or(0.0, |s| s.1)
    }

    /// Analyzer frames each stored frame stands for.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The stored frames gathered into `columns` columns over `from_s..to_s`, each band
    /// placed `lags_s` earlier than its frames' spans (see [`Columns`]).
    pub fn columns(&self, lags_s: &[f64], columns: usize, from_s: f64, to_s: f64) -> Columns {
        let mut c = Columns::new(lags_s, columns, from_s, to_s);
        for (i, &(start, end)) in self.spans.iter().enumerate() {
            c.add(
                start,
                end,
                &self.powers[i * self.bands..(i + 1) * self.bands],
            );
        }
        c
    }
}

/// The frequency axis: `height` pixel rows, the top row at `hi_hz`, the bottom at `lo_hz`,
/// log-spaced.
#[derive(Clone, Copy, Debug)]
pub struct FreqAxis {
    pub lo_hz: f64,
    pub hi_hz: f64,
    pub height: usize,
}

impl FreqAxis {
    /// The axis for bands with `edges` (lower, upper; from the lowest's lower edge to the
    /// highest's upper edge).
    pub fn of(edges: &[(f64, f64)], height: usize) -> Self {
        FreqAxis {
            lo_hz: edges.first().map_or(20.0, |b| b.0),
            hi_hz: edges.last().map_or(20_000.0, |b| b.1),
            height,
        }
    }

    /// Distance of `hz` from the top, pixels (fractional).
    pub fn y_of(&self, hz: f64) -> f64 {
        (self.hi_hz / hz).ln() / (self.hi_hz / self.lo_hz).ln() * self.height as f64
    }

    /// The frequency at the middle of pixel row `y`.
    pub fn hz_at(&self, y: usize) -> f64 {
        let f = (y as f64 + 0.5) / self.height as f64;
        self.hi_hz * (self.lo_hz / self.hi_hz).powf(f)
    }

    /// For each pixel row, the band holding its middle frequency (`None` outside them all).
    pub fn rows(&self, edges: &[(f64, f64)]) -> Vec<Option<usize>> {
        (0..self.height)
            .map(|y| band_of(edges, self.hz_at(y)))
            .collect()
    }
}

/// The band of `edges` holding `hz` (`None` outside them all). Adjacent bands' edges, computed
/// separately, may differ in the last digits: a frequency falling into such a sliver belongs
/// to the band nearest it, never to no band.
pub fn band_of(edges: &[(f64, f64)], hz: f64) -> Option<usize> {
    let near = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
    edges
        .iter()
        .position(|&(lo, hi)| lo <= hz && hz < hi)
        .or_else(|| {
            edges
                .iter()
                .position(|&(lo, hi)| (near(lo, hz) || near(hi, hz)) && lo < hi)
        })
}

/// The frequency axis of the bars, `width` pixels across: the bars share the width equally,
/// and across each bar's slot the frequency runs log-spaced from its lower edge to its upper
/// one. For each pixel column, the band of `edges` holding its middle frequency: a picture
/// drawn with these columns lines up with the bars, band for bar.
pub fn bar_columns(bars: &[(f64, f64)], edges: &[(f64, f64)], width: usize) -> Vec<Option<usize>> {
    let n = bars.len();
    (0..width)
        .map(|x| {
            if n == 0 {
                return None;
            }
            let s = (x as f64 + 0.5) / width as f64 * n as f64;
            let i = (s.floor() as usize).min(n - 1);
            let (lo, hi) = bars[i];
            band_of(edges, lo * (hi / lo).powf(s - i as f64))
        })
        .collect()
}

/// Paints `levels` (per column, per band) into an RGB raster `width` x `axis.height`, one
/// pixel column per level column; `floor_db..top_db` spans the colour map; a cell with no
/// level (NaN) is left at the background.
pub fn paint(
    levels: &[Vec<f32>],
    edges: &[(f64, f64)],
    axis: FreqAxis,
    map: ColorMap,
    (floor_db, top_db): (f32, f32),
    background: [u8; 3],
) -> Vec<u8> {
    let width = levels.len();
    let rows = axis.rows(edges);
    let mut rgb = vec![0u8; width * axis.height * 3];
    let span = f64::from(top_db - floor_db);
    let mut colours = vec![background; edges.len()];
    for (x, column) in levels.iter().enumerate() {
        for (c, &db) in colours.iter_mut().zip(column) {
            *c = if db.is_nan() {
                background
            } else {
                map.rgb(f64::from(db - floor_db) / span)
            };
        }
        for (y, row) in rows.iter().enumerate() {
            let colour = row.map_or(background, |b| colours[b]);
            let at = (y * width + x) * 3;
            rgb[at..at + 3].copy_from_slice(&colour);
        }
    }
    rgb
}

/// A vertical colour bar `width` x `height`: the top is `1.0`, the bottom `0.0`.
pub fn colour_bar(map: ColorMap, width: usize, height: usize) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        let colour = map.rgb(1.0 - (y as f64 + 0.5) / height as f64);
        for _ in 0..width {
            rgb.extend_from_slice(&colour);
        }
    }
    rgb
}

/// Frequencies to label on an axis from `lo_hz` to `hi_hz`: 1-2-5 steps per decade, fewer
/// when the axis is short (`max` labels at most; at least the two ends).
pub fn freq_ticks(lo_hz: f64, hi_hz: f64, max: usize) -> Vec<f64> {
    for steps in [&[1.0, 2.0, 5.0][..], &[1.0, 3.0][..], &[1.0][..]] {
        let mut ticks = Vec::new();
        let mut decade = 10f64.powf(lo_hz.log10().floor());
        while decade <= hi_hz {
            for &m in steps {
                let f = m * decade;
                if f >= lo_hz && f <= hi_hz {
                    ticks.push(f);
                }
            }
            decade *= 10.0;
        }
        if ticks.len() <= max {
            return ticks;
        }
    }
    // A very short axis: its ends.
    vec![lo_hz, hi_hz]
}

/// `hz` as an axis label: "50", "500", "2k", "12.5k".
pub fn hz_label(hz: f64) -> String {
    if hz >= 1000.0 {
        let k = hz / 1000.0;
        if (k - k.round()).abs() < 1e-9 {
            format!("{}k", k.round())
        } else {
            format!("{k:.1}k")
        }
    } else {
        format!("{}", hz.round())
    }
}

/// Times to label from `from_s` to `to_s`: the smallest step giving at most `max` labels, of
/// 1-2-5 steps under 10 s and clock-like ones above (15 s, 30 s, 1, 2, 5, 10, 15, 30 min, 1 h).
pub fn time_ticks(from_s: f64, to_s: f64, max: usize) -> (Vec<f64>, f64) {
    let span = (to_s - from_s).max(1e-9);
    let fine = (-4..1).flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)));
    let clock = [
        10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
    ];
    let step = fine
        .chain(clock)
        .find(|s| span / s <= max.max(1) as f64)
        .unwrap_or_else(|| (span / 3600.0 / max.max(1) as f64).ceil() * 3600.0);
    let mut ticks = Vec::new();
    let mut k = (from_s / step - 1e-9).ceil();
    while k * step <= to_s + step * 1e-9 {
        ticks.push(k * step + 0.0); // + 0.0: no "-0" label
        k += 1.0;
    }
    (ticks, step)
}

/// `t` seconds as an axis label with the precision `step` needs: "2.5", "15"; as a clock
/// ("0:15", "1:05") where `clock` (one choice for the whole axis).
pub fn time_label(t: f64, step: f64, clock: bool) -> String {
    if clock {
        let s = t.round() as u64;
        format!("{}:{:02}", s / 60, s % 60)
    } else {
        let decimals = (-step.log10().floor()).clamp(0.0, 4.0) as usize;
        format!("{t:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_the_power_mean_of_their_frames() {
        // Two frames a column: -10 and -20 dB average in power, not in dB.
        let mut c = Columns::new(&[0.0], 2, 0.0, 2.0);
        for (i, db) in [-10.0f32, -20.0, -30.0, -30.0].iter().enumerate() {
            let t = i as f64 * 0.5;
            c.add(t, t + 0.5, &[power_of(*db)]);
        }
        let levels = c.levels_db();
        let want = 10.0 * ((0.1f64 + 0.01) / 2.0).log10();
        assert!((f64::from(levels[0][0]) - want).abs() < 1e-4);
        assert!((levels[1][0] + 30.0).abs() < 1e-4);
    }

    #[test]
    fn a_column_narrower_than_a_frame_shows_the_frame_that_covers_it() {
        let mut c = Columns::new(&[0.0], 10, 0.0, 1.0);
        c.add(0.0, 0.5, &[power_of(-6.0)]);
        c.add(0.5, 1.0, &[power_of(-12.0)]);
        let levels: Vec<f32> = c.levels_db().into_iter().map(|l| l[0]).collect();
        assert!(
            levels[..5].iter().all(|&l| (l + 6.0).abs() < 1e-4),
            "{levels:?}"
        );
        assert!(
            levels[5..].iter().all(|&l| (l + 12.0).abs() < 1e-4),
            "{levels:?}"
        );
    }

    #[test]
    fn a_full_store_merges_pairs_and_keeps_the_power_mean() {
        let mut store = FrameStore::new(1, 4);
        for (i, db) in [-10.0f32, -20.0, -30.0, -40.0, -50.0, -60.0]
            .iter()
            .enumerate()
        {
            store.push(i as f64, i as f64 + 1.0, &[*db]);
        }
        store.finish(6.0);
        assert_eq!(store.stride(), 2);
        assert_eq!(store.spans, [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)]);
        let want = (0.1f32 + 0.01) / 2.0;
        assert!((store.powers[0] - want).abs() < 1e-7);
        let c = store.columns(&[0.0], 3, 0.0, 6.0).levels_db();
        assert!(c.iter().all(|c| !c[0].is_nan()));
    }

    #[test]
    fn each_band_is_placed_at_its_windows_middle_and_unsettled_bands_are_left_out() {
        // Band 0 lags by 0.5 s, band 1 not at all; one frame over 1..2 s (10 columns a second).
        let mut c = Columns::new(&[0.5, 0.0], 30, 0.0, 3.0);
        c.add(1.0, 2.0, &[power_of(-10.0), power_of(-20.0)]);
        c.add(2.0, 3.0, &[f32::NAN, power_of(-20.0)]);
        let levels = c.levels_db();
        let lit =
            |k: usize| -> Vec<usize> { (0..30).filter(|&x| !levels[x][k].is_nan()).collect() };
        // Band 0's last reading is held to the end.
        assert_eq!(lit(0), (5..30).collect::<Vec<_>>());
        assert_eq!(lit(1), (10..30).collect::<Vec<_>>());
    }

    #[test]
    fn rows_follow_the_log_axis() {
        let axis = FreqAxis {
            lo_hz: 10.0,
            hi_hz: 10_000.0,
            height: 300,
        };
        assert!((axis.y_of(100.0) - 200.0).abs() < 1e-9);
        assert!((axis.hz_at(0) - 10_000.0 * 1000f64.powf(-0.5 / 300.0)).abs() < 1e-6);
        // Three octaves (no 1 kHz inside, so the bands run edge to edge): 100 rows each.
        let bands: Vec<(f64, f64)> = crate::engine::bands::log_bands(3, 2000.0, 16_000.0)
            .iter()
            .map(|b| (b.lo_hz, b.hi_hz))
            .collect();
        let axis = FreqAxis::of(&bands, 300);
        let rows = axis.rows(&bands);
        assert_eq!(rows.iter().filter(|r| **r == Some(2)).count(), 100);
        // A row whose middle falls on an edge that its two bands computed a few ulps apart
        // (seen on screen as a dark line through the 1/12-octave picture at 26.6 Hz).
        let hz = axis.hz_at(150);
        let split = [(2000.0, hz), (hz * (1.0 + 4.0 * f64::EPSILON), 16_000.0)];
        let rows = axis.rows(&split);
        assert!(rows.iter().all(Option::is_some), "{:?}", rows[150]);
        // The real case: 1/12 octave from 20 Hz at 372 rows.
        let fine: Vec<(f64, f64)> =
            crate::engine::bands::octave_bands(12, 20.0, 20_000.0, 24_000.0)
                .iter()
                .map(|b| (b.1.lo_hz, b.1.hi_hz))
                .collect();
        let rows = FreqAxis::of(&fine, 372).rows(&fine);
        assert!(rows.iter().all(Option::is_some));
    }

    #[test]
    fn bar_columns_line_up_with_the_bars() {
        // Two bars of unequal ratio over 100 pixels: each pixel's band lies inside the bar
        // above which it is drawn, and the fine bands follow each bar's own log scale.
        let bars = [(100.0, 400.0), (400.0, 800.0)];
        let fine: Vec<(f64, f64)> = (0..12)
            .map(|i| {
                let lo = 100.0 * 2f64.powf(f64::from(i) / 4.0);
                (lo, lo * 2f64.powf(0.25))
            })
            .collect();
        let cols = bar_columns(&bars, &fine, 100);
        for (x, b) in cols.iter().enumerate() {
            let (lo, hi) = fine[b.expect("every pixel has a band")];
            let bar = bars[x / 50];
            assert!(lo >= bar.0 - 1e-9 && hi <= bar.1 + 1e-9, "{x}: {lo}..{hi}");
        }
        // The first bar holds two octaves (8 fine bands over 50 pixels), the second one
        // octave (4 over 50).
        assert_eq!(cols.iter().filter(|b| **b == Some(0)).count(), 6);
        assert!(cols[50..].iter().all(|b| b.is_some_and(|b| b >= 8)));
        // Outside the fine bands: no band.
        assert_eq!(bar_columns(&[(20.0, 50.0)], &fine, 4), [None; 4]);
    }

    #[test]
    fn ticks_and_labels() {
        assert_eq!(
            freq_ticks(20.0, 20_000.0, 12),
            [20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 2e4]
        );
        assert_eq!(hz_label(2000.0), "2k");
        assert_eq!(hz_label(12_500.0), "12.5k");
        let (t, step) = time_ticks(0.0, 30.0, 8);
        assert_eq!((t.len(), step), (7, 5.0));
        assert_eq!(time_ticks(30.0, 640.0, 11).1, 60.0);
        assert_eq!(time_ticks(0.0, 0.5, 6).1, 0.1);
        assert_eq!(time_label(65.0, 5.0, true), "1:05");
        assert_eq!(time_label(15.0, 5.0, true), "0:15");
        assert_eq!(time_label(2.5, 0.5, false), "2.5");
        assert_eq!(time_label(1.0005, 0.0005, false), "1.0005");
        assert_eq!(freq_ticks(20.0, 20_000.0, 2), [20.0, 20_000.0]);
    }

    #[test]
    fn colour_maps_run_dark_to_bright() {
        for map in [
            ColorMap::Magma,
            ColorMap::Inferno,
            ColorMap::Viridis,
            ColorMap::Grey,
        ] {
            let lum = |t| {
                let [r, g, b] = map.rgb(t);
                0.2126 * f64::from(r) + 0.7152 * f64::from(g) + 0.0722 * f64::from(b)
            };
            assert!(lum(0.0) < lum(0.5) && lum(0.5) < lum(1.0), "{map:?}");
        }
    }
}
