//! Reading spektr's NDJSON output.

/// Every line of NDJSON output, parsed.
pub fn ndjson(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect()
}

/// The index of the third-octave band with nominal centre `nominal` in a header.
pub fn band_index(header: &serde_json::Value, nominal: f64) -> usize {
    header["bands"]
        .as_array()
        .expect("bands")
        .iter()
        .position(|b| b["nominal_hz"].as_f64() == Some(nominal))
        .expect("band")
}

/// The bars of the last frame in parsed NDJSON.
pub fn last_frame_bars(lines: &[serde_json::Value]) -> Vec<f64> {
    let frame = lines
        .iter()
        .rev()
        .find(|l| l["type"] == "frame")
        .expect("a frame");
    frame["bars_db"]
        .as_array()
        .expect("bars")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect()
}
