//! Calibration in the window: a calibrator's 1 kHz tone measured for [`MEASURE_S`] sets the
//! input's SPL offset so it reads 94, 114 or a typed level in dB SPL; a measurement
//! microphone's correction file; both kept per input in the settings, shown on the plot and in
//! the status line, applied to the bars (and so to snapshots and references), never to a
//! recording, the meters (dBFS) or loudness (LUFS). Units switch between dBFS and dB SPL; an
//! input that is not calibrated never shows dB SPL. UI thread.

use std::sync::Arc;

use slint::ComponentHandle;

use super::{App, ERROR_NOTICE_S, Ui};
use crate::calibration::MicCurve;
use crate::config::AnalysisSettings;
use crate::settings::{InputCalibration, UserSettings};

/// How long the tone is measured, seconds of audio (the first [`SETTLE_S`] not counted).
pub const MEASURE_S: f64 = 5.0;
/// The bars' smoothing and the tone's start settle in this much, seconds.
pub const SETTLE_S: f64 = 1.0;
/// A steady tone's level moves less than this over the measurement, dB.
pub const STEADY_DB: f64 = 0.5;
/// A calibrator's tone is within this of 1 kHz (IEC 60942 allows 1 %), Hz.
pub const NEAR_1K_HZ: f64 = 30.0;
/// A tone whose peak is above this may be clipping, dBFS.
pub const CLIP_DBFS: f32 = -0.5;

/// A measurement of a calibrator's tone, while it runs.
#[derive(Debug)]
pub(super) struct Measuring {
    /// The level the tone is to read, dB SPL.
    target_db: f64,
    /// Audio time of the first frame.
    from_s: Option<f64>,
    /// The strongest band's level (dBFS) and frequency in each frame after the settling.
    levels: Vec<(f64, f32)>,
    /// The loudest sample's level, dBFS.
    peak_dbfs: f32,
    /// The countdown's last figure, seconds.
    shown_left: Option<u32>,
}

/// What the measurement found: the offset, or why the tone does not do.
pub(super) fn judge(
    target_db: f64,
    levels: &[(f64, f32)],
    peak_dbfs: f32,
) -> Result<(f64, String), String> {
    if levels.len() < 10 {
        return Err("no tone was measured (is the source running?)".into());
    }
    if peak_dbfs > CLIP_DBFS {
        return Err(format!(
            "the tone peaks at {peak_dbfs:.1} dBFS: it may be clipping; lower the input's gain \
             and measure again"
        ));
    }
    let hz = levels.iter().map(|l| f64::from(l.1)).sum::<f64>() / levels.len() as f64;
    if (hz - 1000.0).abs() > NEAR_1K_HZ
        || levels
            .iter()
            .any(|l| (f64::from(l.1) - 1000.0).abs() > NEAR_1K_HZ)
    {
        return Err(format!(
            "the strongest sound is at {hz:.0} Hz, not a calibrator's 1 kHz tone"
        ));
    }
    let (lo, hi) = levels
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), l| {
            (lo.min(l.0), hi.max(l.0))
        });
    if hi - lo > STEADY_DB {
        return Err(format!(
            "the tone is not steady: it moved {:.1} dB while measured (hold the calibrator still \
             and measure again)",
            hi - lo
        ));
    }
    let power = levels.iter().map(|l| 10f64.powf(l.0 / 10.0)).sum::<f64>() / levels.len() as f64;
    let dbfs = 10.0 * power.log10();
    let offset = target_db - dbfs;
    crate::calibration::check_spl_offset(offset)?;
    Ok((
        offset,
        format!(
            "{target_db:.1} dB SPL read {dbfs:.2} dBFS at {hz:.0} Hz, {}",
            chrono::Local::now().format("%Y-%m-%d %H:%M")
        ),
    ))
}

impl App {
    /// The input's name, as calibrations are kept under.
    fn input_name(&self) -> Option<String> {
        self.info.as_ref().map(|i| i.name.clone())
    }

