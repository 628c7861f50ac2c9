//! The numbers users must be able to trust, checked against known signals (DESIGN.md section 2).

use super::common::{analyze, feed, mean_bars_db, sine};
use spektr::config::{AnalysisSettings, BandLayout, Smoothing, StreamFormat, Weighting};
use spektr::engine::Analyzer;
use spektr::engine::dsp::FLOOR_DB;
use spektr::source::Source;
use spektr::source::synth::{Synth, SynthSpec};

const MONO_48K: StreamFormat = StreamFormat {
    sample_rate: 48_000,
    channels: 1,
};

/// Long enough for the longest window (about 1.5 s) to fill and settle.
const SETTLE_S: f64 = 2.0;

fn check_band_centres(layout: BandLayout, rate: u32) {
    let settings = AnalysisSettings {
        bands: layout,
        ..Default::default()
    };
    let format = StreamFormat {
        sample_rate: rate,
        channels: 1,
    };
    let bands = Analyzer::new(&settings, format)
        .expect("plan")
        .bands()
        .to_vec();
    assert!(
        bands.len() >= 30,
        "{layout:?} at {rate} Hz has {} bands",
        bands.len()
    );
    for (b, band) in bands.iter().enumerate() {
        let signal = sine(band.center_hz, 0.5, SETTLE_S, rate, 1);
        let (_, frames) = analyze(&settings, format, &signal);
        let last = frames.last().expect("frames");
        let level = f64::from(last.bars_db[b]);
        assert!(
            (level + 6.0206).abs() <= 0.5,
            "{layout:?} {rate} Hz: sine at {:.1} Hz reads {level:.2} dB in its band",
            band.center_hz
        );
        for other in [b.checked_sub(2), Some(b + 2)]
            .into_iter()
            .flatten()
            .filter(|&o| o < bands.len())
        {
            let there = f64::from(last.bars_db[other]);
            assert!(
                there <= level - 20.0,
                "{layout:?} {rate} Hz: sine at {:.1} Hz reads {there:.1} dB two bands away (band {other})",
                band.center_hz
            );
        }
    }
}

#[test]
fn sine_at_each_log_band_centre_reads_its_level_at_48k() {
    check_band_centres(BandLayout::Log, 48_000);
}

#[test]
fn sine_at_each_log_band_centre_reads_its_level_at_44k1() {
    check_band_centres(BandLayout::Log, 44_100);
}

#[test]
fn sine_at_each_third_octave_centre_reads_its_level_at_48k() {
    check_band_centres(BandLayout::ThirdOctave, 48_000);
}

#[test]
fn sine_at_each_third_octave_centre_reads_its_level_at_44k1() {
    check_band_centres(BandLayout::ThirdOctave, 44_100);
}

#[test]
fn silence_reads_the_floor_everywhere() {
    let settings = AnalysisSettings::default();
    let (_, frames) = analyze(
        &settings,
        StreamFormat {
            sample_rate: 48_000,
            channels: 2,
        },
        &vec![0.0; 96_000 * 2],
    );
    for f in &frames {
        assert!(
            f.bars_db
                .iter()
                .chain(&f.peak_hold_db)
                .all(|&v| v == FLOOR_DB),
            "{f:?}"
        );
        assert!(
            f.channels
                .iter()
                .all(|c| c.peak_dbfs == FLOOR_DB && c.rms_dbfs == FLOOR_DB && !c.clipped)
        );
    }
}

#[test]
fn pink_noise_reads_flat_across_third_octaves() {
    let spec = SynthSpec::parse("pink@-20,duration=11.5,channels=1").expect("spec");
    let mut synth = Synth::new(spec);
    let mut signal = vec![0.0f32; 552_000];
    assert_eq!(synth.read(&mut signal).expect("synth"), 552_000);
    let settings = AnalysisSettings {
        bands: BandLayout::ThirdOctave,
        ..Default::default()
    };
    let (a, frames) = analyze(&settings, MONO_48K, &signal);
    // Average over the last 10 s (the first 1.5 s fill the longest window).
    let from = frames
        .iter()
        .position(|f| f.time_s > 1.5)
        .expect("long enough");
    let mean = mean_bars_db(&frames[from..]);
    let bands: Vec<usize> = (0..mean.len())
        .filter(|&b| a.bands()[b].center_hz >= 49.0)
        .collect();
    let avg = bands.iter().map(|&b| mean[b]).sum::<f64>() / bands.len() as f64;
    for &b in &bands {
        assert!(
            (mean[b] - avg).abs() <= 2.0,
            "band {:.0} Hz reads {:.2} dB, mean {avg:.2}",
            a.bands()[b].center_hz,
            mean[b]
        );
    }
}

