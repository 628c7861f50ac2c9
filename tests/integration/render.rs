//! `spektr render` and the software renderer's pixels: known tones give known bar heights.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_spektr");

fn decode(path: &std::path::Path) -> (Vec<[u8; 3]>, usize, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("png"),
    ));
    let mut reader = decoder.read_info().expect("header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("data");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let px = buf[..info.buffer_size()]
        .chunks_exact(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (px, info.width as usize, info.height as usize)
}

/// The bars' teal (more green than blue, unlike the meters; not the white hold markers).
fn is_bar(p: [u8; 3]) -> bool {
    let (r, g, b) = (u16::from(p[0]), u16::from(p[1]), u16::from(p[2]));
    g > 90 && g > r + 40 && g > b && b > r + 20
}

#[test]
fn rendered_bars_have_the_heights_of_the_tones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("still.png");
    let status = Command::new(BIN)
        .args([
            "render",
            "synth:sine=1000@-6,sine=100@-20,duration=3",
            "--at",
            "2",
            "--bands",
            "third-octave",
            "--smoothing",
            "none",
            "--size",
            "1200x600",
            "-o",
        ])
        .arg(&out)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .status()
        .expect("run spektr render");
    assert!(status.success());
    let (px, w, h) = decode(&out);
    assert_eq!((w, h), (1200, 600));
    // Height of the bar in each column, then the bars as runs of equal-height columns.
    let heights: Vec<usize> = (0..w)
        .map(|x| (0..h).filter(|&y| is_bar(px[y * w + x])).count())
        .collect();
    let mut bars: Vec<(usize, usize)> = Vec::new(); // (centre x, height)
    let mut x = 0;
    while x < w {
        if heights[x] == 0 {
            x += 1;
            continue;
        }
        let start = x;
        while x < w && heights[x] > 0 {
            x += 1;
        }
        let tallest = heights[start..x].iter().copied().max().unwrap_or(0);
        bars.push(((start + x) / 2, tallest));
    }
    bars.sort_by_key(|b| std::cmp::Reverse(b.1));
    let (x1k, h1k) = bars[0];
    let (x100, h100) = bars[1];
    assert!(x100 < x1k, "100 Hz left of 1 kHz");
    // On the -96..0 dB scale: -6.02 dB fills 89.98/96 of the plot, -20 dB 76/96.
    let want = (96.0 - 6.02) / (96.0 - 20.0);
    let got = h1k as f64 / h100 as f64;
    assert!(
        (got - want).abs() < 0.02,
        "bar heights {h1k} and {h100} px: ratio {got:.3}, want {want:.3}"
    );
    // The next one (1.25 kHz, whose edge is 2.6 bins from the tone in a 21 ms window, at about
    // -44 dB) stays well below both.
    assert!(
        (bars[2].1 as f64) < 0.75 * h100 as f64,
        "third-tallest bar {} px",
        bars[2].1
    );
}

#[test]
fn render_refuses_bad_requests_in_one_line() {
    for (args, code, needle) in [
        (
            vec![
                "render",
                "synth:sine=1000,duration=1",
                "--at",
                "5",
                "-o",
                "/tmp/x.png",
            ],
            3,
            "past its end",
        ),
        (
            vec![
                "render",
                "synth:sine=1000",
                "--at",
                "1",
                "--size",
                "10x10",
                "-o",
                "/tmp/x.png",
            ],
            2,
            "--size",
        ),
        (
            vec![
                "render",
                "/nonexistent.wav",
                "--at",
                "1",
                "-o",
                "/tmp/x.png",
            ],
            3,
            "cannot open",
        ),
    ] {
        let out = Command::new(BIN).args(&args).output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(needle) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}