    /// The analysis `user` asks for on the input now: with its calibration when the units
    /// are dB SPL and it has one, with its microphone's correction when it has one.
    pub(super) fn analysis_of(&self, user: &UserSettings) -> AnalysisSettings {
        let mut a = user.analysis();
        let cal = self
            .input_name()
            .and_then(|name| user.calibrations.get(&name));
        if user.spl_units
            && let Some(db) = cal.and_then(|c| c.spl_offset_db)
        {
            a.spl_offset_db = Some(db);
            a.spl_weighting = user.spl_weighting;
        }
        a.mic = self.mic.clone();
        a
    }

    /// The analysis the settings ask for on the input now.
    pub(super) fn analysis(&self) -> AnalysisSettings {
        self.analysis_of(&self.user)
    }

    /// The offset the bars read with now (dB SPL on a calibrated input), else none.
    pub(super) fn spl_offset(&self) -> Option<f64> {
        self.analysis().spl_offset_db
    }

    /// The input (re)started or its calibration changed: its microphone file is read, the
    /// analysis follows, the scale and the panel say so.
    pub(super) fn apply_calibration(&mut self) {
        let cal = self.current_calibration();
        self.mic = None;
        if let Some(path) = cal.as_ref().and_then(|c| c.mic_cal.clone()) {
            match MicCurve::load(&path) {
                Ok(curve) => self.mic = Some(Arc::new(curve)),
                Err(e) => {
                    self.notice_for(format!("{e}: the bars go on without it"), ERROR_NOTICE_S)
                }
            }
        }
        if self.user.spl_units && cal.as_ref().and_then(|c| c.spl_offset_db).is_none() {
            // Never dB SPL on an input that is not calibrated.
            self.user.spl_units = false;
        }
        let next = self.analysis();
        if &next != self.session.settings()
            && let Err(e) = self.session.apply(next)
        {
            self.notice(e);
        }
        self.rescale();
        // References in the other unit are not drawn now (and those in this one are again).
        self.refit_references();
        self.show_calibration();
    }

    fn current_calibration(&self) -> Option<InputCalibration> {
        self.input_name()
            .and_then(|n| self.user.calibrations.get(&n).cloned())
    }

    /// The bars' scale: the settings' floor and top, in dB SPL moved by the offset.
    pub(super) fn rescale(&mut self) {
        let offset = self.spl_offset().unwrap_or(0.0) as f32;
        self.db_range = (self.user.db_floor + offset, self.user.db_top + offset);
        self.show_grid();
        self.redraw_references();
    }

    /// The panel's words and the units switch.
    fn show_calibration(&mut self) {
        let Some(w) = self.window.upgrade() else {
            return;
        };
        let ui = w.global::<Ui>();
        let input = self.input_name().unwrap_or_else(|| "no input yet".into());
        let cal = self.current_calibration();
        let offset = cal.as_ref().and_then(|c| c.spl_offset_db);
        let text = match (&offset, cal.as_ref().and_then(|c| c.measured.clone())) {
            (Some(db), Some(how)) => format!("{input}: offset {db:+.2} dB ({how})"),
            (Some(db), None) => format!("{input}: offset {db:+.2} dB"),
            (None, _) => format!("{input}: not calibrated (the bars read dBFS)"),
        };
        let mic = cal
            .and_then(|c| c.mic_cal)
            .map(|p| {
                let state = if self.mic.is_some() {
                    ""
                } else {
                    " (not read)"
                };
                format!("microphone: {}{state}", p.display())
            })
            .unwrap_or_else(|| "no microphone correction".into());
        ui.set_cal_text(text.into());
        ui.set_cal_mic_text(mic.into());
        ui.set_spl_units(self.user.spl_units);
        ui.set_spl_weighting(match self.user.spl_weighting {
            crate::config::Weighting::A => 0,
            crate::config::Weighting::C => 1,
            crate::config::Weighting::Z => 2,
        });
        ui.set_calibrated(offset.is_some());
        self.refresh_status();
    }