#[test]
fn white_noise_rises_three_db_per_octave() {
    let spec = SynthSpec::parse("white@-20,duration=6,channels=1").expect("spec");
    let mut synth = Synth::new(spec);
    let mut signal = vec![0.0f32; 288_000];
    synth.read(&mut signal).expect("synth");
    let settings = AnalysisSettings {
        bands: BandLayout::ThirdOctave,
        ..Default::default()
    };
    let (a, frames) = analyze(&settings, MONO_48K, &signal);
    let mean = mean_bars_db(&frames[frames.len() / 3..]);
    let at = |hz: f64| {
        a.bands()
            .iter()
            .position(|b| b.nominal_hz == Some(hz))
            .expect("band")
    };
    let rise = mean[at(8000.0)] - mean[at(1000.0)];
    assert!(
        (rise - 9.0).abs() < 1.0,
        "three octaves rise by {rise:.2} dB"
    );
}

#[test]
fn full_scale_sine_reads_zero_dbfs_peak_and_rms() {
    // 997 Hz: the AES17 test frequency, not a sub-multiple of the sample rate.
    let signal = sine(997.0, 1.0, 1.0, 48_000, 2);
    let (_, frames) = analyze(
        &AnalysisSettings::default(),
        StreamFormat {
            sample_rate: 48_000,
            channels: 2,
        },
        &signal,
    );
    let last = frames.last().expect("frames");
    for c in &last.channels {
        assert!(c.peak_dbfs.abs() <= 0.05, "peak {}", c.peak_dbfs);
        assert!(c.rms_dbfs.abs() <= 0.05, "RMS (AES17) {}", c.rms_dbfs);
        assert!(!c.clipped, "single samples at full scale are not a clip");
    }
    let half = sine(997.0, 0.5, 1.0, 48_000, 1);
    let (_, frames) = analyze(&AnalysisSettings::default(), MONO_48K, &half);
    let c = frames.last().expect("frames").channels[0];
    assert!(
        (c.peak_dbfs + 6.02).abs() <= 0.05 && (c.rms_dbfs + 6.02).abs() <= 0.05,
        "{c:?}"
    );
}

