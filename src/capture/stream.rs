//! Opening a capture: a PulseAudio source ([`super::pulse`]), an ALSA or JACK device through
//! cpal, or a file or generator at real-time pace. Built and dropped on the supervisor thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::callback::CallbackState;
use super::convert::ToF32;
use super::devices::short_id;
use super::fault::{Fault, StreamFault};
use super::paced::PacedSource;
use super::pulse::PulseStream;
use super::{CaptureError, HostChoice, Period, SourceSpec};
use crate::config::{SampleKind, StreamFormat};
use crate::stream::StreamReader;

/// How long a device may take to start a stream.
const BUILD_TIMEOUT: Duration = Duration::from_secs(3);

/// A running cpal stream (ALSA, JACK).
pub struct CpalStream {
    /// Keeps the stream running; dropping it stops it.
    _stream: cpal::Stream,
    format: StreamFormat,
    sample_format: cpal::SampleFormat,
    device: String,
    host: String,
    /// Frames per callback asked for (`None`: the device's own).
    block_frames: Option<u32>,
    fault: Arc<StreamFault>,
    xruns: Arc<AtomicU64>,
}

impl std::fmt::Debug for CpalStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpalStream")
            .field("device", &self.device)
            .field("format", &self.format)
            .finish()
    }
}

/// A capture of any kind.
#[derive(Debug)]
pub enum Capture {
    /// A PulseAudio (or PipeWire) source.
    Pulse(PulseStream),
    /// An ALSA or JACK device.
    Cpal(CpalStream),
    /// A file or generator at real-time pace.
    Paced(PacedSource),
}

/// The recording format a cpal sample format keeps by default.
pub fn sample_kind(format: cpal::SampleFormat) -> SampleKind {
    use cpal::SampleFormat as S;
    match format {
        S::I8 | S::U8 => SampleKind::Int(8),
        S::I16 | S::U16 => SampleKind::Int(16),
        S::I24 | S::U24 => SampleKind::Int(24),
        S::I32 | S::U32 => SampleKind::Int(32),
        S::I64 | S::U64 => SampleKind::Int(64),
        S::F64 => SampleKind::Float(64),
        _ => SampleKind::Float(32),
    }
}

impl Capture {
    /// Rate and channels.
    pub fn format(&self) -> StreamFormat {
        match self {
            Capture::Pulse(s) => s.format,
            Capture::Cpal(s) => s.format,
            Capture::Paced(p) => p.format,
        }
    }

    /// What is captured, as `host:device` (`pulseaudio:speakers.monitor`) or the spec
    /// (`synth:...`).
    pub fn describe(&self) -> String {
        match self {
            Capture::Pulse(s) => format!("{}:{}", super::pulse::HOST, s.device),
            Capture::Cpal(s) => format!("{}:{}", s.host, s.device),
            Capture::Paced(p) => p.name.clone(),
        }
    }

    /// The source's own sample format, for the status line.
    pub fn sample_format(&self) -> String {
        match self {
            Capture::Pulse(s) => s.sample_format.clone(),
            Capture::Cpal(s) => s.sample_format.to_string(),
            Capture::Paced(p) => match p.kind {
                SampleKind::Int(bits) => format!("i{bits}"),
                SampleKind::Float(bits) => format!("f{bits}"),
            },
        }
    }

    /// How the source's samples are encoded (what a recording keeps by default).
    pub fn sample_kind(&self) -> SampleKind {
        match self {
            Capture::Pulse(s) => s.kind,
            Capture::Cpal(s) => sample_kind(s.sample_format),
            Capture::Paced(p) => p.kind,
        }
    }

    /// Frames per block the audio system agreed to deliver, where it says.
    pub fn block_frames(&self) -> Option<u32> {
        match self {
            Capture::Pulse(s) => Some(s.block_frames),
            Capture::Cpal(s) => s.block_frames,
            Capture::Paced(_) => None,
        }
    }

    /// For a paced source whose thread has ended: `Some(None)` at a clean end of file,
    /// `Some(Some(reason))` after an error. `None` while it runs, and always for devices.
    pub fn paced_end(&self) -> Option<Option<String>> {
        match self {
            Capture::Paced(p) if p.ended() => Some(p.error()),
            _ => None,
        }
    }

