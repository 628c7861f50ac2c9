//! Every band's measured response to steady tones, against the IEC 61260-1:2014 class 1 mask:
//! the numbers behind README's plot (`make mask-plot` draws it with scripts/plot-mask.py).
//!
//! `cargo run --release --example filter_response > response.csv` prints one row per band and
//! tone: the layout, the rate, the band's centre and bands per octave, the tone's normalised
//! frequency `f / fm`, the band's attenuation relative to its reading at its own centre (dB),
//! and the mask's limits there. A tone is swept over a log grid (61 an octave, 10 Hz to just
//! under Nyquist); a band counts once its window is full (`settled_s`), and a band cut at
//! Nyquist only below its lower edge. The last line of stderr gives each layout's worst margin.
// The audio callback's rules (clippy.toml) are for the callback only.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]
// An example reports on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use spektr::config::{AnalysisSettings, BandLayout, StreamFormat};
use spektr::engine::Analyzer;
use spektr::engine::mask::{class_1_limits, octave_ratio};

/// How far from a tone (as a frequency ratio) the bands it must have settled lie; bands
/// further away are counted when settled anyway.
const REACH: f64 = 6.0;
/// Tones per octave: a count no layout's bands divide, so that the tones fall at every offset
/// from some band's centre.
const TONES_PER_OCTAVE: u32 = 61;

/// The power (linear) of every band for a steady sine of peak 0.5 at `hz`, averaged over its
/// last 0.2 s once the bands within [`REACH`] have settled, and how long it ran before that.
fn tone_powers(settings: &AnalysisSettings, rate: u32, hz: f64) -> (Vec<f64>, f64) {
    let format = StreamFormat {
        sample_rate: rate,
        channels: 1,
    };
    let mut a = Analyzer::new(settings, format).expect("plan");
    let settle = a
        .bands()
        .iter()
        .filter(|b| b.center_hz / REACH <= hz && hz <= b.center_hz * REACH)
        .map(|b| b.settled_s)
        .fold(0.05, f64::max);
    let n = ((settle + 0.25) * f64::from(rate)) as usize;
    let signal: Vec<f32> = (0..n)
        .map(|i| {
            let phase = (hz * i as f64 / f64::from(rate)).fract();
            (0.5 * (std::f64::consts::TAU * phase).sin()) as f32
        })
        .collect();
    let mut sums = vec![0.0f64; a.bands().len()];
    let mut kept = 0usize;
    let mut frame = a.new_frame();
    let mut rest = &signal[..];
    while !rest.is_empty() {
        let fed = a.feed(rest);
        rest = &rest[fed.consumed..];
        if fed.frame_due {
            a.write_frame(&mut frame);
            if frame.time_s >= settle + 0.05 {
                for (s, &db) in sums.iter_mut().zip(&frame.bars_db) {
                    *s += 10f64.powf(f64::from(db) / 10.0);
                }
                kept += 1;
            }
        }
    }
    (sums.iter().map(|s| s / kept as f64).collect(), settle)
}

fn db(p: f64) -> f64 {
    10.0 * p.max(1e-30).log10()
}

fn main() {
    let g = octave_ratio();
    println!("layout,rate,band_hz,bands_per_octave,omega,attenuation_db,mask_min_db,mask_max_db");
    for (name, bands) in [
        ("1/1", BandLayout::Octave),
        ("1/3", BandLayout::ThirdOctave),
        ("1/6", BandLayout::SixthOctave),
        ("1/12", BandLayout::TwelfthOctave),
        ("1/24", BandLayout::TwentyFourthOctave),
        ("log", BandLayout::Log),
    ] {
        let settings = AnalysisSettings {
            bands,
            ..Default::default()
        };
        let rate = 48_000u32;
        let format = StreamFormat {
            sample_rate: rate,
            channels: 1,
        };
        let info = Analyzer::new(&settings, format)
            .expect("plan")
            .bands()
            .to_vec();
        let per_octave: Vec<f64> = info
            .iter()
            .map(|b| g.ln() / (b.hi_hz / b.lo_hz).ln())
            .collect();
        let at_centre: Vec<f64> = info
            .iter()
            .enumerate()
            .map(|(i, b)| tone_powers(&settings, rate, b.center_hz).0[i])
            .collect();
        let top = 0.995 * f64::from(rate) / 2.0;
        let tones: Vec<f64> = (0..)
            .map(|k| 10.0 * 2f64.powf(f64::from(k) / f64::from(TONES_PER_OCTAVE)))
            .take_while(|&f| f < top)
            .collect();
        let mut worst = f64::INFINITY;
        for &f in &tones {
            let (powers, ran) = tone_powers(&settings, rate, f);
            for (i, band) in info.iter().enumerate() {
                if (band.partial && f > band.lo_hz) || band.settled_s > ran {
                    continue;
                }
                let omega = f / band.center_hz;
                let delta = db(at_centre[i]) - db(powers[i]);
                let (lo, hi) = class_1_limits(per_octave[i], omega);
                worst = worst.min((delta - lo).min(hi - delta));
                let hi = if hi.is_finite() {
                    format!("{hi:.3}")
                } else {
                    String::new()
                };
                println!(
                    "{name},{rate},{:.3},{:.4},{omega:.6},{delta:.3},{lo:.3},{hi}",
                    band.center_hz, per_octave[i]
                );
            }
        }
        eprintln!(
            "{name} at {rate} Hz: {} bands, {} tones, worst margin to the class 1 mask {worst:.2} dB",
            info.len(),
            tones.len()
        );
    }
}
