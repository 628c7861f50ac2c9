//! Loudness and true peak against EBU Tech 3341 (v4, 2023) and Tech 3342 (2023): the cases a
//! test can generate, each to its tolerance (loudness +/-0.1 LU, true peak +0.2/-0.4 dB, LRA
//! +/-1 LU), and the odd inputs. Expected values and signals: `shared/notes/loudness.md`.

use spektr::config::{AnalysisSettings, StreamFormat};
use spektr::engine::loudness::{Loudness, LoudnessReading};

use super::common::analyze;

/// One segment of a test signal: seconds of a sine at `freq_hz` with per-channel peak `dbfs`
/// (`None`: silence), starting at `phase_deg`.
#[derive(Clone, Copy)]
struct Seg {
    secs: f64,
    dbfs: Option<f64>,
    freq_hz: f64,
    phase_deg: f64,
}

fn tone(secs: f64, dbfs: f64) -> Seg {
    Seg {
        secs,
        dbfs: Some(dbfs),
        freq_hz: 1000.0,
        phase_deg: 0.0,
    }
}

fn silence(secs: f64) -> Seg {
    Seg {
        secs,
        dbfs: None,
        freq_hz: 1000.0,
        phase_deg: 0.0,
    }
}

/// The segments one after another, the same on `channels` channels (or per channel `gains_db`
/// added), interleaved.
fn signal(segs: &[Seg], rate: u32, channels: usize, gains_db: &[f64]) -> Vec<f32> {
    let mut out = Vec::new();
    for s in segs {
        let n = (s.secs * f64::from(rate)).round() as usize;
        for i in 0..n {
            for c in 0..channels {
                let x = match s.dbfs {
                    None => 0.0,
                    Some(db) => {
                        let a = 10f64.powf((db + gains_db.get(c).copied().unwrap_or(0.0)) / 20.0);
                        let phase = (s.freq_hz * i as f64 / f64::from(rate)).fract();
                        a * (std::f64::consts::TAU * phase + s.phase_deg.to_radians()).sin()
                    }
                };
                out.push(x as f32);
            }
        }
    }
    out
}

fn meter(rate: u32, channels: usize) -> Loudness {
    Loudness::new(
        StreamFormat {
            sample_rate: rate,
            channels,
        },
        false,
    )
    .expect("meter")
}

fn reading(l: &Loudness) -> LoudnessReading {
    l.read(&mut vec![None; l.channels()])
}

fn measure(segs: &[Seg], rate: u32) -> LoudnessReading {
    let mut l = meter(rate, 2);
    l.feed(&signal(segs, rate, 2, &[]));
    reading(&l)
}

#[track_caller]
fn near(what: &str, got: Option<f64>, want: f64, tol: f64) {
    let got = got.unwrap_or_else(|| panic!("{what}: no value, want {want}"));
    assert!(
        (got - want).abs() <= tol,
        "{what}: {got:.3}, want {want} +/-{tol}"
    );
}