#[test]
fn runs_of_full_scale_samples_set_the_clip_flag() {
    // A square wave at full scale: long runs of +1 and -1.
    let signal: Vec<f32> = (0..48_000)
        .map(|i| if (i / 24) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let (_, frames) = analyze(&AnalysisSettings::default(), MONO_48K, &signal);
    assert!(frames.iter().all(|f| f.channels[0].clipped));
    // Two full-scale samples in a row are not yet a clip; three are.
    let mut signal = vec![0.0f32; 4800];
    signal[100] = 1.0;
    signal[101] = -1.0;
    let (_, frames) = analyze(&AnalysisSettings::default(), MONO_48K, &signal);
    assert!(frames.iter().all(|f| !f.channels[0].clipped));
    signal[102] = 1.0;
    let (_, frames) = analyze(&AnalysisSettings::default(), MONO_48K, &signal);
    assert_eq!(
        frames.iter().filter(|f| f.channels[0].clipped).count(),
        1,
        "latched for one frame only"
    );
}

#[test]
fn weighting_applies_to_the_bars() {
    for (weighting, expected) in [
        (Weighting::A, -19.1),
        (Weighting::C, -0.3),
        (Weighting::Z, 0.0),
    ] {
        let settings = AnalysisSettings {
            bands: BandLayout::ThirdOctave,
            weighting,
            ..Default::default()
        };
        let (a, frames) = analyze(&settings, MONO_48K, &sine(100.0, 0.5, SETTLE_S, 48_000, 1));
        let b = a
            .bands()
            .iter()
            .position(|b| b.nominal_hz == Some(100.0))
            .expect("100 Hz band");
        let got = f64::from(frames.last().expect("frames").bars_db[b]) + 6.0206;
        assert!(
            (got - expected).abs() < 0.2,
            "{weighting:?}: {got:.2} dB, expected {expected}"
        );
    }
}

/// Time for exponential smoothing of power to come within 1 dB of a step: tau * ln(1 / (1 - 10^-0.1)).
fn within_1db_s(tau_s: f64) -> f64 {
    tau_s * (1.0 / (1.0 - 10f64.powf(-0.1))).ln()
}

#[test]
fn smoothing_follows_its_time_constant() {
    for (smoothing, tau_s) in [(Smoothing::Fast, 0.125), (Smoothing::Slow, 1.0)] {
        let settings = AnalysisSettings {
            bands: BandLayout::ThirdOctave,
            smoothing,
            ..Default::default()
        };
        let mut a = Analyzer::new(&settings, MONO_48K).expect("analyzer");
        let b = a
            .bands()
            .iter()
            .position(|b| b.nominal_hz == Some(1000.0))
            .expect("1 kHz band");
        let window_s = a.bands()[b].window_ms / 1000.0;
        let step_at = 1.0;
        feed(&mut a, &vec![0.0; 48_000]);
        let frames = feed(&mut a, &sine(1000.0, 0.5, 4.0 * tau_s + 0.5, 48_000, 1));
        let reached = frames
            .iter()
            .find(|f| f64::from(f.bars_db[b]) >= -6.0206 - 1.0)
            .expect("reaches the level");
        let measured = reached.time_s - step_at;
        // The window fills in `window_s`; half its energy is in after half of it.
        let expected = within_1db_s(tau_s) + window_s / 2.0;
        let frame_s = 1.0 / settings.fps;
        assert!(
            (measured - expected).abs() <= window_s / 2.0 + frame_s,
            "{smoothing:?}: within 1 dB after {measured:.4} s, formula says {expected:.4} s"
        );
        let last = f64::from(frames.last().expect("frames").bars_db[b]);
        assert!(
            (last + 6.0206).abs() < 0.1,
            "{smoothing:?} settles at {last}"
        );
    }
}

#[test]
fn peak_hold_holds_then_falls_at_its_rate() {
    let settings = AnalysisSettings {
        bands: BandLayout::ThirdOctave,
        peak_hold_ms: 500.0,
        peak_fall_db_per_s: 20.0,
        ..Default::default()
    };
    let mut a = Analyzer::new(&settings, MONO_48K).expect("analyzer");
    let b = a
        .bands()
        .iter()
        .position(|b| b.nominal_hz == Some(1000.0))
        .expect("1 kHz band");
    feed(&mut a, &sine(1000.0, 0.5, 1.0, 48_000, 1));
    let frames = feed(&mut a, &vec![0.0; 96_000]);
    // The bar drops to the floor within a window; the hold marker stays for 0.5 s...
    let hold_at = |t: f64| {
        let f = frames
            .iter()
            .min_by(|x, y| (x.time_s - t).abs().total_cmp(&(y.time_s - t).abs()))
            .expect("frames");
        f64::from(f.peak_hold_db[b])
    };
    assert!((hold_at(1.3) + 6.02).abs() < 0.1, "held: {}", hold_at(1.3));
    assert_eq!(frames.last().expect("frames").bars_db[b], FLOOR_DB);
    // ...then falls at 20 dB/s: half a second later it is 10 dB lower.
    let fall = hold_at(1.6) - hold_at(2.1);
    assert!((fall - 10.0).abs() < 0.5, "fell {fall:.2} dB in 0.5 s");
}

#[test]
fn frames_come_at_the_frame_rate_in_audio_time() {
    for (rate, fps) in [
        (48_000, 60.0),
        (44_100, 60.0),
        (44_100, 25.0),
        (8_000, 30.0),
    ] {
        let settings = AnalysisSettings {
            fps,
            ..Default::default()
        };
        let format = StreamFormat {
            sample_rate: rate,
            channels: 1,
        };
        let (_, frames) = analyze(&settings, format, &vec![0.0; rate as usize * 2]);
        assert_eq!(frames.len(), (2.0 * fps) as usize, "{rate} Hz at {fps} fps");
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.index, i as u64);
            let want = (i + 1) as f64 / fps;
            assert!(
                (f.time_s - want).abs() <= 1.0 / f64::from(rate),
                "frame {i} at {} s, want {want}",
                f.time_s
            );
        }
    }
}

#[test]
fn every_band_is_measured_at_every_supported_rate() {
    for rate in [
        8_000, 16_000, 22_050, 32_000, 88_200, 96_000, 192_000, 384_000,
    ] {
        let settings = AnalysisSettings::default();
        let format = StreamFormat {
            sample_rate: rate,
            channels: 1,
        };
        let a = Analyzer::new(&settings, format).expect("plan");
        let probe = a.bands()[a.bands().len() / 2].clone();
        let (a, frames) = analyze(
            &settings,
            format,
            &sine(probe.center_hz, 0.5, SETTLE_S, rate, 1),
        );
        let b = a
            .bands()
            .iter()
            .position(|x| x.center_hz == probe.center_hz)
            .expect("band");
        let got = f64::from(frames.last().expect("frames").bars_db[b]);
        assert!((got + 6.02).abs() < 0.5, "{rate} Hz: {got}");
    }
}
