//! Engine cost per second of audio beside its raw FFT work, and `spektr analyze` throughput.
//!
//! `cargo bench --bench engine` (or `make bench`) runs the criterion benches, then prints the
//! table README carries: every number in it is measured in this one run.
// The audio callback's rules (clippy.toml) are for the callback only.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]
// A bench reports on stdout.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use realfft::RealFftPlanner;
use spektr::config::{AnalysisSettings, StreamFormat};
use spektr::engine::Analyzer;
use spektr::publish::Frame;
use spektr::source::Source;
use spektr::source::synth::{Synth, SynthSpec};

const RATE: u32 = 48_000;
const SECONDS: usize = 10;

fn demo_audio() -> Vec<f32> {
    let spec =
        SynthSpec::parse(&format!("demo,duration={SECONDS},rate={RATE},channels=2")).expect("spec");
    let mut synth = Synth::new(spec);
    let mut v = vec![0.0f32; SECONDS * RATE as usize * 2];
    synth.read(&mut v).expect("synth");
    v
}

/// The analyzer over `audio`, frames written as the engine thread would.
fn run_engine(analyzer: &mut Analyzer, frame: &mut Frame, audio: &[f32]) {
    let mut rest = audio;
    while !rest.is_empty() {
        let fed = analyzer.feed(rest);
        rest = &rest[fed.consumed..];
        if fed.frame_due {
            analyzer.write_frame(frame);
            black_box(&frame);
        }
    }
}

/// The same transforms the analyzer runs for `seconds` of audio (complex ones for channel
/// pairs, real ones for a channel alone), with nothing around them.
enum Plan {
    Real(
        std::sync::Arc<dyn realfft::RealToComplex<f32>>,
        Vec<f32>,
        Vec<realfft::num_complex::Complex<f32>>,
    ),
    Complex(
        std::sync::Arc<dyn rustfft::Fft<f32>>,
        Vec<realfft::num_complex::Complex<f32>>,
    ),
}

struct RawFft {
    jobs: Vec<(Plan, usize)>,
    scratch: Vec<realfft::num_complex::Complex<f32>>,
}

impl RawFft {
    fn new(analyzer: &Analyzer, seconds: f64) -> Self {
        let mut real = RealFftPlanner::<f32>::new();
        let mut complex = rustfft::FftPlanner::<f32>::new();
        let mut scratch_len = 0;
        let jobs: Vec<_> = analyzer
            .transforms()
            .into_iter()
            .map(|(len, per_s, is_complex)| {
                let count = (per_s * seconds).round() as usize;
                let signal = |i: usize| (i as f32 * 0.37).sin();
                let plan = if is_complex {
                    let p = complex.plan_fft_forward(len);
                    scratch_len = scratch_len.max(p.get_inplace_scratch_len());
                    let buf = (0..len)
                        .map(|i| realfft::num_complex::Complex::new(signal(i), signal(i + 7)))
                        .collect();
                    Plan::Complex(p, buf)
                } else {
                    let p = real.plan_fft_forward(len);
                    scratch_len = scratch_len.max(p.get_scratch_len());
                    let mut input = p.make_input_vec();
                    input
                        .iter_mut()
                        .enumerate()
                        .for_each(|(i, x)| *x = signal(i));
                    let output = p.make_output_vec();
                    Plan::Real(p, input, output)
                };
                (plan, count)
            })
            .collect();
        RawFft {
            jobs,
            scratch: vec![Default::default(); scratch_len],
        }
    }

    fn run(&mut self) {
        for (plan, count) in &mut self.jobs {
            for _ in 0..*count {
                match plan {
                    Plan::Real(p, input, output) => {
                        let need = p.get_scratch_len();
                        let _ = p.process_with_scratch(input, output, &mut self.scratch[..need]);
                        black_box(&output);
                    }
                    Plan::Complex(p, buf) => {
                        let need = p.get_inplace_scratch_len();
                        p.process_with_scratch(buf, &mut self.scratch[..need]);
                        black_box(&buf);
                    }
                }
            }
        }
    }
}

