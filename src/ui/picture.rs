//! `spektr render --view spectrogram`: a file's spectrogram as a picture, with labelled axes
//! and a colour bar. The analysis (the costly part) runs for many files in parallel
//! ([`analyze`], any thread); the drawing runs on the thread that owns the offscreen window
//! ([`draw`]).

use std::path::Path;

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::{ComponentHandle, Image, ModelRc, Rgb8Pixel, SharedPixelBuffer, VecModel};

use super::{AxisLabel, SpectrogramPicture};
use crate::config::{AnalysisSettings, Smoothing};
use crate::engine::Analyzer;
use crate::source::Source;
use crate::spectrogram::{self, ColorMap, FrameStore, FreqAxis};

/// What to draw and how.
#[derive(Clone, Debug)]
pub struct Request {
    /// The analysis (its band layout is the picture's rows); smoothing and frame rate are
    /// set here.
    pub settings: AnalysisSettings,
    /// The span of audio, seconds (`None`: from the start, to the end).
    pub from_s: Option<f64>,
    pub to_s: Option<f64>,
    pub colormap: ColorMap,
    /// The colour map's ends, dBFS.
    pub floor_db: f32,
    pub top_db: f32,
    pub width: u32,
    pub height: u32,
}

/// Where things go in a picture of `width` x `height`.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    plot_x: u32,
    plot_y: u32,
    plot_w: u32,
    plot_h: u32,
    bar_x: u32,
    bar_w: u32,
}

const FONT_PX: u32 = 12;

fn geometry(width: u32, height: u32) -> Geometry {
    let (plot_x, plot_y) = (56, 4 * FONT_PX + 20);
    let bar_w = 14;
    let bar_x = width - 64;
    let plot_w = bar_x - 16 - plot_x;
    let plot_h = height - plot_y - 3 * FONT_PX - 14;
    Geometry {
        plot_x,
        plot_y,
        plot_w,
        plot_h,
        bar_x,
        bar_w,
    }
}

/// The plot's place in a picture of `width` x `height`: x, y, width, height, pixels (for
/// readers of the picture, such as the tests).
pub fn plot_area(width: u32, height: u32) -> (u32, u32, u32, u32) {
    let g = geometry(width, height);
    (g.plot_x, g.plot_y, g.plot_w, g.plot_h)
}

/// The smallest picture whose labels all fit.
pub const MIN_SIZE: (u32, u32) = crate::spectrogram::MIN_PICTURE;

/// A file analysed for its picture.
#[derive(Debug)]
pub struct Analysed {
    name: String,
    description: String,
    rate: u32,
    channels: usize,
    edges: Vec<(f64, f64)>,
    /// Per band, how long before a frame's end its reading is centred (where it is placed).
    lags_s: Vec<f64>,
    store: FrameStore,
    from_s: f64,
    to_s: f64,
    frame_s: f64,
    layout: String,
    request: Request,
}

