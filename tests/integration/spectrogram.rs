//! `spektr render --view spectrogram`: where a sweep's ridge and steady tones land in the
//! picture, in which colour, over which span of time; hostile inputs.

use std::path::Path;
use std::process::Command;

use spektr::config::{AnalysisSettings, BandLayout, StreamFormat};
use spektr::spectrogram::{ColorMap, FreqAxis};

const BIN: &str = env!("CARGO_BIN_EXE_spektr");

fn decode(path: &Path) -> (Vec<[u8; 3]>, usize, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("png"),
    ));
    let mut reader = decoder.read_info().expect("header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("data");
    let px = buf[..info.buffer_size()]
        .chunks_exact(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (px, info.width as usize, info.height as usize)
}

/// Renders `input` with `args`; returns the picture.
fn render(input: &str, args: &[&str], dir: &Path) -> (Vec<[u8; 3]>, usize, usize) {
    let out = dir.join("s.png");
    let o = Command::new(BIN)
        .args(["render", input, "--view", "spectrogram"])
        .args(args)
        .arg("-o")
        .arg(&out)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run spektr render");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty() && o.stderr.is_empty());
    decode(&out)
}

/// The frequency axis of a picture of `h` pixels high at `rate` (1/12 octave, defaults), and
/// its bands: (lower edge, centre, upper edge, window ms).
fn axis_and_bands(h: u32, rate: u32) -> (FreqAxis, Vec<(f64, f64, f64, f64)>) {
    let settings = AnalysisSettings {
        bands: BandLayout::TwelfthOctave,
        ..Default::default()
    };
    let format = StreamFormat {
        sample_rate: rate,
        channels: 1,
    };
    let a = spektr::engine::Analyzer::new(&settings, format).expect("analyzer");
    let bands: Vec<_> = a
        .bands()
        .iter()
        .map(|b| (b.lo_hz, b.center_hz, b.hi_hz, b.window_ms))
        .collect();
    let edges: Vec<(f64, f64)> = bands.iter().map(|b| (b.0, b.2)).collect();
    let (_, _, _, plot_h) = spektr::ui::picture::plot_area(800, h);
    (FreqAxis::of(&edges, plot_h as usize), bands)
}

fn axis(h: u32, rate: u32) -> FreqAxis {
    axis_and_bands(h, rate).0
}

fn luminance(p: [u8; 3]) -> f64 {
    0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2])
}

#[test]
fn a_sweeps_ridge_follows_its_frequency() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (px, w, h) = render(
        "synth:sweep=50-12000@-6,duration=10,channels=1",
        &["--size", "800x400"],
        dir.path(),
    );
    assert_eq!((w, h), (800, 400));
    let (x0, y0, pw, ph) = spektr::ui::picture::plot_area(800, 400);
    let axis = axis(400, 48_000);
    let mut checked = 0;
    for x in 0..pw as usize {
        let t = (x as f64 + 0.5) / f64::from(pw) * 10.0;
        let want_hz = 50.0 * (12_000.0f64 / 50.0).powf(t / 10.0);
        // From 300 Hz: below, a 1/12-octave band's window (over 100 ms) spans more of the
        // sweep (0.8 octave a second) than the band is wide. Each band is placed at its
        // window's middle, so the ridge is not late.
        if !(300.0..10_000.0).contains(&want_hz) {
            continue;
        }
        let column = |y: usize| px[(y0 as usize + y) * w + x0 as usize + x];
        let brightest = (0..ph as usize)
            .max_by(|&a, &b| luminance(column(a)).total_cmp(&luminance(column(b))))
            .expect("rows");
        let got_hz = axis.hz_at(brightest);
        // Within one band (1/12 octave) and a half: a column spans 1/80 of the sweep.
        let octaves = (got_hz / want_hz).log2().abs();
        assert!(
            octaves < 1.5 / 12.0,
            "column {x} ({t:.2} s): ridge at {got_hz:.0} Hz, the sweep at {want_hz:.0} Hz"
        );
        checked += 1;
    }
    assert!(checked > 350, "{checked} columns checked");
}