    /// The most severe fault since the last call.
    pub fn take_fault(&self) -> Option<Fault> {
        match self {
            Capture::Pulse(s) if s.unresponsive() => Some(Fault::HostLost),
            Capture::Pulse(s) => s.fault.take(),
            Capture::Cpal(s) => s.fault.take(),
            // A paced source's end (and its error) is `paced_end`.
            Capture::Paced(_) => None,
        }
    }

    /// For a source that follows a default (`default`, `monitor` on PulseAudio): the device
    /// that is the default now, once it is another.
    pub fn default_moved(&mut self) -> Option<String> {
        match self {
            Capture::Pulse(s) => s.default_moved(),
            _ => None,
        }
    }

    /// Xruns the device reported since the start.
    pub fn xruns(&self) -> u64 {
        match self {
            Capture::Cpal(s) => s.xruns.load(Ordering::Relaxed),
            _ => 0,
        }
    }

    /// Holds a file or generator where it is (a device keeps running: the engine pauses, so
    /// the pause falls on an exact sample).
    pub fn set_paused(&self, paused: bool) {
        if let Capture::Paced(p) = self {
            p.set_paused(paused);
        }
    }
}

fn find_device(host: &cpal::Host, spec: &SourceSpec) -> Result<cpal::Device, CaptureError> {
    let host_name = super::host_name(host);
    let matches = |d: &cpal::Device, name: &str| {
        short_id(d).as_deref() == Some(name)
            || d.description().map(|x| x.name() == name).unwrap_or(false)
    };
    match spec {
        SourceSpec::Default => host.default_input_device().ok_or(CaptureError::NoDefault {
            host: host_name,
            what: "default input",
            hint: "; 'spektr devices' lists what there is",
        }),
        SourceSpec::Device(name) => super::devices::candidates(host)
            .into_iter()
            .find(|d| matches(d, name))
            .ok_or(CaptureError::UnknownDevice {
                kind: "input device",
                name: name.clone(),
                host: host_name,
            }),
        SourceSpec::Monitor(_) => Err(CaptureError::NoMonitors),
        SourceSpec::File(_) | SourceSpec::Synth(_) => unreachable!("not a device"),
    }
}

fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut state: CallbackState,
    fault: Arc<StreamFault>,
    xruns: Arc<AtomicU64>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: cpal::SizedSample + ToF32,
{
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], info: &cpal::InputCallbackInfo| {
            let t = info.timestamp();
            state.process(data, t.callback.checked_duration_since(t.capture));
        },
        move |err: cpal::Error| match err.kind() {
            cpal::ErrorKind::Xrun => {
                xruns.fetch_add(1, Ordering::Relaxed);
            }
            cpal::ErrorKind::DeviceNotAvailable | cpal::ErrorKind::StreamInvalidated => {
                fault.set(Fault::DeviceLost)
            }
            cpal::ErrorKind::HostUnavailable => fault.set(Fault::HostLost),
            _ => fault.set(Fault::Glitch),
        },
        Some(BUILD_TIMEOUT),
    )
}

/// Builds and starts a stream on `device` with `config`, dispatching on the sample format once.
fn start(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    sample_format: cpal::SampleFormat,
    state: CallbackState,
    fault: &Arc<StreamFault>,
    xruns: &Arc<AtomicU64>,
) -> Result<cpal::Stream, cpal::Error> {
    let (f, x) = (fault.clone(), xruns.clone());
    use cpal::SampleFormat as S;
    let stream = match sample_format {
        S::I8 => build::<i8>(device, config, state, f, x),
        S::I16 => build::<i16>(device, config, state, f, x),
        S::I24 => build::<cpal::I24>(device, config, state, f, x),
        S::I32 => build::<i32>(device, config, state, f, x),
        S::I64 => build::<i64>(device, config, state, f, x),
        S::U8 => build::<u8>(device, config, state, f, x),
        S::U16 => build::<u16>(device, config, state, f, x),
        S::U24 => build::<cpal::U24>(device, config, state, f, x),
        S::U32 => build::<u32>(device, config, state, f, x),
        S::U64 => build::<u64>(device, config, state, f, x),
        S::F32 => build::<f32>(device, config, state, f, x),
        S::F64 => build::<f64>(device, config, state, f, x),
        other => Err(cpal::Error::with_message(
            cpal::ErrorKind::UnsupportedConfig,
            format!("sample format {other} is not PCM"),
        )),
    }?;
    stream.play()?;
    Ok(stream)
}

