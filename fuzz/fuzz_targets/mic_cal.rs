//! Fuzzes microphone correction files (UMIK, Dayton, REW layouts). A refusal is one line; an
//! accepted curve has rising points and a finite gain everywhere; nothing panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spektr::calibration::{MAX_GAIN_DB, MicCurve};

fuzz_target!(|data: &[u8]| {
    match MicCurve::parse(data, "mic.txt") {
        Ok(curve) => {
            assert!(curve.points >= 2);
            assert!(curve.range_hz.0 < curve.range_hz.1);
            for hz in [0.0, 1.0, 19.9, 1000.0, 12_345.6, 1e9, f64::NAN] {
                let g = curve.gain_db(hz);
                assert!(g.is_finite() && g.abs() <= MAX_GAIN_DB, "{g} at {hz}");
            }
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "one line: {e}"),
    }
});
