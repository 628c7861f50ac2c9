//! The settings panel: the saved settings into the panel's controls, and a change back into
//! settings that are validated, applied (a new analyzer only when the analysis changes) and
//! saved. UI thread.

use slint::{ComponentHandle, ModelRc, VecModel};

use super::{App, Ui, adapters};
use crate::config::{BandLayout, Smoothing, Weighting};
use crate::record::MarkKind;
use crate::settings::{self, LoudnessScale, LoudnessTarget, UserSettings, View};
use crate::spectrogram::{ColorMap, FineLayout};

/// The panel's codes for smoothing (the order of its buttons).
const SMOOTHING: [Smoothing; 4] = [
    Smoothing::None,
    Smoothing::Fast,
    Smoothing::Slow,
    Smoothing::Infinite,
];
/// The panel's display tilts, dB per octave about 1 kHz (SPAN's 4.5 for music).
const TILTS: [f32; 4] = [0.0, 3.0, 4.5, 6.0];
/// The panel's codes for the loudness target.
const TARGETS: [LoudnessTarget; 3] = [
    LoudnessTarget::Ebu,
    LoudnessTarget::Streaming,
    LoudnessTarget::Custom,
];
/// The panel's codes for the spectrogram's colours and rows.
const COLORMAPS: [ColorMap; 4] = [
    ColorMap::Magma,
    ColorMap::Inferno,
    ColorMap::Viridis,
    ColorMap::Grey,
];
const ROWS: [FineLayout; 2] = [FineLayout::Twelfth, FineLayout::TwentyFourth];
/// The window's views, in the order the V key goes through them.
pub(super) const VIEWS: [View; 3] = [View::Bars, View::Spectrogram, View::Both];
/// The panel's codes for weighting.
const WEIGHTING: [Weighting; 3] = [Weighting::Z, Weighting::A, Weighting::C];

fn code<T: PartialEq>(all: &[T], value: &T) -> i32 {
    all.iter().position(|v| v == value).unwrap_or(0) as i32
}

fn pick<T: Clone>(all: &[T], i: i32) -> Option<T> {
    usize::try_from(i).ok().and_then(|i| all.get(i).cloned())
}

/// Puts `user` into the panel's controls, with the modes a source of `channels` channels
/// offers (none but the default before a stream came).
pub(super) fn show(ui: &Ui<'_>, user: &UserSettings, channels: usize) {
    let choices = adapters::bars_from_choices(channels);
    let names: Vec<slint::SharedString> = choices.iter().map(|c| c.1.as_str().into()).collect();
    ui.set_bars_from_options(ModelRc::new(VecModel::from(names)));
    // A saved mode this source does not offer (side, for a mono microphone) shows no button
    // pressed and stays saved for the sources that do.
    ui.set_bars_from(
        choices
            .iter()
            .position(|c| c.0 == user.bars_from)
            .map_or(-1, |i| i as i32),
    );
    ui.set_band_layout(code(&BandLayout::ALL, &user.bands));
    ui.set_bar_count(user.bars as i32);
    ui.set_db_floor(user.db_floor as i32);
    ui.set_db_top(user.db_top as i32);
    // A tilt typed in the file that the panel does not offer selects none of its buttons.
    ui.set_tilt(
        TILTS
            .iter()
            .position(|&t| t == user.tilt_db_per_oct)
            .map_or(-1, |i| i as i32),
    );
    ui.set_smoothing(code(&SMOOTHING, &user.smoothing));
    ui.set_weighting(code(&WEIGHTING, &user.weighting));
    ui.set_gain_db(user.gain_db.round() as i32);
    ui.set_peak_hold(user.peak_hold);
    ui.set_max_hold(user.max_hold);
    ui.set_loudness_on(user.loudness);
    ui.set_loudness_target(code(&TARGETS, &user.loudness_target));
    ui.set_target_lufs(user.target_lufs.round() as i32);
    ui.set_tp_limit(user.true_peak_limit_dbtp.round() as i32);
    ui.set_loudness_wide(user.loudness_scale == LoudnessScale::Plus18);
    ui.set_view(code(&VIEWS, &user.view));
    ui.set_spectro_span(user.spectrogram_span_s.round() as i32);
    ui.set_colormap(code(&COLORMAPS, &user.colormap));
    ui.set_spectro_rows_layout(code(&ROWS, &user.spectrogram_bands));
}

