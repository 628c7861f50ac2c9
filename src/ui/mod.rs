//! The desktop window: Slint glue. Runs on the UI thread only.
//!
//! A `slint::Timer` at about 60 Hz is the only thing that touches Slint: it drains the capture
//! supervisor's events, reads the newest frame from the triple buffer and updates the models
//! row by row (`set_row_data`). It does nothing when no new frame arrived, when the display is
//! frozen, or when the window is minimized. It never waits on another thread.

pub mod render;
pub mod snapshot;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slint::{ComponentHandle, Model, ModelRc, SharedString, VecModel};

use crate::capture::supervisor::{Command, Event, Options, Supervisor};
use crate::capture::{HostChoice, SourceSpec};
use crate::config::{AnalysisSettings, SampleKind, StreamFormat};
use crate::engine::dsp::FLOOR_DB;
use crate::engine::{self, Analyzer, BandInfo, EngineControl, EngineInput};
use crate::publish::{Frame, FrameOutput, LatencyHistogram, frame_buffer};
use crate::record::{MarkKind, RecordEvent, RecordRequest, Recording};
use crate::settings;

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
/// A file dialog that returns nothing sooner than this never opened.
const NO_DIALOG: Duration = Duration::from_millis(400);
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

/// An engine thread analyzing one stream, and the UI's end of its triple buffer.
struct EngineRun {
    output: FrameOutput,
    bands: Vec<BandInfo>,
    format: StreamFormat,
    control: Arc<EngineControl>,
    settings_tx: std::sync::mpsc::Sender<AnalysisSettings>,
    bands_rx: std::sync::mpsc::Receiver<Result<Vec<BandInfo>, String>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The engine thread: analyzes `input` with `settings`, and again with new settings whenever
/// the UI sends them and stops the current analyzer. Reports each analyzer's bands.
fn engine_thread(
    mut input: EngineInput,
    format: StreamFormat,
    mut settings: AnalysisSettings,
    mut frames: crate::publish::FrameInput,
    control: Arc<EngineControl>,
    settings_rx: std::sync::mpsc::Receiver<AnalysisSettings>,
    bands_tx: std::sync::mpsc::Sender<Result<Vec<BandInfo>, String>>,
) {
    loop {
        match Analyzer::new(&settings, format) {
            Ok(mut analyzer) => {
                let _ = bands_tx.send(Ok(analyzer.bands().to_vec()));
                if engine::run(&mut input, &mut analyzer, &mut frames, &control)
                    != engine::EngineExit::Stopped
                {
                    return;
                }
            }
            Err(e) => {
                let _ = bands_tx.send(Err(e.to_string()));
                while !control.stopped() {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        // Stopped: new settings to apply, or the end.
        match settings_rx.try_recv() {
            Ok(next) => {
                settings = next;
                control.resume();
            }
            Err(_) => return,
        }
    }
}

/// Everything the timer works on. Lives on the UI thread.
pub struct App {
    window: slint::Weak<MainWindow>,
    options: WindowOptions,
    user: settings::UserSettings,
    db_range: (f32, f32),
    control: Arc<EngineControl>,
    supervisor: Supervisor,
    engine: Option<EngineRun>,
    bars: Rc<VecModel<BarData>>,
    bands: Rc<VecModel<BandText>>,
    meters: Rc<VecModel<MeterData>>,
    levels: Rc<VecModel<MeterLevel>>,
    /// The frame on screen (kept while frozen, for the readout and snapshots).
    shown: Frame,
    source_name: String,
    sample_format: String,
    sample_kind: SampleKind,
    /// The recording in progress.
    recording: Option<Recording>,
    rec_progress: crate::record::Progress,
    /// The last recording's end, for tests.
    pub last_recording: Option<crate::record::Finished>,
    clip_latched: Vec<bool>,
    /// The meters' channel names, made once per stream (a tick allocates nothing for them).
    meter_names: Vec<SharedString>,
    meter_hold: Vec<(f32, Instant)>,
    notice_until: Option<Instant>,
    xruns: u64,
    latency_ms: f64,
    using_demo: bool,
    text_refreshed: Option<Instant>,
    sources: Rc<VecModel<SourceEntry>>,
    source_specs: Vec<(HostChoice, String)>,
    sources_rx: Option<std::sync::mpsc::Receiver<Vec<crate::capture::DeviceInfo>>>,
    /// The file dialog's answer, while one is open.
    file_rx: Option<std::sync::mpsc::Receiver<(Option<std::path::PathBuf>, Duration)>>,
    /// Frames copied into the models, for tests and the performance report.
    pub frames_shown: u64,
    /// Times the numbers (meters, status line) were refreshed, for tests.
    pub text_refreshes: u64,
    /// Ticks that did nothing because the window was minimized, and because it was frozen.
    pub ticks_minimized: u64,
    /// See `ticks_minimized`.
    pub ticks_frozen: u64,
    /// From a frame's publication to this window reading it.
    pub read_latency: LatencyHistogram,
    /// From a sample's arrival to this window reading the frame that holds it.
    pub arrival_to_read: LatencyHistogram,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("source", &self.source_name)
            .field("frames_shown", &self.frames_shown)
            .finish()
    }
}

fn grid((lo, hi): (f32, f32)) -> Vec<GridLine> {
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

fn fraction(db: f32, (lo, hi): (f32, f32)) -> f32 {
    ((db - lo) / (hi - lo)).clamp(0.0, 1.0)
}

fn hz(v: f64) -> String {
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
fn band_texts(bands: &[BandInfo]) -> Vec<BandText> {
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
            range: format!("{} - {} Hz", hz(b.lo_hz), hz(b.hi_hz)).into(),
            window: format!("{:.0} ms window, {:.1} bins", b.window_ms, b.bins).into(),
            label: label.into(),
        })
        .collect()
}

/// A bar row for a level and its peak-hold marker on the scale `range` (`show_hold` false:
/// no marker).
pub fn bar_row(db: f32, hold: f32, range: (f32, f32), show_hold: bool) -> BarData {
    BarData {
        level: fraction(db, range),
        hold: if show_hold {
            fraction(hold, range)
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

/// The status line.
pub fn status_text(
    source: &str,
    format: StreamFormat,
    sample_format: &str,
    bands: &[BandInfo],
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
        "{source}  \u{b7}  {} Hz, {} ch, {sample_format}  \u{b7}  {} bands, windows {shortest:.0}-{longest:.0} ms  \u{b7}  latency {latency}  \u{b7}  dropped {dropped}  \u{b7}  xruns {xruns}  \u{b7}  dBFS (AES17)",
        format.sample_rate,
        format.channels,
        bands.len(),
    )
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
    let bars: Vec<BarData> = frame
        .bars_db
        .iter()
        .zip(&frame.peak_hold_db)
        .map(|(&d, &h)| bar_row(d, h, DB_RANGE, true))
        .collect();
    ui.set_bars(ModelRc::new(VecModel::from(bars)));
    let n = frame.channels.len();
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

impl App {
    /// Sets up the models and the supervisor for `window`.
    pub fn new(window: &MainWindow, options: WindowOptions) -> Result<Rc<RefCell<Self>>, String> {
        let control = Arc::new(EngineControl::default());
        let spec: SourceSpec = options
            .source
            .as_deref()
            .unwrap_or("default")
            .parse()
            .map_err(|e| format!("{e}"))?;
        let supervisor = Supervisor::spawn(
            spec,
            Options {
                host: options.host,
                looped: true,
                reconnect: true,
                period_ms: options.period_ms.or(options.user.capture_period_ms),
            },
            control.clone(),
        )
        .map_err(|e| format!("cannot start the capture thread: {e}"))?;
        let bars = Rc::new(VecModel::<BarData>::default());
        let bands = Rc::new(VecModel::<BandText>::default());
        let meters = Rc::new(VecModel::<MeterData>::default());
        let levels = Rc::new(VecModel::<MeterLevel>::default());
        let ui = window.global::<Ui>();
        ui.set_bars(ModelRc::from(bars.clone()));
        ui.set_bands(ModelRc::from(bands.clone()));
        ui.set_meters(ModelRc::from(meters.clone()));
        ui.set_levels(ModelRc::from(levels.clone()));
        let user = options.user.clone();
        let db_range = (user.db_floor, 0.0);
        ui.set_grid(ModelRc::new(VecModel::from(grid(db_range))));
        ui.set_status("starting capture...".into());
        ui.set_third_octave(user.bands == crate::config::BandLayout::ThirdOctave);
        ui.set_bar_count(user.bars as i32);
        ui.set_db_floor(user.db_floor as i32);
        ui.set_smoothing(match user.smoothing {
            crate::config::Smoothing::None => 0,
            crate::config::Smoothing::Fast => 1,
            crate::config::Smoothing::Slow => 2,
        });
        ui.set_weighting(match user.weighting {
            crate::config::Weighting::Z => 0,
            crate::config::Weighting::A => 1,
            crate::config::Weighting::C => 2,
        });
        ui.set_gain_db(user.gain_db.round() as i32);
        ui.set_peak_hold(user.peak_hold);
        let warning = options.warning.clone();
        let app = Rc::new(RefCell::new(App {
            window: window.as_weak(),
            options,
            user,
            db_range,
            control,
            supervisor,
            engine: None,
            bars,
            bands,
            meters,
            levels,
            shown: Frame::default(),
            source_name: String::new(),
            sample_format: String::new(),
            sample_kind: SampleKind::Float(32),
            recording: None,
            rec_progress: Default::default(),
            last_recording: None,
            clip_latched: Vec::new(),
            meter_names: Vec::new(),
            meter_hold: Vec::new(),
            notice_until: None,
            xruns: 0,
            latency_ms: f64::NAN,
            using_demo: false,
            text_refreshed: None,
            sources: Rc::new(VecModel::default()),
            source_specs: Vec::new(),
            sources_rx: None,
            file_rx: None,
            frames_shown: 0,
            text_refreshes: 0,
            ticks_minimized: 0,
            ticks_frozen: 0,
            read_latency: LatencyHistogram::default(),
            arrival_to_read: LatencyHistogram::default(),
        }));
        Self::connect(window, &app);
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
        ui.on_snapshot(move || a.borrow_mut().snapshot());
        let a = app.clone();
        ui.on_reset_clip(move |i| a.borrow_mut().reset_clip(i as usize));
        let a = app.clone();
        ui.on_settings_changed(move || a.borrow_mut().settings_changed());
        ui.set_sources(ModelRc::from(app.borrow().sources.clone()));
        let a = app.clone();
        ui.on_sources_requested(move || a.borrow_mut().list_sources());
        let a = app.clone();
        ui.on_pick_source(move |i| a.borrow_mut().pick_source(i as usize));
        let a = app.clone();
        ui.on_open_file(move |path| a.borrow_mut().open_file(path.as_str()));
        let a = app.clone();
        ui.on_browse_file(move || a.borrow_mut().browse_file());
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
        if let Some(w) = self.window.upgrade() {
            w.global::<Ui>().set_notice(text.into());
        }
        self.notice_until = Some(Instant::now() + Duration::from_secs_f64(NOTICE_S));
    }

    fn notice_for(&mut self, text: impl Into<SharedString>, seconds: f64) {
        self.notice(text);
        self.notice_until = Some(Instant::now() + Duration::from_secs_f64(seconds));
    }

    fn toggle_freeze(&mut self) {
        let Some(w) = self.window.upgrade() else {
            return;
        };
        let ui = w.global::<Ui>();
        let frozen = !ui.get_frozen();
        ui.set_frozen(frozen);
        self.mark(
            if frozen {
                MarkKind::Freeze
            } else {
                MarkKind::Unfreeze
            },
            String::new(),
        );
    }

    fn mark(&self, kind: MarkKind, detail: String) {
        if let Some(r) = &self.recording {
            r.mark(kind, detail);
        }
    }

    /// R: starts a recording of the current source into the recordings folder, or stops the
    /// one that runs.
    fn toggle_record(&mut self) {
        if let Some(r) = &self.recording {
            r.stop();
            return;
        }
        let Some(engine) = self
            .engine
            .as_ref()
            .filter(|e| e.thread.as_ref().is_some_and(|t| !t.is_finished()))
        else {
            self.notice("nothing to record: no source is running");
            return;
        };
        let dir = self
            .user
            .recordings
            .clone()
            .unwrap_or_else(crate::record::default_dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            self.notice_for(
                format!("cannot record: cannot create {}: {e}", dir.display()),
                ERROR_NOTICE_S,
            );
            return;
        }
        let path = crate::record::unique_recording_path(&dir, chrono::Local::now());
        let mut request = RecordRequest::new(path, engine.format, self.sample_kind);
        request.choice = self.user.record_format;
        request.source = self.source_name.clone();
        request.settings = serde_json::to_value(&self.user).unwrap_or_default();
        match Recording::start(request) {
            Ok((recording, tap)) => {
                engine.control.install_tap(tap);
                self.notice(format!("recording to {}", recording.path().display()));
                self.recording = Some(recording);
                self.rec_progress = Default::default();
                if let Some(w) = self.window.upgrade() {
                    let ui = w.global::<Ui>();
                    ui.set_recording(true);
                    ui.set_rec_text("REC 00:00.000".into());
                }
            }
            Err(e) => self.notice_for(format!("cannot record: {e}"), ERROR_NOTICE_S),
        }
    }

    /// Takes the recording's events: progress into the indicator, the end into a notice.
    fn poll_recording(&mut self) {
        let Some(r) = &self.recording else {
            return;
        };
        let mut finished = None;
        while let Ok(event) = r.events.try_recv() {
            match event {
                RecordEvent::Progress(p) => self.rec_progress = p,
                RecordEvent::Finished(f) => finished = Some(f),
            }
        }
        let text = format!(
            "REC {}  {}  buffer {:.0}%",
            r.clock(),
            crate::record::human_bytes(self.rec_progress.bytes),
            self.rec_progress.ring_fill * 100.0
        );
        if let Some(f) = finished {
            self.recording = None;
            if let Some(w) = self.window.upgrade() {
                w.global::<Ui>().set_recording(false);
            }
            if f.complete() {
                self.notice_for(f.message(), ERROR_NOTICE_S / 2.0);
            } else {
                self.notice_for(format!("error: {}", f.message()), ERROR_NOTICE_S);
            }
            self.last_recording = Some(f);
        } else if let Some(w) = self.window.upgrade() {
            let ui = w.global::<Ui>();
            if ui.get_rec_text().as_str() != text {
                ui.set_rec_text(text.into());
            }
        }
    }

    /// Whether a recording is running.
    pub fn is_recording(&self) -> bool {
        self.recording.is_some()
    }

    fn toggle_pause(&mut self) {
        let Some(w) = self.window.upgrade() else {
            return;
        };
        let ui = w.global::<Ui>();
        let paused = ui.get_paused();
        self.mark(
            if paused {
                MarkKind::Resume
            } else {
                MarkKind::Pause
            },
            String::new(),
        );
        self.supervisor.send(if paused {
            Command::Resume
        } else {
            Command::Pause
        });
    }

    fn reset_clip(&mut self, channel: usize) {
        if let Some(latched) = self.clip_latched.get_mut(channel) {
            *latched = false;
        }
        if let Some(mut row) = self.meters.row_data(channel) {
            row.clipped = false;
            self.meters.set_row_data(channel, row);
        }
    }

    fn snapshot(&mut self) {
        let Some(w) = self.window.upgrade() else {
            return;
        };
        let bands = self
            .engine
            .as_ref()
            .map(|e| e.bands.clone())
            .unwrap_or_default();
        let frozen = w.global::<Ui>().get_frozen();
        let now = chrono::Local::now();
        let result = w
            .window()
            .take_snapshot()
            .map_err(|e| e.to_string())
            .and_then(|pixels| {
                let dir = self
                    .user
                    .snapshots
                    .clone()
                    .unwrap_or_else(snapshot::default_dir);
                let stem = snapshot::unique_stem(&dir, now);
                let data = snapshot::SnapshotData {
                    source: &self.source_name,
                    bands: &bands,
                    frame: &self.shown,
                    settings: serde_json::to_value(&self.user).unwrap_or_default(),
                    frozen,
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
                self.mark(MarkKind::Snapshot, png.display().to_string());
                self.notice(format!("snapshot saved: {} (+ .csv, .json)", png.display()))
            }
            Err(e) => self.notice(format!("snapshot failed: {e}")),
        }
    }

    fn start_engine(
        &mut self,
        source: String,
        format: StreamFormat,
        sample_format: String,
        kind: SampleKind,
        input: EngineInput,
    ) {
        self.sample_kind = kind;
        if let Some(old) = self.engine.take() {
            // Its ring was closed with its capture, so it is ending by itself.
            old.control.stop();
        }
        let bands = match Analyzer::new(&self.user.analysis(), format) {
            Ok(a) => a.bands().to_vec(),
            Err(e) => {
                self.notice(format!("cannot analyze {source}: {e}"));
                return;
            }
        };
        let (frames_in, output) = frame_buffer(bands.len(), format.channels);
        let control = Arc::new(EngineControl::default());
        control.set_gain_db(self.user.gain_db);
        let (settings_tx, settings_rx) = std::sync::mpsc::channel();
        let (bands_tx, bands_rx) = std::sync::mpsc::channel();
        let (c, settings) = (control.clone(), self.user.analysis());
        let thread = std::thread::Builder::new()
            .name("spektr-engine".into())
            .spawn(move || {
                engine_thread(input, format, settings, frames_in, c, settings_rx, bands_tx)
            })
            .ok();
        self.meters.set_vec(
            (0..format.channels)
                .map(|c| MeterData {
                    name: channel_name(format.channels, c),
                    ..Default::default()
                })
                .collect::<Vec<_>>(),
        );
        self.levels
            .set_vec(vec![MeterLevel::default(); format.channels]);
        self.clip_latched = vec![false; format.channels];
        self.meter_names = (0..format.channels)
            .map(|c| channel_name(format.channels, c))
            .collect();
        self.meter_hold = vec![(FLOOR_DB, Instant::now()); format.channels];
        self.source_name = source;
        self.sample_format = sample_format;
        self.engine = Some(EngineRun {
            output,
            bands: Vec::new(),
            format,
            control,
            settings_tx,
            bands_rx,
            thread,
        });
        self.set_bands(bands);
        if let Some(w) = self.window.upgrade() {
            let title = if self.using_demo {
                "spektr \u{2014} demo signal".to_string()
            } else {
                format!("spektr \u{2014} {}", self.source_name)
            };
            w.global::<Ui>().set_title(title.into());
        }
    }

    fn set_bands(&mut self, bands: Vec<BandInfo>) {
        let channels = self.engine.as_ref().map_or(0, |e| e.format.channels);
        self.bars.set_vec(vec![
            bar_row(FLOOR_DB, FLOOR_DB, self.db_range, false);
            bands.len()
        ]);
        self.bands.set_vec(band_texts(&bands));
        self.shown = Frame::new(bands.len(), channels);
        if let Some(e) = self.engine.as_mut() {
            e.bands = bands;
        }
    }

    /// Starts listing devices on a helper thread (a PulseAudio connect can take a moment);
    /// the timer fills the picker when the list arrives.
    fn list_sources(&mut self) {
        let (tx, rx) = std::sync::mpsc::channel();
        self.sources_rx = Some(rx);
        if let Some(w) = self.window.upgrade() {
            w.global::<Ui>().set_sources_loading(true);
        }
        let _ = std::thread::Builder::new()
            .name("spektr-devices".into())
            .spawn(move || {
                let _quiet = crate::capture::devices::quiet_alsa();
                let mut all = Vec::new();
                for id in cpal::ALL_HOSTS {
                    if let Ok(host) = cpal::host_from_id(*id)
                        && let Ok(devices) = crate::capture::list_devices(&host)
                    {
                        all.extend(devices);
                    }
                }
                let _ = tx.send(all);
            });
    }

    fn fill_sources(&mut self, devices: Vec<crate::capture::DeviceInfo>) {
        use crate::capture::DeviceKind;
        let mut entries = vec![(
            SourceEntry {
                label: "Demo signal".into(),
                detail: "tones and pink noise, built in".into(),
                current: self.using_demo,
            },
            (HostChoice::Auto, DEMO_SOURCE.to_string()),
        )];
        for d in devices {
            let host = match d.host.as_str() {
                "alsa" => HostChoice::Alsa,
                "pulseaudio" => HostChoice::Pulseaudio,
                _ => HostChoice::Jack,
            };
            let (label, spec) = match d.kind {
                DeviceKind::Monitor => (
                    format!("what you hear: {}", d.name),
                    format!(
                        "monitor:{}",
                        d.id.strip_suffix(crate::capture::devices::MONITOR_SUFFIX)
                            .unwrap_or(&d.id)
                    ),
                ),
                DeviceKind::Input => (d.name.clone(), format!("device:{}", d.id)),
            };
            let format = match (d.sample_rate, d.channels) {
                (Some(r), Some(c)) => format!(", {r} Hz, {c} ch"),
                _ => String::new(),
            };
            let current = self.source_name == format!("{}:{}", d.host, d.id);
            let detail = format!(
                "{}{}{format}",
                d.host,
                if d.default { ", default" } else { "" }
            );
            entries.push((
                SourceEntry {
                    label: label.into(),
                    detail: detail.into(),
                    current,
                },
                (host, spec),
            ));
        }
        self.source_specs = entries.iter().map(|e| e.1.clone()).collect();
        self.sources
            .set_vec(entries.into_iter().map(|e| e.0).collect::<Vec<_>>());
        if let Some(w) = self.window.upgrade() {
            w.global::<Ui>().set_sources_loading(false);
        }
    }

    fn switch_source(&mut self, host: HostChoice, spec: &str) {
        match spec.parse::<SourceSpec>() {
            Ok(parsed) => {
                // A recording is of one source: it ends before the switch.
                if let Some(r) = &self.recording {
                    r.mark(MarkKind::SourceChange, spec.to_string());
                    r.stop();
                }
                self.using_demo = spec == DEMO_SOURCE;
                self.supervisor.send(Command::SetHost(host));
                self.supervisor.send(Command::SetSource(parsed));
                if let Some(w) = self.window.upgrade() {
                    w.global::<Ui>().set_sources_open(false);
                }
            }
            Err(e) => self.notice(e.to_string()),
        }
    }

    fn pick_source(&mut self, index: usize) {
        if let Some((host, spec)) = self.source_specs.get(index).cloned() {
            self.switch_source(host, &spec);
        }
    }

    /// Opens the desktop's file dialog on a helper thread (it blocks until the user chooses);
    /// the timer opens what it returns.
    fn browse_file(&mut self) {
        if self.file_rx.is_some() {
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let start = Instant::now();
        let spawned = std::thread::Builder::new()
            .name("spektr-file-dialog".into())
            .spawn(move || {
                let mut dialog = rfd::FileDialog::new()
                    .set_title("Open audio file - spektr")
                    .add_filter("Audio files", &["wav", "wave", "flac", "ogg", "oga"]);
                if let Some(dir) = dirs::audio_dir().or_else(dirs::home_dir) {
                    dialog = dialog.set_directory(dir);
                }
                let picked = dialog.pick_file();
                let _ = tx.send((picked, start.elapsed()));
            });
        match spawned {
            Ok(_) => self.file_rx = Some(rx),
            Err(e) => self.notice(format!("cannot open the file dialog: {e}")),
        }
    }

    /// The file dialog's answer: a file to open, a cancel, or no dialog at all.
    fn file_chosen(&mut self, picked: Option<std::path::PathBuf>, after: Duration) {
        match picked {
            Some(path) => match path.to_str() {
                Some(path) => self.switch_source(HostChoice::Auto, &format!("file:{path}")),
                None => self.notice(format!(
                    "cannot open {}: spektr needs file names in UTF-8",
                    path.display()
                )),
            },
            // Nobody cancels a dialog that fast: none could open.
            None if after < NO_DIALOG => self.notice_for(
                "no file dialog on this desktop (it needs xdg-desktop-portal or zenity): \
                 type the file's path in the field and press Enter",
                ERROR_NOTICE_S,
            ),
            None => {}
        }
    }

    fn open_file(&mut self, path: &str) {
        let path = path.trim();
        if path.is_empty() {
            self.notice("type the path of an audio file first");
            return;
        }
        self.switch_source(HostChoice::Auto, &format!("file:{path}"));
    }

    /// The panel changed something: validate, apply (restarting the analyzer only when the
    /// analysis itself changes), save.
    fn settings_changed(&mut self) {
        let Some(w) = self.window.upgrade() else {
            return;
        };
        let ui = w.global::<Ui>();
        let next = settings::UserSettings {
            bands: if ui.get_third_octave() {
                crate::config::BandLayout::ThirdOctave
            } else {
                crate::config::BandLayout::Log
            },
            bars: ui.get_bar_count().clamp(8, 128) as usize,
            db_floor: ui.get_db_floor() as f32,
            smoothing: match ui.get_smoothing() {
                0 => crate::config::Smoothing::None,
                2 => crate::config::Smoothing::Slow,
                _ => crate::config::Smoothing::Fast,
            },
            weighting: match ui.get_weighting() {
                1 => crate::config::Weighting::A,
                2 => crate::config::Weighting::C,
                _ => crate::config::Weighting::Z,
            },
            gain_db: ui.get_gain_db() as f32,
            peak_hold: ui.get_peak_hold(),
            ..self.user.clone()
        };
        if let Some(problem) = next.problem() {
            self.notice(problem);
            return;
        }
        let analysis_changed = next.analysis() != self.user.analysis();
        self.db_range = (next.db_floor, 0.0);
        ui.set_grid(ModelRc::new(VecModel::from(grid(self.db_range))));
        if analysis_changed {
            self.mark(
                MarkKind::Settings,
                serde_json::to_string(&next.analysis()).unwrap_or_default(),
            );
        }
        if let Some(e) = &self.engine {
            e.control.set_gain_db(next.gain_db);
            if analysis_changed && e.settings_tx.send(next.analysis()).is_ok() {
                e.control.stop();
            }
        }
        self.user = next;
        self.show();
        if let Some(path) = &self.options.settings_path
            && let Err(e) = settings::save(path, &self.user)
        {
            self.notice(format!("cannot save settings to {}: {e}", path.display()));
        }
    }

    /// One timer tick: events, then at most one frame into the models.
    pub fn tick(&mut self) {
        while let Ok(event) = self.supervisor.events.try_recv() {
            match event {
                Event::Started {
                    source,
                    format,
                    sample_format,
                    kind,
                    input,
                } => self.start_engine(source, format, sample_format, kind, *input),
                Event::Failed { error, .. } => {
                    if self.engine.is_none() && !self.using_demo && self.options.source.is_none() {
                        self.using_demo = true;
                        self.notice(format!(
                            "no input device ({error}): showing the built-in demo signal"
                        ));
                        if let Ok(spec) = DEMO_SOURCE.parse() {
                            self.supervisor.send(Command::SetSource(spec));
                        }
                    } else {
                        self.notice(error);
                    }
                }
                Event::DeviceLost { reason } => {
                    self.mark(MarkKind::DeviceLost, reason.clone());
                    if self.recording.is_some() {
                        self.notice_for(
                            format!(
                                "{reason}: the recording ends here (it keeps everything \
                                 up to now); waiting for the device to return"
                            ),
                            ERROR_NOTICE_S,
                        );
                    } else {
                        self.notice(format!("{reason}; waiting for it to return"))
                    }
                }
                Event::Paused => self.set_paused(true),
                Event::Resumed => self.set_paused(false),
                Event::Xruns(n) => self.xruns = n,
                Event::Ended | Event::Stopped => {}
            }
        }
        self.poll_recording();
        if let Some(devices) = self.sources_rx.as_ref().and_then(|rx| rx.try_recv().ok()) {
            self.sources_rx = None;
            self.fill_sources(devices);
        }
        if let Some(rx) = &self.file_rx {
            match rx.try_recv() {
                Ok((picked, after)) => {
                    self.file_rx = None;
                    self.file_chosen(picked, after);
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => self.file_rx = None,
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
        }
        let Some(w) = self.window.upgrade() else {
            return;
        };
        if self.notice_until.is_some_and(|t| Instant::now() >= t) {
            self.notice_until = None;
            w.global::<Ui>().set_notice(SharedString::new());
        }
        if w.window().is_minimized() {
            self.ticks_minimized += 1;
            return;
        }
        if w.global::<Ui>().get_frozen() {
            self.ticks_frozen += 1;
            return;
        }
        // New bands after a settings change (applied when not frozen: a frozen display stays
        // as it was until it is unfrozen).
        if let Some(result) = self
            .engine
            .as_ref()
            .and_then(|e| e.bands_rx.try_recv().ok())
        {
            match result {
                Ok(bands) if self.engine.as_ref().is_some_and(|e| e.bands != bands) => {
                    self.set_bands(bands)
                }
                Ok(_) => {}
                Err(e) => self.notice(e),
            }
        }
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        if !engine.output.update() {
            return;
        }
        let frame = engine.output.output_buffer();
        if frame.bars_db.len() != engine.bands.len() {
            // A frame from before a settings change.
            return;
        }
        let now = Instant::now();
        if let Some(published) = frame.published {
            self.read_latency
                .record(now.saturating_duration_since(published));
        }
        if let Some(arrival) = frame.arrival {
            let delay = now.saturating_duration_since(arrival);
            self.arrival_to_read.record(delay);
            self.latency_ms = delay.as_secs_f64() * 1000.0;
        }
        self.shown.clone_from(frame);
        self.frames_shown += 1;
        self.show();
    }

    fn set_paused(&mut self, paused: bool) {
        if let Some(w) = self.window.upgrade() {
            w.global::<Ui>().set_paused(paused);
        }
    }

    /// Copies `self.shown` into the models, row by row.
    fn show(&mut self) {
        let f = &self.shown;
        for (i, (&db, &hold)) in f.bars_db.iter().zip(&f.peak_hold_db).enumerate() {
            let row = bar_row(db, hold, self.db_range, self.user.peak_hold);
            if self.bars.row_data(i).as_ref() != Some(&row) {
                self.bars.set_row_data(i, row);
            }
        }
        let now = Instant::now();
        let refresh_text = self
            .text_refreshed
            .is_none_or(|t| now.duration_since(t).as_secs_f64() >= TEXT_REFRESH_S);
        if refresh_text {
            self.text_refreshed = Some(now);
            self.text_refreshes += 1;
        }
        for (c, m) in f.channels.iter().enumerate() {
            if c >= self.meter_hold.len() || c >= self.meter_names.len() {
                break;
            }
            self.clip_latched[c] |= m.clipped;
            let (held, since) = &mut self.meter_hold[c];
            if m.peak_dbfs >= *held || since.elapsed().as_secs_f64() > METER_HOLD_S {
                *held = m.peak_dbfs;
                *since = now;
            }
            let level = meter_level(m, *held);
            if self.levels.row_data(c).as_ref() != Some(&level) {
                self.levels.set_row_data(c, level);
            }
            // The words: the numbers every TEXT_REFRESH_S, the clip light at once.
            let clipped = self.clip_latched[c];
            let old = self.meters.row_data(c);
            let text = match &old {
                Some(old) if !refresh_text => MeterData {
                    clipped,
                    ..old.clone()
                },
                _ => meter_text(self.meter_names[c].clone(), m, clipped),
            };
            if old.as_ref() != Some(&text) {
                self.meters.set_row_data(c, text);
            }
        }
        if refresh_text
            && let Some(w) = self.window.upgrade()
            && let Some(e) = &self.engine
        {
            let status = status_text(
                &self.source_name,
                e.format,
                &self.sample_format,
                &e.bands,
                self.latency_ms,
                f.dropped_frames,
                self.xruns,
            );
            w.global::<Ui>().set_status(status.into());
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
        // Stop the recording, then the engine (its input holds the tap, so it lets go of the
        // recording however it was running), then wait for the file to be final.
        let recording = self.recording.take();
        if let Some(r) = &recording {
            r.stop();
        }
        self.control.stop();
        self.supervisor.send(Command::Stop);
        if let Some(mut e) = self.engine.take() {
            e.control.stop();
            if let Some(t) = e.thread.take() {
                let _ = t.join();
            }
        }
        if let Some(r) = recording {
            self.last_recording = r.wait();
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &settings::UserSettings {
        &self.user
    }

    /// The bands the engine is analyzing now.
    pub fn bands(&self) -> &[BandInfo] {
        self.engine.as_ref().map_or(&[], |e| &e.bands)
    }

    /// The `--stats` lines: frames shown and the latency up to the window reading a frame.
    pub fn stats(&self) -> Vec<String> {
        let line = |what: &str, h: &LatencyHistogram| match h.summary() {
            Some(s) => format!("window: latency {what}: {s}"),
            None => format!("window: latency {what}: no frames"),
        };
        vec![
            format!(
                "window: {} frames shown; ticks idle while minimized {}, while frozen {}",
                self.frames_shown, self.ticks_minimized, self.ticks_frozen
            ),
            line(
                "from a frame's publication to the window reading it",
                &self.read_latency,
            ),
            line(
                "from a sample's arrival to the window reading the frame holding it",
                &self.arrival_to_read,
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
    result.map(|()| app.stats())
}
