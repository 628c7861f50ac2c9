//! What a bar is on real material (issue 13): every channel's power counts, every analysis
//! between two frames counts, against signals with known answers.
// The click test reports its margins.
#![allow(clippy::print_stderr)]

use super::common::{analyze, sine};
use spektr::config::{AnalysisSettings, BandLayout, BarsFrom, StreamFormat};
use spektr::engine::mask::{breakpoint, class_1_limits, octave_ratio};
use spektr::engine::{Analyzer, BandInfo};
use spektr::publish::Frame;

const STEREO_48K: StreamFormat = StreamFormat {
    sample_rate: 48_000,
    channels: 2,
};

/// A sine of peak 0.5 reads this in its band (AES17: a full-scale sine reads 0 dBFS).
const HALF_SCALE_DB: f64 = -6.0206;

fn third(bars_from: BarsFrom) -> AnalysisSettings {
    AnalysisSettings {
        bands: BandLayout::ThirdOctave,
        bars_from,
        ..Default::default()
    }
}

/// Interleaves two channels.
fn stereo(l: &[f32], r: &[f32]) -> Vec<f32> {
    l.iter().zip(r).flat_map(|(&l, &r)| [l, r]).collect()
}

/// Deterministic white noise of RMS `rms`.
fn noise(seed: u64, n: usize, rms: f64) -> Vec<f32> {
    let mut state = seed | 1;
    let scale = rms * 12f64.sqrt();
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (scale * ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5)) as f32
        })
        .collect()
}

fn band_of(a: &Analyzer, nominal: f64) -> usize {
    a.bands()
        .iter()
        .position(|b| b.nominal_hz == Some(nominal))
        .expect("band")
}

/// Mean power over the frames from `from_s` on, in dB, per bar.
fn mean_db(frames: &[Frame], from_s: f64, pick: impl Fn(&Frame) -> &[f32]) -> Vec<f64> {
    let kept: Vec<&Frame> = frames.iter().filter(|f| f.time_s >= from_s).collect();
    let bars = pick(kept[0]).len();
    (0..bars)
        .map(|b| {
            let p: f64 = kept
                .iter()
                .map(|f| 10f64.powf(f64::from(pick(f)[b]) / 10.0))
                .sum::<f64>()
                / kept.len() as f64;
            10.0 * p.log10()
        })
        .collect()
}

#[test]
fn antiphase_and_one_sided_tones_read_every_channels_power() {
    let tone = sine(1000.0, 0.5, 2.5, 48_000, 1);
    let minus: Vec<f32> = tone.iter().map(|x| -x).collect();
    let silence = vec![0.0f32; tone.len()];
    let antiphase = stereo(&tone, &minus);
    let left_only = stereo(&tone, &silence);
    let cases: [(&[f32], BarsFrom, f64); 8] = [
        // Antiphase: both channels carry the tone, so the mean of their powers is its level;
        // the mid signal cancels (as a mono fold-down does), the side signal is the tone.
        (&antiphase, BarsFrom::Mean, HALF_SCALE_DB),
        (&antiphase, BarsFrom::Mid, -120.0),
        (&antiphase, BarsFrom::Side, HALF_SCALE_DB),
        // One channel: half the channels' power, 3.01 dB under the tone's level; each
        // channel alone reads its own.
        (&left_only, BarsFrom::Mean, HALF_SCALE_DB - 3.0103),
        (&left_only, BarsFrom::Channel(0), HALF_SCALE_DB),
        (&left_only, BarsFrom::Channel(1), -120.0),
        (&left_only, BarsFrom::Mid, HALF_SCALE_DB - 6.0206),
        (&left_only, BarsFrom::Each, HALF_SCALE_DB - 3.0103),
    ];
    for (signal, mode, want) in cases {
        let (a, frames) = analyze(&third(mode), STEREO_48K, signal);
        let b = band_of(&a, 1000.0);
        let got = f64::from(frames.last().expect("frames").bars_db[b]);
        let tolerance = if want <= -120.0 { 0.0 } else { 0.05 };
        assert!(
            (got - want).abs() <= tolerance || (want <= -120.0 && got <= -100.0),
            "{mode}: reads {got:.3} dB, want {want:.3}"
        );
    }
    // `each` also gives every channel its own trace.
    let (a, frames) = analyze(&third(BarsFrom::Each), STEREO_48K, &left_only);
    let b = band_of(&a, 1000.0);
    let bars = a.bands().len();
    let last = frames.last().expect("frames");
    assert_eq!(last.traces_db.len(), 2 * bars);
    let (l, r) = (last.traces_db[b], last.traces_db[bars + b]);
    assert!((f64::from(l) - HALF_SCALE_DB).abs() < 0.05, "L trace {l}");
    assert!(r <= -100.0, "R trace {r}");
}

