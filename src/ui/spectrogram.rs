//! The window's scrolling spectrogram. Runs on the UI thread only.
//!
//! The engine's second analyzer (fine fractional-octave bands, see `engine::spectro`) sends
//! every frame through a ring. Each tick drains it:
//!
//! - every frame goes into a [`History`] of the last minute (what a rebuild, a resize, the
//!   unfreeze and the readout read);
//! - live and shown, each frame is added to the [`Scroll`]'s cells: pixel columns of
//!   `span / width` seconds of stream time, each band placed at its window's middle. A cell
//!   is the power mean of the frames whose middle falls in it; a cell narrower than a frame
//!   shows the frame that covers its middle. Only the cells a frame touches are coloured.
//!
//! The picture is a ring of pixel columns: a new column overwrites the oldest, and the window
//! shows the ring as two images side by side (`source-clip-x`), so nothing moves in memory as
//! it scrolls. In both views ([`Orientation::Down`]) time runs down instead, on the bars'
//! frequency axis: the ring holds pixel rows, shown as two images one above the other. Two pixel buffers take turns: the one Slint does not hold is brought up to date
//! (only the columns changed since it was last shown) and handed over, so Slint never copies a
//! shared buffer and a tick allocates nothing. Frozen, minimized or not shown, nothing is
//! coloured: frames only go into the history.

use slint::{Rgb8Pixel, SharedPixelBuffer};

use crate::engine::BandInfo;
use crate::engine::spectro::SpectrogramFrames;
use crate::spectrogram::{ColorMap, FreqAxis, power_of};

/// The longest span the window offers, seconds.
pub const MAX_SPAN_S: f64 = 60.0;
/// The plot's background where there is no reading (before the stream, a band's window not
/// yet full).
pub const BACKGROUND: [u8; 3] = [0x14, 0x16, 0x1a];
/// The picture is handed to Slint at most this many times a second (or when [`MAX_STILL`]
/// passed), in steps of whole columns: every repaint costs the whole plot's pixels, and steps
/// of a few columns still scroll at an even speed (10 s over 500 pixels: two columns a step,
/// 25 steps a second). Where columns come fewer than that (long spans, time running down a
/// short plot), each one is shown.
pub const MAX_STEPS_PER_S: f64 = 36.0;
/// The longest a changed picture waits to be shown.
pub const MAX_STILL: std::time::Duration = std::time::Duration::from_millis(100);
/// Extra ring columns beyond the visible ones (a column must not be reused while a low
/// band's frame, placed its lag earlier, may still land in it... those go beyond the left
/// edge and are dropped there).
const SPARE_COLUMNS: usize = 4;

/// The last minute of frames (and the longest band's lag), records as the ring sends them.
/// Above `MAX_HISTORY_FPS` frames a second, consecutive frames are kept as their power mean
/// (a column is never narrower than that), so that the history stays a few megabytes.
#[derive(Debug)]
pub struct History {
    record: usize,
    values: Vec<f64>,
    /// Records held, and the oldest one's index in `values` (a ring of records).
    len: usize,
    head: usize,
    /// The shortest span a record may cover, seconds, and how many frames the newest holds.
    min_s: f64,
    merged: u32,
}

/// The history's finest time resolution, records per second.
pub const MAX_HISTORY_FPS: f64 = 120.0;

impl History {
    /// Room for `seconds` of records of `record` numbers from frames arriving `fps` times a
    /// second (allocated once).
    pub fn new(record: usize, seconds: f64, fps: f64) -> Self {
        let rate = fps.clamp(1.0, MAX_HISTORY_FPS);
        let records = (seconds * rate).ceil().max(1.0) as usize;
        History {
            record,
            values: vec![0.0; record * records],
            len: 0,
            head: 0,
            min_s: if fps > MAX_HISTORY_FPS {
                1.0 / MAX_HISTORY_FPS
            } else {
                0.0
            },
            merged: 0,
        }
    }

    fn capacity(&self) -> usize {
        self.values.len() / self.record
    }

    /// Adds a record (the oldest goes when full), or merges it into the newest one while
    /// that spans less than the finest resolution.
    pub fn push(&mut self, record: &[f64]) {
        let cap = self.capacity();
        if self.len > 0 && self.min_s > 0.0 {
            let slot = (self.head + self.len - 1) % cap;
            let last = &mut self.values[slot * self.record..(slot + 1) * self.record];
            if record[1] - last[0] <= self.min_s && record[0] >= last[0] {
                let n = f64::from(self.merged);
                last[1] = record[1];
                for (old, &new) in last[2..].iter_mut().zip(&record[2..]) {
                    *old = match (old.is_nan(), new.is_nan()) {
                        (_, true) => *old,
                        (true, false) => new,
                        (false, false) => {
                            let p =
                                (n * 10f64.powf(*old / 10.0) + 10f64.powf(new / 10.0)) / (n + 1.0);
                            10.0 * p.max(1e-30).log10()
                        }
                    };
                }
                self.merged += 1;
                return;
            }
        }
        let slot = (self.head + self.len) % cap;
        self.values[slot * self.record..(slot + 1) * self.record].copy_from_slice(record);
        self.merged = 1;
        if self.len < cap {
            self.len += 1;
        } else {
            self.head = (self.head + 1) % cap;
        }
    }

