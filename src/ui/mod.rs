//! The desktop window: Slint glue. Runs on the UI thread only.
//!
//! A `slint::Timer` at about 60 Hz is the only thing that touches Slint: it takes the live
//! session's events, reads the newest frame from the triple buffer and updates the models row
//! by row (`set_row_data`). It does nothing when no new frame arrived, when the display is
//! frozen, or when the window is minimized. It never waits on another thread.
//!
//! The files: this one has the [`App`] (the session, the models, the tick); `adapters` the pure
//! conversions to rows and texts; `sources` the source picker and file dialog; `recording`
//! the R key; `settings_panel` the settings; `render` and `snapshot` the pictures.

pub mod adapters;
mod calibrate;
mod generator;
mod loudness;
pub mod picture;
mod recording;
mod references;
pub mod render;
mod settings_panel;
pub mod snapshot;
mod sources;
pub mod spectrogram;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use slint::{ComponentHandle, Model, ModelRc, SharedString, VecModel};

use crate::capture::{HostChoice, Period, SourceSpec, StreamInfo};
use crate::engine::BandInfo;
use crate::engine::dsp::FLOOR_DB;
use crate::live::{Latest, LiveEvent, LiveOptions, LiveSession};
use crate::publish::{Frame, LatencyHistogram};
use crate::record::MarkKind;
use crate::settings;
pub use adapters::{bar_row, channel_name, meter_level, meter_text, show_still, status_text};

#[allow(missing_debug_implementations, clippy::all)]
mod generated {
    slint::include_modules!();
}
pub use generated::*;

/// UI refresh interval (`slint::Timer` has millisecond resolution: 62.5 Hz).
pub const TICK: Duration = Duration::from_millis(16);
/// The bars' dB scale.
pub const DB_RANGE: (f32, f32) = (-96.0, 0.0);
/// The meters' dB scale.
pub const METER_RANGE: (f32, f32) = (-60.0, 0.0);
/// How long a meter's peak marker holds before it falls.
pub const METER_HOLD_S: f64 = 1.5;
/// Numbers and the status line refresh this often: readable, and text is the costly part of
/// a redraw. Bars and meter columns follow every frame.
pub const TEXT_REFRESH_S: f64 = 0.1;
/// How long a notice stays.
pub const NOTICE_S: f64 = 6.0;
/// How long a notice about a failed recording stays.
pub const ERROR_NOTICE_S: f64 = 30.0;
/// The loudness panel shows in windows at least this wide (logical px): narrower, the
/// spectrum would have too little room.
pub const LOUDNESS_PANEL_FROM_PX: f32 = 720.0;
/// The signal shown when there is no input device.
pub const DEMO_SOURCE: &str = "synth:demo,duration=604800";

/// What the window is asked to show.
#[derive(Debug, Clone)]
pub struct WindowOptions {
    /// Source spec (`None`: the default input, or the demo signal when there is none).
    pub source: Option<String>,
    /// Audio system.
    pub host: HostChoice,
    /// The settings to start with.
    pub user: settings::UserSettings,
    /// Where settings changes are saved (`None`: not saved).
    pub settings_path: Option<std::path::PathBuf>,
    /// A warning to show at start (a broken settings file).
    pub warning: Option<String>,
    /// Capture period for this run (`--period`), over the saved one; never saved itself.
    pub period_ms: Option<f64>,
}

/// The window's models: rows that Slint draws.
struct Models {
    bars: Rc<VecModel<BarData>>,
    bands: Rc<VecModel<BandText>>,
    meters: Rc<VecModel<MeterData>>,
    levels: Rc<VecModel<MeterLevel>>,
    sources: Rc<VecModel<SourceEntry>>,
    traces: Rc<VecModel<TraceMark>>,
    /// The references' lines.
    ref_marks: Rc<VecModel<TraceMark>>,
    /// The traces' rows, made here each frame before they go to the model.
    trace_rows: Vec<TraceMark>,
}

/// Per-channel meter state the rows are made from.
#[derive(Default)]
struct MeterState {
    clip_latched: Vec<bool>,
    /// The channel names, made once per stream (a tick allocates nothing for them).
    names: Vec<SharedString>,
    hold: Vec<(f32, Instant)>,
}

/// What the window measures of itself, for `--stats`, tests and the README.
#[derive(Debug, Default)]
pub struct WindowStats {
    /// Frames copied into the models.
    pub frames_shown: u64,
    /// Times the numbers (meters, status line) were refreshed.
    pub text_refreshes: u64,
    /// Ticks that did nothing because the window was minimized.
    pub ticks_minimized: u64,
    /// Ticks that did nothing because the display was frozen.
    pub ticks_frozen: u64,
    /// From a frame's publication to this window reading it.
    pub read_latency: LatencyHistogram,
    /// From the sound (a frame's newest sample, as the audio system timestamps it) to this
    /// window reading the frame for drawing.
    pub sound_to_read: LatencyHistogram,
}

