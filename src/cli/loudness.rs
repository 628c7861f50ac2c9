//! `spektr loudness FILE...`: the EBU R 128 numbers of many files, measured in parallel (one
//! file per worker, decoding included), printed in the order given, with the files together as
//! one programme (an album) at the end.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::CliError;
use crate::engine::loudness::{Loudness, LoudnessReading, Programme, summary_json};
use crate::source::Source;
use crate::source::file::FileSource;

/// Arguments of `spektr loudness`.
#[derive(Debug, clap::Args)]
pub struct LoudnessArgs {
    /// Audio files (WAV, FLAC, Ogg Vorbis: what `analyze` reads).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// One JSON object a line per file (the `analyze` summary's loudness keys plus "path",
    /// "sample_rate", "channels"; a file that failed: "path" and "error"), then the album's
    /// (with "album": true and "files").
    #[arg(long)]
    pub json: bool,
    /// Files measured at once [default: the number of cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: Option<u16>,
    /// Count a mono file twice (dual mono: as if played on two speakers, +3 dB).
    #[arg(long)]
    pub dual_mono: bool,
    /// No progress bar (there is one only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

/// One file's result.
struct Measured {
    loudness: Loudness,
    sample_rate: u32,
    channels: usize,
}

/// Progress of one file, in thousandths, so that the bar moves within long files too.
const STEPS: u64 = 1000;

pub fn run(args: &LoudnessArgs) -> Result<(), CliError> {
    let files = &args.files;
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    let jobs = jobs.min(files.len()).max(1);
    let bar = (!args.no_progress && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(files.len() as u64 * STEPS);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} measuring [{bar:40}] {percent}% {msg} {elapsed} (eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    // Largest files first (bytes stand for work), so that two workers do not end with one of
    // them still on the longest file; results are still printed in the order given.
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(std::fs::metadata(&files[i]).map_or(0, |m| m.len())));
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Result<Measured, String>)>();
    let mut album = Programme::default();
    let mut failed = 0usize;
    let mut only_error = None;
    let mut out = std::io::stdout().lock();
    let mut write_failed = None;
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, done, bar, order) = (&next, &done, bar.as_ref(), &order);
            scope.spawn(move || {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let path = &files[i];
                    let result = measure(path, args.dual_mono, |steps| {
                        done.fetch_add(steps, Ordering::Relaxed);
                        if let Some(bar) = bar {
                            bar.set_position(done.load(Ordering::Relaxed));
                        }
                    });
                    if tx.send((i, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Printed in the order given, each as soon as it and every one before it is done.
        let mut waiting: Vec<Option<Result<Measured, String>>> =
            (0..files.len()).map(|_| None).collect();
        let mut printed = 0;
        for (i, result) in rx {
            waiting[i] = Some(result);
            while let Some(result) = waiting.get_mut(printed).and_then(Option::take) {
                let path = &files[printed];
                printed += 1;
                if let Some(bar) = &bar {
                    bar.set_message(format!("{printed}/{} files", files.len()));
                }
                let text = match result {
                    Ok(m) => {
                        album.add(&m.loudness);
                        file_line(args.json, path, &m)
                    }
                    Err(e) if files.len() == 1 && !args.json => {
                        // The one file's error is the command's one line.
                        only_error = Some(e);
                        continue;
                    }
                    Err(e) => {
                        failed += 1;
                        let line = format!("error: {e}");
                        match &bar {
                            Some(bar) => bar.suspend(|| eprintln_line(&line)),
                            None => eprintln_line(&line),
                        }
                        if !args.json {
                            continue;
                        }
                        serde_json::json!({"path": path.display().to_string(), "error": e})
                            .to_string()
                    }
                };
                let written = match &bar {
                    Some(bar) => bar.suspend(|| writeln!(out, "{text}")),
                    None => writeln!(out, "{text}"),
                };
                if let Err(e) = written {
                    write_failed.get_or_insert(e);
                }
            }
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if album.parts() > 1 {
        let text = album_line(args.json, &album);
        if let Err(e) = writeln!(out, "{text}") {
            write_failed.get_or_insert(e);
        }
    }
    if let Err(e) = out.flush() {
        write_failed.get_or_insert(e);
    }
    match write_failed {
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        Some(e) => return Err(CliError::Io(format!("cannot write the results: {e}"))),
        None => {}
    }
    if let Some(e) = only_error {
        return Err(CliError::Io(e));
    }
    if failed > 0 {
        return Err(CliError::Io(format!(
            "{failed} of {} files could not be measured",
            files.len()
        )));
    }
    Ok(())
}

#[allow(clippy::print_stderr)]
fn eprintln_line(line: &str) {
    eprintln!("{line}");
}

/// Decodes and measures one file, reporting progress in [`STEPS`] a file.
fn measure(
    path: &std::path::Path,
    dual_mono: bool,
    mut progress: impl FnMut(u64),
) -> Result<Measured, String> {
    let mut source = FileSource::open(path).map_err(|e| e.to_string())?;
    let format = source.format();
    let mut loudness = Loudness::new(format, dual_mono)
        .map_err(|e| format!("{}: cannot measure this format: {e}", path.display()))?;
    let channels = format.channels;
    let total = source.total_frames().filter(|&t| t > 0);
    let mut block = vec![0.0f32; crate::source::BLOCK_FRAMES * channels];
    let (mut read, mut reported) = (0u64, 0u64);
    loop {
        let frames = source.read(&mut block).map_err(|e| e.to_string())?;
        if frames == 0 {
            break;
        }
        let samples = &mut block[..frames * channels];
        // Branch-free, so that it vectorises (a filtered loop was 4 % of the time).
        for x in samples.iter_mut() {
            *x = if x.is_finite() { *x } else { 0.0 };
        }
        loudness.feed(samples);
        read += frames as u64;
        if let Some(total) = total {
            let now = (read.min(total) * STEPS) / total;
            progress(now - reported);
            reported = now;
        }
    }
    progress(STEPS - reported);
    Ok(Measured {
        loudness,
        sample_rate: format.sample_rate,
        channels,
    })
}

fn show(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| format!("n/a {unit}"), |v| format!("{v:.1} {unit}"))
}

/// `m:ss.s` (or `h:mm:ss.s`).
fn duration(s: f64) -> String {
    let tenths = (s * 10.0).round() as u64;
    let (h, m, t) = (tenths / 36_000, tenths / 600 % 60, tenths % 600);
    if h > 0 {
        format!("{h}:{m:02}:{:04.1}", t as f64 / 10.0)
    } else {
        format!("{m}:{:04.1}", t as f64 / 10.0)
    }
}

/// The text columns: integrated, range, true peak, duration.
fn columns(r: &LoudnessReading) -> String {
    format!(
        "{:>11}  LRA {:>7}  TP {:>10}  {:>9}",
        show(r.integrated_lufs, "LUFS"),
        show(r.range_lu, "LU"),
        show(r.true_peak_dbtp, "dBTP"),
        duration(r.measured_s)
    )
}

fn file_line(json: bool, path: &std::path::Path, m: &Measured) -> String {
    if json {
        let mut v = m.loudness.summary();
        if let Some(o) = v.as_object_mut() {
            o.shift_insert(0, "path".into(), path.display().to_string().into());
            o.insert("sample_rate".into(), m.sample_rate.into());
            o.insert("channels".into(), m.channels.into());
        }
        return v.to_string();
    }
    let r = m.loudness.read(&mut []);
    format!("{}  {}", columns(&r), path.display())
}

fn album_line(json: bool, album: &Programme) -> String {
    let r = album.read();
    if json {
        let mut v = summary_json(&r, &[]);
        if let Some(o) = v.as_object_mut() {
            o.shift_remove("true_peak_dbtp_per_channel");
            o.shift_insert(0, "album".into(), true.into());
            o.shift_insert(1, "files".into(), album.parts().into());
        }
        return v.to_string();
    }
    format!(
        "{}  the {} files measured, as one programme",
        columns(&r),
        album.parts()
    )
}