    /// The records, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &[f64]> {
        let cap = self.capacity();
        (0..self.len).map(move |i| {
            let slot = (self.head + i) % cap;
            &self.values[slot * self.record..(slot + 1) * self.record]
        })
    }

    /// The newest record's end, stream seconds.
    pub fn end_s(&self) -> Option<f64> {
        self.iter().last().map(|r| r[1])
    }

    /// Forgets every record.
    pub fn clear(&mut self) {
        self.len = 0;
        self.head = 0;
    }
}

/// Which way the picture runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Orientation {
    /// Time across, newest at the right; frequency up a log axis over the bands.
    Across,
    /// Time down, newest at the bottom (where the bars sit, below the picture); frequency
    /// across on the bars' own axis (these bars' edges, see [`crate::spectrogram::bar_columns`]),
    /// so that every band is drawn right above its bar.
    Down(Vec<(f64, f64)>),
}

/// The cells and pixels of the visible span: `width` time steps of `dt` seconds ("columns",
/// whichever way they are drawn), `height` frequency pixels.
#[derive(Debug)]
pub struct Scroll {
    bands: usize,
    lags_s: Vec<f64>,
    /// Per band, its frequency pixels (first, last exclusive); per frequency pixel, its band.
    band_rows: Vec<(usize, usize)>,
    row_band: Vec<Option<usize>>,
    /// Time down: the raster holds a pixel row per ring position.
    down: bool,
    width: usize,
    height: usize,
    ring: usize,
    dt: f64,
    sums: Vec<f32>,
    counts: Vec<u16>,
    cover: Vec<f32>,
    /// Per ring position, the column it holds.
    column_of: Vec<i64>,
    /// RGB: across, `ring` pixels a row and `height` rows; down, `height` pixels a row and
    /// `ring` rows.
    pixels: Vec<u8>,
    /// Per ring position, the paint count when it last changed.
    changed: Vec<u64>,
    paints: u64,
    /// The newest column (the right edge), `None` before the first frame.
    right: Option<i64>,
    lut: Vec<[u8; 3]>,
    floor_db: f32,
    top_db: f32,
}

impl Scroll {
    /// A picture of `plot` pixels (across, down) of the bands `edges` (placed `lags_s` before
    /// their frames' ends) over `span_s`, running `orientation`'s way, coloured by `map` over
    /// `floor_db..top_db`.
    pub fn new(
        edges: &[(f64, f64)],
        lags_s: &[f64],
        plot: (usize, usize),
        orientation: &Orientation,
        span_s: f64,
        map: ColorMap,
        (floor_db, top_db): (f32, f32),
    ) -> Self {
        let (across, down) = (plot.0.max(1), plot.1.max(1));
        let bands = edges.len();
        let (width, height, row_band) = match orientation {
            Orientation::Across => (across, down, FreqAxis::of(edges, down).rows(edges)),
            Orientation::Down(bars) => (
                down,
                across,
                crate::spectrogram::bar_columns(bars, edges, across),
            ),
        };
        let mut band_rows = vec![(0, 0); bands];
        for (y, b) in row_band.iter().enumerate() {
            if let Some(b) = *b {
                let r = &mut band_rows[b];
                if r.1 == 0 {
                    *r = (y, y + 1);
                } else {
                    r.1 = y + 1;
                }
            }
        }
        let ring = width + SPARE_COLUMNS;
        let lut = (0..256)
            .map(|i| map.rgb(f64::from(i) / 255.0))
            .collect::<Vec<_>>();
        let mut s = Scroll {
            bands,
            lags_s: lags_s.to_vec(),
            band_rows,
            row_band,
            down: matches!(orientation, Orientation::Down(_)),
            width,
            height,
            ring,
            dt: span_s / width as f64,
            sums: vec![0.0; ring * bands],
            counts: vec![0; ring * bands],
            cover: vec![f32::NAN; ring * bands],
            column_of: vec![i64::MIN; ring],
            pixels: vec![0; ring * height * 3],
            changed: vec![0; ring],
            paints: 1,
            right: None,
            lut,
            floor_db,
            top_db,
        };
        for p in 0..ring {
            s.clear_position(p, i64::MIN);
        }
        s
    }

    /// Pixels: time steps (the visible ones) and frequency pixels.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Ring positions: the time pixels a raster holds.
    pub fn ring(&self) -> usize {
        self.ring
    }

    /// The raster's width and height, pixels.
    pub fn raster(&self) -> (usize, usize) {
        if self.down {
            (self.height, self.ring)
        } else {
            (self.ring, self.height)
        }
    }

    /// Whether time runs down.
    pub fn down(&self) -> bool {
        self.down
    }

    /// Where the pixel of ring position `p` and frequency pixel `f` starts in the raster.
    fn at(&self, p: usize, f: usize) -> usize {
        if self.down {
            (p * self.height + f) * 3
        } else {
            (f * self.ring + p) * 3
        }
    }

    /// Seconds a column.
    pub fn column_s(&self) -> f64 {
        self.dt
    }

    /// The newest column, `None` before any frame.
    pub fn right(&self) -> Option<i64> {
        self.right
    }

    fn position(&self, column: i64) -> usize {
        column.rem_euclid(self.ring as i64) as usize
    }

    fn clear_position(&mut self, p: usize, column: i64) {
        self.column_of[p] = column;
        let b = self.bands;
        self.sums[p * b..(p + 1) * b].fill(0.0);
        self.counts[p * b..(p + 1) * b].fill(0);
        self.cover[p * b..(p + 1) * b].fill(f32::NAN);
        for f in 0..self.height {
            let at = self.at(p, f);
            self.pixels[at..at + 3].copy_from_slice(&BACKGROUND);
        }
        self.changed[p] = self.paints;
    }