/// Everything the timer works on. Lives on the UI thread.
pub struct App {
    window: slint::Weak<MainWindow>,
    options: WindowOptions,
    user: settings::UserSettings,
    db_range: (f32, f32),
    session: LiveSession<Latest>,
    models: Models,
    /// The frame on screen (kept while frozen, for the readout and snapshots).
    shown: Frame,
    /// The bands on screen (the session's may be newer while frozen).
    bands: Vec<BandInfo>,
    /// The stream being shown.
    info: Option<StreamInfo>,
    meters: MeterState,
    notice_until: Option<Instant>,
    xruns: u64,
    /// The newest sound-to-screen latency, ms.
    latency_ms: f64,
    /// Why the source is away, while it is.
    lost: Option<String>,
    /// The picture is from before a loss: the source is back but has not sounded yet, so it
    /// stays grey until the first new frame.
    stale: bool,
    using_demo: bool,
    text_refreshed: Option<Instant>,
    picker: sources::Picker,
    rec_progress: crate::record::Progress,
    /// The loudness panel, and whether the window is wide enough for it.
    loudness: loudness::LoudnessView,
    loudness_room: bool,
    /// When the loudness words were last refreshed.
    loudness_refreshed: Option<Instant>,
    /// The spectrogram, while the view shows one.
    spectro: Option<spectrogram::SpectroView>,
    /// Each band's display tilt, dB (the picture only).
    tilts: Vec<f32>,
    /// The references and the difference view.
    refs: references::References,
    /// A stream started while the display was frozen: the picture is of the one before.
    frozen_across_streams: bool,
    /// The input's microphone correction, while it has one.
    mic: Option<std::sync::Arc<crate::calibration::MicCurve>>,
    /// A calibrator's tone being measured.
    measuring: Option<calibrate::Measuring>,
    /// The test signal playing to the speakers, while it does.
    generator: generator::Generator,
    /// Audio time the average and the max-hold run from (the start, a reset, a new
    /// analysis).
    average_from_s: f64,
    /// The last recording's end, for tests.
    pub last_recording: Option<crate::record::Finished>,
    /// What the window measures of itself.
    pub stats: WindowStats,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("source", &self.info.as_ref().map(|i| &i.name))
            .field("frames_shown", &self.stats.frames_shown)
            .finish()
    }
}

impl App {
    /// Sets up the models and the live session for `window`.
    pub fn new(window: &MainWindow, options: WindowOptions) -> Result<Rc<RefCell<Self>>, String> {
        let spec: SourceSpec = options
            .source
            .as_deref()
            .unwrap_or("default")
            .parse()
            .map_err(|e| format!("{e}"))?;
        let user = options.user.clone();
        let live = LiveOptions {
            host: options.host,
            looped: true,
            reconnect: true,
            period: Period::from_option(options.period_ms.or(user.capture_period_ms)),
            settings: user.analysis(),
            gain_db: user.gain_db,
        };
        let session =
            LiveSession::start(spec, live, Latest::default()).map_err(|e| e.to_string())?;
        let models = Models {
            bars: Rc::new(VecModel::default()),
            bands: Rc::new(VecModel::default()),
            meters: Rc::new(VecModel::default()),
            levels: Rc::new(VecModel::default()),
            sources: Rc::new(VecModel::default()),
            traces: Rc::new(VecModel::default()),
            ref_marks: Rc::new(VecModel::default()),
            trace_rows: Vec::new(),
        };
        let ui = window.global::<Ui>();
        ui.set_bars(ModelRc::from(models.bars.clone()));
        ui.set_bands(ModelRc::from(models.bands.clone()));
        ui.set_meters(ModelRc::from(models.meters.clone()));
        ui.set_levels(ModelRc::from(models.levels.clone()));
        ui.set_sources(ModelRc::from(models.sources.clone()));
        ui.set_traces(ModelRc::from(models.traces.clone()));
        ui.set_ref_marks(ModelRc::from(models.ref_marks.clone()));
        ui.set_generator_sine_hz(ModelRc::new(VecModel::from(
            generator::SINE_HZ.map(|hz| hz as i32).to_vec(),
        )));
        let db_range = (user.db_floor, user.db_top);
        ui.set_grid(ModelRc::new(VecModel::from(adapters::grid(db_range))));
        ui.set_status("starting capture...".into());
        settings_panel::show(&ui, &user, 0);
        let loudness = loudness::LoudnessView::new(&user);
        ui.set_loudness_grid(ModelRc::new(VecModel::from(loudness.grid())));
        ui.set_loudness_target_at(loudness.target_at());
        let (refs, refs_warning) =
            references::References::load(Self::references_path(options.settings_path.as_deref()));
        let warning = match (options.warning.clone(), refs_warning) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        let app = Rc::new(RefCell::new(App {
            window: window.as_weak(),
            options,
            user,
            db_range,
            session,
            models,
            shown: Frame::default(),
            bands: Vec::new(),
            info: None,
            meters: MeterState::default(),
            notice_until: None,
            xruns: 0,
            latency_ms: f64::NAN,
            lost: None,
            stale: false,
            using_demo: false,
            text_refreshed: None,
            picker: sources::Picker::default(),
            rec_progress: Default::default(),
            loudness,
            loudness_room: true,
            loudness_refreshed: None,
            spectro: None,
            refs,
            frozen_across_streams: false,
            mic: None,
            measuring: None,
            generator: Default::default(),
            average_from_s: 0.0,
            tilts: Vec::new(),
            last_recording: None,
            stats: WindowStats::default(),
        }));
        Self::connect(window, &app);
        // Kept references and a kept difference view show at once (refitted to the bands
        // when the stream starts).
        app.borrow_mut().references_changed_unsaved();
        if let Some(w) = warning {
            app.borrow_mut().notice(w);
        }
        Ok(app)
    }

