//! Calibration: a microphone's correction curve and an SPL offset.
//!
//! A correction file is the microphone's response (REW, Open Sound Meter and the vendors'
//! files all mean it so): its gain at a frequency is subtracted from the bars there. Between
//! the file's points the curve is linear in dB over log frequency (the display's own axis);
//! beyond its ends it holds the end values. Three layouts are read:
//!
//! - miniDSP UMIK-1/UMIK-2 `.txt`: a quoted first line `"Sens Factor =-.6383dB, SERNO: 7023270"`,
//!   then `freq<TAB>dB` rows;
//! - Dayton Audio iMM-6/EMM-6/UMM-6 `.txt`: a `*1000Hz -40.3` sensitivity line (dBV re 1 V/Pa),
//!   then `freq dB` rows;
//! - REW `.cal`: only lines that start with a number are read (free text elsewhere): frequency,
//!   gain and an optional phase, separated by spaces, tabs or commas.
//!
//! The headers' sensitivity figures are kept as information only: how they relate to absolute
//! SPL is not documented by the vendors, so dB SPL comes from an offset (a calibrator's tone,
//! or a typed figure), never from a header.

use std::path::Path;

/// Largest correction file read, bytes (real ones are a few kilobytes).
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// Most points a correction curve may have.
pub const MAX_POINTS: usize = 20_000;
/// Largest gain a correction may hold, dB: beyond it, the file is not a response relative to
/// the microphone's sensitivity (a sensitivity in dBV, say, or another unit).
pub const MAX_GAIN_DB: f64 = 40.0;
/// The offsets an SPL calibration may set, dB (dBFS to dB SPL: a full-scale sine is louder
/// than 0 dB SPL on any real chain).
pub const SPL_OFFSET_RANGE: std::ops::RangeInclusive<f64> = 0.0..=200.0;
/// The frequencies a correction's points may have, Hz.
pub const FREQ_RANGE_HZ: std::ops::RangeInclusive<f64> = 0.1..=1e6;

/// Which vendor's layout a correction file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MicFormat {
    /// miniDSP UMIK: the quoted "Sens Factor" first line.
    Umik,
    /// Dayton Audio: the `*1000Hz` sensitivity line.
    Dayton,
    /// REW `.cal` (or any file of numeric rows).
    Rew,
}

/// A microphone's response, as read from its correction file.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MicCurve {
    /// The file it came from, as given.
    pub file: String,
    /// Its layout.
    pub format: MicFormat,
    /// The header's sensitivity line as written (information only), if it has one.
    pub header: Option<String>,
    /// Points read.
    pub points: usize,
    /// Frequency range of the points, Hz.
    pub range_hz: (f64, f64),
    /// (frequency Hz, gain dB), frequencies rising.
    #[serde(skip)]
    curve: Vec<(f64, f64)>,
}

/// Why a correction file cannot be used: one line for the user.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("microphone correction {file}: {reason}")]
pub struct CalError {
    /// The file, as given.
    pub file: String,
    /// What is wrong with it.
    pub reason: String,
    /// It could not be read at all (missing, a folder, no permission), as against read and
    /// found wrong.
    pub unreadable: bool,
}

impl MicCurve {
    /// Reads the correction file at `path`.
    pub fn load(path: &Path) -> Result<Self, CalError> {
        use crate::paths::SmallFileError;
        let name = path.display().to_string();
        let bytes = crate::paths::read_small(path, MAX_FILE_BYTES).map_err(|e| match e {
            SmallFileError::Unreadable(reason) => CalError {
                file: name.clone(),
                reason,
                unreadable: true,
            },
            SmallFileError::TooLarge => CalError {
                file: name.clone(),
                reason: format!(
                    "larger than {} MB: not a correction file",
                    MAX_FILE_BYTES >> 20
                ),
                unreadable: false,
            },
        })?;
        Self::parse(&bytes, &name)
    }

