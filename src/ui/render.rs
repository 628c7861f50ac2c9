//! `spektr render`: the window drawn offscreen with the software renderer, for a position in
//! a file or a generated signal. No display needed; one Slint platform per process, so this
//! runs as its own command, never beside the live window.

use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use slint::ComponentHandle;
use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, WindowAdapter};

use super::{MainWindow, show_still, status_text};

use crate::config::AnalysisSettings;
use crate::engine::Analyzer;
use crate::source::Source;

struct Offscreen {
    window: Rc<MinimalSoftwareWindow>,
    start: Instant,
}

impl Platform for Offscreen {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, slint::PlatformError> {
        Ok(self.window.clone())
    }

    fn duration_since_start(&self) -> Duration {
        self.start.elapsed()
    }
}

/// Makes `window` the one window of this process's Slint platform (drawn by whoever calls
/// its `draw_if_needed`): for `spektr render` and for tests that draw the real window.
pub fn install_offscreen(window: Rc<MinimalSoftwareWindow>) -> Result<(), String> {
    slint::platform::set_platform(Box::new(Offscreen {
        window,
        start: Instant::now(),
    }))
    .map_err(|e| format!("cannot set up offscreen rendering: {e}"))
}

/// Feeds `source` to `analyzer` up to stream frame `end` (`None`: to the source's end),
/// writing each frame that falls due into `frame` and handing it to `on_frame`. True if it got
/// to `end`, false if the source ended first.
pub fn analyze_until(
    source: &mut dyn Source,
    analyzer: &mut Analyzer,
    frame: &mut crate::publish::Frame,
    end: Option<u64>,
    mut on_frame: impl FnMut(&crate::publish::Frame),
) -> Result<bool, String> {
    let channels = source.format().channels;
    let mut block = vec![0.0f32; 4096 * channels];
    loop {
        let want = match end {
            Some(end) if analyzer.samples_in() >= end => return Ok(true),
            Some(end) => ((end - analyzer.samples_in()) as usize).min(4096),
            None => 4096,
        };
        let n = source
            .read(&mut block[..want * channels])
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(end.is_none());
        }
        let mut rest = &block[..n * channels];
        while !rest.is_empty() {
            let fed = analyzer.feed(rest);
            rest = &rest[fed.consumed..];
            if fed.frame_due {
                analyzer.write_frame(frame);
                on_frame(frame);
            }
        }
    }
}

/// Analyzes `source` up to `at_s` seconds and draws the window for that moment into `out`
/// (PNG, `width` x `height`).
pub fn render(
    mut source: Box<dyn Source>,
    settings: &AnalysisSettings,
    at_s: f64,
    width: u32,
    height: u32,
    out: &Path,
) -> Result<(), String> {
    let format = source.format();
    let mut analyzer = Analyzer::new(settings, format).map_err(|e| e.to_string())?;
    let mut frame = analyzer.new_frame();
    let target = (at_s * f64::from(format.sample_rate)).round() as u64;
    let mut have_frame = false;
    let mut loudness =
        super::loudness::LoudnessView::new(&crate::settings::UserSettings::default());
    let whole = analyze_until(&mut *source, &mut analyzer, &mut frame, Some(target), |f| {
        loudness.gather(f);
        have_frame = true;
    })?;
    if !whole {
        return Err(format!(
            "{} is only {:.2} s long; --at {at_s} is past its end",
            source.name(),
            analyzer.samples_in() as f64 / f64::from(format.sample_rate)
        ));
    }
    if !have_frame {
        return Err(format!(
            "--at {at_s} s is before the first frame (1/{} s)",
            settings.fps
        ));
    }

    let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
    install_offscreen(window.clone())?;
    let ui = MainWindow::new().map_err(|e| format!("cannot build the window: {e}"))?;
    let name = source.name();
    let status = status_text(
        &name,
        format,
        "file",
        analyzer.bands(),
        analyzer.settings().bars_from,
        f64::NAN,
        frame.dropped_frames,
        0,
    );
    show_still(
        &ui,
        &format!("spektr \u{2014} {name}"),
        &status,
        analyzer.bands(),
        &frame,
    );
    loudness.show_still(
        &ui,
        settings.loudness && width >= super::LOUDNESS_PANEL_FROM_PX as u32,
        &frame,
    );
    window.set_size(slint::PhysicalSize::new(width, height));
    ui.show().map_err(|e| e.to_string())?;
    draw_png(&window, width, height, out)
}

/// Draws what `window` shows (`width` x `height`, its component shown) into `out` as a PNG.
pub fn draw_png(
    window: &MinimalSoftwareWindow,
    width: u32,
    height: u32,
    out: &Path,
) -> Result<(), String> {
    slint::platform::update_timers_and_animations();
    let mut pixels = vec![slint::Rgb8Pixel::default(); (width * height) as usize];
    window.request_redraw();
    window.draw_if_needed(|renderer| {
        renderer.render(&mut pixels, width as usize);
    });
    let file =
        std::fs::File::create(out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    // fdeflate: a tenth of the default's time for pictures of flat colours, a little larger.
    enc.set_compression(png::Compression::Fast);
    let bytes: Vec<u8> = pixels.iter().flat_map(|p| [p.r, p.g, p.b]).collect();
    enc.write_header()
        .and_then(|mut w| w.write_image_data(&bytes))
        .map_err(|e| format!("cannot write {}: {e}", out.display()))
}
