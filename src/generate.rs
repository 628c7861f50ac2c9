//! The test-signal generator to the speakers: `spektr generate SPEC` and the window's
//! Generator play a `synth:` spec (pink noise, white noise, sines, a log sweep) to an output
//! device while spektr analyzes the input.
//!
//! It never jumps to its level: it starts [`START_BELOW_DB`] below it and rises in dB, evenly,
//! over [`FADE_IN_S`]; a stop fades out over [`FADE_OUT_S`] (no click), and every sample is
//! held within full scale. A spec without `duration=` (and no `--seconds`) plays until it is
//! stopped, repeating itself (a sweep every [`SWEEP_S`]).
//!
//! PulseAudio (and PipeWire's pulse server) get a playback stream on the native protocol
//! ([`crate::capture::pulse::play`]); elsewhere ALSA through cpal, whose callback only reads
//! [`Signal::fill`], which allocates nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::capture::{CaptureError, HostChoice};
use crate::source::Source;
use crate::source::synth::{Synth, SynthSpec};

/// The fade-in, seconds.
pub const FADE_IN_S: f64 = 2.0;
/// Where the fade-in starts, dB below the set level.
pub const START_BELOW_DB: f64 = 60.0;
/// The fade-out at a stop, seconds.
pub const FADE_OUT_S: f64 = 0.05;
/// A sweep that runs until stopped repeats over this many seconds.
pub const SWEEP_S: f64 = 10.0;

/// What the player's owner changes while it plays: a stop, and the level.
#[derive(Debug, Default)]
pub struct Controls {
    stop: AtomicBool,
    /// The gain over the spec's levels, dB, as f32 bits.
    gain_db: AtomicU32,
}

impl Controls {
    /// Asks for the fade-out and the end.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The gain over the spec's levels, dB (reached at [`LEVEL_SLEW_DB_PER_S`]).
    pub fn set_gain_db(&self, db: f32) {
        self.gain_db.store(db.to_bits(), Ordering::Relaxed);
    }

    fn gain_db(&self) -> f32 {
        f32::from_bits(self.gain_db.load(Ordering::Relaxed))
    }
}

/// How fast a new level is reached: 3 dB in 75 ms, no step.
pub const LEVEL_SLEW_DB_PER_S: f64 = 40.0;

/// The generated signal with its fades, as an output reads it.
#[derive(Debug)]
pub struct Signal {
    synth: Synth,
    channels: usize,
    /// It repeats (no duration was given) rather than ends.
    looped: bool,
    /// Frames in one pass of the synth, and how far into the pass it is.
    cycle: u64,
    in_cycle: u64,
    /// Frames given out.
    position: u64,
    fade_in: u64,
    fade_out: u64,
    /// Where the fade-out began, once a stop was asked for.
    stopping_at: Option<u64>,
    controls: Arc<Controls>,
    /// The gain over the spec's levels now, dB, on its way to the one asked for.
    gain_db: f64,
    slew_db: f64,
    /// Frames given out, for whoever watches (the window's panel, the CLI's last line).
    played: Arc<AtomicU64>,
    /// One frame of the synth (it makes every channel alike), reused.
    frame: Vec<f32>,
}

