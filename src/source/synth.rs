//! The test-signal generator behind `synth:` inputs.
//!
//! Spec syntax (comma-separated; components add up, the same signal goes to every channel):
//!
//! | item | meaning |
//! |---|---|
//! | `sine=F@L` | sine at F Hz, peak level L dBFS (a sine at L reads L on every meter) |
//! | `sweep=F1-F2@L` | logarithmic sweep from F1 to F2 Hz over the whole duration |
//! | `white@L`, `pink@L` | noise at RMS level L dBFS (AES17, as the RMS meter reads it) |
//! | `silence` | nothing (useful alone) |
//! | `duration=S` | length in seconds (default 5) |
//! | `rate=R` | sample rate in Hz (default 48000) |
//! | `channels=C` | channel count (default 2) |
//! | `seed=N` | noise seed (default 1) |
//! | `demo` | the demo mix: 100 Hz at -12, 1 kHz at -6, 5 kHz at -18 and pink noise at -40 |
//!
//! `@L` may be left out: the level is then -6 dBFS.

use super::{Source, SourceError};
use crate::config::{CHANNELS_RANGE, SAMPLE_RATE_RANGE, StreamFormat};

/// The demo mix, as a spec.
pub const DEMO_SPEC: &str = "sine=100@-12,sine=1000@-6,sine=5000@-18,pink@-40";
const DEFAULT_LEVEL_DB: f64 = -6.0;
/// The longest signal, seconds.
pub const MAX_DURATION_S: f64 = 7.0 * 24.0 * 3600.0;

#[derive(Clone, Debug, PartialEq)]
enum Component {
    Sine {
        freq_hz: f64,
        amplitude: f64,
    },
    Sweep {
        from_hz: f64,
        to_hz: f64,
        amplitude: f64,
    },
    White {
        rms: f64,
    },
    Pink {
        rms: f64,
    },
}

/// A parsed generator spec.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthSpec {
    components: Vec<Component>,
    /// Length in seconds.
    pub duration_s: f64,
    /// Sample rate.
    pub sample_rate: u32,
    /// Channels.
    pub channels: usize,
    seed: u64,
    text: String,
    /// `duration=` was given (else the default applies).
    duration_set: bool,
}

fn bad(msg: impl Into<String>) -> SourceError {
    SourceError::Spec(msg.into())
}

fn number(item: &str, text: &str) -> Result<f64, SourceError> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| bad(format!("'{item}': '{text}' is not a number")))
}

