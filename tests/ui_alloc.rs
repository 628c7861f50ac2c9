//! Allocations per UI tick, with the window really drawn.
//!
//! The window runs on Slint's software renderer into a buffer that is reused between frames
//! (partial repaint, as the X11 window does), on the demo signal through the real supervisor
//! and engine threads. A counting allocator counts what the UI thread allocates in the timer's
//! work (`App::tick`: events, the newest frame into the models) and, apart, in Slint's redraw.
//! It prints its figures (`--nocapture` shows them; the README quotes them).
//!
//! What must hold: a tick that only moves bars and meter columns allocates nothing; ticks that
//! refresh the numbers (10 a second) allocate a bounded few strings.
// The audio callback's rules (clippy.toml) are for the callback only.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]
#![cfg(feature = "gui")]
#![allow(clippy::print_stderr)]

use std::time::{Duration, Instant};

use slint::ComponentHandle;
use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use spektr::capture::HostChoice;
use spektr::settings::{UserSettings, View};
use spektr::ui::{App, MainWindow, WindowOptions};

#[path = "support/counting.rs"]
mod counting;
use counting::counted;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 540;

#[derive(Debug, Default)]
struct Tally {
    ticks: u64,
    frame_ticks: u64,
    text_ticks: u64,
    tick_allocs: u64,
    /// Allocations of ticks that copied a frame without refreshing the numbers.
    quiet_allocs: u64,
    quiet_worst: u64,
    text_worst: u64,
    draws: u64,
    draw_allocs: u64,
}

#[test]
fn a_ui_tick_allocates_nothing_but_its_text_refreshes() {
    let window = MinimalSoftwareWindow::new(RepaintBufferType::ReusedBuffer);
    spektr::ui::render::install_offscreen(window.clone()).expect("platform");
    // The bars, then the spectrogram above them (its feed, its columns coloured and its
    // pixel buffers taking turns every tick).
    for view in [View::Bars, View::Both] {
        eprintln!("view {view:?}:");
        measure(&window, view);
    }
}

fn measure(window: &std::rc::Rc<MinimalSoftwareWindow>, view: View) {
    let ui = MainWindow::new().expect("window");
    let options = WindowOptions {
        source: Some("synth:demo,duration=600".into()),
        host: HostChoice::Auto,
        user: UserSettings {
            view,
            ..UserSettings::default()
        },
        settings_path: None,
        warning: None,
        period_ms: None,
    };
    let app = App::new(&ui, options).expect("app");
    window.set_size(slint::PhysicalSize::new(WIDTH, HEIGHT));
    ui.show().expect("show");
    let mut pixels = vec![
        slint::platform::software_renderer::PremultipliedRgbaColor::default();
        (WIDTH * HEIGHT) as usize
    ];

    let mut tally = Tally::default();
    let start = Instant::now();
    let warm_up = Duration::from_secs(2);
    let measured = Duration::from_secs(6);
    let mut next = start;
    while start.elapsed() < warm_up + measured {
        next += spektr::ui::TICK;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let counting = start.elapsed() >= warm_up;
        let shown = app.borrow().stats.frames_shown;
        let refreshes = app.borrow().stats.text_refreshes;
        let ((), allocs) = counted(|| app.borrow_mut().tick());
        slint::platform::update_timers_and_animations();
        let (drawn, draw_allocs) = counted(|| {
            window.draw_if_needed(|renderer| {
                renderer.render(&mut pixels, WIDTH as usize);
            })
        });
        if !counting {
            continue;
        }
        let new_frame = app.borrow().stats.frames_shown > shown;
        let refreshed = app.borrow().stats.text_refreshes > refreshes;
        tally.ticks += 1;
        tally.tick_allocs += allocs;
        if new_frame {
            tally.frame_ticks += 1;
            if refreshed {
                tally.text_ticks += 1;
                tally.text_worst = tally.text_worst.max(allocs);
            } else {
                tally.quiet_allocs += allocs;
                tally.quiet_worst = tally.quiet_worst.max(allocs);
            }
        }
        if drawn {
            tally.draws += 1;
            tally.draw_allocs += draw_allocs;
        }
    }
    app.borrow_mut().shutdown();

    let per = |a: u64, n: u64| a as f64 / n.max(1) as f64;
    eprintln!(
        "UI ticks: {} ({} with a new frame, {} of them refreshing the numbers); \
         allocations per tick in the timer's work: {:.2} on average, {} at most on a tick \
         without a text refresh, {} at most on one with; redraws: {}, allocations per redraw \
         in Slint's software renderer: {:.1}",
        tally.ticks,
        tally.frame_ticks,
        tally.text_ticks,
        per(tally.tick_allocs, tally.ticks),
        tally.quiet_worst,
        tally.text_worst,
        tally.draws,
        per(tally.draw_allocs, tally.draws),
    );
    // The frames did flow: about 60 a second minus the odd skipped one.
    assert!(
        tally.frame_ticks as f64 > 0.8 * 60.0 * measured.as_secs_f64(),
        "too few frames reached the window: {tally:?}"
    );
    assert!(
        tally.text_ticks >= 40,
        "the numbers did not refresh: {tally:?}"
    );
    assert_eq!(
        tally.quiet_allocs, 0,
        "a tick that only moves bars and meters allocated: {tally:?}"
    );
    // Status line, four meter numbers and their strings: a handful, never growing with time.
    assert!(
        tally.text_worst <= 16,
        "a text refresh allocated more than a few strings: {tally:?}"
    );
    assert!(
        tally.draws >= tally.frame_ticks,
        "frames were not drawn: {tally:?}"
    );
    if view.spectrogram() {
        assert!(
            ui.global::<spektr::ui::Ui>().get_spectro_columns() > 100,
            "the spectrogram was not laid out"
        );
    }
    ui.hide().expect("hide");
}