#[test]
fn uncorrelated_and_delayed_channels_read_their_own_level() {
    let n = 48_000 * 8;
    let l = noise(0x9e37_79b9_7f4a_7c15, n, 0.1);
    let uncorrelated = stereo(&l, &noise(0x2545_f491_4f6c_dd1d, n, 0.1));
    // 0.7 ms (34 samples at 48 kHz) between the channels: a comb filter for their sum.
    let delay = 34;
    let mut r = vec![0.0f32; delay];
    r.extend_from_slice(&l[..n - delay]);
    let delayed = stereo(&l, &r);
    for (name, signal) in [("uncorrelated", &uncorrelated), ("delayed", &delayed)] {
        let settle = 2.0;
        let (_, mean) = analyze(&third(BarsFrom::Mean), STEREO_48K, signal);
        let (_, left) = analyze(&third(BarsFrom::Channel(0)), STEREO_48K, signal);
        let (_, right) = analyze(&third(BarsFrom::Channel(1)), STEREO_48K, signal);
        let (_, mid) = analyze(&third(BarsFrom::Mid), STEREO_48K, signal);
        let mean = mean_db(&mean, settle, |f| &f.bars_db);
        let left = mean_db(&left, settle, |f| &f.bars_db);
        let right = mean_db(&right, settle, |f| &f.bars_db);
        let mid = mean_db(&mid, settle, |f| &f.bars_db);
        let mut worst_mid: f64 = 0.0;
        for b in 0..mean.len() {
            let own =
                10.0 * ((10f64.powf(left[b] / 10.0) + 10f64.powf(right[b] / 10.0)) / 2.0).log10();
            assert!(
                (mean[b] - own).abs() < 0.01,
                "{name}: band {b} reads {:.3} dB, the channels' own mean power is {own:.3}",
                mean[b]
            );
            worst_mid = worst_mid.min(mid[b] - own);
        }
        // The mid signal is what the bars were before: it loses 3 dB on uncorrelated
        // channels and comb-filters delayed ones (by more in some band).
        assert!(
            worst_mid < -2.5,
            "{name}: mid is at most {worst_mid:.2} dB down"
        );
    }
}

#[test]
fn modes_the_source_cannot_give_are_refused_in_one_line() {
    let mono = StreamFormat {
        sample_rate: 48_000,
        channels: 1,
    };
    let e = Analyzer::new(&third(BarsFrom::Side), mono).unwrap_err();
    assert_eq!(
        e.to_string(),
        "--bars-from side needs a stereo source; this one has 1 channel"
    );
    let e = Analyzer::new(&third(BarsFrom::Channel(2)), STEREO_48K).unwrap_err();
    assert_eq!(e.to_string(), "--bars-from 3: the source has 2 channels");
    // Mono: every mode but side is the one channel.
    let tone = sine(1000.0, 0.5, 2.5, 48_000, 1);
    for mode in [
        BarsFrom::Mean,
        BarsFrom::Mid,
        BarsFrom::Each,
        BarsFrom::Channel(0),
    ] {
        let (a, frames) = analyze(&third(mode), mono, &tone);
        let got = f64::from(frames.last().expect("frames").bars_db[band_of(&a, 1000.0)]);
        assert!((got - HALF_SCALE_DB).abs() < 0.05, "{mode}: {got}");
        assert!(frames[0].traces_db.is_empty(), "one channel, no traces");
    }
}

/// One click (a single full-scale-ish sample) at `at_s` after `lead_s` of silence, and the
/// frames of the analysis, with a hold long enough that the marker keeps the highest reading.
fn click_frames(fps: f64, at_s: f64, total_s: f64) -> (Analyzer, Vec<Frame>) {
    let settings = AnalysisSettings {
        fps,
        peak_hold_ms: 60_000.0,
        ..Default::default()
    };
    let format = StreamFormat {
        sample_rate: 48_000,
        channels: 1,
    };
    let mut signal = vec![0.0f32; (total_s * 48_000.0) as usize];
    signal[(at_s * 48_000.0).round() as usize] = 0.9;
    analyze(&settings, format, &signal)
}