/// Analyses `source` over the request's span; `progress` gets the fraction done now and then.
pub fn analyze(
    mut source: Box<dyn Source>,
    request: &Request,
    mut progress: impl FnMut(f64),
) -> Result<Analysed, String> {
    let format = source.format();
    let rate = f64::from(format.sample_rate);
    let name = source.name();
    let claimed_s = source.total_frames().map(|f| f as f64 / rate);
    let from_s = request.from_s.unwrap_or(0.0);
    // What the picture will span: `--to` or the claimed length, whichever ends sooner.
    let to_claim = match (request.to_s, claimed_s) {
        (Some(to), Some(end)) => Some(to.min(end)),
        (to, end) => to.or(end),
    };
    if let Some(end) = claimed_s
        && from_s >= end
    {
        return Err(format!(
            "{name} is {end:.2} s long; --from {from_s} is past its end"
        ));
    }
    let geometry = geometry(request.width, request.height);
    let columns = geometry.plot_w as usize;
    // Two frames a column at least (each column is then a mean of whole frames), from 1 to
    // 1000 a second; without a known length, 100 a second, and the store merges as it fills.
    let fps = match to_claim {
        Some(to) => (2.0 * columns as f64 / (to - from_s).max(1e-3)).clamp(1.0, 1000.0),
        None => 100.0,
    };
    let settings = AnalysisSettings {
        smoothing: Smoothing::None,
        fps,
        loudness: false,
        ..request.settings.clone()
    };
    settings.validate().map_err(|e| e.to_string())?;
    // A column is a mean over many analyses: three a window keep every sample counted alike
    // (the live view's five also keep a click's peak).
    let plan = crate::engine::plan::plan_with(
        &settings,
        format,
        crate::engine::plan::SPARSE_UPDATES_PER_WINDOW,
    )
    .map_err(|e| e.to_string())?;
    let mut analyzer = Analyzer::with_plan(plan).map_err(|e| e.to_string())?;
    let edges: Vec<(f64, f64)> = analyzer
        .bands()
        .iter()
        .map(|b| (b.lo_hz, b.hi_hz))
        .collect();
    let lags_s: Vec<f64> = analyzer
        .bands()
        .iter()
        .map(super::spectrogram::lag_s)
        .collect();
    let layout = format!(
        "1/{} octave, {} bands, {} to {} Hz",
        match settings.bands {
            crate::config::BandLayout::TwentyFourthOctave => 24,
            _ => 12,
        },
        edges.len(),
        spectrogram::hz_label(edges.first().map_or(0.0, |e| e.0)),
        spectrogram::hz_label(edges.last().map_or(0.0, |e| e.1))
    );
    let mut store = FrameStore::new(edges.len(), 4 * columns);
    let mut frame = analyzer.new_frame();
    let frame_s = 1.0 / fps;
    // A band's reading is placed its lag before its frame's end: the cells up to `--to` need
    // the frames up to the longest lag after it (a short span would leave the low rows blank).
    let max_lag = lags_s.iter().copied().fold(0.0, f64::max);
    let end_frame = request.to_s.map(|t| ((t + max_lag) * rate).ceil() as u64);
    let mut last_report = 0.0;
    let mut previous_end = 0.0;
    let mut masked = vec![0.0f32; edges.len()];
    super::render::analyze_until(
        &mut *source,
        &mut analyzer,
        &mut frame,
        end_frame,
        |frame| {
            // Frames fall on hop boundaries, so their spacing varies a little around 1/fps: each
            // spans from the one before it, and the spans tile the file.
            let (start, end) = (previous_end, frame.time_s);
            previous_end = end;
            if end > from_s && to_claim.is_none_or(|to| start < to + max_lag) {
                // A band whose window is not yet full reads low: it is not drawn.
                for ((m, &db), &settled) in
                    masked.iter_mut().zip(&frame.bars_db).zip(&frame.settled)
                {
                    *m = if settled { db } else { f32::NAN };
                }
                store.push(start.max(from_s), end, &masked);
            }
            if let Some(to) = to_claim {
                let done = ((end - from_s) / (to + max_lag - from_s)).clamp(0.0, 1.0);
                if done - last_report >= 0.01 {
                    progress(done);
                    last_report = done;
                }
            }
        },
    )?;
    let heard_s = analyzer.samples_in() as f64 / rate;
    store.finish(heard_s);
    progress(1.0);
    if heard_s <= from_s {
        return Err(format!(
            "{name} is only {heard_s:.2} s long; --from {from_s} is past its end"
        ));
    }
    // The picture spans what was asked for, or what the file holds if it ends sooner (a
    // header may claim more than there is).
    let to_s = request.to_s.unwrap_or(heard_s).min(heard_s.max(from_s));
    if store.end_s() <= from_s {
        return Err(format!(
            "{name}: no analysis frame ends inside {from_s}..{to_s:.3} s (the span is shorter than one frame)"
        ));
    }
    Ok(Analysed {
        description: source.description(),
        name,
        rate: format.sample_rate,
        channels: format.channels,
        edges,
        lags_s,
        store,
        from_s,
        to_s,
        frame_s,
        layout,
        request: request.clone(),
    })
}

fn labels(items: impl IntoIterator<Item = (f64, String)>) -> ModelRc<AxisLabel> {
    let v: Vec<AxisLabel> = items
        .into_iter()
        .map(|(at, text)| AxisLabel {
            at: at as f32,
            text: text.into(),
        })
        .collect();
    ModelRc::new(VecModel::from(v))
}

fn image(rgb: &[u8], width: u32, height: u32) -> Image {
    let mut buffer = SharedPixelBuffer::<Rgb8Pixel>::new(width, height);
    for (p, c) in buffer.make_mut_slice().iter_mut().zip(rgb.chunks_exact(3)) {
        *p = Rgb8Pixel::new(c[0], c[1], c[2]);
    }
    Image::from_rgb8(buffer)
}

