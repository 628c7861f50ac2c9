//! The loudness panel (EBU R 128, Tech 3341's display rules): the frame's loudness reading into
//! the panel's bar, words and history. UI thread.
//!
//! The bar follows every frame (three numbers); the words at most ten times a second, each
//! formatted on the stack and replaced only when it changed (a steady programme changes few);
//! the history gets a column a second of audio: the highest momentary loudness in it and the
//! last short-term value. The measurement itself runs in the engine: freezing the display
//! stops none of it, and the history goes on filling while frozen.

use std::fmt::Write as _;

use slint::{Rgba8Pixel, SharedPixelBuffer, SharedString, VecModel};

use super::{GridLine, LoudnessLevel, LoudnessText};
use crate::engine::loudness::LoudnessReading;
use crate::publish::Frame;
use crate::settings::{LoudnessScale, UserSettings};

/// Columns in the history: three minutes, one a second.
pub const HISTORY_S: usize = 180;
/// Tech 3341: LRA is shown as not yet stable for the first minute.
pub const LRA_STABLE_S: f64 = 60.0;

/// Text of at most 64 bytes, made without allocating.
struct Stack {
    bytes: [u8; 64],
    len: usize,
}

impl Default for Stack {
    fn default() -> Self {
        Stack {
            bytes: [0; 64],
            len: 0,
        }
    }
}

impl std::fmt::Write for Stack {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = self.bytes.len() - self.len;
        if s.len() > room {
            return Err(std::fmt::Error);
        }
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

impl Stack {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

/// Puts the text into `target` when it differs; true when it did.
fn put(target: &mut SharedString, args: std::fmt::Arguments<'_>) -> bool {
    let mut text = Stack::default();
    let _ = text.write_fmt(args);
    if target.as_str() == text.as_str() {
        return false;
    }
    *target = SharedString::from(text.as_str());
    true
}

/// One decimal, never "-0.0".
fn tenth(v: f64) -> f64 {
    (v * 10.0).round() / 10.0 + 0.0
}

/// A value with its unit, or "--" where there is none.
fn value(target: &mut SharedString, v: Option<f64>, unit: &str) -> bool {
    match v {
        Some(v) => put(target, format_args!("{:.1} {unit}", tenth(v))),
        None => put(target, format_args!("--")),
    }
}

/// A value against the target, in LU, or nothing.
fn relative(target: &mut SharedString, v: Option<f64>, to: f64) -> bool {
    match v {
        Some(v) => put(target, format_args!("{:+.1} LU", tenth(v - to))),
        None => put(target, format_args!("")),
    }
}

/// The panel's state on the UI thread.
pub(super) struct LoudnessView {
    text: LoudnessText,
    level: LoudnessLevel,
    /// The scale's ends (LU against the target) and the target (LUFS, true-peak limit).
    scale: (f64, f64),
    target_lufs: f64,
    limit_dbtp: f64,
    /// The last [`HISTORY_S`] seconds, oldest first: (highest M, last S), LUFS.
    history: Vec<(Option<f64>, Option<f64>)>,
    /// The second of audio being gathered, and its values so far.
    second: Option<i64>,
    gathering: (Option<f64>, Option<f64>),
    /// The history changed since it was last drawn.
    history_dirty: bool,
}

/// The history picture's height, px (a pixel a column wide).
const HISTORY_PX: u32 = 56;
const HISTORY_BACKGROUND: Rgba8Pixel = rgb(0x10, 0x12, 0x16);
const HISTORY_TARGET: Rgba8Pixel = rgb(0x3a, 0x40, 0x4b);
/// Palette.loudness-m, darker, and Palette.rms.
const HISTORY_M_COLOUR: Rgba8Pixel = rgb(0x4e, 0x82, 0x3a);
const HISTORY_S_COLOUR: Rgba8Pixel = rgb(0x4a, 0xa3, 0xdf);

const fn rgb(r: u8, g: u8, b: u8) -> Rgba8Pixel {
    Rgba8Pixel { r, g, b, a: 255 }
}

impl LoudnessView {
    pub(super) fn new(user: &UserSettings) -> Self {
        let mut view = LoudnessView {
            text: LoudnessText::default(),
            level: LoudnessLevel {
                m: -1.0,
                s: -1.0,
                i: -1.0,
            },
            scale: LoudnessScale::Plus9.range_lu(),
            target_lufs: -23.0,
            limit_dbtp: -1.0,
            history: vec![(None, None); HISTORY_S],
            second: None,
            gathering: (None, None),
            history_dirty: true,
        };
        view.configure(user);
        view
    }