#[test]
fn tech_3341_cases_1_to_6_read_their_loudness() {
    for rate in [48_000, 44_100, 96_000] {
        let r = measure(&[tone(20.0, -23.0)], rate);
        near(
            &format!("case 1 at {rate} Hz: M"),
            r.momentary_lufs,
            -23.0,
            0.1,
        );
        near(
            &format!("case 1 at {rate} Hz: S"),
            r.short_term_lufs,
            -23.0,
            0.1,
        );
        near(
            &format!("case 1 at {rate} Hz: I"),
            r.integrated_lufs,
            -23.0,
            0.1,
        );
        let r = measure(&[tone(20.0, -33.0)], rate);
        near(
            &format!("case 2 at {rate} Hz: M"),
            r.momentary_lufs,
            -33.0,
            0.1,
        );
        near(
            &format!("case 2 at {rate} Hz: S"),
            r.short_term_lufs,
            -33.0,
            0.1,
        );
        near(
            &format!("case 2 at {rate} Hz: I"),
            r.integrated_lufs,
            -33.0,
            0.1,
        );
    }
    let r = measure(
        &[tone(10.0, -36.0), tone(60.0, -23.0), tone(10.0, -36.0)],
        48_000,
    );
    near("case 3: I", r.integrated_lufs, -23.0, 0.1);
    let r = measure(
        &[
            tone(10.0, -72.0),
            tone(10.0, -36.0),
            tone(60.0, -23.0),
            tone(10.0, -36.0),
            tone(10.0, -72.0),
        ],
        48_000,
    );
    near("case 4: I", r.integrated_lufs, -23.0, 0.1);
    let r = measure(
        &[tone(20.0, -26.0), tone(20.1, -20.0), tone(20.0, -26.0)],
        48_000,
    );
    near("case 5: I", r.integrated_lufs, -23.0, 0.1);
    // Case 6: 5.0 channels, L R -28, C -24, Ls Rs -30 dBFS.
    let mut l = meter(48_000, 5);
    l.feed(&signal(
        &[tone(20.0, 0.0)],
        48_000,
        5,
        &[-28.0, -28.0, -24.0, -30.0, -30.0],
    ));
    near("case 6: I", reading(&l).integrated_lufs, -23.0, 0.1);
}

/// Feeds `segs` in 10 ms pieces, returning the reading after each with its time.
fn readings(segs: &[Seg], rate: u32) -> Vec<(f64, LoudnessReading)> {
    let mut l = meter(rate, 2);
    let x = signal(segs, rate, 2, &[]);
    let piece = rate as usize / 100 * 2;
    x.chunks(piece)
        .enumerate()
        .map(|(i, chunk)| {
            l.feed(chunk);
            ((i + 1) as f64 * 0.01, reading(&l))
        })
        .collect()
}

#[test]
fn tech_3341_cases_9_and_12_hold_short_term_and_momentary_steady() {
    let case9: Vec<Seg> = (0..5)
        .flat_map(|_| [tone(1.34, -20.0), tone(1.66, -30.0)])
        .collect();
    for (t, r) in readings(&case9, 48_000) {
        if t >= 3.0 {
            near(
                &format!("case 9: S at {t:.2} s"),
                r.short_term_lufs,
                -23.0,
                0.1,
            );
        }
    }
    let case12: Vec<Seg> = (0..25)
        .flat_map(|_| [tone(0.18, -20.0), tone(0.22, -30.0)])
        .collect();
    for (t, r) in readings(&case12, 48_000) {
        if t >= 1.0 {
            near(
                &format!("case 12: M at {t:.2} s"),
                r.momentary_lufs,
                -23.0,
                0.1,
            );
        }
    }
}

#[test]
fn tech_3341_cases_10_11_13_and_14_catch_every_maximum() {
    for i in 0..20 {
        let step = f64::from(i);
        // Case 10: 20 files, each i x 0.15 s of silence, 3 s at -23, 1 s of silence.
        let r = measure(
            &[silence(step * 0.15), tone(3.0, -23.0), silence(1.0)],
            48_000,
        );
        near(
            &format!("case 10, file {i}: max S"),
            r.max_short_term_lufs,
            -23.0,
            0.1,
        );
        // Case 13: 20 files, each i x 20 ms of silence, 0.4 s at -23, 1 s of silence.
        let r = measure(
            &[silence(step * 0.02), tone(0.4, -23.0), silence(1.0)],
            48_000,
        );
        near(
            &format!("case 13, file {i}: max M"),
            r.max_momentary_lufs,
            -23.0,
            0.1,
        );
    }
    // Cases 11 and 14: one live sequence each, the tones louder by 1 dB each time; the
    // maximum after each tone is that tone's level.
    let mut l11 = meter(48_000, 2);
    let mut l14 = meter(48_000, 2);
    for i in 0..20 {
        let step = f64::from(i);
        let level = -38.0 + step;
        l11.feed(&signal(
            &[
                silence(step * 0.15),
                tone(3.0, level),
                silence(3.0 - step * 0.15),
            ],
            48_000,
            2,
            &[],
        ));
        near(
            &format!("case 11, tone {i}: max S"),
            reading(&l11).max_short_term_lufs,
            level,
            0.1,
        );
        l14.feed(&signal(
            &[
                silence(step * 0.02),
                tone(0.4, level),
                silence(0.4 - step * 0.02),
            ],
            48_000,
            2,
            &[],
        ));
        near(
            &format!("case 14, tone {i}: max M"),
            reading(&l14).max_momentary_lufs,
            level,
            0.1,
        );
    }
}