    fn connect(window: &MainWindow, app: &Rc<RefCell<Self>>) {
        let ui = window.global::<Ui>();
        let a = app.clone();
        ui.on_toggle_freeze(move || a.borrow_mut().toggle_freeze());
        let a = app.clone();
        ui.on_toggle_pause(move || a.borrow_mut().toggle_pause());
        let a = app.clone();
        ui.on_toggle_record(move || a.borrow_mut().toggle_record());
        let a = app.clone();
        // The picture is taken while the app is free: drawing it asks the app for the
        // spectrogram's readout.
        ui.on_snapshot(move || {
            let window = a.borrow().window.upgrade();
            let Some(w) = window else {
                return;
            };
            // Live, the newest cells (the picture may be a step behind); frozen, as shown.
            let ui = w.global::<Ui>();
            if !ui.get_frozen()
                && let Some(view) = a.borrow_mut().spectro.as_mut()
            {
                view.show(&ui);
            }
            // Not the Snapshot button's tooltip: it is not part of the picture.
            let tip = ui.get_tip_text();
            ui.set_tip_text(SharedString::new());
            let pixels = w.window().take_snapshot().map_err(|e| e.to_string());
            ui.set_tip_text(tip);
            a.borrow_mut().snapshot(&w, pixels);
        });
        let a = app.clone();
        ui.on_reset_clip(move |i| a.borrow_mut().reset_clip(i as usize));
        let a = app.clone();
        ui.on_settings_changed(move || a.borrow_mut().settings_changed());
        let a = app.clone();
        ui.on_sources_requested(move || a.borrow_mut().list_sources());
        let a = app.clone();
        ui.on_pick_source(move |i| a.borrow_mut().pick_source(i as usize));
        let a = app.clone();
        ui.on_open_file(move |path| a.borrow_mut().open_file(path.as_str()));
        let a = app.clone();
        ui.on_browse_file(move || a.borrow_mut().browse_file());
        let a = app.clone();
        ui.on_reset_loudness(move || a.borrow_mut().reset_loudness());
        let a = app.clone();
        ui.on_reset_averages(move || a.borrow_mut().reset_averages());
        let a = app.clone();
        ui.on_view_changed(move || a.borrow_mut().settings_changed());
        let a = app.clone();
        ui.on_store_reference(move |name| a.borrow_mut().store_reference(name.as_str()));
        let a = app.clone();
        ui.on_load_reference(move |path| a.borrow_mut().load_reference(path.as_str()));
        let a = app.clone();
        ui.on_browse_reference(move || a.borrow_mut().browse_reference());
        let a = app.clone();
        ui.on_remove_reference(move |i| a.borrow_mut().remove_reference(i as usize));
        let a = app.clone();
        ui.on_compare_reference(move |i| a.borrow_mut().compare_reference(i as usize));
        let a = app.clone();
        ui.on_toggle_difference(move || a.borrow_mut().toggle_difference());
        let a = app.clone();
        ui.on_calibrate_measure(move || a.borrow_mut().start_calibration());
        let a = app.clone();
        ui.on_calibrate_forget(move || a.borrow_mut().forget_calibration());
        let a = app.clone();
        ui.on_load_mic(move |path| a.borrow_mut().load_mic(path.as_str()));
        let a = app.clone();
        ui.on_units_changed(move |spl| a.borrow_mut().units_changed(spl));
        let a = app.clone();
        ui.on_spl_weighting_changed(move |code| a.borrow_mut().spl_weighting_changed(code));
        let a = app.clone();
        ui.on_toggle_generator(move || a.borrow_mut().toggle_generator());
        let a = app.clone();
        ui.on_generator_changed(move || a.borrow_mut().generator_changed());
        let a = app.clone();
        // Called while Slint draws: never while the tick holds the app.
        ui.on_spectro_pointer_left({
            let a = app.clone();
            move || {
                if let Ok(app) = a.try_borrow()
                    && let Some(v) = &app.spectro
                {
                    v.pointer_left();
                }
            }
        });
        ui.on_spectro_readout(move |x, y, _| {
            a.try_borrow()
                .ok()
                .and_then(|app| app.spectro.as_ref().map(|v| v.readout(x, y)))
                .unwrap_or_default()
                .into()
        });
    }

    /// Starts the ~60 Hz timer that drives the window.
    pub fn start_timer(app: &Rc<RefCell<Self>>) -> slint::Timer {
        let timer = slint::Timer::default();
        let a = app.clone();
        timer.start(slint::TimerMode::Repeated, TICK, move || {
            a.borrow_mut().tick()
        });
        timer
    }

    fn notice(&mut self, text: impl Into<SharedString>) {
        self.notice_for(text, NOTICE_S);
    }