    /// Takes the target and scale from `user`; the caller then shows [`Self::grid`] and
    /// [`Self::target_at`].
    pub(super) fn configure(&mut self, user: &UserSettings) {
        let (_, lufs, limit) = user.target();
        self.scale = user.loudness_scale.range_lu();
        self.target_lufs = lufs;
        self.limit_dbtp = limit;
        put(
            &mut self.text.target,
            format_args!("target {lufs:.0} LUFS = 0 LU, TP limit {limit:.0} dBTP"),
        );
        self.history_dirty = true;
    }

    /// The scale's lines, LU against the target.
    pub(super) fn grid(&self) -> Vec<GridLine> {
        let (lo, hi) = self.scale;
        let step = if hi - lo > 30.0 { 6.0 } else { 3.0 };
        let mut lines = Vec::new();
        let mut lu = hi;
        while lu >= lo {
            lines.push(GridLine {
                at: ((lu - lo) / (hi - lo)) as f32,
                text: if lu > 0.0 {
                    format!("+{lu:.0}")
                } else {
                    format!("{lu:.0}")
                }
                .into(),
            });
            lu -= step;
        }
        lines
    }

    /// Where the target (0 LU) sits on the scale.
    pub(super) fn target_at(&self) -> f32 {
        self.fraction(Some(self.target_lufs))
    }

    /// `lufs` as a fraction of the scale, or -1 for none.
    fn fraction(&self, lufs: Option<f64>) -> f32 {
        let (lo, hi) = self.scale;
        match lufs {
            Some(l) => (((l - self.target_lufs - lo) / (hi - lo)).clamp(0.0, 1.0)) as f32,
            None => -1.0,
        }
    }

    /// Notes the frame's loudness in the history (also while the display is frozen).
    pub(super) fn gather(&mut self, frame: &Frame) {
        let Some(r) = &frame.loudness else {
            return;
        };
        let second = frame.time_s.floor() as i64;
        match self.second {
            Some(s) if s == second => {}
            Some(s) if second > s => {
                // A second is complete (several when frames were far apart): into the history.
                // The gathered second goes first; the seconds after it had no frame.
                let gap = ((second - s) as usize).min(HISTORY_S);
                self.history.rotate_left(gap);
                let n = self.history.len();
                for slot in &mut self.history[n - gap..] {
                    *slot = (None, None);
                }
                self.history[n - gap] = self.gathering;
                self.gathering = (None, None);
                self.second = Some(second);
                self.history_dirty = true;
            }
            // The first frame, or time went back (a new stream): start from here.
            _ => {
                self.second = Some(second);
                self.gathering = (None, None);
            }
        }
        let (m, s) = &mut self.gathering;
        *m = match (*m, r.momentary_lufs) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        *s = r.short_term_lufs.or(*s);
    }

    /// The bar, every frame: true when it changed.
    pub(super) fn level(&mut self, r: Option<&LoudnessReading>) -> Option<LoudnessLevel> {
        let none = LoudnessReading::default();
        let r = r.unwrap_or(&none);
        let level = LoudnessLevel {
            m: self.fraction(r.momentary_lufs),
            s: self.fraction(r.short_term_lufs),
            i: self.fraction(r.integrated_lufs),
        };
        (level != self.level).then(|| {
            self.level = level.clone();
            level
        })
    }

    /// The words, on a text refresh: `Some` when any changed.
    pub(super) fn text(&mut self, r: Option<&LoudnessReading>) -> Option<LoudnessText> {
        let none = LoudnessReading::default();
        let r = r.unwrap_or(&none);
        let to = self.target_lufs;
        let t = &mut self.text;
        let mut changed = false;
        changed |= value(&mut t.m, r.momentary_lufs, "LUFS");
        changed |= value(&mut t.s, r.short_term_lufs, "LUFS");
        changed |= value(&mut t.i, r.integrated_lufs, "LUFS");
        changed |= value(&mut t.lra, r.range_lu, "LU");
        changed |= value(&mut t.tp, r.true_peak_dbtp, "dBTP");
        changed |= value(&mut t.max_m, r.max_momentary_lufs, "LUFS");
        changed |= value(&mut t.max_s, r.max_short_term_lufs, "LUFS");
        changed |= relative(&mut t.m_rel, r.momentary_lufs, to);
        changed |= relative(&mut t.s_rel, r.short_term_lufs, to);
        changed |= relative(&mut t.i_rel, r.integrated_lufs, to);
        changed |= relative(&mut t.max_m_rel, r.max_momentary_lufs, to);
        changed |= relative(&mut t.max_s_rel, r.max_short_term_lufs, to);
        let secs = r.measured_s as u64;
        changed |= put(
            &mut t.measured,
            format_args!("{}:{:02}", secs / 60, secs % 60),
        );
        let over = r
            .true_peak_dbtp
            .is_some_and(|tp| tenth(tp) > self.limit_dbtp);
        let stable = r.measured_s >= LRA_STABLE_S;
        changed |= t.tp_over != over || t.lra_stable != stable;
        t.tp_over = over;
        t.lra_stable = stable;
        changed.then(|| t.clone())
    }

