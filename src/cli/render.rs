//! `spektr render --view spectrogram`: whole-file spectrograms, many files in parallel (the
//! analysis on worker threads; the drawing, which needs the one offscreen window, on this
//! one).
// Without the window there is nothing to draw with: the arguments stay, the drawing goes.
#![cfg_attr(not(feature = "gui"), allow(dead_code, unused_imports))]

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::{CliError, RenderArgs};

/// `--layout`: the spectrogram's rows.
pub use crate::spectrogram::FineLayout as LayoutArg;

/// `--view`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ViewArg {
    /// The window's bars at one moment (`--at`).
    Bars,
    /// The whole file (or `--from`..`--to`) as a spectrogram.
    Spectrogram,
}

/// The name of `input`'s picture: a file's name without its extension; a generated signal's
/// whole spec, with the characters a file name should not hold replaced.
fn picture_name(input: &str) -> String {
    let stem = match input.strip_prefix("synth:") {
        Some(_) => input.to_string(),
        None => Path::new(input.strip_prefix("file:").unwrap_or(input))
            .file_stem()
            .map_or_else(|| "input".into(), |s| s.to_string_lossy().into_owned()),
    };
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_=@.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.png")
}

/// Where each input's picture goes: `-o` itself for one input (or a picture inside it, when it
/// is a folder), `-o/<name>.png` for several.
fn outputs(inputs: &[String], output: &Path) -> Result<Vec<PathBuf>, CliError> {
    if inputs.len() == 1 {
        return Ok(vec![if output.is_dir() {
            output.join(picture_name(&inputs[0]))
        } else {
            output.to_path_buf()
        }]);
    }
    if !output.is_dir() {
        return Err(CliError::Usage(format!(
            "with {} inputs, -o names a folder for their pictures; {} is not one",
            inputs.len(),
            output.display()
        )));
    }
    let mut paths: Vec<PathBuf> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let path = output.join(picture_name(input));
        if paths.contains(&path) {
            return Err(CliError::Usage(format!(
                "two inputs would both be drawn to {}; render them separately",
                path.display()
            )));
        }
        paths.push(path);
    }
    Ok(paths)
}

#[allow(clippy::print_stderr)]
fn eprintln_line(line: &str) {
    eprintln!("{line}");
}

/// Runs `spektr render --view spectrogram`.
#[cfg(feature = "gui")]
pub fn spectrogram(
    args: &RenderArgs,
    settings: crate::config::AnalysisSettings,
    size: (u32, u32),
) -> Result<(), CliError> {
    use crate::ui::picture;
    if args.at.is_some() {
        return Err(CliError::Usage(
            "--at is for --view bars; a spectrogram takes --from and --to".into(),
        ));
    }
    for (name, v) in [("--from", args.from), ("--to", args.to)] {
        if let Some(v) = v
            && !(v.is_finite() && v >= 0.0)
        {
            return Err(CliError::Usage(format!(
                "{name} must be a time of 0 s or more, got {v}"
            )));
        }
    }
    if let Some(to) = args.to
        && to <= args.from.unwrap_or(0.0)
    {
        return Err(CliError::Usage(format!(
            "--to ({to} s) must come after --from ({} s)",
            args.from.unwrap_or(0.0)
        )));
    }
    let (min_w, min_h) = picture::MIN_SIZE;
    if size.0 < min_w || size.1 < min_h {
        return Err(CliError::Usage(format!(
            "a spectrogram needs --size {min_w}x{min_h} at least, got {}x{}",
            size.0, size.1
        )));
    }
    let settings = crate::config::AnalysisSettings {
        bands: match args.layout {
            LayoutArg::Twelfth => LayoutArg::Twelfth.bands(),
            LayoutArg::TwentyFourth => LayoutArg::TwentyFourth.bands(),
        },
        bars: None,
        ..settings
    };
    let request = picture::Request {
        settings,
        from_s: args.from,
        to_s: args.to,
        colormap: args.colormap,
        floor_db: args.floor,
        top_db: 0.0,
        width: size.0,
        height: size.1,
    };
    let outs = outputs(&args.inputs, &args.output)?;
    let inputs = &args.inputs;
    let bar = (!args.no_progress && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(inputs.len() as u64 * 100);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} analysing [{bar:40}] {percent}% {elapsed} (eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let jobs = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(inputs.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let done = Mutex::new(vec![0u64; inputs.len()]);
    let (tx, rx) = mpsc::channel::<(usize, Result<picture::Analysed, String>)>();
    let window = picture::window().map_err(CliError::Io)?;
    let mut failed = 0usize;
    let mut only_error = None;
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, done, bar, request) = (&next, &done, bar.as_ref(), &request);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(input) = inputs.get(i) else { break };
                    let result = crate::source::open(input)
                        .map_err(|e| e.to_string())
                        .and_then(|source| {
                            picture::analyze(source, request, |f| {
                                if let (Some(bar), Ok(mut done)) = (bar, done.lock()) {
                                    done[i] = (f * 100.0) as u64;
                                    bar.set_position(done.iter().sum());
                                }
                            })
                        });
                    if tx.send((i, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Drawn as each arrives (the window is this thread's).
        for (i, result) in rx {
            let result = result.and_then(|a| picture::draw(&window, &a, &outs[i]));
            if let Err(e) = result {
                if inputs.len() == 1 {
                    only_error = Some(e);
                    continue;
                }
                failed += 1;
                let line = format!("error: {e}");
                match &bar {
                    Some(bar) => bar.suspend(|| eprintln_line(&line)),
                    None => eprintln_line(&line),
                }
            }
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(e) = only_error {
        return Err(CliError::Io(e));
    }
    if failed > 0 {
        return Err(CliError::Io(format!(
            "{failed} of {} inputs could not be drawn",
            inputs.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_named_after_their_inputs() {
        assert_eq!(picture_name("music/take.1.flac"), "take.1.png");
        assert_eq!(picture_name("file:a b.wav"), "a_b.png");
        assert_eq!(
            picture_name("synth:sine=1000,duration=2.5"),
            "synth_sine=1000_duration=2.5.png"
        );
        assert_ne!(
            picture_name("synth:duration=2.5"),
            picture_name("synth:duration=2.25")
        );
    }
}
