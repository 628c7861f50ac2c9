//! Live capture: hosts, devices, source specs, streams and the supervisor that owns them.
//!
//! Runs on the capture supervisor thread (streams are built and dropped there) and, for
//! `callback`, on the audio thread. Nothing here touches the UI.

pub mod callback;
pub mod convert;
pub mod devices;
pub mod fault;
pub mod paced;
pub mod playback;
pub mod pulse;
pub mod stream;
pub mod supervisor;

use thiserror::Error;

pub use devices::{DeviceInfo, DeviceKind, HostListing, all_devices, list_devices};
pub use stream::{Capture, open_source};
pub use supervisor::{Command, Event, Supervisor};

/// A capture that started: what it is and what it delivers.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamInfo {
    /// What is captured, e.g. `pulseaudio:speakers.monitor` or `synth:demo`.
    pub name: String,
    /// Rate and channels.
    pub format: crate::config::StreamFormat,
    /// The source's own sample format, for the status line.
    pub sample_format: String,
    /// How the source's samples are encoded (what a recording keeps by default).
    pub kind: crate::config::SampleKind,
    /// Frames per block the audio system agreed to deliver, where it says.
    pub block_frames: Option<u32>,
}

/// Which audio system to talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostChoice {
    /// PulseAudio (also what PipeWire desktops serve) when a server answers, else ALSA.
    Auto,
    /// ALSA directly.
    Alsa,
    /// PulseAudio (or PipeWire's PulseAudio service).
    Pulseaudio,
    /// JACK (build with `--features jack`).
    Jack,
}

/// Where samples come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    /// The host's default input.
    Default,
    /// An input device by id (as `spektr devices` prints it) or by name.
    Device(String),
    /// "What you hear": the monitor of the default output, or of the named output.
    Monitor(Option<String>),
    /// An audio file played at real-time pace.
    File(String),
    /// A generated signal at real-time pace.
    Synth(String),
}

impl std::str::FromStr for SourceSpec {
    type Err = CaptureError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CaptureError::BadSpec(s.to_string());
        Ok(match s.split_once(':') {
            None if s == "default" => SourceSpec::Default,
            None if s == "monitor" => SourceSpec::Monitor(None),
            Some(("device", name)) if !name.is_empty() => SourceSpec::Device(name.to_string()),
            Some(("monitor", name)) if !name.is_empty() => {
                SourceSpec::Monitor(Some(name.to_string()))
            }
            Some(("file", path)) if !path.is_empty() => SourceSpec::File(path.to_string()),
            Some(("synth", spec)) => SourceSpec::Synth(spec.to_string()),
            _ => return Err(bad()),
        })
    }
}

impl std::fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceSpec::Default => write!(f, "default"),
            SourceSpec::Device(n) => write!(f, "device:{n}"),
            SourceSpec::Monitor(None) => write!(f, "monitor"),
            SourceSpec::Monitor(Some(n)) => write!(f, "monitor:{n}"),
            SourceSpec::File(p) => write!(f, "file:{p}"),
            SourceSpec::Synth(s) => write!(f, "synth:{s}"),
        }
    }
}

/// Why capture could not start or go on. Each message says what the user can do.
#[derive(Debug, Error)]
pub enum CaptureError {
    /// A `--source` that does not parse.
    #[error(
        "bad source '{0}': use default, device:<name>, monitor, monitor:<name>, file:<path> or synth:<spec>"
    )]
    BadSpec(String),
    /// The host is not there.
    #[error("{host} is not available: {reason}")]
    HostUnavailable {
        /// Which host.
        host: String,
        /// Why.
        reason: String,
    },
    /// No device by that name.
    #[error("no {kind} named '{name}' on {host}; 'spektr devices' lists them")]
    UnknownDevice {
        /// "input device" or "monitor".
        kind: &'static str,
        /// What was asked for.
        name: String,
        /// Which host.
        host: String,
    },
    /// No output device by that name.
    #[error(
        "no output device named '{name}' on {host}; 'pactl list short sinks' (PulseAudio, PipeWire) or 'aplay -L' (ALSA) lists them"
    )]
    UnknownOutput {
        /// What was asked for.
        name: String,
        /// Which host.
        host: String,
    },
    /// The host has no default of that kind.
    #[error("{host} has no {what}{hint}")]
    NoDefault {
        /// Which host.
        host: String,
        /// "default input" or "output to monitor".
        what: &'static str,
        /// What to try instead.
        hint: &'static str,
    },
    /// Plain ALSA has no output monitors.
    #[error(
        "ALSA has no output monitors (\"what you hear\"): use --host pulseaudio, which PipeWire desktops serve too"
    )]
    NoMonitors,
    /// This build lacks a host.
    #[error("this build has no {0} support (build with --features jack)")]
    NotCompiled(&'static str),
    /// The device refused the stream.
    #[error("cannot open '{device}': {reason}")]
    Open {
        /// The device.
        device: String,
        /// cpal's reason, in words.
        reason: String,
    },
    /// A file or synth source failed.
    #[error("{0}")]
    Source(#[from] crate::source::SourceError),
    /// The device's format is not one spektr analyzes.
    #[error("{0}")]
    Format(#[from] crate::config::ConfigError),
}

impl CaptureError {
    /// Whether the user can fix this by asking differently (exit 2) rather than by fixing the
    /// system (exit 3).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            CaptureError::BadSpec(_)
                | CaptureError::UnknownDevice { .. }
                | CaptureError::UnknownOutput { .. }
                | CaptureError::NoMonitors
                | CaptureError::NotCompiled(_)
                | CaptureError::Source(crate::source::SourceError::Spec(_))
        )
    }
}