    /// The panel's Measure: a calibrator's tone is measured for [`MEASURE_S`].
    pub(super) fn start_calibration(&mut self) {
        let Some(w) = self.window.upgrade() else {
            return;
        };
        let ui = w.global::<Ui>();
        let target_db = match ui.get_cal_target() {
            0 => 94.0,
            1 => 114.0,
            _ => match ui.get_cal_custom().trim().parse::<f64>() {
                Ok(db) if (20.0..=160.0).contains(&db) => db,
                _ => {
                    self.notice("type the calibrator's level in dB SPL, 20 to 160 (94.0, say)");
                    return;
                }
            },
        };
        if self.info.is_none() {
            self.notice("no input to calibrate yet");
            return;
        }
        ui.set_cal_progress(
            format!("measuring the tone for {MEASURE_S:.0} s: keep the calibrator on").into(),
        );
        self.measuring = Some(Measuring {
            target_db,
            from_s: None,
            levels: Vec::new(),
            peak_dbfs: crate::engine::dsp::FLOOR_DB,
            shown_left: None,
        });
    }

    /// Each new frame while measuring; the result at the end.
    pub(super) fn gather_calibration(&mut self) {
        let offset = self.spl_offset().unwrap_or(0.0);
        let Some(m) = self.measuring.as_mut() else {
            return;
        };
        let f = &self.shown;
        let from = *m.from_s.get_or_insert(f.time_s);
        let t = f.time_s - from;
        if t >= SETTLE_S
            && let Some((i, db)) = f
                .bars_db
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
        {
            m.levels.push((
                f64::from(*db) - offset,
                f.peak_hz.get(i).copied().unwrap_or(0.0),
            ));
            for c in &f.channels {
                m.peak_dbfs = m.peak_dbfs.max(c.peak_dbfs);
            }
        }
        if t < SETTLE_S + MEASURE_S {
            // A countdown, once a second.
            let left = (SETTLE_S + MEASURE_S - t).ceil();
            if m.shown_left != Some(left as u32)
                && let Some(w) = self.window.upgrade()
            {
                m.shown_left = Some(left as u32);
                w.global::<Ui>().set_cal_progress(
                    format!("measuring the tone: {left:.0} s left (keep the calibrator on)").into(),
                );
            }
            return;
        }
        let Some(m) = self.measuring.take() else {
            return;
        };
        let result = judge(m.target_db, &m.levels, m.peak_dbfs);
        let Some(w) = self.window.upgrade() else {
            return;
        };
        match result {
            Ok((db, how)) => {
                let Some(name) = self.input_name() else {
                    return;
                };
                let entry = self.user.calibrations.entry(name).or_default();
                entry.spl_offset_db = Some(db);
                entry.measured = Some(how.clone());
                self.user.spl_units = true;
                w.global::<Ui>()
                    .set_cal_progress(format!("calibrated: offset {db:+.2} dB").into());
                self.save_settings();
                self.apply_calibration();
            }
            Err(why) => {
                w.global::<Ui>()
                    .set_cal_progress(format!("not calibrated: {why}").into());
                self.notice_for(format!("not calibrated: {why}"), ERROR_NOTICE_S);
            }
        }
    }

    /// The SPL meter's weighting (the panel's A, C, Z).
    pub(super) fn spl_weighting_changed(&mut self, code: i32) {
        use crate::config::Weighting;
        self.user.spl_weighting = match code {
            1 => Weighting::C,
            2 => Weighting::Z,
            _ => Weighting::A,
        };
        self.save_settings();
        self.apply_calibration();
    }