    fn notice_for(&mut self, text: impl Into<SharedString>, seconds: f64) {
        if let Some(w) = self.window.upgrade() {
            w.global::<Ui>().set_notice(text.into());
        }
        self.notice_until = Some(Instant::now() + Duration::from_secs_f64(seconds));
    }

    fn toggle_freeze(&mut self) {
        let Some(w) = self.window.upgrade() else {
            return;
        };
        let ui = w.global::<Ui>();
        let frozen = !ui.get_frozen();
        ui.set_frozen(frozen);
        if !frozen {
            self.frozen_across_streams = false;
        }
        self.session.mark(
            if frozen {
                MarkKind::Freeze
            } else {
                MarkKind::Unfreeze
            },
            String::new(),
        );
    }

    fn toggle_pause(&mut self) {
        let paused = !self.session.paused();
        self.session.set_paused(paused);
    }

    /// The average and the max-hold start over (the Z key).
    fn reset_averages(&mut self) {
        let a = self.analysis();
        if a.smoothing != crate::config::Smoothing::Infinite && !a.max_hold {
            self.notice("nothing to reset: Z restarts the Average smoothing and the Max peak hold (Settings)");
            return;
        }
        self.session.reset_averages();
        self.average_from_s = self.shown.time_s;
        self.notice("the average and the max-hold start over");
        self.refresh_status();
    }

    /// Integrated, range and the maxima start over (the L key, the panel's Reset).
    fn reset_loudness(&mut self) {
        if !self.user.loudness {
            return;
        }
        self.session.reset_loudness();
        self.notice("loudness reset: integrated, range and the maxima start over");
    }

    /// The loudness panel after a settings change: target, scale, and whether it measures.
    fn show_loudness_settings(&mut self) {
        self.loudness.configure(&self.user);
        if let Some(w) = self.window.upgrade() {
            let ui = w.global::<Ui>();
            ui.set_loudness_grid(ModelRc::new(VecModel::from(self.loudness.grid())));
            ui.set_loudness_target_at(self.loudness.target_at());
            self.loudness_refreshed = None;
        }
    }

    /// How the spectrogram is to look, from the settings.
    fn user_look(&self) -> spectrogram::Look {
        spectrogram::Look {
            span_s: f64::from(self.user.spectrogram_span_s),
            map: self.user.colormap,
            range_db: (self.user.db_floor, self.user.db_top),
            layout: self.user.spectrogram_bands,
        }
    }

    /// Starts (or restarts, for new settings or a new stream) the spectrogram's feed when the
    /// view shows one, and stops it when it does not: a hidden spectrogram costs nothing.
    fn start_spectrogram(&mut self) {
        let layout = self
            .user
            .view
            .spectrogram()
            .then(|| self.user.spectrogram_bands.bands());
        match self.session.spectrogram(layout) {
            Ok(Some(frames)) => {
                // Nothing of the old picture stays up (frozen, it would be read with the new
                // history); the first live tick draws the new one.
                if let Some(w) = self.window.upgrade() {
                    w.global::<Ui>().set_spectro_image(slint::Image::default());
                }
                self.spectro = Some(spectrogram::SpectroView::new(
                    frames,
                    self.user_look(),
                    self.session.settings().fps,
                ));
                self.orient_spectrogram();
            }
            Ok(None) => self.spectro = None,
            Err(e) => {
                self.spectro = None;
                self.notice(format!("the spectrogram cannot run: {e}"));
            }
        }
    }

    /// Both views: the spectrogram runs down on the bars' frequency axis; alone, across.
    fn orient_spectrogram(&mut self) {
        let orientation = if self.user.view == crate::settings::View::Both {
            spectrogram::Orientation::Down(self.bands.iter().map(|b| (b.lo_hz, b.hi_hz)).collect())
        } else {
            spectrogram::Orientation::Across
        };
        if let Some(view) = self.spectro.as_mut() {
            view.set_orientation(orientation);
        }
    }

    fn reset_clip(&mut self, channel: usize) {
        if let Some(latched) = self.meters.clip_latched.get_mut(channel) {
            *latched = false;
        }
        if let Some(mut row) = self.models.meters.row_data(channel) {
            row.clipped = false;
            self.models.meters.set_row_data(channel, row);
        }
    }

    /// A snapshot with `pixels` as its picture: what the S key saves, for platforms that
    /// cannot take the window's picture (Slint's testing backend).
    pub fn snapshot_with(&mut self, pixels: slint::SharedPixelBuffer<slint::Rgba8Pixel>) {
        if let Some(w) = self.window.upgrade() {
            self.snapshot(&w, Ok(pixels));
        }
    }