    /// Moves the right edge to `column`, clearing the columns that come into view.
    fn advance(&mut self, column: i64) {
        let from = match self.right {
            Some(r) if column <= r => return,
            Some(r) if column - r < self.ring as i64 => r + 1,
            _ => column - self.ring as i64 + 1,
        };
        for c in from..=column {
            let p = self.position(c);
            self.clear_position(p, c);
        }
        self.right = Some(column);
    }

    fn colour(&self, db: f32) -> [u8; 3] {
        let t = (db - self.floor_db) / (self.top_db - self.floor_db);
        self.lut[(t.clamp(0.0, 1.0) * 255.0).round() as usize]
    }

    /// The level of band `b` in ring position `p`, dBFS (NaN: none).
    fn cell_db(&self, p: usize, b: usize) -> f32 {
        let at = p * self.bands + b;
        match self.counts[at] {
            0 => self.cover[at],
            n => crate::engine::dsp::power_to_db(f64::from(self.sums[at] / f32::from(n))),
        }
    }

    fn paint_cell(&mut self, p: usize, b: usize) {
        let db = self.cell_db(p, b);
        let colour = if db.is_nan() {
            BACKGROUND
        } else {
            self.colour(db)
        };
        let (first, last) = self.band_rows[b];
        for f in first..last {
            let at = self.at(p, f);
            self.pixels[at..at + 3].copy_from_slice(&colour);
        }
        self.changed[p] = self.paints;
    }

    /// The column holding stream time `t`.
    fn column_at(&self, t: f64) -> i64 {
        (t / self.dt).floor() as i64
    }

    /// The ring position of `column` when it is held (visible, or just left of it).
    fn held(&self, column: i64) -> Option<usize> {
        let p = self.position(column);
        (self.column_of[p] == column).then_some(p)
    }

    /// Adds a record (`start`, `end`, then each band's dBFS or NaN): the right edge moves to
    /// its end, and the cells it reaches are coloured.
    pub fn add(&mut self, record: &[f64]) {
        let (start, end) = (record[0], record[1]);
        let levels = &record[2..];
        self.advance(self.column_at(end));
        let oldest = self.right.map_or(i64::MIN, |r| r - self.ring as i64 + 1);
        for (b, &db) in levels.iter().enumerate().take(self.bands) {
            if db.is_nan() {
                continue;
            }
            let lag = self.lags_s[b];
            let (s, e) = (start - lag, end - lag);
            let power = power_of(db as f32);
            if let Some(p) = self.held(self.column_at(0.5 * (s + e))) {
                self.sums[p * self.bands + b] += power;
                self.counts[p * self.bands + b] += 1;
                self.paint_cell(p, b);
            }
            // Columns whose middle this frame covers (and that have no frame of their own),
            // from the oldest one held.
            let first = ((s / self.dt - 0.5).ceil() as i64).max(oldest);
            let last = (e / self.dt - 0.5).floor() as i64;
            for c in first..=last.min(first + self.ring as i64) {
                if let Some(p) = self.held(c) {
                    let at = p * self.bands + b;
                    self.cover[at] = db as f32;
                    if self.counts[at] == 0 {
                        self.paint_cell(p, b);
                    }
                }
            }
        }
    }

    /// Ends a tick's painting: what changed after this is the next tick's.
    pub fn end_paint(&mut self) -> u64 {
        let done = self.paints;
        self.paints += 1;
        done
    }

    /// Copies the time pixels changed after paint `since` into `buffer` (a raster like this
    /// one's that was up to date as of `since`).
    pub fn copy_changes(&self, since: u64, buffer: &mut [u8]) {
        let row = self.ring * 3;
        let line = self.height * 3;
        let mut p = 0;
        while p < self.ring {
            if self.changed[p] <= since {
                p += 1;
                continue;
            }
            let run = (p..self.ring)
                .take_while(|&q| self.changed[q] > since)
                .count();
            if self.down {
                // Whole raster rows, one after another.
                let (from, to) = (p * line, (p + run) * line);
                buffer[from..to].copy_from_slice(&self.pixels[from..to]);
            } else {
                for y in 0..self.height {
                    let at = y * row + p * 3;
                    buffer[at..at + run * 3].copy_from_slice(&self.pixels[at..at + run * 3]);
                }
            }
            p += run;
        }
    }

    /// The whole raster (RGB, [`Scroll::raster`] pixels).
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// Where the visible span starts in the ring, and how many columns lie before the ring's
    /// end (the rest continue from position 0).
    pub fn visible(&self) -> (usize, usize) {
        let right = self.right.unwrap_or(0);
        let p0 = self.position(right - self.width as i64 + 1);
        (p0, (self.ring - p0).min(self.width))
    }