#[test]
fn steady_tones_land_on_their_rows_in_the_colour_of_their_level() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (x0, y0, pw, _) = spektr::ui::picture::plot_area(800, 400);
    let (axis, bands) = axis_and_bands(400, 48_000);
    // Tones at band centres (with 12 bands an octave, 1 kHz is a band edge and a tone there
    // is shared by two bands).
    let centre = |hz: f64| {
        bands
            .iter()
            .map(|b| b.1)
            .min_by(|a, b| (a - hz).abs().total_cmp(&(b - hz).abs()))
            .expect("bands")
    };
    let tones = [(centre(1000.0), -12.0), (centre(200.0), -48.0)];
    let input = format!(
        "synth:sine={:.3}@-12,sine={:.3}@-48,duration=4,channels=1",
        tones[0].0, tones[1].0
    );
    let (px, w, _) = render(
        &input,
        &["--size", "800x400", "--colormap", "viridis"],
        dir.path(),
    );
    for (hz, db) in tones {
        let y = axis.y_of(hz).floor() as usize;
        let want = ColorMap::Viridis.rgb((db + 96.0) / 96.0);
        // The right half: every band's window is full.
        for x in (pw as usize / 2..pw as usize).step_by(37) {
            let got = px[(y0 as usize + y) * w + x0 as usize + x];
            let close = got.iter().zip(want).all(|(&g, w)| g.abs_diff(w) <= 6);
            assert!(
                close,
                "{hz} Hz at column {x}: {got:?}, want {want:?} ({db} dBFS)"
            );
        }
    }
    // 50 ms from the middle: shorter than the 200 Hz band's window, whose readings placed
    // in the span come from frames ending after it (it was left blank).
    let (px, w, _) = render(
        &input,
        &[
            "--size",
            "800x400",
            "--colormap",
            "viridis",
            "--from",
            "2",
            "--to",
            "2.05",
        ],
        dir.path(),
    );
    for (hz, db) in tones {
        let y = axis.y_of(hz).floor() as usize;
        let want = ColorMap::Viridis.rgb((db + 96.0) / 96.0);
        for x in (0..pw as usize).step_by(23) {
            let got = px[(y0 as usize + y) * w + x0 as usize + x];
            let close = got.iter().zip(want).all(|(&g, w)| g.abs_diff(w) <= 6);
            assert!(
                close,
                "2..2.05 s: {hz} Hz at column {x}: {got:?}, want {want:?} ({db} dBFS)"
            );
        }
    }
}

#[test]
fn a_file_fills_the_time_axis_and_its_silence_stays_dark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("twenty-then-ten.wav");
    let tone = |i: i32| {
        let x = 0.25 * (std::f64::consts::TAU * 1000.0 * f64::from(i) / 48_000.0).sin();
        (x * 32767.0) as i16
    };
    let samples = (0..30 * 48_000).map(|i| if i < 20 * 48_000 { tone(i) } else { 0 });
    crate::common::wav::write_i16_wav(&wav, 48_000, 1, samples);
    let (px, w, _) = render(
        wav.to_str().expect("path"),
        &["--size", "900x300"],
        dir.path(),
    );
    let (x0, y0, pw, _) = spektr::ui::picture::plot_area(900, 300);
    let (axis, bands) = axis_and_bands(300, 48_000);
    let y = axis.y_of(1000.0).floor() as usize;
    // The band holding that row: its window is how long the tone lingers in it.
    let hz = axis.hz_at(y);
    let window_ms = bands
        .iter()
        .find(|b| b.0 <= hz && hz < b.2)
        .map(|b| b.3)
        .expect("a band");
    let lit: Vec<bool> = (0..pw as usize)
        .map(|x| luminance(px[(y0 as usize + y) * w + x0 as usize + x]) > 100.0)
        .collect();
    // The band is drawn once its window is full (a column or two in), and placed at its
    // window's middle: the tone's 20 s end two thirds of the way across, to a column and a
    // half window (the level falls while the window slides off the tone).
    let column_ms = 30_000.0 / f64::from(pw);
    let start = lit.iter().position(|&l| l).expect("the tone shows");
    assert!(
        start as f64 <= 1.0 + window_ms / column_ms,
        "the tone shows from column {start}"
    );
    let edge = start
        + lit[start..]
            .iter()
            .position(|&l| !l)
            .expect("the silence shows");
    let want = f64::from(pw) * 2.0 / 3.0;
    let off = edge as f64 - want;
    let slack = 1.0 + 0.5 * window_ms / column_ms;
    assert!(
        off.abs() <= slack,
        "tone ends at column {edge}, want {want:.0} (a column {column_ms:.1} ms, the window {window_ms:.0} ms)"
    );
    assert!(lit[start..edge].iter().all(|&l| l) && lit[edge..].iter().all(|&l| !l));
}

