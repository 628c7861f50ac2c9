//! Fuzzes reference files (a snapshot's JSON or CSV, a `--save-reference` file). A refusal is
//! one line; an accepted reference has bands in rising order with finite levels and compares
//! with its own bands; nothing panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spektr::reference::{LEVEL_LIMIT_DB, MAX_BANDS, Reference};

fuzz_target!(|data: &[u8]| {
    match Reference::parse(data, "ref.json", "ref") {
        Ok(r) => {
            assert!(!r.bands.is_empty() && r.bands.len() <= MAX_BANDS);
            for pair in r.bands.windows(2) {
                assert!(pair[0].center_hz < pair[1].center_hz);
            }
            for level in r.levels() {
                assert!(level.is_finite() && f64::from(level).abs() <= LEVEL_LIMIT_DB);
            }
            // Written and read again, it is the same reference.
            let text = r.to_json().to_string();
            assert_eq!(Reference::parse(text.as_bytes(), "again", "ref").as_ref(), Ok(&r));
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "one line: {e}"),
    }
});