/// What opening a capture gives: the capture, the engine's end of its stream, and a note for
/// the user when the audio system did not give what was asked for.
pub type Opened = (Capture, StreamReader, Option<String>);

fn open_cpal(
    choice: HostChoice,
    spec: &SourceSpec,
    period: Period,
) -> Result<Opened, CaptureError> {
    let _quiet = super::devices::quiet_alsa();
    let host = super::cpal_host(choice)?;
    let device = find_device(&host, spec)?;
    let device_id = short_id(&device).unwrap_or_else(|| "unknown".into());
    let open_err = |e: cpal::Error| CaptureError::Open {
        device: device_id.clone(),
        reason: e.to_string(),
    };
    let supported = device.default_input_config().map_err(open_err)?;
    let sample_format = supported.sample_format();
    let mut config = supported.config();
    let format = StreamFormat {
        sample_rate: config.sample_rate,
        channels: usize::from(config.channels),
    }
    .validate()?;
    let fault = Arc::new(StreamFault::default());
    let xruns = Arc::new(AtomicU64::new(0));
    // JACK runs at the server's period, whatever a client asks.
    let fixed = (choice != HostChoice::Jack).then(|| period.frames(format.sample_rate));
    let mut note = None;
    let (stream, reader, block_frames) = {
        if let Some(frames) = fixed {
            config.buffer_size = cpal::BufferSize::Fixed(frames);
        }
        let (writer, reader) = crate::stream::channel(format, true);
        let state = CallbackState::new(writer, format.channels, format.sample_rate);
        match start(&device, config, sample_format, state, &fault, &xruns) {
            Ok(stream) => (stream, reader, fixed),
            // The period spektr picks itself falls back to the device's own, and says so; one
            // the user asked for is an error that names it.
            Err(e) if fixed.is_some() && !period.asked => {
                note = Some(format!(
                    "{device_id} refused {} ms capture periods ({e}): using its own",
                    period.ms
                ));
                config.buffer_size = cpal::BufferSize::Default;
                let (writer, reader) = crate::stream::channel(format, true);
                let state = CallbackState::new(writer, format.channels, format.sample_rate);
                let stream = start(&device, config, sample_format, state, &fault, &xruns)
                    .map_err(open_err)?;
                (stream, reader, None)
            }
            Err(e) => {
                return Err(CaptureError::Open {
                    device: device_id.clone(),
                    reason: if fixed.is_some() {
                        format!(
                            "{e} (with the {} ms capture period asked for by --period or \
                             capture_period_ms in the settings: try another, or none)",
                            period.ms
                        )
                    } else {
                        e.to_string()
                    },
                });
            }
        }
    };
    let live = CpalStream {
        _stream: stream,
        format,
        sample_format,
        device: device_id,
        host: super::host_name(&host),
        block_frames,
        fault,
        xruns,
    };
    Ok((Capture::Cpal(live), reader, note))
}

/// Opens `spec`: a device or monitor through `choice`'s audio system in blocks of `period`, or
/// a file or generator at real-time pace.
pub fn open_source(
    choice: HostChoice,
    spec: &SourceSpec,
    looped: bool,
    period: Period,
) -> Result<Opened, CaptureError> {
    match spec {
        SourceSpec::File(_) | SourceSpec::Synth(_) => {
            let (paced, reader) = PacedSource::start(spec, looped)?;
            Ok((Capture::Paced(paced), reader, None))
        }
        _ => match super::resolve_host(choice)? {
            HostChoice::Pulseaudio => {
                let (stream, reader) = PulseStream::open(spec, period.ms)?;
                Ok((Capture::Pulse(stream), reader, None))
            }
            other => open_cpal(other, spec, period),
        },
    }
}