#[test]
fn a_clicks_energy_and_highest_reading_do_not_depend_on_where_it_falls() {
    // Positions over the longest update interval of the default layout (its deepest level
    // recomputes every few hundred ms), at uneven steps so that they fall everywhere within
    // frames, hops and analyses.
    for fps in [60.0, 25.0, 144.0] {
        let positions: Vec<f64> = (0..12).map(|i| 3.0 + i as f64 * 0.031_7).collect();
        let mut energy: Vec<Vec<f64>> = Vec::new();
        let mut highest: Vec<Vec<f64>> = Vec::new();
        let mut bands = Vec::new();
        for &at in &positions {
            let (a, frames) = click_frames(fps, at, at + 3.5);
            bands = a.bands().to_vec();
            let frame_s = 1.0 / fps;
            energy.push(
                (0..bands.len())
                    .map(|b| {
                        let e: f64 = frames
                            .iter()
                            .map(|f| 10f64.powf(f64::from(f.bars_db[b]) / 10.0) * frame_s)
                            .sum();
                        10.0 * e.log10()
                    })
                    .collect(),
            );
            let last = frames.last().expect("frames");
            highest.push(last.peak_hold_db.iter().map(|&v| f64::from(v)).collect());
        }
        let mut worst = (0.0f64, 0.0f64);
        for (b, band) in bands.iter().enumerate() {
            let spread = |v: &Vec<Vec<f64>>| {
                let col: Vec<f64> = v.iter().map(|row| row[b]).collect();
                let hi = col.iter().cloned().fold(f64::MIN, f64::max);
                let lo = col.iter().cloned().fold(f64::MAX, f64::min);
                (hi - lo, lo)
            };
            let (e_spread, _) = spread(&energy);
            let (h_spread, h_low) = spread(&highest);
            worst = (worst.0.max(e_spread), worst.1.max(h_spread));
            assert!(
                h_low > -100.0,
                "{fps} fps: the click reads only {h_low:.1} dB at {:.0} Hz",
                band.center_hz
            );
            assert!(
                e_spread < 1.0,
                "{fps} fps: the click's energy at {:.0} Hz moves by {e_spread:.2} dB with its position",
                band.center_hz
            );
            assert!(
                h_spread < 1.0,
                "{fps} fps: the click's highest reading at {:.0} Hz moves by {h_spread:.2} dB with its position",
                band.center_hz
            );
        }
        eprintln!(
            "{fps} fps: energy within {:.2} dB, highest reading within {:.2} dB",
            worst.0, worst.1
        );
    }
}

fn format(rate: u32, channels: usize) -> StreamFormat {
    StreamFormat {
        sample_rate: rate,
        channels,
    }
}

/// The newest reading of band `b` after `secs` of a sine of peak 0.5 at `hz`.
fn tone_reading(settings: &AnalysisSettings, rate: u32, hz: f64, secs: f64, b: usize) -> f64 {
    let (_, frames) = analyze(settings, format(rate, 1), &sine(hz, 0.5, secs, rate, 1));
    f64::from(frames.last().expect("frames").bars_db[b])
}

#[test]
fn the_first_tone_every_user_tries_is_one_bar() {
    for rate in [44_100, 48_000] {
        let settings = AnalysisSettings::default();
        let a = Analyzer::new(&settings, format(rate, 2)).expect("plan");
        let b = a
            .bands()
            .iter()
            .position(|b| (b.center_hz - 1000.0).abs() < 1e-6)
            .expect("a band centred on 1 kHz");
        let (_, frames) = analyze(&settings, format(rate, 2), &sine(1000.0, 0.5, 2.0, rate, 2));
        let last = frames.last().expect("frames");
        let own = f64::from(last.bars_db[b]);
        assert!(
            (own - HALF_SCALE_DB).abs() < 0.05,
            "{rate} Hz: 1 kHz reads {own:.2}"
        );
        for n in [b - 1, b + 1] {
            let there = f64::from(last.bars_db[n]);
            assert!(
                there < own - 30.0,
                "{rate} Hz: the neighbour reads {there:.1}"
            );
        }
    }
    // The default layout still spans 20 Hz to 20 kHz.
    let a = Analyzer::new(&AnalysisSettings::default(), STEREO_48K).expect("plan");
    let bands = a.bands();
    assert_eq!(bands.len(), 32);
    assert!(bands[0].lo_hz <= 20.0 && bands[31].hi_hz >= 20_000.0 - 1e-6);
}