    /// Parses a correction file's bytes; `name` names it in errors.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self, CalError> {
        let fail = |reason: String| CalError {
            file: name.to_owned(),
            reason,
            unreadable: false,
        };
        if bytes.contains(&0) {
            return Err(fail("binary data, not a text file".into()));
        }
        // Vendors' files are ASCII; a comment in another encoding must not stop the numbers.
        let text = String::from_utf8_lossy(bytes);
        let mut format = MicFormat::Rew;
        let mut header = None;
        let mut curve: Vec<(f64, f64)> = Vec::new();
        let mut line_of_last = 0;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim().trim_start_matches('\u{feff}');
            let unquoted = line.trim_matches('"');
            if header.is_none() && curve.is_empty() {
                if unquoted.contains("Sens Factor") {
                    format = MicFormat::Umik;
                    header = Some(unquoted.to_owned());
                    continue;
                }
                if let Some(rest) = line.strip_prefix('*') {
                    format = MicFormat::Dayton;
                    header = Some(rest.trim().to_owned());
                    continue;
                }
            }
            // Only lines that start with a number are data (REW's rule): a digit, maybe after
            // a sign or a point (a line of dashes is text).
            let digits = line.trim_start_matches(['+', '-']).trim_start_matches('.');
            let starts_numeric = digits.len() + 2 >= line.len()
                && digits.chars().next().is_some_and(|c| c.is_ascii_digit());
            if !starts_numeric {
                continue;
            }
            let mut fields = line
                .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
                .filter(|f| !f.is_empty());
            let number = |field: Option<&str>, what: &str| -> Result<f64, CalError> {
                let field = field.ok_or_else(|| fail(format!("line {n}: no {what}")))?;
                let v: f64 = field.parse().map_err(|_| {
                    fail(format!(
                        "line {n}: {what} '{}' is not a number",
                        shorten(field)
                    ))
                })?;
                if v.is_finite() {
                    Ok(v)
                } else {
                    Err(fail(format!(
                        "line {n}: {what} '{}' is not a number",
                        shorten(field)
                    )))
                }
            };
            let hz = number(fields.next(), "frequency")?;
            let db = number(fields.next(), "gain")?;
            if hz <= 0.0 {
                return Err(fail(format!("line {n}: frequency {hz} Hz is not above 0")));
            }
            if !FREQ_RANGE_HZ.contains(&hz) {
                return Err(fail(format!(
                    "line {n}: frequency {hz} Hz is outside {} Hz to {} MHz",
                    FREQ_RANGE_HZ.start(),
                    FREQ_RANGE_HZ.end() / 1e6
                )));
            }
            if let Some(&(last, _)) = curve.last() {
                if hz == last {
                    return Err(fail(format!(
                        "line {n}: {} Hz twice (lines {line_of_last} and {n})",
                        fmt_hz(hz)
                    )));
                }
                if hz < last {
                    return Err(fail(format!(
                        "line {n}: {} Hz after {} Hz: the frequencies must rise",
                        fmt_hz(hz),
                        fmt_hz(last)
                    )));
                }
            }
            if db.abs() > MAX_GAIN_DB {
                return Err(fail(format!(
                    "line {n}: a gain of {db} dB at {} Hz: a correction stays within \
                     +/-{MAX_GAIN_DB} dB (is this a sensitivity in dBV, or another unit?)",
                    fmt_hz(hz)
                )));
            }
            if curve.len() == MAX_POINTS {
                return Err(fail(format!(
                    "more than {MAX_POINTS} points: not a microphone correction"
                )));
            }
            curve.push((hz, db));
            line_of_last = n;
        }
        match curve.len() {
            0 => return Err(fail("no lines of frequency and gain".into())),
            1 => return Err(fail("one point only: a curve needs two at least".into())),
            _ => {}
        }
        let range_hz = (curve[0].0, curve[curve.len() - 1].0);
        if range_hz.1 < 1000.0 || range_hz.0 > 1000.0 {
            return Err(fail(format!(
                "its points run from {} to {} Hz and miss 1 kHz: frequencies in kHz, or \
                 not a microphone's response?",
                fmt_hz(range_hz.0),
                fmt_hz(range_hz.1)
            )));
        }
        Ok(MicCurve {
            file: name.to_owned(),
            format,
            header,
            points: curve.len(),
            range_hz,
            curve,
        })
    }

    /// The microphone's gain at `hz`, dB: linear in dB over log frequency between the file's
    /// points, held at its ends.
    pub fn gain_db(&self, hz: f64) -> f64 {
        let c = &self.curve;
        let (first, last) = (c[0], c[c.len() - 1]);
        if hz.is_nan() || hz <= first.0 {
            return first.1;
        }
        if hz >= last.0 {
            return last.1;
        }
        // The first point above `hz`; it has one below (hz > first).
        let i = c.partition_point(|&(f, _)| f <= hz);
        let ((f0, g0), (f1, g1)) = (c[i - 1], c[i]);
        let t = (hz.ln() - f0.ln()) / (f1.ln() - f0.ln());
        g0 + t * (g1 - g0)
    }

    /// The power factor that corrects a reading at `hz`: the microphone's gain taken out.
    pub fn correction_power(&self, hz: f64) -> f64 {
        10f64.powf(-self.gain_db(hz) / 10.0)
    }
}