impl Signal {
    /// `spec` at `rate` Hz on `channels` channels; `seconds` (else the spec's `duration=`,
    /// else until stopped) long. Refused when a tone of it is not below the Nyquist frequency
    /// of `rate` (the device's, which may not be the spec's).
    pub fn new(
        spec: &SynthSpec,
        rate: u32,
        channels: usize,
        seconds: Option<f64>,
        controls: Arc<Controls>,
    ) -> Result<Self, String> {
        let nyquist = f64::from(rate) / 2.0;
        if spec.highest_hz() >= nyquist {
            return Err(format!(
                "{} Hz is above what the output plays at {rate} Hz (up to {nyquist} Hz)",
                spec.highest_hz()
            ));
        }
        let mut spec = spec.clone();
        let given = seconds.or(spec.duration_given().then_some(spec.duration_s));
        spec.sample_rate = rate;
        spec.channels = 1;
        // Until stopped: a sweep repeats every SWEEP_S; anything else runs on (a week, then
        // from its start again).
        spec.duration_s = given.unwrap_or(if spec.has_sweep() {
            SWEEP_S
        } else {
            crate::source::synth::MAX_DURATION_S
        });
        let fs = f64::from(rate);
        let cycle = spec.total_frames().max(1);
        Ok(Signal {
            synth: Synth::new(spec),
            channels: channels.max(1),
            looped: given.is_none(),
            cycle,
            in_cycle: 0,
            position: 0,
            fade_in: (FADE_IN_S * fs) as u64,
            fade_out: ((FADE_OUT_S * fs) as u64).max(1),
            stopping_at: None,
            gain_db: f64::from(controls.gain_db()),
            controls,
            slew_db: LEVEL_SLEW_DB_PER_S / fs,
            played: Arc::new(AtomicU64::new(0)),
            frame: vec![0.0; 1],
        })
    }

    /// The frames played so far, shared.
    pub fn played(&self) -> Arc<AtomicU64> {
        self.played.clone()
    }

    /// The gain of the next frame: rising from -[`START_BELOW_DB`] dB over the fade-in; at
    /// the level asked for; faded over [`FADE_OUT_S`] at the end of a pass (out of it at the
    /// end, out and in again where a repeating signal starts over: no click) and after a stop.
    fn gain(&self) -> f64 {
        let n = self.position;
        let rise_db = if n < self.fade_in {
            -START_BELOW_DB * (1.0 - n as f64 / self.fade_in as f64)
        } else {
            0.0
        };
        let fade = self.fade_out as f64;
        let mut linear = 1.0f64;
        let to_end = self.cycle - self.in_cycle;
        linear = linear.min(to_end as f64 / fade);
        if self.looped && self.position >= self.cycle {
            linear = linear.min(self.in_cycle as f64 / fade);
        }
        if let Some(from) = self.stopping_at {
            linear = linear.min(1.0 - n.saturating_sub(from) as f64 / fade);
        }
        linear.clamp(0.0, 1.0) * 10f64.powf((rise_db + self.gain_db) / 20.0)
    }

    /// Fills interleaved `out` (whole frames of this signal's channels; a partial frame at
    /// the end is silence). `false` once the signal has ended or faded out after a stop: the
    /// output then plays `out` (silence from the end on) and closes.
    pub fn fill(&mut self, out: &mut [f32]) -> bool {
        if self.stopping_at.is_none() && self.controls.stop.load(Ordering::Relaxed) {
            self.stopping_at = Some(self.position);
        }
        let target = f64::from(self.controls.gain_db());
        let mut going = true;
        for frame in out.chunks_mut(self.channels) {
            if self.in_cycle >= self.cycle && self.looped {
                self.synth.rewind();
                self.in_cycle = 0;
            }
            let faded = self
                .stopping_at
                .is_some_and(|from| self.position >= from + self.fade_out);
            let got =
                if going && !faded && self.in_cycle < self.cycle && frame.len() == self.channels {
                    self.synth.read(&mut self.frame).unwrap_or(0)
                } else {
                    0
                };
            if got == 0 {
                going = false;
                frame.fill(0.0);
                continue;
            }
            self.gain_db += (target - self.gain_db).clamp(-self.slew_db, self.slew_db);
            let v = (f64::from(self.frame[0]) * self.gain()).clamp(-1.0, 1.0);
            frame.fill(v as f32);
            self.position += 1;
            self.in_cycle += 1;
        }
        self.played.store(self.position, Ordering::Relaxed);
        going
    }
}

/// Where the signal is playing, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The device's name (a sink's, an ALSA device's).
    pub device: String,
    /// Its description, where the system has one.
    pub description: String,
    /// The audio system.
    pub host: &'static str,
    /// Rate and channels played.
    pub rate: u32,
    pub channels: usize,
}