#[test]
fn hostile_requests_get_a_picture_or_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.wav");
    std::fs::write(&empty, b"").expect("write");
    let one = dir.path().join("one.wav");
    crate::common::wav::write_i16_wav(&one, 48_000, 1, [1000i16]);
    // A header that claims 20 hours and holds 1 s.
    let claim = dir.path().join("claims-20-hours.wav");
    let mut bytes = Vec::new();
    // 20 hours of 16-bit mono at 22.05 kHz (the most a 32-bit size can claim at 48 kHz is
    // 12 hours).
    let data_len: u32 = 20 * 3600 * 22_050 * 2;
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(data_len.wrapping_add(36)).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&22_050u32.to_le_bytes());
    bytes.extend_from_slice(&44_100u32.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    bytes.extend((0..22_050).flat_map(|i: i32| (((i * 37) % 20_000) as i16).to_le_bytes()));
    std::fs::write(&claim, &bytes).expect("write");
    let out = dir.path().join("h.png");
    let path = |p: &Path| p.to_str().expect("path").to_string();
    for (input, extra, code) in [
        (path(&empty), vec![], Some(3)),
        (path(&one), vec![], Some(3)),
        (path(&claim), vec![], None),
        (
            "synth:sine=1000,duration=2".to_string(),
            vec!["--size", "1x1"],
            Some(2),
        ),
        (
            "synth:sine=1000,duration=2".to_string(),
            vec!["--size", "100000x100000"],
            Some(2),
        ),
        (
            "synth:sine=1000,duration=2".to_string(),
            vec!["--from", "5"],
            Some(3),
        ),
        (
            "synth:sine=1000,duration=2".to_string(),
            vec!["--at", "1"],
            Some(2),
        ),
    ] {
        let started = std::time::Instant::now();
        let o = Command::new(BIN)
            .args(["render", &input, "--view", "spectrogram", "-o"])
            .arg(&out)
            .args(&extra)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            started.elapsed().as_secs() < 30,
            "{input} {extra:?} took too long"
        );
        match code {
            Some(code) => {
                assert_eq!(o.status.code(), Some(code), "{input} {extra:?}: {err}");
                assert!(
                    err.starts_with("error: ") && err.lines().count() == 1,
                    "{input} {extra:?}: {err}"
                );
            }
            // Either a picture or one line; never a panic.
            None => assert!(
                o.status.success() || (err.starts_with("error: ") && err.lines().count() == 1),
                "{input} {extra:?}: {err}"
            ),
        }
    }
}

#[test]
fn many_files_are_drawn_into_a_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = Command::new(BIN)
        .args([
            "render",
            "synth:sine=500,duration=2",
            "synth:pink,duration=2",
            "--view",
            "spectrogram",
            "-o",
        ])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    for name in names {
        let (_, w, h) = decode(&dir.path().join(name));
        assert_eq!((w, h), (960, 540));
    }
}
