//! Fuzzes spektr's audio file reading: any bytes either fail to open with an error or decode
//! to whole frames of finite-format audio; nothing panics, hangs or runs out of memory.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spektr::source::Source;
use spektr::source::file::FileSource;

fuzz_target!(
    init: {
        // A panic inside spektr's fence around the decoder is a handled error (the file gets
        // one line), not a crash: let it unwind to the fence. Any other panic aborts as usual.
        let crash = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !spektr::guard::in_fence() {
                crash(info);
            }
        }));
    },
    |data: &[u8]| {
        let Ok(mut file) = FileSource::from_bytes("fuzz.wav", data.to_vec()) else {
            return;
        };
        let format = file.format();
        assert!(format.channels > 0 && format.sample_rate > 0);
        let mut block = vec![0.0f32; 4096 * format.channels];
        let mut frames = 0u64;
        // A few bytes may claim hours of audio: read a bounded amount.
        while frames < 1 << 16 {
            match file.read(&mut block) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    assert!(n * format.channels <= block.len());
                    frames += n as u64;
                }
            }
        }
    }
);
