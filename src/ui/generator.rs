//! The Generator panel: a test signal (pink or white noise, a sine, a log sweep) to the
//! default output (or a named one) while the window analyzes the input, with a clear start and
//! stop (the panel's button, the G key). It starts at -30 dBFS, rises from 60 dB below that
//! over 2 s, and a new level or signal while it plays fades the old one out and the new one in
//! (never a jump). UI thread; the sound is played by [`crate::generate::Player`].

use slint::ComponentHandle;

use super::{App, ERROR_NOTICE_S, Ui};
use crate::generate::Player;
use crate::source::synth::SynthSpec;

/// The panel's sine frequencies: the third-octave centres from 20 Hz to 20 kHz.
pub(super) const SINE_HZ: [u32; 31] = [
    20, 25, 31, 40, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800, 1000, 1250, 1600,
    2000, 2500, 3150, 4000, 5000, 6300, 8000, 10_000, 12_500, 16_000, 20_000,
];

/// The spec the panel's controls make, and its words.
fn spec_of(signal: i32, level_db: i32, hz: u32) -> (String, String) {
    let level = level_db.clamp(-60, 0);
    match signal {
        1 => (
            format!("white@{level}"),
            format!("white noise at {level} dBFS RMS"),
        ),
        2 => (
            format!("sine={hz}@{level}"),
            format!("a {hz} Hz sine at {level} dBFS"),
        ),
        3 => (
            format!("sweep=20-20000@{level}"),
            format!("a 20 Hz to 20 kHz sweep (10 s) at {level} dBFS"),
        ),
        _ => (
            format!("pink@{level}"),
            format!("pink noise at {level} dBFS RMS"),
        ),
    }
}

impl App {
    /// The G key and the panel's Start/Stop.
    pub(super) fn toggle_generator(&mut self) {
        if let Some(player) = &self.generator {
            player.stop();
            self.generator = None;
            self.show_generator(None);
            self.notice("the generator fades out");
            return;
        }
        self.start_generator();
    }

    /// The signal or level changed: a playing generator fades over to the new one.
    pub(super) fn generator_changed(&mut self) {
        if let Some(player) = self.generator.take() {
            player.stop();
            self.start_generator();
        }
    }

    fn start_generator(&mut self) {
        let Some(w) = self.window.upgrade() else {
            return;
        };
        let ui = w.global::<Ui>();
        let hz = SINE_HZ
            .get(ui.get_generator_hz() as usize)
            .copied()
            .unwrap_or(1000);
        let (spec, words) = spec_of(ui.get_generator_signal(), ui.get_generator_level(), hz);
        let device = ui.get_generator_device().trim().to_owned();
        let device = (!device.is_empty()).then_some(device);
        let started = SynthSpec::parse(&spec)
            .map_err(|e| e.to_string())
            .and_then(|s| {
                Player::start(self.options.host, device.as_deref(), &s, None)
                    .map_err(|e| e.to_string())
            });
        match started {
            Ok(player) => {
                let o = &player.output;
                let text = format!("playing {words} to {} ({} Hz)", o.description, o.rate);
                self.generator = Some(player);
                self.show_generator(Some(&text));
            }
            Err(e) => {
                self.show_generator(None);
                self.notice_for(format!("the generator cannot play: {e}"), ERROR_NOTICE_S);
            }
        }
    }

    /// The panel's state and its line.
    fn show_generator(&mut self, text: Option<&str>) {
        if let Some(w) = self.window.upgrade() {
            let ui = w.global::<Ui>();
            ui.set_generating(text.is_some());
            ui.set_generator_text(text.unwrap_or("stopped").into());
        }
    }

    /// A generator that ended by itself (its output went away) says so.
    pub(super) fn poll_generator(&mut self) {
        let Some(player) = self.generator.as_mut() else {
            return;
        };
        let Some(end) = player.ended().cloned() else {
            return;
        };
        let played = player.seconds();
        self.generator = None;
        self.show_generator(None);
        if let Err(why) = end {
            self.notice_for(
                format!("the generator stopped after {played:.1} s: {why}"),
                ERROR_NOTICE_S,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panels_choices_are_specs_that_parse() {
        for signal in 0..4 {
            for level in [-60, -30, 0, 5, -99] {
                let (spec, words) = spec_of(signal, level, 1000);
                assert!(SynthSpec::parse(&spec).is_ok(), "{spec}");
                assert!(!words.contains("-99") && !words.contains(" 5 "), "{words}");
            }
        }
        assert_eq!(spec_of(0, -30, 1000).0, "pink@-30");
        assert!(SINE_HZ.windows(2).all(|w| w[0] < w[1]));
    }
}