/// Cases 15-19: a sine at `fs / div`, peak `amplitude` (linear), starting at `phase_deg`,
/// with 10 ms fades in and out.
fn true_peak(rate: u32, div: f64, amplitude: f64, phase_deg: f64) -> Option<f64> {
    let n = rate as usize;
    let fade = rate as usize / 100;
    let mut x = Vec::with_capacity(2 * n);
    for i in 0..n {
        let ramp = (i.min(n - 1 - i) as f64 / fade as f64).min(1.0);
        let v = amplitude
            * ramp
            * (std::f64::consts::TAU * (i as f64 / div).fract() + phase_deg.to_radians()).sin();
        x.extend([v as f32, v as f32]);
    }
    let mut l = meter(rate, 2);
    l.feed(&x);
    reading(&l).true_peak_dbtp
}

#[track_caller]
fn peak_near(what: &str, got: Option<f64>, want: f64) {
    let got = got.unwrap_or_else(|| panic!("{what}: no true peak"));
    assert!(
        got >= want - 0.4 && got <= want + 0.2,
        "{what}: {got:.3} dBTP, want {want} +0.2/-0.4"
    );
}

#[test]
fn tech_3341_cases_15_to_19_read_the_true_peak() {
    for rate in [48_000, 44_100, 96_000] {
        peak_near(
            &format!("case 15 at {rate} Hz"),
            true_peak(rate, 4.0, 0.5, 0.0),
            -6.0,
        );
        peak_near(
            &format!("case 19 at {rate} Hz"),
            true_peak(rate, 4.0, 1.41, 45.0),
            3.0,
        );
    }
    peak_near("case 16", true_peak(48_000, 4.0, 0.5, 45.0), -6.0);
    peak_near("case 17", true_peak(48_000, 6.0, 0.5, 60.0), -6.0);
    peak_near("case 18", true_peak(48_000, 8.0, 0.5, 67.5), -6.0);
}

/// Cases 20-23: a sine at fs/6, peak 0.50, that holds one period of fs/4 at peak 1.00 in
/// its middle (phase-continuous, switched at a rising zero crossing), made at 4 fs, low-passed
/// and decimated with an offset of `offset` samples (0..3). Tech 3341 leaves the anti-alias
/// filter open; this one is a 511-tap windowed sinc (Blackman) cut at 22 kHz of 192 kHz.
/// Returns the reading and the true peak of the
/// 4 fs signal itself (what the meter should find), both in dBTP.
fn tech_3341_burst(offset: usize) -> (Option<f64>, f64) {
    let rate = 48_000usize;
    let fast = 4 * rate;
    let n = fast;
    let (slow_period, burst_period) = (24, 16);
    let burst_at = n / 2 / slow_period * slow_period;
    let fade = fast / 100;
    let mut x = vec![0.0f64; n];
    let mut phase = 0.0f64;
    for (i, v) in x.iter_mut().enumerate() {
        let in_burst = (burst_at..burst_at + burst_period).contains(&i);
        let (period, amplitude) = if in_burst {
            (burst_period, 1.0)
        } else {
            (slow_period, 0.5)
        };
        let ramp = (i.min(n - 1 - i) as f64 / fade as f64).min(1.0);
        *v = amplitude * ramp * phase.sin();
        phase += std::f64::consts::TAU / period as f64;
    }
    let taps = 511;
    let cut = 22_000.0 / fast as f64;
    let h: Vec<f64> = (0..taps)
        .map(|k| {
            let m = k as f64 - (taps - 1) as f64 / 2.0;
            let sinc = if m == 0.0 {
                2.0 * cut
            } else {
                (std::f64::consts::TAU * cut * m).sin() / (std::f64::consts::PI * m)
            };
            let w = std::f64::consts::TAU * k as f64 / (taps - 1) as f64;
            sinc * (0.42 - 0.5 * w.cos() + 0.08 * (2.0 * w).cos())
        })
        .collect();
    let gain: f64 = h.iter().sum();
    let filtered: Vec<f64> = (0..n)
        .map(|i| {
            h.iter()
                .enumerate()
                .filter_map(|(k, c)| {
                    (i + k)
                        .checked_sub(taps / 2)
                        .and_then(|j| x.get(j))
                        .map(|v| v * c)
                })
                .sum::<f64>()
                / gain
        })
        .collect();
    let reference = 20.0 * filtered.iter().fold(0.0f64, |m, v| m.max(v.abs())).log10();
    let mut out = Vec::with_capacity(2 * n / 4);
    for v in filtered.iter().skip(offset).step_by(4) {
        out.extend([*v as f32, *v as f32]);
    }
    let mut l = meter(rate as u32, 2);
    l.feed(&out);
    (reading(&l).true_peak_dbtp, reference)
}