#[test]
fn the_top_band_past_nyquist_is_kept_clamped_and_flagged_partial() {
    let third = AnalysisSettings {
        bands: BandLayout::ThirdOctave,
        ..Default::default()
    };
    for (rate, nominal, tone) in [(44_100, 20_000.0, 19_000.0), (22_050, 10_000.0, 10_500.0)] {
        let a = Analyzer::new(&third, format(rate, 1)).expect("plan");
        let last = a.bands().len() - 1;
        let top = &a.bands()[last];
        assert_eq!(top.nominal_hz, Some(nominal), "{rate} Hz");
        assert!(top.partial, "{rate} Hz: {top:?}");
        assert_eq!(top.hi_hz, f64::from(rate) / 2.0);
        assert!(a.bands()[..last].iter().all(|b| !b.partial));
        let header = serde_json::to_value(a.bands()).expect("json");
        assert_eq!(header[last]["partial"], true);
        assert!(header[0].get("partial").is_none());
        let got = tone_reading(&third, rate, tone, 1.0, last);
        assert!(
            (got - HALF_SCALE_DB).abs() < 0.05,
            "{rate} Hz: {tone} Hz reads {got:.2} in the partial band"
        );
    }
}

#[test]
fn every_fractional_octave_layout_reads_a_tone_at_its_band_centres() {
    for (layout, b) in [
        (BandLayout::Octave, 1),
        (BandLayout::SixthOctave, 6),
        (BandLayout::TwelfthOctave, 12),
        (BandLayout::TwentyFourthOctave, 24),
    ] {
        let settings = AnalysisSettings {
            bands: layout,
            ..Default::default()
        };
        for rate in [44_100, 48_000] {
            let a = Analyzer::new(&settings, format(rate, 1)).expect("plan");
            let bands = a.bands().to_vec();
            let per_octave =
                bands.len() as f64 / (bands[bands.len() - 1].hi_hz / bands[0].lo_hz).log2();
            assert!(
                (per_octave - f64::from(b)).abs() < 0.05 * f64::from(b),
                "1/{b}: {per_octave:.2} bands per octave"
            );
            for i in (0..bands.len()).step_by((bands.len() / 10).max(1)) {
                let band = &bands[i];
                assert!(band.bins >= 4.0, "1/{b} at {rate} Hz: {band:?}");
                let settle = band.window_ms / 1000.0 + 0.3;
                let got = tone_reading(&settings, rate, band.center_hz, settle, i);
                assert!(
                    (got - HALF_SCALE_DB).abs() < 0.05,
                    "1/{b} at {rate} Hz: a tone at {:.1} Hz reads {got:.3}",
                    band.center_hz
                );
            }
        }
    }
}

/// The band powers of a steady tone, averaged over its last 0.2 s, once every band it can
/// reach (up to `reach` times its frequency either way) has settled; linear, per band, with
/// the time it ran before them (bands that need longer are not settled in it).
fn tone_powers(settings: &AnalysisSettings, rate: u32, hz: f64, reach: f64) -> Vec<f64> {
    tone_powers_and_settle(settings, rate, hz, reach).0
}

fn tone_powers_and_settle(
    settings: &AnalysisSettings,
    rate: u32,
    hz: f64,
    reach: f64,
) -> (Vec<f64>, f64) {
    let a = Analyzer::new(settings, format(rate, 1)).expect("plan");
    let settle = a
        .bands()
        .iter()
        .filter(|b| b.center_hz / reach <= hz && hz <= b.center_hz * reach)
        .map(|b| b.settled_s)
        .fold(0.05, f64::max);
    let (_, frames) = analyze(
        settings,
        format(rate, 1),
        &sine(hz, 0.5, settle + 0.25, rate, 1),
    );
    let kept: Vec<&Frame> = frames
        .iter()
        .filter(|f| f.time_s >= settle + 0.05)
        .collect();
    let powers = (0..a.bands().len())
        .map(|b| {
            kept.iter()
                .map(|f| 10f64.powf(f64::from(f.bars_db[b]) / 10.0))
                .sum::<f64>()
                / kept.len() as f64
        })
        .collect();
    (powers, settle)
}

fn db(p: f64) -> f64 {
    10.0 * p.max(1e-30).log10()
}