    /// The history as a picture (a column a second, oldest at the left), when it changed
    /// since the last one: drawn at most once a second, never while frozen.
    pub(super) fn history_image(&mut self) -> Option<slint::Image> {
        if !self.history_dirty {
            return None;
        }
        self.history_dirty = false;
        let h = HISTORY_PX as usize;
        let mut buffer = SharedPixelBuffer::<Rgba8Pixel>::new(HISTORY_S as u32, HISTORY_PX);
        let pixels = buffer.make_mut_slice();
        pixels.fill(HISTORY_BACKGROUND);
        // Rows from the top: a fraction f of the scale is row (1 - f) * (h - 1).
        let row = |f: f32| ((1.0 - f.clamp(0.0, 1.0)) * (h - 1) as f32).round() as usize;
        let target = row(self.target_at());
        pixels[target * HISTORY_S..(target + 1) * HISTORY_S].fill(HISTORY_TARGET);
        for (x, &(m, s)) in self.history.iter().enumerate() {
            let m = self.fraction(m);
            if m >= 0.0 {
                for y in row(m)..h {
                    pixels[y * HISTORY_S + x] = HISTORY_M_COLOUR;
                }
            }
            let s = self.fraction(s);
            if s >= 0.0 {
                let y = row(s);
                pixels[y * HISTORY_S + x] = HISTORY_S_COLOUR;
                pixels[y.saturating_sub(1) * HISTORY_S + x] = HISTORY_S_COLOUR;
            }
        }
        Some(slint::Image::from_rgba8(buffer))
    }

    /// Everything into a still picture's panel (`spektr render`), or the panel hidden.
    pub(super) fn show_still(&mut self, window: &super::MainWindow, shown: bool, frame: &Frame) {
        use slint::ComponentHandle;
        let ui = window.global::<super::Ui>();
        ui.set_loudness_on(shown);
        ui.set_loudness_room(shown);
        if !shown {
            return;
        }
        if let Some(image) = self.history_image() {
            ui.set_loudness_history(image);
        }
        ui.set_loudness_grid(slint::ModelRc::new(VecModel::from(self.grid())));
        ui.set_loudness_target_at(self.target_at());
        if let Some(level) = self.level(frame.loudness.as_ref()) {
            ui.set_loudness_level(level);
        }
        if let Some(text) = self.text(frame.loudness.as_ref()) {
            ui.set_loudness(text);
        }
    }

    /// The snapshot's loudness: every value, with the target and the values against it.
    pub(super) fn snapshot(&self, frame: &Frame, target: &str) -> serde_json::Value {
        let Some(r) = &frame.loudness else {
            return serde_json::Value::Null;
        };
        let per_channel: Vec<Option<f64>> =
            frame.channels.iter().map(|c| c.true_peak_dbtp).collect();
        let mut v = crate::engine::loudness::summary_json(r, &per_channel);
        let round = |v: Option<f64>| v.map(|v| (v * 100.0).round() / 100.0 + 0.0);
        let rel = |v: Option<f64>| round(v.map(|v| v - self.target_lufs));
        if let Some(o) = v.as_object_mut() {
            o.shift_insert(0, "momentary_lufs".into(), round(r.momentary_lufs).into());
            o.shift_insert(1, "short_term_lufs".into(), round(r.short_term_lufs).into());
            o.insert("lra_stable".into(), (r.measured_s >= LRA_STABLE_S).into());
            o.insert(
                "target".into(),
                serde_json::json!({
                    "name": target,
                    "integrated_lufs": self.target_lufs,
                    "true_peak_limit_dbtp": self.limit_dbtp,
                }),
            );
            o.insert(
                "relative_lu".into(),
                serde_json::json!({
                    "momentary": rel(r.momentary_lufs),
                    "short_term": rel(r.short_term_lufs),
                    "integrated": rel(r.integrated_lufs),
                    "max_momentary": rel(r.max_momentary_lufs),
                    "max_short_term": rel(r.max_short_term_lufs),
                }),
            );
            o.insert(
                "true_peak_over_limit".into(),
                r.true_peak_dbtp
                    .is_some_and(|tp| tenth(tp) > self.limit_dbtp)
                    .into(),
            );
        }
        v
    }
}