/// A generator playing on its own thread (or the audio system's callback).
#[derive(Debug)]
pub struct Player {
    /// Where it plays.
    pub output: Output,
    controls: Arc<Controls>,
    played: Arc<AtomicU64>,
    done: std::sync::mpsc::Receiver<Result<(), String>>,
    result: Option<Result<(), String>>,
    /// The cpal stream, when ALSA plays (dropping it closes the device).
    _stream: Option<crate::capture::playback::StreamHolder>,
}

impl Player {
    /// Starts playing `spec` to `device` (`None`: the default output) of `host`.
    pub fn start(
        host: HostChoice,
        device: Option<&str>,
        spec: &SynthSpec,
        seconds: Option<f64>,
    ) -> Result<Self, CaptureError> {
        let controls = Arc::new(Controls::default());
        let (tx, done) = std::sync::mpsc::channel();
        let make = |rate: u32, channels: usize| {
            Signal::new(spec, rate, channels, seconds, controls.clone())
                .map_err(|e| CaptureError::Source(crate::source::SourceError::Spec(e)))
        };
        let (output, played, stream) = match crate::capture::resolve_host(host)? {
            HostChoice::Pulseaudio => {
                let (output, played) = crate::capture::pulse::play(device, make, tx)?;
                (output, played, None)
            }
            other => {
                let (output, played, stream) =
                    crate::capture::playback::play(other, device, make, tx)?;
                (output, played, Some(stream))
            }
        };
        Ok(Player {
            output,
            controls,
            played,
            done,
            result: None,
            _stream: stream,
        })
    }

    /// Seconds played so far.
    pub fn seconds(&self) -> f64 {
        self.played.load(Ordering::Relaxed) as f64 / f64::from(self.output.rate.max(1))
    }

    /// Asks it to fade out and stop.
    pub fn stop(&self) {
        self.controls.stop();
    }

    /// Moves the level by `db` from the spec's, smoothly ([`LEVEL_SLEW_DB_PER_S`]).
    pub fn set_gain_db(&self, db: f32) {
        self.controls.set_gain_db(db);
    }