/// Each layout at 44.1 and 48 kHz: its settings, the rate and its bands.
fn at_both_rates(layouts: &[BandLayout]) -> Vec<(AnalysisSettings, u32, Vec<BandInfo>)> {
    let mut cases = Vec::new();
    for &bands in layouts {
        let settings = AnalysisSettings {
            bands,
            ..Default::default()
        };
        for rate in [44_100, 48_000] {
            let a = Analyzer::new(&settings, format(rate, 1)).expect("plan");
            cases.push((settings.clone(), rate, a.bands().to_vec()));
        }
    }
    cases
}

#[test]
fn a_tone_between_two_bands_sums_to_its_level_across_every_edge() {
    let mut worst: f64 = 0.0;
    for (settings, rate, info) in at_both_rates(&[BandLayout::Log, BandLayout::ThirdOctave]) {
        let bands = settings.bands;
        for w in info.windows(2) {
            let edge = w[0].hi_hz;
            let width = (w[0].hi_hz - w[0].lo_hz).min(w[1].hi_hz - w[1].lo_hz);
            for x in [-0.3, -0.12, -0.04, 0.0, 0.04, 0.12, 0.3] {
                let hz = edge + x * width;
                let total = db(tone_powers(&settings, rate, hz, 2.0).iter().sum());
                let off = total - HALF_SCALE_DB;
                worst = worst.max(off.abs());
                assert!(
                    off.abs() < 0.1,
                    "{bands:?} at {rate} Hz: a tone at {hz:.1} Hz (edge {edge:.1} Hz, windows {:.0} and {:.0} ms) sums to {total:.3} dB",
                    w[0].window_ms,
                    w[1].window_ms
                );
            }
        }
    }
    eprintln!("a tone across every band edge sums to its level within {worst:.3} dB");
}