    fn snapshot(
        &mut self,
        w: &MainWindow,
        pixels: Result<slint::SharedPixelBuffer<slint::Rgba8Pixel>, String>,
    ) {
        let frozen = w.global::<Ui>().get_frozen();
        let now = chrono::Local::now();
        let source = self
            .info
            .as_ref()
            .map(|i| i.name.clone())
            .unwrap_or_default();
        let result = pixels.and_then(|pixels| {
            let dir = self
                .user
                .snapshots
                .clone()
                .unwrap_or_else(snapshot::default_dir);
            let stem = snapshot::unique_stem(&dir, now);
            let data = snapshot::SnapshotData {
                source: &source,
                bands: &self.bands,
                frame: &self.shown,
                settings: serde_json::to_value(&self.user).unwrap_or_default(),
                display: serde_json::json!({
                    "floor_db": self.db_range.0,
                    "top_db": self.db_range.1,
                    "tilt_db_per_octave": self.user.tilt_db_per_oct,
                    "rule": "the picture only: a bar is drawn tilt x log2(centre / 1 kHz) dB \
                             higher; every number in this file is as measured, untilted",
                }),
                frozen,
                sample_rate: self.info.as_ref().map(|i| i.format.sample_rate),
                channels: self.info.as_ref().map(|i| i.format.channels),
                unit: self.unit(),
                references: self.refs.snapshot_json(),
                loudness: self.loudness.snapshot(&self.shown, self.user.target().0),
                spectrogram: self.spectro.as_ref().and_then(|v| v.matrix()),
            };
            snapshot::write(
                &stem,
                pixels.as_bytes(),
                pixels.width(),
                pixels.height(),
                &data,
                now,
            )
            .map_err(|e| e.to_string())
        });
        match result {
            Ok(png) => {
                self.session
                    .mark(MarkKind::Snapshot, png.display().to_string());
                let also = if self.spectro.is_some() {
                    ".csv, .json, .spectrogram.csv"
                } else {
                    ".csv, .json"
                };
                self.notice(format!("snapshot saved: {} (+ {also})", png.display()))
            }
            Err(e) => self.notice(format!("snapshot failed: {e}")),
        }
    }

    /// A stream started: the meters and the title follow it; the bars follow the session's
    /// bands (now, or at the unfreeze).
    fn stream_started(&mut self, info: StreamInfo, note: Option<String>) {
        let channels = info.format.channels;
        let returned = self.lost.take().is_some();
        if let Some(w) = self.window.upgrade()
            && w.global::<Ui>().get_frozen()
        {
            self.frozen_across_streams = true;
        }
        // Another source: the average and the max-hold are of it alone (a source that comes
        // back after a loss keeps them).
        if !returned {
            self.session.reset_averages();
            self.average_from_s = self.shown.time_s;
        }
        if self.info.as_ref().map(|i| i.format) != Some(info.format) {
            self.models.meters.set_vec(
                (0..channels)
                    .map(|c| MeterData {
                        name: channel_name(channels, c),
                        ..Default::default()
                    })
                    .collect::<Vec<_>>(),
            );
            self.models
                .levels
                .set_vec(vec![MeterLevel::default(); channels]);
            self.meters = MeterState {
                clip_latched: vec![false; channels],
                names: (0..channels).map(|c| channel_name(channels, c)).collect(),
                hold: vec![(FLOOR_DB, Instant::now()); channels],
            };
        }
        if let Some(w) = self.window.upgrade() {
            let ui = w.global::<Ui>();
            let title = if self.using_demo {
                "spektr \u{2014} demo signal".to_string()
            } else {
                format!("spektr \u{2014} {}", info.name)
            };
            ui.set_title(title.into());
            ui.set_lost(false);
            // Back, but the picture is the old one until the source sounds again.
            ui.set_stale(returned);
        }
        self.stale = returned;
        if returned {
            self.notice(format!("{} is back", info.name));
        }
        if let Some(note) = note {
            self.notice(note);
        }
        if let Some(w) = self.window.upgrade() {
            settings_panel::show(&w.global::<Ui>(), &self.user, channels);
        }
        self.info = Some(info);
        // This input's calibration, if it has one.
        self.apply_calibration();
        // The stream's shape may be new: a feed for it.
        self.start_spectrogram();
        self.refresh_status();
    }

    /// The traces' legend: the channels' names with `--bars-from each`, else none.
    fn show_trace_names(&mut self) {
        let channels = self.info.as_ref().map_or(0, |i| i.format.channels);
        let names: Vec<SharedString> =
            if self.session.bars_from() == crate::config::BarsFrom::Each && channels > 1 {
                (0..channels).map(|c| channel_name(channels, c)).collect()
            } else {
                Vec::new()
            };
        self.models.traces.set_vec(Vec::new());
        if let Some(w) = self.window.upgrade() {
            w.global::<Ui>()
                .set_trace_names(ModelRc::new(VecModel::from(names)));
        }
    }

    /// The bands' display tilts, for the bands on screen and the tilt set.
    fn retilt(&mut self) {
        let centres: Vec<f64> = self.bands.iter().map(|b| b.center_hz).collect();
        self.tilts = adapters::tilts(&centres, self.user.tilt_db_per_oct);
    }

    /// New bands on screen, with empty bars.
    fn set_bands(&mut self, bands: Vec<BandInfo>) {
        let channels = self.info.as_ref().map_or(0, |i| i.format.channels);
        self.models.bars.set_vec(vec![
            bar_row(
                FLOOR_DB,
                FLOOR_DB,
                self.db_range,
                false,
                true,
                0.0,
                0.0
            );
            bands.len()
        ]);
        self.models.bands.set_vec(adapters::band_texts(&bands));
        self.shown = Frame::new(bands.len(), channels);
        self.bands = bands;
        self.retilt();
        self.show_trace_names();
        self.orient_spectrogram();
        self.refit_references();
    }