    /// The SPL meter's line on the plot: "LAF 94.0  LAS 94.0  LAeq 94.0  LAFmax 94.2 dB SPL"
    /// (IEC 61672 names), empty uncalibrated.
    pub(super) fn spl_text(&self) -> String {
        if self.spl_offset().is_none() {
            return String::new();
        }
        let Some(r) = self.shown.spl else {
            return "SPL meter: waiting for every band's window to fill".into();
        };
        let w = match self.user.spl_weighting {
            crate::config::Weighting::A => "A",
            crate::config::Weighting::C => "C",
            crate::config::Weighting::Z => "Z",
        };
        format!(
            "L{w}F {:.1}   L{w}S {:.1}   L{w}eq {:.1}   L{w}Fmax {:.1} dB SPL",
            r.fast_db, r.slow_db, r.leq_db, r.max_db
        )
    }

    /// The units switch: dB SPL only where the input is calibrated.
    pub(super) fn units_changed(&mut self, spl: bool) {
        if spl
            && self
                .current_calibration()
                .and_then(|c| c.spl_offset_db)
                .is_none()
        {
            self.notice(
                "this input is not calibrated: Calibrate it first (Settings, Calibrate...)",
            );
            self.show_calibration();
            return;
        }
        self.user.spl_units = spl;
        self.save_settings();
        self.apply_calibration();
    }

    /// The panel's Forget: the input's SPL offset goes (its microphone file stays).
    pub(super) fn forget_calibration(&mut self) {
        if let Some(name) = self.input_name()
            && let Some(c) = self.user.calibrations.get_mut(&name)
        {
            c.spl_offset_db = None;
            c.measured = None;
            if c.mic_cal.is_none() {
                self.user.calibrations.remove(&name);
            }
        }
        self.save_settings();
        self.apply_calibration();
    }

    /// A microphone's correction file for the input (an empty path: none). A file that cannot
    /// be used is refused in one line and the one before stays.
    pub(super) fn load_mic(&mut self, path: &str) {
        let Some(name) = self.input_name() else {
            self.notice("no input to calibrate yet");
            return;
        };
        let path = path.trim();
        let file = if path.is_empty() {
            None
        } else {
            match MicCurve::load(std::path::Path::new(path)) {
                Ok(_) => Some(std::path::PathBuf::from(path)),
                Err(e) => {
                    self.notice_for(e.to_string(), ERROR_NOTICE_S);
                    return;
                }
            }
        };
        let entry = self.user.calibrations.entry(name.clone()).or_default();
        entry.mic_cal = file;
        if entry == &InputCalibration::default() {
            self.user.calibrations.remove(&name);
        }
        self.save_settings();
        self.apply_calibration();
    }

    /// Saves the settings (a failure is said, not fatal).
    pub(super) fn save_settings(&mut self) {
        if let Some(path) = &self.options.settings_path
            && let Err(e) = crate::settings::save(path, &self.user)
        {
            self.notice(format!("cannot save settings to {}: {e}", path.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_tone_near_1k_calibrates_and_others_are_refused_in_words() {
        let steady: Vec<(f64, f32)> = (0..100).map(|_| (-20.0, 1000.2)).collect();
        let (offset, how) = judge(94.0, &steady, -17.0).expect("calibrated");
        assert!((offset - 114.0).abs() < 1e-9, "{offset}");
        assert!(
            how.starts_with("94.0 dB SPL read -20.00 dBFS at 1000 Hz"),
            "{how}"
        );
        let wandering: Vec<(f64, f32)> =
            (0..100).map(|i| (-20.0 - (i % 2) as f64, 1000.0)).collect();
        assert!(
            judge(94.0, &wandering, -17.0)
                .unwrap_err()
                .contains("not steady")
        );
        let low: Vec<(f64, f32)> = (0..100).map(|_| (-20.0, 500.0)).collect();
        assert!(judge(94.0, &low, -17.0).unwrap_err().contains("at 500 Hz"));
        assert!(judge(94.0, &steady, -0.1).unwrap_err().contains("clipping"));
        assert!(
            judge(94.0, &steady[..3], -17.0)
                .unwrap_err()
                .contains("no tone")
        );
    }
}
