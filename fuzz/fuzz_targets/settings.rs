//! Fuzzes what a person types or saves: the settings file, `--source` specs and synth specs.
//! Accepted settings must be valid ones; a refusal is one line; nothing panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spektr::source::Source;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (settings, warning) = spektr::settings::parse(text, "settings.toml");
    match warning {
        None => {
            assert!(settings.problem().is_none());
            assert!(settings.analysis().validate().is_ok());
        }
        Some(w) => assert!(!w.contains('\n'), "a warning is one line: {w:?}"),
    }
    let _ = text.parse::<spektr::capture::SourceSpec>();
    if let Ok(spec) = spektr::source::synth::SynthSpec::parse(text) {
        let mut synth = spektr::source::synth::Synth::new(spec);
        let mut block = vec![0.0f32; 256 * synth.format().channels];
        let _ = synth.read(&mut block);
    }
});