#[test]
fn tech_3341_cases_20_to_23_read_the_true_peak_of_a_burst_at_every_offset() {
    for offset in 0..4 {
        let (got, reference) = tech_3341_burst(offset);
        // Band-limiting a one-period burst takes a little off its top (-0.14 dB here).
        assert!(
            reference.abs() < 0.2,
            "the test signal: its 4 fs peak is {reference:.3} dBTP, want 0.0"
        );
        peak_near(&format!("case {}", 20 + offset), got, 0.0);
    }
}

#[test]
fn tech_3342_cases_1_to_4_read_the_loudness_range() {
    let cases: [(&[f64], f64); 4] = [
        (&[-20.0, -30.0], 10.0),
        (&[-20.0, -15.0], 5.0),
        (&[-40.0, -20.0], 20.0),
        (&[-50.0, -35.0, -20.0, -35.0, -50.0], 15.0),
    ];
    for (n, (levels, want)) in cases.iter().enumerate() {
        let segs: Vec<Seg> = levels.iter().map(|&db| tone(20.0, db)).collect();
        let r = measure(&segs, 48_000);
        near(
            &format!("Tech 3342 case {}: LRA", n + 1),
            r.range_lu,
            *want,
            1.0,
        );
    }
}

#[test]
fn channel_counts_and_odd_inputs_have_defined_answers() {
    // An in-phase stereo sine at -18 dBFS reads -18.0; mono counts once (3.01 dB less), dual
    // mono twice.
    let r = measure(&[tone(5.0, -18.0)], 48_000);
    near("stereo -18 dBFS: I", r.integrated_lufs, -18.0, 0.05);
    let format = StreamFormat {
        sample_rate: 48_000,
        channels: 1,
    };
    let mono = signal(&[tone(5.0, -18.0)], 48_000, 1, &[]);
    let mut once = Loudness::new(format, false).expect("meter");
    once.feed(&mono);
    near("mono: I", reading(&once).integrated_lufs, -21.01, 0.05);
    let mut twice = Loudness::new(format, true).expect("meter");
    twice.feed(&mono);
    near("dual mono: I", reading(&twice).integrated_lufs, -18.0, 0.05);

    // Silence: nothing is a number but the time measured.
    let r = measure(&[silence(5.0)], 48_000);
    assert_eq!(
        (
            r.momentary_lufs,
            r.integrated_lufs,
            r.max_momentary_lufs,
            r.true_peak_dbtp,
            r.plr_lu()
        ),
        (None, None, None, None, None),
        "silence: {r:?}"
    );
    assert!((r.measured_s - 5.0).abs() < 1e-9);
    // Shorter than the momentary window: no loudness yet, but a true peak.
    let r = measure(&[tone(0.3, -6.0)], 48_000);
    assert_eq!((r.momentary_lufs, r.integrated_lufs), (None, None), "{r:?}");
    peak_near("0.3 s at -6 dBFS", r.true_peak_dbtp, -6.0);
    // Eight channels (7.1, the LFE left out): a tone on the LFE alone reads nothing, on a
    // front channel what it reads alone.
    let mut l = meter(48_000, 8);
    l.feed(&signal(
        &[tone(5.0, 0.0)],
        48_000,
        8,
        &[
            -200.0, -200.0, -200.0, -18.0, -200.0, -200.0, -200.0, -200.0,
        ],
    ));
    assert!(
        reading(&l).integrated_lufs.is_none_or(|i| i < -70.0),
        "LFE only: {:?}",
        reading(&l)
    );
}

