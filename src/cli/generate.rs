//! `spektr generate SPEC`: a test signal to the speakers (pink noise for an RTA, a sine, a
//! sweep), faded in from 60 dB below its level, until its duration, `--seconds` or Ctrl-C.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::CliError;
use crate::capture::HostChoice;
use crate::generate::{FADE_IN_S, Player};
use crate::source::synth::SynthSpec;

/// Arguments of `spektr generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// What to play, as synth: specs are written (the `synth:` prefix may be left out):
    /// pink@-20 (pink noise at -20 dBFS RMS, an RTA's test signal), white@-20,
    /// sine=1000@-12, sweep=20-20000@-12,duration=10. Without duration= it plays until
    /// Ctrl-C (a sweep repeats every 10 s).
    #[arg(value_name = "SPEC")]
    pub spec: String,
    /// The output device: a PulseAudio sink's name or description, or an ALSA device
    /// (`pactl list short sinks`, `aplay -L`) [default: the default output].
    #[arg(long, value_name = "NAME")]
    pub device: Option<String>,
    /// Audio system.
    #[arg(long, value_enum, default_value_t = HostChoice::Auto)]
    pub host: HostChoice,
    /// Play this long, seconds (over the spec's duration=).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub seconds: Option<f64>,
}

/// Runs `spektr generate`.
pub fn run(args: &GenerateArgs) -> Result<(), CliError> {
    super::check_seconds(args.seconds)?;
    let text = args.spec.strip_prefix("synth:").unwrap_or(&args.spec);
    let spec = SynthSpec::parse(text).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut player = Player::start(args.host, args.device.as_deref(), &spec, args.seconds)
        .map_err(|e| {
            if e.is_usage() {
                CliError::Usage(e.to_string())
            } else {
                CliError::Io(e.to_string())
            }
        })?;
    let o = &player.output;
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "playing {text} to {} ({}, {} Hz, {} ch), rising to its level over {FADE_IN_S:.0} s; \
             Ctrl-C stops",
            o.description, o.host, o.rate, o.channels
        );
    }
    let interrupted = super::on_interrupt();
    let mut stopping: Option<Instant> = None;
    let ended = loop {
        if interrupted.load(Ordering::Relaxed) && stopping.is_none() {
            player.stop();
            stopping = Some(Instant::now());
        }
        if let Some(end) = player.wait(Duration::from_millis(50)) {
            break end.clone();
        }
        if stopping.is_some_and(|t| t.elapsed() > Duration::from_secs(3)) {
            break Err("the output did not stop within 3 s".into());
        }
    };
    let played = player.seconds();
    ended.map_err(|why| CliError::Io(format!("{why} after {played:.1} s")))?;
    #[allow(clippy::print_stderr)]
    {
        eprintln!("played {played:.1} s");
    }
    Ok(())
}