/// Up to 24 characters of `s`, for a message.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(24).collect();
    if out.len() < s.len() {
        out.push_str("...");
    }
    out
}

/// A frequency for a message: as written, without a trailing ".0".
fn fmt_hz(hz: f64) -> String {
    format!("{hz}")
}

/// The offset from dBFS to dB SPL, checked.
pub fn check_spl_offset(db: f64) -> Result<f64, String> {
    if db.is_finite() && SPL_OFFSET_RANGE.contains(&db) {
        Ok(db)
    } else {
        Err(format!(
            "an SPL offset must be between {} and {} dB, got {db}",
            SPL_OFFSET_RANGE.start(),
            SPL_OFFSET_RANGE.end()
        ))
    }
}

/// A sound level meter on the bars: their band powers summed under a frequency weighting
/// (A, C or Z, IEC 61672-1), with Fast (125 ms) and Slow (1 s) exponential time weighting,
/// the equivalent level since the start (Leq) and the highest Fast level (Lmax). Fed with
/// calibrated bars it reads dB SPL, the microphone's correction included; it covers the bars'
/// range (fmin to fmax). Within a band the weighting is taken as its mean over the band in
/// log frequency: exact for pink noise and where the weighting is flat; a tone reads its
/// band's mean weighting, not the weighting at its own frequency (A weighting, 32 bars: 0.1
/// to 1.2 dB off between 22 and 100 Hz, measured; a per-bin meter would fix that).
#[derive(Clone, Debug)]
pub struct SplMeter {
    weighting: crate::config::Weighting,
    /// Per band: the meter's weighting over the bars' own.
    factors: Vec<f64>,
    fast: f64,
    slow: f64,
    energy: f64,
    seconds: f64,
    max_fast: f64,
    started: bool,
}

/// What an [`SplMeter`] reads, dB (dB SPL when the bars are calibrated).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct SplReading {
    /// Fast (125 ms) time-weighted level.
    pub fast_db: f64,
    /// Slow (1 s) time-weighted level.
    pub slow_db: f64,
    /// Equivalent continuous level since the start.
    pub leq_db: f64,
    /// The highest Fast level since the start.
    pub max_db: f64,
    /// Time the Leq spans, seconds.
    pub seconds: f64,
}

/// Fast and Slow time constants, seconds (IEC 61672-1).
const FAST_S: f64 = 0.125;
const SLOW_S: f64 = 1.0;

impl SplMeter {
    /// A meter of `weighting` on bars measured with `bars_weighting`, over `bands` (lower and
    /// upper edges, Hz).
    pub fn new(
        weighting: crate::config::Weighting,
        bars_weighting: crate::config::Weighting,
        bands: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        const STEPS: usize = 32;
        let factors = bands
            .into_iter()
            .map(|(lo, hi)| {
                let (lo, hi) = (lo.max(1.0), hi.max(lo.max(1.0) * 1.0001));
                let sum: f64 = (0..STEPS)
                    .map(|i| {
                        let f = lo * (hi / lo).powf((i as f64 + 0.5) / STEPS as f64);
                        let bars = bars_weighting.power_gain(f);
                        if bars > 0.0 {
                            weighting.power_gain(f) / bars
                        } else {
                            0.0
                        }
                    })
                    .sum();
                sum / STEPS as f64
            })
            .collect();
        SplMeter {
            weighting,
            factors,
            fast: 0.0,
            slow: 0.0,
            energy: 0.0,
            seconds: 0.0,
            max_fast: 0.0,
            started: false,
        }
    }

    /// Whether it has had a level yet.
    pub fn started(&self) -> bool {
        self.started
    }

    /// The frequency weighting it reads with.
    pub fn weighting(&self) -> crate::config::Weighting {
        self.weighting
    }

    /// Takes a frame's bars (dB), `dt_s` seconds after the previous one; returns the reading.
    pub fn feed(&mut self, bars_db: &[f32], dt_s: f64) -> SplReading {
        let power: f64 = bars_db
            .iter()
            .zip(&self.factors)
            .map(|(&db, &k)| k * 10f64.powf(f64::from(db) / 10.0))
            .sum();
        self.integrate(power, dt_s);
        self.reading()
    }