#[test]
fn the_analyzer_carries_loudness_in_every_frame_and_can_leave_it_out() {
    let format = StreamFormat {
        sample_rate: 48_000,
        channels: 2,
    };
    let x = signal(&[tone(4.0, -23.0)], 48_000, 2, &[]);
    let (a, frames) = analyze(&AnalysisSettings::default(), format, &x);
    let early = frames.iter().find(|f| f.time_s > 0.2).expect("frame");
    let l = early.loudness.expect("loudness");
    assert_eq!(
        l.momentary_lufs, None,
        "the 400 ms window is not full at 0.2 s"
    );
    let last = frames.last().expect("frames");
    let l = last.loudness.expect("loudness");
    near("frame M", l.momentary_lufs, -23.0, 0.1);
    near("frame S", l.short_term_lufs, -23.0, 0.1);
    peak_near("frame true peak L", last.channels[0].true_peak_dbtp, -23.0);
    assert!(a.loudness().is_some());
    let off = AnalysisSettings {
        loudness: false,
        ..Default::default()
    };
    let (a, frames) = analyze(&off, format, &x);
    assert!(a.loudness().is_none() && frames.iter().all(|f| f.loudness.is_none()));
}

/// The `ebur128` crate (libebur128's algorithm) on the same samples: momentary, short-term and
/// integrated loudness after all of them.
fn crate_reading(rate: u32, channels: usize, x: &[f32]) -> (f64, f64, f64) {
    use ebur128::{EbuR128, Mode};
    let mut m = EbuR128::new(channels as u32, rate, Mode::M | Mode::S | Mode::I).expect("meter");
    if channels == 6 {
        use ebur128::Channel::*;
        m.set_channel_map(&[Left, Right, Center, Unused, LeftSurround, RightSurround])
            .expect("map");
    }
    m.add_frames_f32(x).expect("frames");
    (
        m.loudness_momentary().expect("M"),
        m.loudness_shortterm().expect("S"),
        m.loudness_global().expect("I"),
    )
}

#[test]
fn the_k_filter_and_gating_read_what_the_ebur128_crate_reads() {
    for (rate, channels) in [
        (48_000, 2),
        (44_100, 1),
        (96_000, 2),
        (22_050, 2),
        (192_000, 6),
    ] {
        // Noise whose level swings 20 dB, tones low and high, different in every channel.
        let frames = rate as usize * 8;
        let mut seed = 0x2545_f491_u32;
        let x: Vec<f32> = (0..frames * channels)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (seed >> 8) as f64 / (1u32 << 24) as f64 - 0.5;
                let t = (i / channels) as f64 / f64::from(rate);
                let c = (i % channels) as f64;
                let swing = 10f64.powf(-(1.0 + (t * 0.7).sin()) / 2.0);
                (swing
                    * (0.3 * noise + 0.2 * (std::f64::consts::TAU * (60.0 + 900.0 * c) * t).sin()))
                    as f32
            })
            .collect();
        let mut l = meter(rate, channels);
        // Odd block lengths, as a capture delivers them.
        for chunk in x.chunks(channels * 997) {
            l.feed(chunk);
        }
        let r = reading(&l);
        let (m, s, i) = crate_reading(rate, channels, &x);
        for (what, got, want) in [
            ("M", r.momentary_lufs, m),
            ("S", r.short_term_lufs, s),
            ("I", r.integrated_lufs, i),
        ] {
            near(
                &format!("{what} at {rate} Hz, {channels} ch"),
                got,
                want,
                0.02,
            );
        }
    }
}