/// Capture periods a person may ask for, ms.
pub const PERIOD_RANGE_MS: std::ops::RangeInclusive<f64> = 1.0..=200.0;

/// The capture period spektr asks for when nobody says otherwise: blocks this long keep the
/// sound-to-screen time in tens of milliseconds at about 100 callbacks a second.
pub const DEFAULT_PERIOD_MS: f64 = 10.0;

/// The capture period to ask the audio system for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Period {
    /// Length of one block, ms.
    pub ms: f64,
    /// Whether the user asked for it (a device that refuses it is then an error; spektr's own
    /// default falls back to the device's period, with a note).
    pub asked: bool,
}

impl Default for Period {
    fn default() -> Self {
        Period {
            ms: DEFAULT_PERIOD_MS,
            asked: false,
        }
    }
}

impl Period {
    /// The period the user asked for, else the default.
    pub fn from_option(ms: Option<f64>) -> Self {
        ms.map_or_else(Period::default, |ms| Period { ms, asked: true })
    }

    /// Frames per block at `rate`.
    pub fn frames(self, rate: u32) -> u32 {
        (self.ms / 1000.0 * f64::from(rate)).round().max(1.0) as u32
    }
}

/// Parses `--period`: a capture period in ms within [`PERIOD_RANGE_MS`].
///
/// ```
/// assert_eq!(spektr::capture::parse_period_ms("20"), Ok(20.0));
/// assert!(spektr::capture::parse_period_ms("0").is_err());
/// ```
pub fn parse_period_ms(text: &str) -> Result<f64, String> {
    let ms: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of milliseconds"))?;
    check_period_ms(ms)
}

/// `ms` if it lies within [`PERIOD_RANGE_MS`], else why not.
pub fn check_period_ms(ms: f64) -> Result<f64, String> {
    if PERIOD_RANGE_MS.contains(&ms) {
        Ok(ms)
    } else {
        Err(format!(
            "the capture period must be between {} and {} ms",
            PERIOD_RANGE_MS.start(),
            PERIOD_RANGE_MS.end()
        ))
    }
}

/// The audio system `choice` means here: `Auto` is PulseAudio (which PipeWire desktops serve
/// too) when a server is found, else ALSA.
pub fn resolve_host(choice: HostChoice) -> Result<HostChoice, CaptureError> {
    match choice {
        HostChoice::Auto => Ok(if pulse::find_server().is_ok() {
            HostChoice::Pulseaudio
        } else {
            HostChoice::Alsa
        }),
        HostChoice::Jack if cfg!(not(feature = "jack")) => Err(CaptureError::NotCompiled("JACK")),
        other => Ok(other),
    }
}

/// The cpal host for ALSA or JACK.
pub fn cpal_host(choice: HostChoice) -> Result<cpal::Host, CaptureError> {
    let unavailable = |host: &str, e: cpal::Error| CaptureError::HostUnavailable {
        host: host.into(),
        reason: e.to_string(),
    };
    match choice {
        HostChoice::Jack => {
            #[cfg(feature = "jack")]
            {
                cpal::host_from_id(cpal::HostId::Jack).map_err(|e| unavailable("JACK", e))
            }
            #[cfg(not(feature = "jack"))]
            {
                Err(CaptureError::NotCompiled("JACK"))
            }
        }
        _ => cpal::host_from_id(cpal::HostId::Alsa).map_err(|e| unavailable("ALSA", e)),
    }
}

/// A cpal host's name as spektr prints it.
pub fn host_name(host: &cpal::Host) -> String {
    host.id().name().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_specs_parse_and_print_back() {
        for s in [
            "default",
            "device:hw:CARD=0,DEV=0",
            "monitor",
            "monitor:testsink",
            "file:/tmp/a.wav",
            "synth:sine=1000",
        ] {
            let spec: SourceSpec = s.parse().expect(s);
            assert_eq!(spec.to_string(), s);
        }
        assert_eq!(
            "device:tone".parse::<SourceSpec>().expect("parse"),
            SourceSpec::Device("tone".into())
        );
        for bad in ["", "device:", "mic", "usb:1", "monitor:"] {
            assert!(bad.parse::<SourceSpec>().is_err(), "{bad}");
        }
    }
}