    /// Takes the bands' powers (linear, unsmoothed), `dt_s` seconds after the previous ones:
    /// the engine's meter, hop by hop.
    pub fn feed_powers(&mut self, powers: &[f64], dt_s: f64) {
        let power: f64 = powers.iter().zip(&self.factors).map(|(p, k)| k * p).sum();
        // Before the first analysis of any band there is nothing to read: the meter starts
        // on the first level, not on a rise from silence.
        if !self.started && power <= 0.0 {
            return;
        }
        self.integrate(power, dt_s);
    }

    fn integrate(&mut self, power: f64, dt_s: f64) {
        let dt = dt_s.max(0.0);
        if self.started {
            self.fast += (1.0 - (-dt / FAST_S).exp()) * (power - self.fast);
            self.slow += (1.0 - (-dt / SLOW_S).exp()) * (power - self.slow);
        } else {
            // A meter that starts on a level reads it (not a rise from silence).
            self.started = true;
            self.fast = power;
            self.slow = power;
        }
        self.energy += power * dt;
        self.seconds += dt;
        self.max_fast = self.max_fast.max(self.fast);
    }

    /// The reading now.
    pub fn reading(&self) -> SplReading {
        let db = |p: f64| 10.0 * p.max(1e-30).log10();
        SplReading {
            fast_db: db(self.fast),
            slow_db: db(self.slow),
            leq_db: if self.seconds > 0.0 {
                db(self.energy / self.seconds)
            } else {
                db(self.fast)
            },
            max_db: db(self.max_fast),
            seconds: self.seconds,
        }
    }

    /// The reading `db` higher (dBFS to dB SPL).
    pub fn offset_by(r: SplReading, db: f64) -> SplReading {
        SplReading {
            fast_db: r.fast_db + db,
            slow_db: r.slow_db + db,
            leq_db: r.leq_db + db,
            max_db: r.max_db + db,
            seconds: r.seconds,
        }
    }