impl SynthSpec {
    /// Parses a spec such as `sine=1000@-6,duration=5` (without the `synth:` prefix).
    pub fn parse(spec: &str) -> Result<Self, SourceError> {
        let mut s = SynthSpec {
            components: Vec::new(),
            duration_s: 5.0,
            sample_rate: 48_000,
            channels: 2,
            seed: 1,
            text: spec.to_string(),
            duration_set: false,
        };
        let mut silence = false;
        let items = spec.split(',').map(str::trim).flat_map(|i| {
            if i == "demo" {
                DEMO_SPEC.split(',').collect()
            } else {
                vec![i]
            }
        });
        for item in items.filter(|i| !i.is_empty()) {
            let (head, level) = match item.split_once('@') {
                Some((h, l)) => (h, number(item, l)?),
                None => (item, DEFAULT_LEVEL_DB),
            };
            if level > 20.0 {
                return Err(bad(format!("'{item}': level {level} dBFS is above +20")));
            }
            let amplitude = 10f64.powf(level / 20.0);
            let (key, value) = match head.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (head.trim(), None),
            };
            let need = |v: Option<&'_ str>| -> Result<String, SourceError> {
                v.map(str::to_string)
                    .ok_or_else(|| bad(format!("'{item}' needs a value, as in {key}=...")))
            };
            match key {
                "sine" => {
                    let freq_hz = number(item, &need(value)?)?;
                    s.components.push(Component::Sine { freq_hz, amplitude });
                }
                "sweep" => {
                    let v = need(value)?;
                    let v = v.as_str();
                    let (a, b) = v
                        .split_once('-')
                        .ok_or_else(|| bad(format!("'{item}': write sweep=F1-F2")))?;
                    let (from_hz, to_hz) = (number(item, a)?, number(item, b)?);
                    if from_hz <= 0.0 || to_hz <= 0.0 {
                        return Err(bad(format!(
                            "'{item}': sweep frequencies must be above 0 Hz"
                        )));
                    }
                    s.components.push(Component::Sweep {
                        from_hz,
                        to_hz,
                        amplitude,
                    });
                }
                "white" => s.components.push(Component::White {
                    rms: amplitude / 2f64.sqrt(),
                }),
                "pink" => s.components.push(Component::Pink {
                    rms: amplitude / 2f64.sqrt(),
                }),
                "silence" => silence = true,
                "duration" => {
                    s.duration_s = number(item, &need(value)?)?;
                    s.duration_set = true;
                }
                "rate" => {
                    let r = number(item, &need(value)?)?;
                    s.sample_rate = if r.fract() == 0.0 && r > 0.0 && r <= f64::from(u32::MAX) {
                        r as u32
                    } else {
                        0
                    };
                }
                "channels" => {
                    let c = number(item, &need(value)?)?;
                    s.channels = if c.fract() == 0.0 && (0.0..1e6).contains(&c) {
                        c as usize
                    } else {
                        0
                    };
                }
                "seed" => s.seed = number(item, &need(value)?)? as u64,
                other => {
                    return Err(bad(format!(
                        "unknown item '{other}' (known: sine, sweep, white, pink, silence, demo, duration, rate, channels, seed)"
                    )));
                }
            }
        }
        if s.components.is_empty() && !silence {
            return Err(bad(
                "no signal given (try synth:sine=1000@-6 or synth:silence)",
            ));
        }
        if !(s.duration_s > 0.0 && s.duration_s <= MAX_DURATION_S) {
            return Err(bad(format!(
                "duration must be above 0 and at most {MAX_DURATION_S} s"
            )));
        }
        if !SAMPLE_RATE_RANGE.contains(&s.sample_rate) {
            return Err(bad(format!(
                "rate must be a whole number from {} to {} Hz",
                SAMPLE_RATE_RANGE.start(),
                SAMPLE_RATE_RANGE.end()
            )));
        }
        if !CHANNELS_RANGE.contains(&s.channels) {
            return Err(bad(format!(
                "channels must be from {} to {}",
                CHANNELS_RANGE.start(),
                CHANNELS_RANGE.end()
            )));
        }
        let nyquist = f64::from(s.sample_rate) / 2.0;
        for c in &s.components {
            let top = match c {
                Component::Sine { freq_hz, .. } => *freq_hz,
                Component::Sweep { from_hz, to_hz, .. } => from_hz.max(*to_hz),
                _ => 0.0,
            };
            if top < 0.0 || top >= nyquist {
                return Err(bad(format!(
                    "{top} Hz is not between 0 and the Nyquist frequency ({nyquist} Hz)"
                )));
            }
        }
        Ok(s)
    }

    /// Whether the spec gave its `duration=` (else it is the default's 5 s).
    pub fn duration_given(&self) -> bool {
        self.duration_set
    }

    /// The highest frequency of its tones and sweeps, Hz (0 for noise only).
    pub fn highest_hz(&self) -> f64 {
        self.components
            .iter()
            .map(|c| match c {
                Component::Sine { freq_hz, .. } => *freq_hz,
                Component::Sweep { from_hz, to_hz, .. } => from_hz.max(*to_hz),
                _ => 0.0,
            })
            .fold(0.0, f64::max)
    }

    /// Whether it holds a sweep (which needs a duration to sweep over).
    pub fn has_sweep(&self) -> bool {
        self.components
            .iter()
            .any(|c| matches!(c, Component::Sweep { .. }))
    }

    /// The spec as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Frames in total.
    pub fn total_frames(&self) -> u64 {
        (self.duration_s * f64::from(self.sample_rate)).round() as u64
    }
}

/// SplitMix64: a tiny, fixed, reproducible generator, so test signals are the same everywhere.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Paul Kellet's refined pink filter: within 0.05 dB of -3 dB/octave above 9.2 Hz at 44.1 kHz.
#[derive(Debug, Clone, Default)]
struct PinkFilter {
    b: [f64; 7],
}

impl PinkFilter {
    fn next(&mut self, white: f64) -> f64 {
        let b = &mut self.b;
        b[0] = 0.99886 * b[0] + white * 0.055_517_9;
        b[1] = 0.99332 * b[1] + white * 0.075_075_9;
        b[2] = 0.96900 * b[2] + white * 0.153_852;
        b[3] = 0.86650 * b[3] + white * 0.310_485_6;
        b[4] = 0.55000 * b[4] + white * 0.532_952_2;
        b[5] = -0.7616 * b[5] - white * 0.016_898;
        let out = b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + white * 0.5362;
        b[6] = white * 0.115_926;
        out
    }

    /// RMS gain for white input: the square root of the impulse response's energy.
    fn rms_gain() -> f64 {
        let mut f = PinkFilter::default();
        let mut energy = f.next(1.0).powi(2);
        for _ in 0..200_000 {
            energy += f.next(0.0).powi(2);
        }
        energy.sqrt()
    }
}

/// The generator as a [`Source`].
#[derive(Debug)]
pub struct Synth {
    spec: SynthSpec,
    position: u64,
    total: u64,
    phases: Vec<f64>,
    rng: SplitMix64,
    pink: PinkFilter,
    pink_scale: f64,
}