/// The offscreen window pictures are drawn in (one per process: Slint has one platform).
pub fn window() -> Result<std::rc::Rc<MinimalSoftwareWindow>, String> {
    let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
    super::render::install_offscreen(window.clone())?;
    Ok(window)
}

/// Draws `a` into `out` (PNG) in `window`.
pub fn draw(window: &MinimalSoftwareWindow, a: &Analysed, out: &Path) -> Result<(), String> {
    let r = &a.request;
    let g = geometry(r.width, r.height);
    let columns = a
        .store
        .columns(&a.lags_s, g.plot_w as usize, a.from_s, a.to_s);
    let axis = FreqAxis::of(&a.edges, g.plot_h as usize);
    let raster = spectrogram::paint(
        &columns.levels_db(),
        &a.edges,
        axis,
        r.colormap,
        (r.floor_db, r.top_db),
        [0x14, 0x16, 0x1a],
    );
    let bar = spectrogram::colour_bar(r.colormap, g.bar_w as usize, g.plot_h as usize);
    let ui = SpectrogramPicture::new().map_err(|e| format!("cannot build the picture: {e}"))?;
    ui.set_raster(image(&raster, g.plot_w, g.plot_h));
    ui.set_colour_bar(image(&bar, g.bar_w, g.plot_h));
    ui.set_plot_x(g.plot_x as f32);
    ui.set_plot_y(g.plot_y as f32);
    ui.set_plot_width(g.plot_w as f32);
    ui.set_plot_height(g.plot_h as f32);
    ui.set_bar_x(g.bar_x as f32);
    ui.set_bar_width(g.bar_w as f32);
    ui.set_font_size(FONT_PX as f32);
    let span = a.to_s - a.from_s;
    let column_s = span / f64::from(g.plot_w);
    ui.set_heading(format!("spektr \u{2014} {}", a.name).into());
    let frames_s = a.frame_s * a.store.stride() as f64;
    // A column narrower than a frame shows the frame over it: the frame's length is said.
    let per_column = if column_s >= frames_s {
        format!("column {}", duration(column_s))
    } else {
        format!(
            "column {}, frames {}",
            duration(column_s),
            duration(frames_s)
        )
    };
    ui.set_subtitle(
        format!(
            "{}, {} Hz, {} ch \u{b7} {} \u{b7} {per_column} \u{b7} {}, {} to {} dBFS",
            a.description,
            a.rate,
            a.channels,
            a.layout,
            r.colormap.name(),
            r.floor_db,
            r.top_db
        )
        .into(),
    );
    let max_f = (g.plot_h / (2 * FONT_PX + 4)).max(2) as usize;
    ui.set_freq_labels(labels(
        spectrogram::freq_ticks(axis.lo_hz, axis.hi_hz, max_f)
            .into_iter()
            .map(|f| (axis.y_of(f), spectrogram::hz_label(f))),
    ));
    let (ticks, step) = spectrogram::time_ticks(a.from_s, a.to_s, (g.plot_w / 80).max(2) as usize);
    let clock = step >= 1.0 && a.to_s >= 60.0;
    ui.set_time_labels(labels(ticks.into_iter().map(|t| {
        (
            (t - a.from_s) / span * f64::from(g.plot_w),
            spectrogram::time_label(t, step, clock),
        )
    })));
    let time_title = if clock { "time (m:ss)" } else { "time (s)" };
    ui.set_time_title(time_title.into());
    let range = f64::from(r.top_db - r.floor_db);
    let db_step = [3.0, 6.0, 12.0, 24.0, 48.0]
        .into_iter()
        .find(|s| range / s <= f64::from(g.plot_h / (2 * FONT_PX + 4)))
        .unwrap_or(range);
    let mut dbs = Vec::new();
    let mut db = f64::from(r.top_db);
    while db >= f64::from(r.floor_db) - 1e-9 {
        dbs.push((
            (f64::from(r.top_db) - db) / range * f64::from(g.plot_h),
            format!("{db:.0}"),
        ));
        db -= db_step;
    }
    ui.set_db_labels(labels(dbs));
    window.set_size(slint::PhysicalSize::new(r.width, r.height));
    ui.show().map_err(|e| e.to_string())?;
    let written = super::render::draw_png(window, r.width, r.height, out);
    ui.hide().map_err(|e| e.to_string())?;
    written
}

fn duration(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 0.001 {
        format!("{:.1} ms", s * 1000.0)
    } else {
        format!("{:.0} \u{b5}s", s * 1e6)
    }
}