    /// Starts Leq and Lmax again.
    pub fn reset(&mut self) {
        self.energy = 0.0;
        self.seconds = 0.0;
        self.max_fast = self.fast;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MicCurve, CalError> {
        MicCurve::parse(text.as_bytes(), "mic.txt")
    }

    #[test]
    fn the_three_vendors_layouts_are_read() {
        let umik = parse(
            "\"Sens Factor =-.6383dB, SERNO: 7023270\"\n20.000\t-1.2\n1000.0\t0.0\n20000\t2.5\n",
        )
        .expect("umik");
        assert_eq!(umik.format, MicFormat::Umik);
        assert_eq!(
            umik.header.as_deref(),
            Some("Sens Factor =-.6383dB, SERNO: 7023270")
        );
        assert_eq!(umik.points, 3);
        let dayton = parse("*1000Hz -40.3\n10 -3\n1000 0\n20000 -1.5\n").expect("dayton");
        assert_eq!(dayton.format, MicFormat::Dayton);
        assert_eq!(dayton.header.as_deref(), Some("1000Hz -40.3"));
        let rew = parse("Made by REW\n20, 1.0, 0\n1000, 0.0, 0\n20000, -1.0, 12.5\n").expect("rew");
        assert_eq!(rew.format, MicFormat::Rew);
        assert_eq!(rew.range_hz, (20.0, 20000.0));
        // Lines of dashes or notes that start with a sign are text, not data.
        let noted = parse("-----\n100 0\n- note\n+ another\n1000 0\n-.5e4 0\n").expect_err("neg");
        assert!(noted.to_string().contains("not above 0"), "{noted}");
        let noted = parse("-----\n100 0\n- note\n1000 +0.5\n").expect("dashes are text");
        assert_eq!(noted.points, 2);
    }

    #[test]
    fn the_curve_is_exact_at_its_points_log_linear_between_and_held_at_its_ends() {
        let c = parse("100 -2\n1000 0\n10000 4\n").expect("curve");
        for (hz, db) in [(100.0, -2.0), (1000.0, 0.0), (10000.0, 4.0)] {
            assert_eq!(c.gain_db(hz), db);
        }
        // Halfway in log frequency is halfway in dB.
        assert!((c.gain_db(10f64.powf(2.5)) + 1.0).abs() < 1e-12);
        assert!((c.gain_db(10f64.powf(3.5)) - 2.0).abs() < 1e-12);
        assert_eq!(c.gain_db(20.0), -2.0);
        assert_eq!(c.gain_db(20000.0), 4.0);
        assert!((c.correction_power(10000.0) - 10f64.powf(-0.4)).abs() < 1e-15);
    }

    #[test]
    fn hostile_files_are_refused_with_one_line() {
        let many: String = (1..=30_000).map(|i| format!("{i} 0\n")).collect();
        for (text, says) in [
            ("", "no lines"),
            ("just some words\nand more\n", "no lines"),
            ("1000 0\n", "one point"),
            ("1000 0\n100 1\n", "must rise"),
            ("100 0\n1000 0\n1000 1\n", "1000 Hz twice"),
            ("100 NaN\n1000 0\n", "not a number"),
            ("100 inf\n1000 0\n", "not a number"),
            ("100 0\n1000 x\n", "'x' is not a number"),
            ("100\n1000 0\n", "no gain"),
            ("0 0\n1000 0\n", "not above 0"),
            ("1e-304 0\n1000 0\n", "outside 0.1 Hz"),
            ("100 0\n1000 0\n1e300 0\n", "outside 0.1 Hz"),
            ("100 -45\n1000 -44\n", "sensitivity in dBV"),
            ("0.1 0\n0.5 0\n20 1\n", "in kHz"),
            (many.as_str(), "more than 20000 points"),
        ] {
            let e = parse(text).expect_err(says);
            let line = e.to_string();
            assert!(line.contains(says), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
        let e = MicCurve::parse(b"\x7fELF\x02\x01\x00\x00junk", "x.cal").expect_err("binary");
        assert!(e.to_string().contains("binary"), "{e}");
    }

    #[test]
    fn the_meter_sums_the_bars_under_its_weighting_with_fast_and_slow_time_weighting() {
        use crate::config::Weighting;
        let bands = [(891.0, 1122.0), (89.1, 112.2)];
        let mut z = SplMeter::new(Weighting::Z, Weighting::Z, bands);
        // Two bands at 90 dB: 93.0 in all.
        let r = z.feed(&[90.0, 90.0], 1.0 / 60.0);
        assert!((r.fast_db - 93.0103).abs() < 1e-3, "{r:?}");
        // A: the 100 Hz band is 19.1 dB down, 1 kHz is not.
        let mut a = SplMeter::new(Weighting::A, Weighting::Z, bands);
        let r = a.feed(&[90.0, 90.0], 1.0 / 60.0);
        assert!((r.fast_db - 90.05).abs() < 0.02, "{r:?}");
        // Bars already A-weighted are not weighted twice.
        let mut aa = SplMeter::new(Weighting::A, Weighting::A, bands);
        assert!((aa.feed(&[90.0, 70.9], 0.0).fast_db - 90.05).abs() < 0.02);
        // Silence after a steady 100 dB: 125 ms later Fast holds e^-1 of the power (-4.3 dB),
        // Slow e^-0.125; Lmax stays at 100.
        let mut m = SplMeter::new(Weighting::Z, Weighting::Z, [(900.0, 1100.0)]);
        m.feed(&[100.0], 0.0);
        let r = m.feed(&[-200.0], 0.125);
        assert!(
            (r.fast_db - (100.0 + 10.0 * (-1f64).exp().log10())).abs() < 1e-6,
            "{r:?}"
        );
        assert!((r.slow_db - (100.0 + 10.0 * (-0.125f64).exp().log10())).abs() < 1e-6);
        assert!((r.max_db - 100.0).abs() < 1e-9);
        // Leq: the energy mean, weighted by time.
        let mut l = SplMeter::new(Weighting::Z, Weighting::Z, [(900.0, 1100.0)]);
        l.feed(&[90.0], 0.0);
        l.feed(&[90.0], 1.0);
        let r = l.feed(&[80.0], 1.0);
        assert!(
            (r.leq_db - 10.0 * ((1e9 + 1e8) / 2.0f64).log10()).abs() < 1e-9,
            "{r:?}"
        );
        l.reset();
        let r = l.feed(&[80.0], 1.0);
        assert!((r.leq_db - 80.0).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn spl_offsets_are_checked() {
        assert_eq!(check_spl_offset(114.0), Ok(114.0));
        assert!(check_spl_offset(f64::NAN).is_err());
        assert!(check_spl_offset(500.0).is_err());
    }
}