impl Synth {
    /// A generator for `spec`.
    pub fn new(spec: SynthSpec) -> Self {
        let phases = vec![0.0; spec.components.len()];
        let rng = SplitMix64(spec.seed);
        let total = spec.total_frames();
        Synth {
            phases,
            rng,
            total,
            position: 0,
            pink: PinkFilter::default(),
            pink_scale: 1.0 / PinkFilter::rms_gain(),
            spec,
        }
    }

    /// Back to the start: the same samples again (noise from its seed), allocating nothing.
    pub fn rewind(&mut self) {
        self.position = 0;
        self.phases.fill(0.0);
        self.rng = SplitMix64(self.spec.seed);
        self.pink = PinkFilter::default();
        self.total = self.spec.total_frames();
    }

    fn next_sample(&mut self) -> f64 {
        let fs = f64::from(self.spec.sample_rate);
        let t = self.position as f64 / fs;
        let mut sum = 0.0;
        // Uniform noise in [-1, 1) has RMS 1/sqrt(3).
        let white_unit = 3f64.sqrt();
        let mut white = None;
        for (i, c) in self.spec.components.iter().enumerate() {
            match *c {
                Component::Sine { freq_hz, amplitude } => {
                    let cycles = freq_hz * self.position as f64 / fs;
                    sum += amplitude * (std::f64::consts::TAU * cycles.fract()).sin();
                }
                Component::Sweep {
                    from_hz,
                    to_hz,
                    amplitude,
                } => {
                    let f = from_hz * (to_hz / from_hz).powf(t / self.spec.duration_s);
                    sum += amplitude * (std::f64::consts::TAU * self.phases[i]).sin();
                    self.phases[i] = (self.phases[i] + f / fs).fract();
                }
                Component::White { rms } => {
                    let w = *white.get_or_insert_with(|| self.rng.uniform());
                    sum += rms * white_unit * w;
                }
                Component::Pink { rms } => {
                    let w = self.rng.uniform() * white_unit;
                    sum += rms * self.pink_scale * self.pink.next(w);
                }
            }
        }
        self.position += 1;
        sum
    }
}

impl Source for Synth {
    fn format(&self) -> StreamFormat {
        StreamFormat {
            sample_rate: self.spec.sample_rate,
            channels: self.spec.channels,
        }
    }

    fn total_frames(&self) -> Option<u64> {
        Some(self.total)
    }

    fn name(&self) -> String {
        format!("synth:{}", self.spec.text)
    }

    fn read(&mut self, out: &mut [f32]) -> Result<usize, SourceError> {
        let ch = self.spec.channels;
        let frames = ((out.len() / ch) as u64).min(self.total - self.position) as usize;
        for frame in out[..frames * ch].chunks_exact_mut(ch) {
            let x = self.next_sample() as f32;
            frame.fill(x);
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let s = SynthSpec::parse("sine=1000@-6,duration=2,rate=44100,channels=1").expect("parse");
        assert_eq!(s.sample_rate, 44_100);
        assert_eq!(s.channels, 1);
        assert_eq!(s.total_frames(), 88_200);
        assert!(SynthSpec::parse("sweep=20-20000@-3,white@-40,pink@-30").is_ok());
        assert!(SynthSpec::parse("silence").is_ok());
        assert!(SynthSpec::parse("demo").is_ok());
    }

    #[test]
    fn refuses_bad_specs_with_a_reason() {
        for (spec, why) in [
            ("", "no signal"),
            ("sine", "needs a value"),
            ("sine=abc", "not a number"),
            ("sine=30000,rate=48000", "Nyquist"),
            ("square=100", "unknown item"),
            ("sine=100,duration=-1", "duration"),
            ("sine=100,channels=0", "channels"),
            ("sine=100,rate=1000", "rate"),
            ("sine=100@+60", "above +20"),
        ] {
            let err = SynthSpec::parse(spec).expect_err(spec).to_string();
            assert!(err.contains(why), "{spec}: {err}");
        }
    }

    #[test]
    fn levels_are_as_specified() {
        let spec = SynthSpec::parse("sine=1000@-6,duration=1,channels=1").expect("parse");
        let mut synth = Synth::new(spec);
        let mut buf = vec![0.0f32; 48_000];
        assert_eq!(synth.read(&mut buf).expect("read"), 48_000);
        let peak = buf.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!((20.0 * f64::from(peak).log10() + 6.0).abs() < 0.01);
        let spec = SynthSpec::parse("pink@-20,duration=4,channels=1").expect("parse");
        let mut synth = Synth::new(spec);
        let mut buf = vec![0.0f32; 4 * 48_000];
        synth.read(&mut buf).expect("read");
        let rms = (buf
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            / buf.len() as f64)
            .sqrt();
        let aes17 = 20.0 * rms.log10() + 3.0103;
        assert!((aes17 + 20.0).abs() < 0.3, "{aes17}");
    }
}