/// The real engine loop (`engine::run`) over `audio`, already in its ring, optionally
/// recording to a file in `dir` (the writer thread drains concurrently). Returns the time the
/// loop took; the set-up (rings, file) is outside it.
fn engine_loop(
    settings: &AnalysisSettings,
    format: StreamFormat,
    audio: &[f32],
    record: Option<&std::path::Path>,
) -> Duration {
    use spektr::engine::EngineHandle;
    let analyzer = Analyzer::new(settings, format).expect("analyzer");
    let (frames, _output) = spektr::publish::frame_buffer(analyzer.bands().len(), format.channels);
    let seconds = audio.len() as f64 / format.channels as f64 / f64::from(format.sample_rate);
    let (mut writer, reader) = spektr::stream::channel_holding(format, false, seconds + 1.0);
    writer.push_blocking(audio).expect("fits");
    drop(writer);
    let (mut handle, engine) = EngineHandle::unstarted(reader, analyzer, frames, false);
    let recording = record.map(|dir| {
        let path = dir.join(format!("r{}.wav", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(path.with_extension("json"));
        let mut request =
            spektr::record::RecordRequest::new(path, format, spektr::config::SampleKind::Int(16));
        request.ring_seconds = SECONDS as f64 + 1.0;
        let (recording, tap) = spektr::record::Recording::start(request).expect("recording");
        handle.record(tap).expect("engine takes the tap");
        recording
    });
    let t = Instant::now();
    let outcome = engine.run();
    let took = t.elapsed();
    drop(outcome);
    if let Some(r) = recording {
        let done = r.wait().expect("finished");
        assert!(done.complete(), "{}", done.message());
    }
    took
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("runs")
}

/// CPU time (user + system) of this process, from /proc/self/stat, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

fn write_long_wav(path: &std::path::Path, minutes: usize) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    let mut synth = Synth::new(
        SynthSpec::parse(&format!(
            "demo,duration={},rate={RATE},channels=2",
            minutes * 60
        ))
        .expect("spec"),
    );
    let mut block = vec![0.0f32; 48_000 * 2];
    loop {
        let n = synth.read(&mut block).expect("synth");
        if n == 0 {
            break;
        }
        let mut i16w = w.get_i16_writer((n * 2) as u32);
        for &x in &block[..n * 2] {
            i16w.write_sample((x * 32767.0) as i16);
        }
        i16w.flush().expect("write");
    }
    w.finalize().expect("finalize");
}

fn main() {
    let audio = demo_audio();
    let settings = AnalysisSettings::default();
    let format = StreamFormat {
        sample_rate: RATE,
        channels: 2,
    };
    // The spectrum alone (--no-loudness), which the raw FFT work compares with, and the
    // default (loudness and true peak too).
    let spectrum = AnalysisSettings {
        loudness: false,
        ..AnalysisSettings::default()
    };
    let mut analyzer = Analyzer::new(&spectrum, format).expect("analyzer");
    let mut frame = analyzer.new_frame();
    let mut full = Analyzer::new(&settings, format).expect("analyzer");
    let mut full_frame = full.new_frame();
    let mut raw = RawFft::new(&analyzer, SECONDS as f64);

    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(5));
    {
        let mut g = c.benchmark_group("per 10 s of 48 kHz stereo");
        g.throughput(Throughput::Elements((SECONDS * RATE as usize) as u64));
        g.bench_function("engine, spectrum only", |b| {
            b.iter(|| run_engine(&mut analyzer, &mut frame, &audio))
        });
        g.bench_function("engine (default settings: spectrum and loudness)", |b| {
            b.iter(|| run_engine(&mut full, &mut full_frame, &audio))
        });
        g.bench_function("raw FFT, same transforms", |b| b.iter(|| raw.run()));
        g.finish();
    }
    c.final_summary();
    // `cargo test` runs benches without `--bench` (criterion's test mode): no table then.
    if !std::env::args().any(|a| a == "--bench") || std::env::args().any(|a| a == "--list") {
        return;
    }

    // The table: alternate the two so machine noise hits both alike; keep each one's best.
    let (mut engine_best, mut fft_best, mut full_best) =
        (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        engine_best = engine_best.min(best_of(3, || run_engine(&mut analyzer, &mut frame, &audio)));
        fft_best = fft_best.min(best_of(3, || raw.run()));
        full_best = full_best.min(best_of(3, || {
            run_engine(&mut full, &mut full_frame, &audio)
        }));
    }
    let per_s = |d: Duration| d.as_secs_f64() / SECONDS as f64 * 1000.0;
    let ffts: Vec<String> = analyzer
        .transforms()
        .iter()
        .map(|(n, r, c)| {
            format!(
                "{n}-point {} x {r:.1}/s",
                if *c { "complex" } else { "real" }
            )
        })
        .collect();

    // Recording's cost to the engine: the same loop with and without a recording, alternated.
    let rec_dir = tempfile::tempdir().expect("tempdir");
    let (mut plain_best, mut rec_best) = (Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        plain_best = plain_best.min(engine_loop(&settings, format, &audio, None));
        rec_best = rec_best.min(engine_loop(&settings, format, &audio, Some(rec_dir.path())));
    }
    let hops = SECONDS as f64 / analyzer.plan().hop_s();
    let per_hop = |d: Duration| d.as_secs_f64() / hops * 1e6;

    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("ten-minutes.wav");
    write_long_wav(&wav, 10);
    let cli = spektr::cli::Cli::try_parse_from_args([
        "spektr",
        "analyze",
        wav.to_str().expect("path"),
        "-o",
        "/dev/null",
        "--no-progress",
    ]);
    let (wall, cpu) = {
        let cpu0 = cpu_seconds();
        let t = Instant::now();
        spektr::cli::run(cli).expect("analyze the 10-minute file");
        (t.elapsed().as_secs_f64(), cpu_seconds() - cpu0)
    };

    println!();
    println!("| measure (48 kHz stereo, default settings: 32 bars, 60 fps) | result |");
    println!("|---|---|");
    println!(
        "| engine, spectrum only (`--no-loudness`), CPU time per second of audio | {:.3} ms |",
        per_s(engine_best)
    );
    println!(
        "| engine with loudness and true peak (the default: EBU R 128) | {:.3} ms |",
        per_s(full_best)
    );
    println!(
        "| raw FFT, the same transforms (one complex transform per channel pair: {}) | {:.3} ms |",
        ffts.join(", "),
        per_s(fft_best)
    );
    let schedule = analyzer.plan().fft_schedule();
    let points: f64 = schedule.iter().map(|(n, r)| *n as f64 * r).sum();
    let level0 = schedule.first().map_or(0, |s| s.0) as f64;
    let one_size: f64 = schedule.iter().map(|(_, r)| level0 * r).sum();
    println!(
        "| FFT points per second of audio (level 0's FFT size at every level would be {:.0} k) | {:.0} k |",
        one_size / 1000.0,
        points / 1000.0
    );
    println!(
        "| engine / raw FFT work (goal <= 1.5) | {:.2} |",
        engine_best.as_secs_f64() / fft_best.as_secs_f64()
    );
    println!(
        "| engine alone, multiples of real time on one core | {:.0}x |",
        1000.0 / per_s(engine_best)
    );
    println!(
        "| engine loop per hop ({:.1} ms), not recording | {:.2} us |",
        analyzer.plan().hop_s() * 1000.0,
        per_hop(plain_best)
    );
    println!(
        "| same, recording 16-bit WAV (writer on its own thread) | {:.2} us ({:+.1} %) |",
        per_hop(rec_best),
        (rec_best.as_secs_f64() / plain_best.as_secs_f64() - 1.0) * 100.0
    );
    println!(
        "| `spektr analyze` 10-min 16-bit WAV to NDJSON, wall clock | {:.2} s = {:.0}x real time |",
        wall,
        600.0 / wall
    );
    println!(
        "| same, CPU time of all threads (goal >= 1000x on one core) | {:.2} s = {:.0}x real time |",
        cpu,
        600.0 / cpu.max(0.01)
    );
}