    fn event(&mut self, event: LiveEvent) {
        match event {
            LiveEvent::Started { info, note } => self.stream_started(info, note),
            LiveEvent::Unusable { error } => self.notice_for(error, ERROR_NOTICE_S),
            LiveEvent::Failed { error, .. } => {
                if !self.session.has_engine() && !self.using_demo && self.options.source.is_none() {
                    self.using_demo = true;
                    self.notice(format!(
                        "no input device ({error}): showing the built-in demo signal"
                    ));
                    if let Ok(spec) = DEMO_SOURCE.parse() {
                        self.session.set_source(HostChoice::Auto, spec);
                    }
                } else {
                    self.notice_for(error, ERROR_NOTICE_S);
                }
            }
            LiveEvent::Lost { reason } => {
                // Visible until it returns: the status line says so and the bars go grey.
                if self.session.recording().is_some() {
                    self.notice_for(
                        format!(
                            "{reason}: the recording waits for it (the time it is away is \
                             written as silence)"
                        ),
                        ERROR_NOTICE_S,
                    );
                }
                self.lost = Some(reason);
                if let Some(w) = self.window.upgrade() {
                    w.global::<Ui>().set_lost(true);
                }
                // The last picture stays, grey and without peak holds; the meters go empty:
                // nothing is measured now.
                self.show();
                for c in 0..self.models.levels.row_count() {
                    self.models.levels.set_row_data(c, MeterLevel::default());
                }
                for c in 0..self.models.meters.row_count() {
                    if let Some(mut row) = self.models.meters.row_data(c) {
                        row.peak_text = "--".into();
                        row.rms_text = "--".into();
                        self.models.meters.set_row_data(c, row);
                    }
                }
                self.refresh_status();
            }
            LiveEvent::DefaultChanged { to } => {
                self.notice(format!("the default device is now {to}: following it"));
            }
            LiveEvent::Paused(paused) => {
                // The recording's pause and resume are marked by the engine, at their frames.
                if let Some(w) = self.window.upgrade() {
                    w.global::<Ui>().set_paused(paused);
                }
            }
            LiveEvent::Xruns(n) => self.xruns = n,
            LiveEvent::Ended | LiveEvent::Woken => {}
        }
    }

    /// One timer tick: events, then at most one frame into the models.
    pub fn tick(&mut self) {
        for event in self.session.poll() {
            self.event(event);
        }
        self.poll_recording();
        self.poll_picker();
        self.poll_reference_dialog();
        self.poll_generator();
        let Some(w) = self.window.upgrade() else {
            return;
        };
        if self.notice_until.is_some_and(|t| Instant::now() >= t) {
            self.notice_until = None;
            w.global::<Ui>().set_notice(SharedString::new());
        }
        if w.window().is_minimized() {
            self.stats.ticks_minimized += 1;
            if let Some(view) = self.spectro.as_mut() {
                view.gather();
            }
            return;
        }
        let width = w.window().size().width as f32 / w.window().scale_factor();
        let room = width >= LOUDNESS_PANEL_FROM_PX;
        if room != self.loudness_room {
            self.loudness_room = room;
            w.global::<Ui>().set_loudness_room(room);
        }
        if w.global::<Ui>().get_frozen() {
            self.stats.ticks_frozen += 1;
            // The display stays; the loudness history goes on filling (the measurement never
            // stops).
            if let Some(output) = self.session.publisher().output()
                && output.update()
            {
                self.loudness.gather(output.output_buffer());
            }
            if let Some(view) = self.spectro.as_mut() {
                view.frozen(&w.global::<Ui>(), w.window().scale_factor());
            }
            return;
        }
        if let Some(view) = self.spectro.as_mut() {
            let ui = w.global::<Ui>();
            view.tick(&ui, w.window().scale_factor());
        }
        // New bands after a settings change or a new stream shape (applied when not frozen: a
        // frozen display stays as it was until it is unfrozen).
        if self.session.publisher().take_replaced() || self.bands.is_empty() {
            let bands = self.session.bands().to_vec();
            if bands != self.bands {
                self.set_bands(bands);
            } else {
                self.show_trace_names();
            }
        }
        let Some(output) = self.session.publisher().output() else {
            return;
        };
        if !output.update() {
            return;
        }
        let frame = output.output_buffer();
        if frame.bars_db.len() != self.bands.len() {
            // A frame from before a settings change.
            return;
        }
        let now = Instant::now();
        if let Some(published) = frame.published {
            self.stats
                .read_latency
                .record(now.saturating_duration_since(published));
        }
        if let Some(sound) = frame.sound {
            let delay = now.saturating_duration_since(sound);
            self.stats.sound_to_read.record(delay);
            self.latency_ms = delay.as_secs_f64() * 1000.0;
        }
        self.loudness.gather(frame);
        self.shown.clone_from(frame);
        self.stats.frames_shown += 1;
        if self.measuring.is_some() {
            self.gather_calibration();
        }
        if self.stale {
            self.stale = false;
            w.global::<Ui>().set_stale(false);
        }
        self.show();
    }