    /// The columns of the picture whose right edge is column `right`, oldest first: (column
    /// middle's stream time, ring position when the column is held).
    pub fn columns(&self, right: i64) -> impl Iterator<Item = (f64, Option<usize>)> + '_ {
        (right - self.width as i64 + 1..=right)
            .map(move |c| ((c as f64 + 0.5) * self.dt, self.held(c)))
    }

    /// The cell under a point of the picture (`x`, `y` from 0 to 1 across and down): the
    /// column middle's stream time, the band, and its level (dBFS; NaN: none).
    pub fn cell_at(&self, x: f64, y: f64) -> Option<(f64, usize, f32)> {
        self.cell_at_edge(x, y, self.right?)
    }

    /// As `cell_at`, for the picture whose right edge was column `right`.
    pub fn cell_at_edge(&self, x: f64, y: f64, right: i64) -> Option<(f64, usize, f32)> {
        let (x, y) = if self.down { (y, x) } else { (x, y) };
        let col =
            ((x.clamp(0.0, 1.0) * self.width as f64).floor() as i64).min(self.width as i64 - 1);
        let row = ((y.clamp(0.0, 1.0) * self.height as f64).floor() as usize).min(self.height - 1);
        let b = self.row_band[row]?;
        let c = right - self.width as i64 + 1 + col;
        let db = self.held(c).map_or(f32::NAN, |p| self.cell_db(p, b));
        Some(((c as f64 + 0.5) * self.dt, b, db))
    }

    /// The level of band `b` in the held column at ring position `p`.
    pub fn level(&self, p: usize, b: usize) -> f32 {
        self.cell_db(p, b)
    }
}

/// Two pixel buffers taking turns (see the module's note).
#[derive(Debug)]
pub struct Buffers {
    buffers: [SharedPixelBuffer<Rgb8Pixel>; 2],
    /// The paint each buffer is up to date with.
    synced: [u64; 2],
    /// The buffer Slint shows.
    shown: usize,
}

impl Buffers {
    /// Two buffers for `scroll`, both up to date with it as of paint `painted`.
    pub fn new(scroll: &Scroll, painted: u64) -> Self {
        let (w, h) = scroll.raster();
        let (w, h) = (w as u32, h as u32);
        let make = || {
            let mut b = SharedPixelBuffer::<Rgb8Pixel>::new(w, h);
            b.make_mut_bytes().copy_from_slice(scroll.pixels());
            b
        };
        Buffers {
            buffers: [make(), make()],
            synced: [painted, painted],
            shown: 0,
        }
    }

    /// The image to show now: the buffer Slint does not hold, brought up to date. Once the
    /// image before it is no longer shown, its buffer is not shared and nothing is copied.
    pub fn next(&mut self, scroll: &Scroll, painted: u64) -> slint::Image {
        let free = 1 - self.shown;
        scroll.copy_changes(self.synced[free], self.buffers[free].make_mut_bytes());
        self.synced[free] = painted;
        self.shown = free;
        slint::Image::from_rgb8(self.buffers[free].clone())
    }

    /// The image of the buffer shown now.
    pub fn current(&self) -> slint::Image {
        slint::Image::from_rgb8(self.buffers[self.shown].clone())
    }
}

/// The frames' source and the bands: what the view is made of.
#[derive(Debug)]
pub struct Feed {
    pub frames: SpectrogramFrames,
    pub edges: Vec<(f64, f64)>,
    pub lags_s: Vec<f64>,
    scratch: Vec<f64>,
}

impl Feed {
    /// The feed of `frames`.
    pub fn new(frames: SpectrogramFrames) -> Self {
        let edges = frames.bands.iter().map(|b| (b.lo_hz, b.hi_hz)).collect();
        let lags_s = frames.bands.iter().map(lag_s).collect();
        let scratch = vec![0.0; frames.record];
        Feed {
            frames,
            edges,
            lags_s,
            scratch,
        }
    }

    /// Takes every whole record the ring holds, oldest first.
    pub fn drain(&mut self, mut each: impl FnMut(&[f64])) -> usize {
        let record = self.frames.record;
        let n = self.frames.ring.slots() / record;
        if n == 0 {
            return 0;
        }
        let Ok(chunk) = self.frames.ring.read_chunk(n * record) else {
            return 0;
        };
        let (a, b) = chunk.as_slices();
        let mut filled = 0;
        for &v in a.iter().chain(b) {
            self.scratch[filled] = v;
            filled += 1;
            if filled == record {
                each(&self.scratch);
                filled = 0;
            }
        }
        chunk.commit_all();
        n
    }
}

/// Where a band's reading is placed before its frame's end: half its window, and on average
/// half the interval at which it is recomputed (a frame shows its newest analysis).
pub fn lag_s(b: &BandInfo) -> f64 {
    (b.window_ms + b.update_ms) / 2000.0
}

/// What the view draws with: span, colours, scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Look {
    pub span_s: f64,
    pub map: ColorMap,
    pub range_db: (f32, f32),
    pub layout: crate::spectrogram::FineLayout,
}

/// The window's spectrogram: the feed, the history, the picture.
#[derive(Debug)]
pub struct SpectroView {
    feed: Feed,
    history: History,
    scroll: Option<Scroll>,
    buffers: Option<Buffers>,
    look: Look,
    orientation: Orientation,
    /// The plot's size the picture was made for (physical pixels) and the scale factor.
    made_for: Option<((usize, usize), f32)>,
    /// Frames came that the picture does not show yet (frozen, minimized): rebuild from the
    /// history before showing it again.
    behind: bool,
    /// Where the pointer rests on the plot (0 to 1 across and down), for snapshots.
    pointer: std::cell::Cell<Option<(f32, f32)>>,
    /// The right edge of the picture Slint shows, when it was handed over, and whether the
    /// cells changed since.
    shown_right: Option<i64>,
    shown_at: Option<std::time::Instant>,
    pending: bool,
    /// Frozen and remade (another view, a new size): the stream time the frozen picture ends.
    frozen_end_s: Option<f64>,
}

fn labels(items: impl IntoIterator<Item = (f32, String)>) -> slint::ModelRc<super::AxisLabel> {
    let v: Vec<super::AxisLabel> = items
        .into_iter()
        .map(|(at, text)| super::AxisLabel {
            at,
            text: text.into(),
        })
        .collect();
    slint::ModelRc::new(slint::VecModel::from(v))
}

