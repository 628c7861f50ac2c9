//! The Generator panel: a test signal (pink or white noise, a sine, a log sweep) to the
//! default output (or a named one) while the window analyzes the input, with a clear start and
//! stop (the panel's button, the G key). It starts at -30 dBFS, rises from 60 dB below that
//! over 2 s; a new level is reached smoothly (40 dB/s), and a new signal or output fades the
//! old one out, then the new one in (never a jump). UI thread; the sound is played by [`crate::generate::Player`].

use std::time::{Duration, Instant};

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

/// What makes a generator another one: its signal, the sine's frequency, the output.
type Kind = (i32, u32, String);

/// The generator as the window keeps it.
#[derive(Debug, Default)]
pub(super) struct Generator {
    /// The one playing, with the level (dBFS), signal, frequency and output it started with.
    playing: Option<(Player, i32, Kind)>,
    /// One stopped and fading out, until it has ended (its device is not free before; on
    /// ALSA dropping it would cut the fade short).
    fading: Option<(Player, Instant)>,
    /// Start again once the fading one has ended (a new signal or output).
    restart: bool,
}

/// A fading generator that has not ended after this long is let go.
const FADE_WAIT: Duration = Duration::from_secs(1);

impl Generator {
    /// Lets the playing one fade out and waits for it (at the window's close).
    pub(super) fn finish(&mut self) {
        self.stop();
        if let Some((mut player, _)) = self.fading.take() {
            let _ = player.wait(FADE_WAIT);
        }
    }

    fn stop(&mut self) {
        if let Some((player, ..)) = self.playing.take() {
            player.stop();
            self.fading = Some((player, Instant::now()));
        }
    }
}

impl App {
    /// What the panel asks for: the spec, its words, the level and what makes it another
    /// signal.
    fn generator_wanted(&self) -> Option<(String, String, i32, Kind)> {
        let w = self.window.upgrade()?;
        let ui = w.global::<Ui>();
        let hz = SINE_HZ
            .get(ui.get_generator_hz() as usize)
            .copied()
            .unwrap_or(1000);
        let signal = ui.get_generator_signal();
        let level = ui.get_generator_level().clamp(-60, 0);
        let (spec, words) = spec_of(signal, level, hz);
        let device = ui.get_generator_device().trim().to_owned();
        Some((spec, words, level, (signal, hz, device)))
    }

    /// The G key and the panel's Start/Stop.
    pub(super) fn toggle_generator(&mut self) {
        if self.generator.playing.is_some() {
            self.generator.stop();
            self.generator.restart = false;
            self.show_generator(None);
            self.notice("the generator fades out");
        } else if self.generator.fading.is_some() {
            // Started again while the last one fades: once it has.
            self.generator.restart = !self.generator.restart;
            self.show_generator(self.generator.restart.then_some("starting..."));
        } else {
            self.start_generator();
        }
    }

    /// The panel changed: a new level is reached smoothly on the one playing; another signal
    /// or output fades the old one out, then the new one in.
    pub(super) fn generator_changed(&mut self) {
        let Some((_, words, level, key)) = self.generator_wanted() else {
            return;
        };
        let Some((player, started_level, started_key)) = &self.generator.playing else {
            return;
        };
        if *started_key == key {
            player.set_gain_db((level - started_level) as f32);
            let o = &player.output;
            let text = format!("playing {words} to {} ({} Hz)", o.description, o.rate);
            self.show_generator(Some(&text));
        } else {
            self.generator.stop();
            self.generator.restart = true;
            self.show_generator(Some("changing..."));
        }
    }

    fn start_generator(&mut self) {
        let Some((spec, words, level, key)) = self.generator_wanted() else {
            return;
        };
        let device = (!key.2.is_empty()).then(|| key.2.clone());
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
                self.generator.playing = Some((player, level, key));
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

    /// A generator that ended by itself (its output went away) says so; a fading one is let
    /// go once it has faded, and the next one starts if one was asked for.
    pub(super) fn poll_generator(&mut self) {
        if let Some((player, ..)) = self.generator.playing.as_mut()
            && let Some(end) = player.ended().cloned()
        {
            let played = player.seconds();
            self.generator.playing = None;
            self.show_generator(None);
            if let Err(why) = end {
                self.notice_for(
                    format!("the generator stopped after {played:.1} s: {why}"),
                    ERROR_NOTICE_S,
                );
            }
        }
        if let Some((player, since)) = self.generator.fading.as_mut()
            && (player.ended().is_some() || since.elapsed() > FADE_WAIT)
        {
            self.generator.fading = None;
            if std::mem::take(&mut self.generator.restart) {
                self.start_generator();
            }
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