/// The settings the panel's controls show, over `base` for what the panel does not have.
fn read(ui: &Ui<'_>, base: &UserSettings, channels: usize) -> UserSettings {
    let choices = adapters::bars_from_choices(channels);
    let bars_from = if channels == 0 {
        base.bars_from
    } else {
        pick(&choices, ui.get_bars_from()).map_or(base.bars_from, |c| c.0)
    };
    UserSettings {
        bars_from,
        bands: pick(&BandLayout::ALL, ui.get_band_layout()).unwrap_or(BandLayout::Log),
        bars: ui.get_bar_count().clamp(8, 128) as usize,
        db_floor: ui.get_db_floor() as f32,
        db_top: ui.get_db_top() as f32,
        // A tilt the panel does not offer (typed in the file) stays until a button is picked.
        tilt_db_per_oct: pick(&TILTS, ui.get_tilt()).unwrap_or(base.tilt_db_per_oct),
        smoothing: pick(&SMOOTHING, ui.get_smoothing()).unwrap_or(Smoothing::Fast),
        weighting: pick(&WEIGHTING, ui.get_weighting()).unwrap_or(Weighting::Z),
        gain_db: ui.get_gain_db() as f32,
        peak_hold: ui.get_peak_hold(),
        max_hold: ui.get_max_hold(),
        loudness: ui.get_loudness_on(),
        loudness_target: pick(&TARGETS, ui.get_loudness_target()).unwrap_or_default(),
        target_lufs: ui.get_target_lufs() as f32,
        true_peak_limit_dbtp: ui.get_tp_limit() as f32,
        loudness_scale: if ui.get_loudness_wide() {
            LoudnessScale::Plus18
        } else {
            LoudnessScale::Plus9
        },
        view: pick(&VIEWS, ui.get_view()).unwrap_or_default(),
        spectrogram_span_s: ui.get_spectro_span() as f32,
        colormap: pick(&COLORMAPS, ui.get_colormap()).unwrap_or_default(),
        spectrogram_bands: pick(&ROWS, ui.get_spectro_rows_layout()).unwrap_or_default(),
        ..base.clone()
    }
}

impl App {
    /// The panel changed something: validate, apply (a new analyzer only when the analysis
    /// itself changes), save.
    pub(super) fn settings_changed(&mut self) {
        let Some(w) = self.window.upgrade() else {
            return;
        };
        let ui = w.global::<Ui>();
        let channels = self.info.as_ref().map_or(0, |i| i.format.channels);
        let next = read(&ui, &self.user, channels);
        if let Some(problem) = next.problem() {
            self.notice(problem);
            return;
        }
        let analysis_changed = self.analysis_of(&next) != self.analysis();
        self.session.set_gain_db(next.gain_db);
        if analysis_changed {
            self.session.mark(
                MarkKind::Settings,
                serde_json::to_string(&self.analysis_of(&next)).unwrap_or_default(),
            );
            if let Err(e) = self.session.apply(self.analysis_of(&next)) {
                self.notice(e);
                return;
            }
            // A new analysis starts its average and max-hold anew.
            self.average_from_s = self.shown.time_s;
        }
        // The spectrogram's history is kept unless what it analyzes changed (not for the
        // bars' own layout, smoothing or loudness).
        let layout = next.spectrogram_bands.bands();
        let feed_changed = crate::engine::spectro::settings(&next.analysis(), layout)
            != crate::engine::spectro::settings(&self.user.analysis(), layout)
            || next.view.spectrogram() != self.user.view.spectrogram()
            || next.spectrogram_bands != self.user.spectrogram_bands;
        let retilt = next.tilt_db_per_oct != self.user.tilt_db_per_oct;
        self.user = next;
        if retilt {
            self.retilt();
        }
        if feed_changed {
            self.start_spectrogram();
        } else {
            let look = self.user_look();
            if let Some(view) = self.spectro.as_mut() {
                view.set_look(look);
            }
            self.orient_spectrogram();
        }
        self.show_loudness_settings();
        // The grid, the references' lines and the bars on the new scale and tilt.
        self.rescale();
        self.show();
        if let Some(path) = &self.options.settings_path
            && let Err(e) = settings::save(path, &self.user)
        {
            self.notice(format!("cannot save settings to {}: {e}", path.display()));
        }
    }
}