    /// Copies `self.shown` into the models, row by row.
    fn show(&mut self) {
        let f = &self.shown;
        let hold = self.user.peak_hold && self.lost.is_none() && !self.stale;
        // The difference view: the live level minus the compared reference's, untilted and
        // without markers (the numbers readouts show are the differences).
        let base = &self.refs.base;
        let difference = !base.is_empty();
        for (i, (&db, &held)) in f.bars_db.iter().zip(&f.peak_hold_db).enumerate() {
            let settled = f.settled.get(i).copied().unwrap_or(true);
            let peak_hz = f.peak_hz.get(i).copied().unwrap_or(0.0);
            let row = match base.get(i) {
                Some(&r) => bar_row(
                    db - r,
                    db - r,
                    crate::reference::DIFF_RANGE_DB,
                    false,
                    settled,
                    peak_hz,
                    0.0,
                ),
                None => bar_row(
                    db,
                    held,
                    self.db_range,
                    hold,
                    settled,
                    peak_hz,
                    self.tilts.get(i).copied().unwrap_or(0.0),
                ),
            };
            if self.models.bars.row_data(i).as_ref() != Some(&row) {
                self.models.bars.set_row_data(i, row);
            }
        }
        if difference {
            self.models.trace_rows.clear();
        } else {
            adapters::trace_marks(f, self.db_range, &self.tilts, &mut self.models.trace_rows);
        }
        let model = &self.models.traces;
        if model.row_count() != self.models.trace_rows.len() {
            model.set_vec(self.models.trace_rows.clone());
        } else {
            for (i, row) in self.models.trace_rows.iter().enumerate() {
                if model.row_data(i).as_ref() != Some(row) {
                    model.set_row_data(i, row.clone());
                }
            }
        }
        let now = Instant::now();
        let refresh_text = self
            .text_refreshed
            .is_none_or(|t| now.duration_since(t).as_secs_f64() >= TEXT_REFRESH_S);
        if refresh_text {
            self.text_refreshed = Some(now);
            self.stats.text_refreshes += 1;
            // A resting pointer's readout follows the picture.
            if self.spectro.is_some()
                && let Some(w) = self.window.upgrade()
            {
                let ui = w.global::<Ui>();
                ui.set_spectro_version(ui.get_spectro_version().wrapping_add(1));
            }
        }
        let m = &mut self.meters;
        for (c, levels) in f.channels.iter().enumerate() {
            if c >= m.hold.len() || c >= m.names.len() {
                break;
            }
            m.clip_latched[c] |= levels.clipped;
            let (held, since) = &mut m.hold[c];
            if levels.peak_dbfs >= *held || since.elapsed().as_secs_f64() > METER_HOLD_S {
                *held = levels.peak_dbfs;
                *since = now;
            }
            let level = meter_level(levels, *held);
            if self.models.levels.row_data(c).as_ref() != Some(&level) {
                self.models.levels.set_row_data(c, level);
            }
            // The words: the numbers every TEXT_REFRESH_S, the clip light at once.
            let clipped = m.clip_latched[c];
            let old = self.models.meters.row_data(c);
            let text = match &old {
                Some(old) if !refresh_text => MeterData {
                    clipped,
                    ..old.clone()
                },
                _ => meter_text(m.names[c].clone(), levels, clipped),
            };
            if old.as_ref() != Some(&text) {
                self.models.meters.set_row_data(c, text);
            }
        }
        if self.user.loudness
            && let Some(w) = self.window.upgrade()
        {
            let ui = w.global::<Ui>();
            let reading = if self.lost.is_none() && !self.stale {
                self.shown.loudness.as_ref()
            } else {
                None
            };
            if let Some(level) = self.loudness.level(reading) {
                ui.set_loudness_level(level);
            }
            // Its words as often as the meters', on other ticks (no tick does both).
            let due = self
                .loudness_refreshed
                .is_none_or(|t| now.duration_since(t).as_secs_f64() >= TEXT_REFRESH_S);
            if due && !refresh_text {
                self.loudness_refreshed = Some(now);
                self.stats.text_refreshes += 1;
                if let Some(text) = self.loudness.text(self.shown.loudness.as_ref()) {
                    ui.set_loudness(text);
                }
                if let Some(image) = self.loudness.history_image() {
                    ui.set_loudness_history(image);
                }
            }
        }
        if refresh_text {
            self.refresh_status();
        }
    }