impl SpectroView {
    /// A view of `frames`, drawn with `look`.
    pub fn new(frames: SpectrogramFrames, look: Look, fps: f64) -> Self {
        let feed = Feed::new(frames);
        let max_lag = feed.lags_s.iter().copied().fold(0.0, f64::max);
        SpectroView {
            history: History::new(feed.frames.record, MAX_SPAN_S + max_lag + 1.0, fps),
            feed,
            scroll: None,
            buffers: None,
            look,
            orientation: Orientation::Across,
            made_for: None,
            behind: false,
            pointer: std::cell::Cell::new(None),
            shown_right: None,
            shown_at: None,
            pending: false,
            frozen_end_s: None,
        }
    }

    /// The bands of the rows.
    pub fn bands(&self) -> &[BandInfo] {
        &self.feed.frames.bands
    }

    /// Frames the window did not read in time.
    pub fn dropped(&self) -> u64 {
        self.feed
            .frames
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Draw with `look` from now on (the picture is remade from the history).
    pub fn set_look(&mut self, look: Look) {
        if look != self.look {
            self.look = look;
            self.made_for = None;
        }
    }

    /// Run `orientation`'s way from now on (the picture is remade from the history).
    pub fn set_orientation(&mut self, orientation: Orientation) {
        if orientation != self.orientation {
            self.orientation = orientation;
            self.made_for = None;
        }
    }

    /// Frozen, minimized or hidden: the frames only go into the history.
    pub fn gather(&mut self) {
        let history = &mut self.history;
        if self.feed.drain(|r| history.push(r)) > 0 {
            self.behind = true;
        }
    }

    fn plot_size(ui: &super::Ui<'_>, scale: f32) -> (usize, usize) {
        (
            (ui.get_spectro_width() * scale).round().max(1.0) as usize,
            (ui.get_spectro_height() * scale).round().max(1.0) as usize,
        )
    }

    /// A frozen tick: the frames go into the history; when the view, the plot's size or the
    /// look changed, the frozen picture is remade as it was, ending where it ended.
    pub fn frozen(&mut self, ui: &super::Ui<'_>, scale: f32) {
        self.gather();
        let size = Self::plot_size(ui, scale);
        if self.made_for == Some((size, scale)) {
            return;
        }
        let Some(scroll) = self.scroll.as_ref() else {
            return;
        };
        let shown = self.shown_right.or(scroll.right());
        let Some(end) = self
            .frozen_end_s
            .or(shown.map(|r| (r + 1) as f64 * scroll.column_s()))
        else {
            return;
        };
        self.frozen_end_s = Some(end);
        self.rebuild(ui, size, scale, Some(end));
        // Unfrozen, the picture is remade live.
        self.behind = true;
    }

    /// One tick, shown and live: new frames into the history and the picture; the picture
    /// remade when the plot's size or the look changed, or after a freeze.
    pub fn tick(&mut self, ui: &super::Ui<'_>, scale: f32) {
        let size = Self::plot_size(ui, scale);
        if self.made_for != Some((size, scale)) || self.behind || self.scroll.is_none() {
            self.gather();
            self.frozen_end_s = None;
            self.rebuild(ui, size, scale, None);
            return;
        }
        let Some(scroll) = self.scroll.as_mut() else {
            return;
        };
        let history = &mut self.history;
        let n = self.feed.drain(|r| {
            history.push(r);
            scroll.add(r);
        });
        self.pending |= n > 0;
        let step = (1.0 / scroll.column_s() / MAX_STEPS_PER_S).ceil().max(1.0) as i64;
        let moved = match (scroll.right(), self.shown_right) {
            (Some(r), Some(s)) => r - s >= step,
            _ => true,
        };
        let now = std::time::Instant::now();
        let waited = self
            .shown_at
            .is_none_or(|t| now.duration_since(t) >= MAX_STILL);
        if self.pending && (moved || waited) {
            self.show(ui);
        }
    }

    /// Hands the cells painted so far to Slint (a snapshot wants the newest picture).
    pub fn show(&mut self, ui: &super::Ui<'_>) {
        let (Some(scroll), Some(buffers)) = (self.scroll.as_mut(), self.buffers.as_mut()) else {
            return;
        };
        if !self.pending {
            return;
        }
        let now = std::time::Instant::now();
        let painted = scroll.end_paint();
        ui.set_spectro_image(buffers.next(scroll, painted));
        Self::show_clip(ui, scroll);
        self.shown_right = scroll.right();
        self.shown_at = Some(now);
        self.pending = false;
    }

    fn show_clip(ui: &super::Ui<'_>, scroll: &Scroll) {
        let (p0, first) = scroll.visible();
        ui.set_spectro_clip(p0 as i32);
        ui.set_spectro_first(first as i32);
    }

    /// A new picture of `size` from the history (to its end, or to stream time `until`), its
    /// axes and colour bar.
    fn rebuild(
        &mut self,
        ui: &super::Ui<'_>,
        size: (usize, usize),
        scale: f32,
        until: Option<f64>,
    ) {
        let look = self.look;
        let mut scroll = Scroll::new(
            &self.feed.edges,
            &self.feed.lags_s,
            size,
            &self.orientation,
            look.span_s,
            look.map,
            look.range_db,
        );
        let max_lag = self.feed.lags_s.iter().copied().fold(0.0, f64::max);
        if let Some(end) = until.or(self.history.end_s()) {
            let from = end - look.span_s - max_lag - 1.0;
            for r in self.history.iter().filter(|r| r[1] >= from && r[1] <= end) {
                scroll.add(r);
            }
        }
        let painted = scroll.end_paint();
        let buffers = Buffers::new(&scroll, painted);
        ui.set_spectro_image(buffers.current());
        let down = scroll.down();
        ui.set_spectro_down(down);
        ui.set_spectro_columns(scroll.size().0 as i32);
        ui.set_spectro_rows(scroll.size().1 as i32);
        Self::show_clip(ui, &scroll);
        // The axes, in logical pixels.
        let (w, h) = (size.0 as f32 / scale, size.1 as f32 / scale);
        let axis = FreqAxis::of(&self.feed.edges, size.1);
        if down {
            // The bars' labels below are the frequency axis.
            ui.set_spectro_freq_labels(labels([]));
        } else {
            let freq = crate::spectrogram::freq_ticks(axis.lo_hz, axis.hi_hz, (h / 26.0) as usize);
            ui.set_spectro_freq_labels(labels(freq.into_iter().map(|hz| {
                (
                    axis.y_of(hz) as f32 / scale,
                    crate::spectrogram::hz_label(hz),
                )
            })));
        }
        let span = look.span_s;
        let (length, room) = if down { (h, 30.0) } else { (w, 70.0) };
        let (ticks, step) =
            crate::spectrogram::time_ticks(0.0, span, (length / room).max(2.0) as usize);
        ui.set_spectro_time_labels(labels(ticks.into_iter().map(|t| {
            let text = if t == 0.0 {
                "now".to_string()
            } else {
                format!("-{} s", crate::spectrogram::time_label(t, step, false))
            };
            ((1.0 - t / span) as f32 * length, text)
        })));
        let (floor, top) = look.range_db;
        if down {
            // A bar across the title line: the floor at its left, the top at its right.
            ui.set_spectro_db_labels(labels([
                (0.0, format!("{floor:.0}")),
                (1.0, format!("{top:.0} dBFS")),
            ]));
            let bar: Vec<u8> = (0..256)
                .flat_map(|i| look.map.rgb(f64::from(i) / 255.0))
                .collect();
            let mut image = SharedPixelBuffer::<Rgb8Pixel>::new(256, 1);
            image.make_mut_bytes().copy_from_slice(&bar);
            ui.set_spectro_colour_bar(slint::Image::from_rgb8(image));
        } else {
            let step = if top - floor > 60.0 { 12.0 } else { 6.0 };
            let mut db = top;
            let mut marks = Vec::new();
            while db >= floor - 0.01 {
                marks.push(((top - db) / (top - floor) * h, format!("{db:.0}")));
                db -= step;
            }
            ui.set_spectro_db_labels(labels(marks));
            let bar = crate::spectrogram::colour_bar(look.map, 1, 256);
            let mut image = SharedPixelBuffer::<Rgb8Pixel>::new(1, 256);
            image.make_mut_bytes().copy_from_slice(&bar);
            ui.set_spectro_colour_bar(slint::Image::from_rgb8(image));
        }
        let bands = &self.feed.frames.bands;
        let (lo, hi) = (
            crate::spectrogram::hz_label(axis.lo_hz),
            crate::spectrogram::hz_label(axis.hi_hz),
        );
        let title = if down {
            format!(
                "1/{} octave, {} rows above the bars \u{b7} the last {span} s",
                look.layout.per_octave(),
                bands.len(),
            )
        } else {
            format!(
                "1/{} octave, {} rows, {lo} to {hi} Hz \u{b7} the last {span} s",
                look.layout.per_octave(),
                bands.len(),
            )
        };
        ui.set_spectro_title(title.into());
        self.shown_right = scroll.right();
        self.shown_at = Some(std::time::Instant::now());
        self.pending = false;
        self.scroll = Some(scroll);
        self.buffers = Some(buffers);
        self.made_for = Some((size, scale));
        self.behind = false;
    }

    /// The words for the cell under the pointer (`x`, `y` from 0 to 1 across the plot).
    pub fn readout(&self, x: f32, y: f32) -> String {
        self.pointer.set(Some((x, y)));
        let Some(scroll) = &self.scroll else {
            return String::new();
        };
        // The picture Slint shows may be a step behind the cells.
        let Some(right) = self.shown_right.or(scroll.right()) else {
            return String::new();
        };
        let Some((t, b, db)) = scroll.cell_at_edge(f64::from(x), f64::from(y), right) else {
            return String::new();
        };
        let Some(band) = self.feed.frames.bands.get(b) else {
            return String::new();
        };
        let now = (right + 1) as f64 * scroll.column_s();
        let level = if db.is_nan() {
            "no reading here".to_string()
        } else {
            format!("{db:.1} dBFS")
        };
        format!(
            "{:.0} Hz band ({:.0} to {:.0} Hz)\n{level}\nat {t:.2} s ({:.1} s before the newest)\nwindow {:.0} ms, every {:.0} ms",
            band.center_hz,
            band.lo_hz,
            band.hi_hz,
            (now - t).max(0.0),
            band.window_ms,
            band.update_ms
        )
    }

    /// The pointer left the plot.
    pub fn pointer_left(&self) {
        self.pointer.set(None);
    }

    /// The cell under the pointer, for a snapshot.
    fn pointer_cell(&self) -> serde_json::Value {
        let cell = self.pointer.get().and_then(|(x, y)| {
            let scroll = self.scroll.as_ref()?;
            let right = self.shown_right.or(scroll.right())?;
            let (t, b, db) = scroll.cell_at_edge(f64::from(x), f64::from(y), right)?;
            let band = self.feed.frames.bands.get(b)?;
            Some(serde_json::json!({
                "time_s": t, "lo_hz": band.lo_hz, "center_hz": band.center_hz, "hi_hz": band.hi_hz,
                "level_db": (!db.is_nan()).then_some(db),
            }))
        });
        cell.unwrap_or(serde_json::Value::Null)
    }

    /// The picture's numbers for a snapshot: a CSV matrix (a line per pixel column, oldest
    /// first: the column middle's stream time, then each row's band level in dBFS, empty
    /// where there is no reading), and its description for the snapshot's JSON.
    pub fn matrix(&self) -> Option<(String, serde_json::Value)> {
        let scroll = self.scroll.as_ref()?;
        let bands = &self.feed.frames.bands;
        let mut csv = String::from("time_s");
        for b in bands {
            csv.push_str(&format!(",{:.3}", b.center_hz));
        }
        csv.push('\n');
        let right = self.shown_right.or(scroll.right()).unwrap_or(0);
        for (t, held) in scroll.columns(right) {
            csv.push_str(&format!("{t:.4}"));
            for b in 0..bands.len() {
                match held.map(|p| scroll.level(p, b)) {
                    Some(db) if !db.is_nan() => csv.push_str(&format!(",{db:.2}")),
                    _ => csv.push(','),
                }
            }
            csv.push('\n');
        }
        let (columns, rows) = scroll.size();
        let meta = serde_json::json!({
            "layout": format!("1/{} octave", self.look.layout.per_octave()),
            "orientation": if scroll.down() {
                "time down, newest at the bottom; frequency across on the bars' axis (each band drawn above its bar)"
            } else {
                "time across, newest at the right; frequency up a log axis"
            },
            "span_s": self.look.span_s,
            "columns": columns,
            "frequency_pixels": rows,
            "column_s": scroll.column_s(),
            "unit": "dBFS",
            "db_convention": crate::engine::DB_CONVENTION,
            "colormap": self.look.map.name(),
            "colour_range_db": [self.look.range_db.0, self.look.range_db.1],
            "matrix": "a line per time step (a pixel column when time runs across, a pixel row when it runs down), oldest first: time_s (stream time of the step's middle), then one level per band in the order of `bands` (dBFS, the power mean of the frames whose middle falls in the column, placed at each band's window's middle; empty: no reading)",
            "dropped_frames": self.dropped(),
            "pointer": self.pointer_cell(),
            "bands": bands.iter().map(|b| serde_json::json!({
                "lo_hz": b.lo_hz, "center_hz": b.center_hz, "hi_hz": b.hi_hz,
                "window_ms": b.window_ms, "update_ms": b.update_ms, "placed_before_frame_ms": lag_s(b) * 1000.0,
            })).collect::<Vec<_>>(),
        });
        Some((csv, meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scroll(width: usize, span: f64) -> Scroll {
        Scroll::new(
            &[(100.0, 200.0), (200.0, 400.0)],
            &[0.0, 0.0],
            (width, 20),
            &Orientation::Across,
            span,
            ColorMap::Grey,
            (-100.0, 0.0),
        )
    }

    #[test]
    fn cells_are_power_means_and_the_picture_scrolls_with_stream_time() {
        let mut s = scroll(10, 1.0);
        // Two frames in column 3 (0.3..0.4 s): -10 and -20 dB.
        s.add(&[0.30, 0.35, -10.0, f64::NAN]);
        s.add(&[0.35, 0.40, -20.0, -50.0]);
        assert_eq!(s.right(), Some(4), "0.40 s is column 4's start");
        let (t, b, db) = s.cell_at(0.85, 0.9).expect("cell");
        assert!((t - 0.35).abs() < 1e-9 && b == 0, "{t} {b}");
        let want = 10.0 * ((0.1f64 + 0.01) / 2.0).log10();
        assert!((f64::from(db) - want).abs() < 1e-3, "{db} {want}");
        // The upper band had one frame, whose middle lies in column 3.
        let (_, b, db) = s.cell_at(0.85, 0.1).expect("cell");
        assert_eq!(b, 1);
        assert!((db + 50.0).abs() < 1e-3);
        // A second later the old columns have scrolled out and read nothing.
        s.add(&[1.40, 1.45, -30.0, -30.0]);
        assert_eq!(s.right(), Some(14));
        let (_, _, db) = s.cell_at(0.35, 0.9).expect("cell");
        assert!(db.is_nan(), "{db}");
    }

    #[test]
    fn a_column_narrower_than_a_frame_shows_the_frame_over_it() {
        let mut s = scroll(100, 1.0);
        s.add(&[0.0, 0.05, -40.0, -40.0]);
        s.add(&[0.05, 0.10, -60.0, -60.0]);
        // Columns of 10 ms: 5, 6, 8 and 9 hold no frame's middle (the second frame's is in
        // 7), and the second frame covers them.
        let right = s.right().expect("right");
        for c in [5, 6, 8, 9] {
            let x = ((c - (right - 99)) as f64 + 0.5) / 100.0;
            let (t, _, db) = s.cell_at(x, 0.9).expect("cell");
            assert!((t - (c as f64 + 0.5) * 0.01).abs() < 1e-9, "{c}: {t}");
            assert!((db + 60.0).abs() < 1e-3, "{c}: {db}");
        }
    }

    #[test]
    fn only_changed_columns_are_copied_and_the_buffers_agree() {
        let mut s = scroll(10, 1.0);
        s.add(&[0.30, 0.40, -10.0, -10.0]);
        let first = s.end_paint();
        let mut copy = s.pixels().to_vec();
        s.add(&[0.40, 0.50, -90.0, -90.0]);
        let second = s.end_paint();
        assert!(second > first);
        s.copy_changes(first, &mut copy);
        assert_eq!(copy, s.pixels());
        // Nothing changed after `second`: a copy from then changes nothing.
        let mut other = vec![7u8; copy.len()];
        s.copy_changes(second, &mut other);
        assert!(other.iter().all(|&v| v == 7));
    }

    #[test]
    fn low_bands_are_placed_their_lag_earlier() {
        let mut s = Scroll::new(
            &[(100.0, 200.0), (200.0, 400.0)],
            &[0.5, 0.0],
            (10, 20),
            &Orientation::Across,
            1.0,
            ColorMap::Grey,
            (-100.0, 0.0),
        );
        s.add(&[0.9, 1.0, -10.0, -10.0]);
        // The high band at 0.95 s (column 9 of 0.1..1.1), the low one at 0.45 s.
        let (_, _, high) = s.cell_at(0.85, 0.1).expect("cell");
        let (_, _, low_late) = s.cell_at(0.85, 0.9).expect("cell");
        let (_, _, low) = s.cell_at(0.35, 0.9).expect("cell");
        assert!((high + 10.0).abs() < 1e-3 && (low + 10.0).abs() < 1e-3);
        assert!(low_late.is_nan());
    }

    #[test]
    fn time_down_on_the_bars_axis() {
        // Two bars over 40 pixels across and 10 time steps down; the fine bands split each
        // bar in two.
        let bars = Orientation::Down(vec![(100.0, 200.0), (200.0, 400.0)]);
        let fine = [
            (100.0, 141.0),
            (141.0, 200.0),
            (200.0, 283.0),
            (283.0, 400.0),
        ];
        let mut s = Scroll::new(
            &fine,
            &[0.0; 4],
            (40, 10),
            &bars,
            1.0,
            ColorMap::Grey,
            (-100.0, 0.0),
        );
        assert_eq!(s.size(), (10, 40), "ten steps of time, forty of frequency");
        assert_eq!(s.raster(), (40, 10 + SPARE_COLUMNS));
        s.add(&[0.30, 0.40, -10.0, -20.0, -30.0, -40.0]);
        let first = s.end_paint();
        let mut copy = s.pixels().to_vec();
        // Across is frequency on the bars' axis: the third quarter is the upper bar's lower
        // half. Down is time: the frame in the step above the newest (its end opens the
        // newest).
        let (t, b, db) = s.cell_at(0.6, 0.85).expect("cell");
        assert!(
            (t - 0.35).abs() < 1e-9 && b == 2 && (db + 30.0).abs() < 1e-3,
            "{t} {b} {db}"
        );
        let (_, b, db) = s.cell_at(0.1, 0.85).expect("cell");
        assert!(b == 0 && (db + 10.0).abs() < 1e-3);
        // Each ring position is a raster row: the newest step's row holds the four levels'
        // colours left to right, darker as they fall.
        let p = s.held(3).expect("held");
        let row = &s.pixels()[p * 40 * 3..(p + 1) * 40 * 3];
        let grey = |x: usize| row[x * 3];
        assert!(grey(2) > grey(12) && grey(12) > grey(22) && grey(22) > grey(32));
        assert!((0..40).all(|x| row[x * 3] == grey(x / 10 * 10)));
        s.add(&[0.40, 0.50, -90.0, -90.0, -90.0, -90.0]);
        let second = s.end_paint();
        assert!(second > first);
        s.copy_changes(first, &mut copy);
        assert_eq!(copy, s.pixels());
    }

    #[test]
    fn the_history_keeps_the_newest_records() {
        // Two seconds at one frame a second.
        let mut h = History::new(3, 2.0, 1.0);
        for i in 0..5 {
            h.push(&[f64::from(i), f64::from(i) + 1.0, 0.0]);
        }
        let starts: Vec<f64> = h.iter().map(|r| r[0]).collect();
        assert_eq!(starts, [3.0, 4.0]);
        assert_eq!(h.end_s(), Some(5.0));
    }

    #[test]
    fn frames_faster_than_the_history_keeps_are_merged_as_power_means() {
        // 1000 frames a second: eight 1 ms frames make one record of at most 1/120 s.
        let mut h = History::new(4, 1.0, 1000.0);
        for i in 0..16 {
            let t = f64::from(i) * 1e-3;
            let db = if i % 2 == 0 { -10.0 } else { f64::NAN };
            h.push(&[t, t + 1e-3, db, if i < 8 { 0.0 } else { -10.0 }]);
        }
        let records: Vec<&[f64]> = h.iter().collect();
        assert_eq!(records.len(), 2);
        assert!((records[0][0] - 0.0).abs() < 1e-12 && (records[0][1] - 0.008).abs() < 1e-12);
        // An unsettled band's NaN leaves the mean of the others.
        assert!((records[0][2] + 10.0).abs() < 1e-9);
        // 0 dB and -10 dB powers do not mix across records; within one they average.
        assert!(records[0][3].abs() < 1e-9 && (records[1][3] + 10.0).abs() < 1e-9);
        assert!(h.capacity() <= 121);
    }
}