/// Every band against IEC 61260-1:2014 Table 1, class 1 (the limits and their source, BS EN
/// 61260-1:2014 pages 15-16 as transcribed in jmrplens/phonometry, are in
/// `spektr::engine::mask`).
#[test]
fn bands_meet_the_iec_61260_1_class_1_filter_mask() {
    let g = octave_ratio();
    let mut report = Vec::new();
    // The breakpoints of every band, or (the finest layouts, for time) of every `stride`-th
    // band and the last; each tone is checked against every band all the same.
    for (bands, rate, stride) in [
        (BandLayout::ThirdOctave, 44_100, 1),
        (BandLayout::ThirdOctave, 48_000, 1),
        (BandLayout::Log, 44_100, 1),
        (BandLayout::Log, 48_000, 1),
        (BandLayout::Octave, 48_000, 1),
        (BandLayout::SixthOctave, 48_000, 1),
        (BandLayout::TwelfthOctave, 48_000, 5),
        (BandLayout::TwentyFourthOctave, 48_000, 11),
    ] {
        let settings = AnalysisSettings {
            bands,
            ..Default::default()
        };
        {
            let a = Analyzer::new(&settings, format(rate, 1)).expect("plan");
            let info = a.bands().to_vec();
            let nyquist = f64::from(rate) / 2.0;
            // Bands per octave: the layout's, or the log layout's ratio in IEC's octave.
            let per_octave = |i: usize| g.ln() / (info[i].hi_hz / info[i].lo_hz).ln();
            // The mask's breakpoints of every band, each side, and a point either side of the
            // band edge: one tone each, and every tone is checked against every band.
            let mut tones = Vec::new();
            let sampled = |i: usize| i.is_multiple_of(stride) || i + 1 == info.len();
            for (i, band) in info.iter().enumerate().filter(|(i, _)| sampled(*i)) {
                let b = per_octave(i);
                let map = |x: f64| breakpoint(b, x);
                for x in [0.0, 0.125, 0.25, 0.375, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0] {
                    tones.push(band.center_hz * map(x));
                    tones.push(band.center_hz / map(x));
                }
                for side in [0.998, 1.002] {
                    tones.push(band.center_hz * map(0.5) * side);
                    tones.push(band.center_hz / map(0.5) * side);
                }
            }
            tones.retain(|&f| f > 2.0 && f < nyquist * 0.995);
            let reach = 6.0;
            let at_centre: Vec<f64> = info
                .iter()
                .enumerate()
                .map(|(i, b)| tone_powers(&settings, rate, b.center_hz, reach)[i])
                .collect();
            let mut worst = f64::INFINITY;
            for &f in &tones {
                let (powers, ran) = tone_powers_and_settle(&settings, rate, f, reach);
                for (i, band) in info.iter().enumerate() {
                    let omega = f / band.center_hz;
                    // A band cut at Nyquist has no upper skirt; one whose window the run did
                    // not fill still reads the tone's onset. (Bands over `reach` away need
                    // only 70 dB: every settled band far away is checked too.)
                    if (band.partial && f > band.lo_hz) || band.settled_s > ran {
                        continue;
                    }
                    let (lo, hi) = class_1_limits(per_octave(i), omega);
                    let delta = db(at_centre[i]) - db(powers[i]);
                    let margin = (delta - lo).min(hi - delta);
                    worst = worst.min(margin);
                    assert!(
                        margin >= 0.0,
                        "{bands:?} at {rate} Hz, band {:.1} Hz: {f:.1} Hz (omega {omega:.4}) is attenuated {delta:.2} dB, class 1 allows {lo:.2} to {hi:.2}",
                        band.center_hz
                    );
                }
            }
            report.push(format!(
                "{bands:?} at {rate} Hz: {} tones, worst margin {worst:.2} dB",
                tones.len()
            ));
        }
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn bands_say_when_their_window_is_full() {
    let third = AnalysisSettings {
        bands: BandLayout::ThirdOctave,
        ..Default::default()
    };
    let a = Analyzer::new(&third, format(48_000, 1)).expect("plan");
    let b = band_of(&a, 25.0);
    let settled_s = a.bands()[b].settled_s;
    assert!(settled_s >= a.bands()[b].window_ms / 1000.0, "{settled_s}");
    let (_, frames) = analyze(
        &third,
        format(48_000, 1),
        &sine(25.0, 0.5, settled_s + 1.0, 48_000, 1),
    );
    let first_settled = frames.iter().find(|f| f.settled[b]).expect("it settles");
    assert!((first_settled.time_s - settled_s).abs() <= 1.0 / 60.0 + 1e-9);
    assert!(
        frames
            .iter()
            .filter(|f| f.time_s < settled_s - 1e-9)
            .all(|f| !f.settled[b])
    );
    // Once settled, the reading is the tone's, to within what a steady tone's bar moves.
    let at = f64::from(first_settled.bars_db[b]);
    assert!(
        (at - HALF_SCALE_DB).abs() < 0.1,
        "reads {at:.2} when it says it is settled"
    );
    // The high bands settle at once (their window is 21 ms).
    let top = a.bands().len() - 1;
    assert!(a.bands()[top].settled_s < 0.03);
}

#[test]
fn the_strongest_frequency_counts_every_channel() {
    // Three channels (a pair and one alone), the tone on the first only.
    let settings = third(BarsFrom::Mean);
    let hz = 1_037.0;
    let tone = sine(hz, 0.5, 0.5, 48_000, 1);
    let signal: Vec<f32> = tone.iter().flat_map(|&x| [x, 0.0, 0.0]).collect();
    let (a, frames) = analyze(&settings, format(48_000, 3), &signal);
    let got = f64::from(frames.last().expect("frames").peak_hz[band_of(&a, 1000.0)]);
    assert!((got / hz - 1.0).abs() < 0.001, "reads {got:.2} Hz");
}

#[test]
fn the_strongest_frequency_in_a_band_reads_a_steady_tone_to_a_tenth_of_a_percent() {
    for (settings, rate, info) in at_both_rates(&[
        BandLayout::ThirdOctave,
        BandLayout::Log,
        BandLayout::TwelfthOctave,
    ]) {
        let bands = settings.bands;
        for i in (0..info.len()).step_by((info.len() / 12).max(1)) {
            let band = &info[i];
            // Off centre, not at a bin: 37 % of the way from the lower edge.
            let hz = band.lo_hz + 0.37 * (band.hi_hz - band.lo_hz);
            let (_, frames) = analyze(
                &settings,
                format(rate, 1),
                &sine(hz, 0.5, band.settled_s + 0.1, rate, 1),
            );
            let got = f64::from(frames.last().expect("frames").peak_hz[i]);
            assert!(
                (got / hz - 1.0).abs() < 0.001,
                "{bands:?} at {rate} Hz: a tone at {hz:.2} Hz reads {got:.2} Hz in its band"
            );
        }
    }
}