    /// The status line: the stream and its numbers, or while the source is away, that.
    fn refresh_status(&mut self) {
        let Some(w) = self.window.upgrade() else {
            return;
        };
        let status = match (&self.lost, &self.info) {
            (Some(reason), _) => format!("SOURCE LOST: {reason}; waiting for it to return"),
            (None, Some(info)) => status_text(
                &info.name,
                info.format,
                &info.sample_format,
                &self.bands,
                self.session.bars_from(),
                self.latency_ms,
                self.shown.dropped_frames,
                self.xruns,
            ),
            (None, None) => return,
        };
        // Calibrated, the status line's unit says so.
        let status = match self.spl_offset() {
            Some(db) => status.replace(
                "dBFS (AES17)",
                &format!("bars in dB SPL (dBFS {db:+.2} dB), meters dBFS"),
            ),
            None => status,
        };
        let ui = w.global::<Ui>();
        if ui.get_status().as_str() != status {
            ui.set_status(status.into());
        }
        let mut badge = hold_badge(
            &self.analysis(),
            self.shown.time_s - self.average_from_s,
            self.user.tilt_db_per_oct,
        );
        if self.spl_offset().is_some() {
            badge = if badge.is_empty() {
                "dB SPL".to_owned()
            } else {
                format!("dB SPL \u{b7} {badge}")
            };
        }
        if self.refs.difference {
            // The tilt is not drawn in the difference view.
            let held = badge
                .split(" \u{b7} ")
                .filter(|b| !b.starts_with("TILT"))
                .collect::<Vec<_>>()
                .join(" \u{b7} ");
            badge = if held.is_empty() {
                "DIFFERENCE".to_owned()
            } else {
                format!("DIFFERENCE \u{b7} {held}")
            };
        }
        if ui.get_hold_badge().as_str() != badge {
            ui.set_hold_badge(badge.into());
        }
        let spl = self.spl_text();
        if ui.get_spl_text().as_str() != spl {
            ui.set_spl_text(spl.into());
        }
    }

    /// Audio time of the frame on screen.
    pub fn shown_time_s(&self) -> f64 {
        self.shown.time_s
    }

    /// The frame on screen.
    pub fn shown(&self) -> &Frame {
        &self.shown
    }

    /// Stops capture and analysis (a recording is finalized first).
    pub fn shutdown(&mut self) {
        // The test signal fades out (50 ms) rather than stops with a click.
        self.generator.finish();
        // Stop the recording, then the engine (it lets go of the recording however it was
        // running), then wait for the file to be final; the capture closes with the session.
        let recording = self.session.take_recording();
        if let Some(r) = &recording {
            r.stop();
        }
        self.session.stop_engine();
        drop(self.session.join_engine());
        if let Some(r) = recording {
            self.last_recording = r.wait();
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &settings::UserSettings {
        &self.user
    }

    /// The spectrogram's rows, while it is shown.
    pub fn spectrogram_bands(&self) -> Option<&[BandInfo]> {
        self.spectro.as_ref().map(|v| v.bands())
    }

    /// The bands on screen.
    pub fn bands(&self) -> &[BandInfo] {
        &self.bands
    }

    /// Frames copied into the models.
    pub fn frames_shown(&self) -> u64 {
        self.stats.frames_shown
    }

    /// The `--stats` lines: frames shown and the latency up to the window reading a frame.
    pub fn stats_lines(&self) -> Vec<String> {
        let s = &self.stats;
        let line = |what: &str, h: &LatencyHistogram| match h.summary() {
            Some(summary) => format!("window: latency {what}: {summary}"),
            None => format!("window: latency {what}: no frames"),
        };
        vec![
            format!(
                "window: {} frames shown; ticks idle while minimized {}, while frozen {}",
                s.frames_shown, s.ticks_minimized, s.ticks_frozen
            ),
            line(
                "from the sound (a frame's newest sample as the audio system timestamps it) to \
                 the window reading the frame",
                &s.sound_to_read,
            ),
            line(
                "from a frame's publication to the window reading it",
                &s.read_latency,
            ),
        ]
    }
}

/// Opens the window and runs until it is closed (or Ctrl-C or SIGTERM arrive: they close it
/// the same way, so a recording in progress is finalized). Returns the `--stats` lines.
pub fn run(options: WindowOptions) -> Result<Vec<String>, String> {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        return Err(
            "no display (neither DISPLAY nor WAYLAND_DISPLAY is set): the window needs one; \
                    for headless use try 'spektr analyze --source default'"
                .into(),
        );
    }
    let window = MainWindow::new().map_err(|e| {
        format!("cannot open the window: {e}; for headless use try 'spektr analyze'")
    })?;
    let app = App::new(&window, options)?;
    let _timer = App::start_timer(&app);
    // The first Ctrl-C closes the window (finalizing a recording); a second one, should the
    // shutdown hang (a stalled disk), ends the process.
    static SIGNALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let _ = ctrlc::set_handler(|| {
        if SIGNALLED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            std::process::exit(130);
        }
        let _ = slint::invoke_from_event_loop(|| {
            let _ = slint::quit_event_loop();
        });
    });
    let result = window.run().map_err(|e| format!("the window failed: {e}"));
    let mut app = app.borrow_mut();
    app.shutdown();
    result.map(|()| app.stats_lines())
}

/// The badge that says what the bars hold and how they are drawn: the average and how long
/// it has run, the max-hold, the display's tilt; empty for none.
fn hold_badge(
    a: &crate::config::AnalysisSettings,
    averaged_s: f64,
    tilt_db_per_oct: f32,
) -> String {
    let average = (a.smoothing == crate::config::Smoothing::Infinite)
        .then(|| format!("AVERAGE {:.0} s", averaged_s.max(0.0)));
    let hold = a.max_hold.then(|| "MAX-HOLD".to_owned());
    let tilt = (tilt_db_per_oct != 0.0).then(|| format!("TILT {tilt_db_per_oct:+} dB/oct"));
    [average, hold, tilt]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" \u{b7} ")
}