    /// Whether it has ended (played out, stopped, or failed); the end's reason.
    pub fn ended(&mut self) -> Option<&Result<(), String>> {
        if self.result.is_none() {
            self.result = match self.done.try_recv() {
                Ok(r) => Some(r),
                Err(std::sync::mpsc::TryRecvError::Empty) => None,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    Some(Err("the generator's thread ended".into()))
                }
            };
        }
        self.result.as_ref()
    }

    /// Waits up to `timeout` for the end.
    pub fn wait(&mut self, timeout: std::time::Duration) -> Option<&Result<(), String>> {
        if self.result.is_none() {
            self.result = match self.done.recv_timeout(timeout) {
                Ok(r) => Some(r),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    Some(Err("the generator's thread ended".into()))
                }
            };
        }
        self.result.as_ref()
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(spec: &str, seconds: Option<f64>) -> (Signal, Arc<Controls>) {
        let controls = Arc::new(Controls::default());
        let spec = SynthSpec::parse(spec).expect("spec");
        let s = Signal::new(&spec, 48_000, 2, seconds, controls.clone()).expect("signal");
        (s, controls)
    }

    fn db(v: f32) -> f64 {
        20.0 * f64::from(v.abs()).log10()
    }

    #[test]
    fn it_rises_from_60_db_below_over_two_seconds_and_never_jumps() {
        let (mut s, _) = signal("sine=1000@-6", None);
        let mut out = vec![0.0f32; 2 * 48_000 * 3];
        assert!(s.fill(&mut out));
        // Peak per 10 ms: rising, never more than a step's worth between neighbours.
        let peaks: Vec<f64> = out
            .chunks(960)
            .map(|c| db(c.iter().fold(0.0f32, |m, v| m.max(v.abs()))))
            .collect();
        assert!((peaks[0] + 66.0).abs() < 1.0, "starts at -66: {}", peaks[0]);
        for w in peaks[..199].windows(2) {
            assert!(w[1] - w[0] < 0.5, "{w:?}");
        }
        assert!((peaks[100] + 36.0).abs() < 1.0, "halfway: {}", peaks[100]);
        assert!(
            peaks[250..].iter().all(|p| (p + 6.0).abs() < 0.01),
            "then its level"
        );
        // Every channel alike.
        assert!(out.chunks(2).all(|f| f[0] == f[1]));
    }

    #[test]
    fn a_stop_fades_out_in_50_ms_and_ends() {
        let (mut s, stop) = signal("pink@-20", None);
        let mut out = vec![0.0f32; 2 * 48_000 * 3];
        assert!(s.fill(&mut out));
        stop.stop();
        let mut tail = vec![0.0f32; 2 * 4800];
        assert!(!s.fill(&mut tail), "faded out within 100 ms");
        let end = 2 * 2400;
        assert!(tail[end..].iter().all(|v| *v == 0.0), "silent after 50 ms");
    }

    fn peak(samples: &[f32]) -> f32 {
        samples.iter().fold(0.0f32, |m, v| m.max(v.abs()))
    }

    #[test]
    fn a_duration_ends_it_with_a_fade_and_without_one_it_repeats_without_a_click() {
        let (mut s, _) = signal("sine=440@-12,duration=3", None);
        let mut out = vec![0.0f32; 2 * 48_000 * 4];
        assert!(!s.fill(&mut out));
        let at = |t: f64| 2 * (t * 48_000.0) as usize;
        assert!(out[at(3.0)..].iter().all(|v| *v == 0.0));
        // The last 50 ms fall to nothing: no step at the end.
        assert!(db(peak(&out[at(2.9)..at(2.95)])) > -12.5);
        assert!(db(peak(&out[at(2.999)..at(3.0)])) < -40.0);
        // A sweep repeats every 10 s, dipping over 50 ms either side of its wrap.
        let (mut s, _) = signal("sweep=100-1000@-12", None);
        let mut out = vec![0.0f32; 2 * 48_000 * 11];
        assert!(s.fill(&mut out), "still playing after its 10 s sweep");
        assert!(
            db(peak(&out[at(9.9995)..at(10.0005)])) < -40.0,
            "no click at the wrap"
        );
        assert!(db(peak(&out[at(10.2)..at(10.3)])) > -12.5);
        let (mut s, _) = signal("sweep=100-1000@-12", None);
        let mut out = vec![0.0f32; 2 * 48_000 * 11];
        assert!(s.fill(&mut out), "still playing after its 10 s sweep");
        let (mut s, _) = signal("white@-20", Some(1.0));
        let mut out = vec![0.0f32; 2 * 48_000 * 2];
        assert!(!s.fill(&mut out));
    }

    #[test]
    fn a_new_level_is_reached_smoothly() {
        let (mut s, controls) = signal("sine=1000@-20", None);
        let mut out = vec![0.0f32; 2 * 48_000 * 3];
        s.fill(&mut out);
        controls.set_gain_db(6.0);
        let mut out = vec![0.0f32; 2 * 48_000];
        s.fill(&mut out);
        let peaks: Vec<f64> = out.chunks(960).map(|c| db(peak(c))).collect();
        for w in peaks.windows(2) {
            assert!((w[1] - w[0]).abs() < 0.5, "{w:?}");
        }
        assert!(
            (peaks[0] + 20.0).abs() < 0.5 && (peaks[40] + 14.0).abs() < 0.01,
            "{peaks:?}"
        );
    }

    #[test]
    fn a_tone_above_the_outputs_nyquist_frequency_is_refused() {
        let spec = SynthSpec::parse("sine=20000@-12").expect("spec");
        let e = Signal::new(&spec, 32_000, 2, None, Arc::default()).unwrap_err();
        assert!(
            e.contains("20000 Hz is above what the output plays at 32000 Hz"),
            "{e}"
        );
    }

    #[test]
    fn loud_specs_are_held_within_full_scale() {
        let (mut s, _) = signal("sine=100@0,sine=200@0,duration=4", None);
        let mut out = vec![0.0f32; 2 * 48_000 * 4];
        s.fill(&mut out);
        assert!(out.iter().all(|v| v.abs() <= 1.0));
    }
}
