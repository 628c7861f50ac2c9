//! Opening a capture: a device stream through cpal, or a file/synth source at real-time pace.
//! Built and dropped on the supervisor thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::callback::{Arrival, CallbackState, Fault, GAPS, Gap, StreamFault, ToF32};
use super::devices::{MONITOR_SUFFIX, short_id};
use super::paced::PacedSource;
use super::{CaptureError, HostChoice, SourceSpec};
use crate::config::{SampleKind, StreamFormat};
use crate::engine::EngineInput;
use crate::source::sample_ring;

/// Arrival records the engine may fall behind by before the callback stops recording them.
const ARRIVALS: usize = 4096;
/// How long a device may take to start a stream.
const BUILD_TIMEOUT: Duration = Duration::from_secs(3);

/// A running device stream.
pub struct LiveStream {
    stream: cpal::Stream,
    /// Rate and channels.
    pub format: StreamFormat,
    /// The device's own sample format (the callback converts it to f32).
    pub sample_format: String,
    sample_format_raw: cpal::SampleFormat,
    /// The device id, as `spektr devices` prints it.
    pub device: String,
    /// The host's name for it.
    pub host: String,
    fault: Arc<StreamFault>,
    xruns: Arc<AtomicU64>,
}

impl std::fmt::Debug for LiveStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveStream")
            .field("device", &self.device)
            .field("format", &self.format)
            .finish()
    }
}

/// A capture of either kind.
#[derive(Debug)]
pub enum Capture {
    /// A sound device.
    Device(LiveStream),
    /// A file or generator at real-time pace.
    Paced(PacedSource),
}

impl Capture {
    /// Rate and channels.
    pub fn format(&self) -> StreamFormat {
        match self {
            Capture::Device(s) => s.format,
            Capture::Paced(p) => p.format,
        }
    }

    /// What is captured, as `host:device` (`alsa:tone`) or the spec (`synth:...`).
    pub fn describe(&self) -> String {
        match self {
            Capture::Device(s) => format!("{}:{}", s.host, s.device),
            Capture::Paced(p) => p.name.clone(),
        }
    }

    /// The source's own sample format, for the status line.
    pub fn sample_format(&self) -> String {
        match self {
            Capture::Device(s) => s.sample_format.clone(),
            Capture::Paced(p) => match p.kind {
                SampleKind::Int(bits) => format!("i{bits}"),
                SampleKind::Float(bits) => format!("f{bits}"),
            },
        }
    }

    /// How the source's samples are encoded (what a recording keeps by default).
    pub fn sample_kind(&self) -> SampleKind {
        match self {
            Capture::Device(s) => SampleKind::from_cpal(s.sample_format_raw),
            Capture::Paced(p) => p.kind,
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
            Capture::Device(s) => s.fault.take(),
            Capture::Paced(p) => p.fault.take(),
        }
    }

    /// Xruns the device reported since the start.
    pub fn xruns(&self) -> u64 {
        match self {
            Capture::Device(s) => s.xruns.load(Ordering::Relaxed),
            Capture::Paced(_) => 0,
        }
    }

    /// Stops delivery without closing the device.
    pub fn pause(&self) -> Result<(), String> {
        match self {
            Capture::Device(s) => s.stream.pause().map_err(|e| e.to_string()),
            Capture::Paced(p) => {
                p.set_paused(true);
                Ok(())
            }
        }
    }

    /// Resumes delivery.
    pub fn resume(&self) -> Result<(), String> {
        match self {
            Capture::Device(s) => s.stream.play().map_err(|e| e.to_string()),
            Capture::Paced(p) => {
                p.set_paused(false);
                Ok(())
            }
        }
    }
}

fn find_device(host: &cpal::Host, spec: &SourceSpec) -> Result<cpal::Device, CaptureError> {
    let host_name = host.id().name().to_lowercase();
    let inputs = || super::devices::candidates(host);
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
        SourceSpec::Device(name) => {
            inputs()
                .into_iter()
                .find(|d| matches(d, name))
                .ok_or(CaptureError::UnknownDevice {
                    kind: "input device",
                    name: name.clone(),
                    host: host_name,
                })
        }
        SourceSpec::Monitor(which) => {
            let output = match which {
                Some(name) => name
                    .strip_suffix(MONITOR_SUFFIX)
                    .unwrap_or(name)
                    .to_string(),
                None => host
                    .default_output_device()
                    .and_then(|d| short_id(&d))
                    .ok_or(CaptureError::NoDefault {
                        host: host_name.clone(),
                        what: "default output to monitor",
                        hint: "",
                    })?,
            };
            let monitor = format!("{output}{MONITOR_SUFFIX}");
            inputs()
                .into_iter()
                .find(|d| short_id(d).as_deref() == Some(monitor.as_str()))
                .ok_or_else(|| {
                    if host.id() == cpal::HostId::Alsa {
                        CaptureError::NoMonitors
                    } else {
                        CaptureError::UnknownDevice {
                            kind: "monitor",
                            name: monitor.clone(),
                            host: host_name.clone(),
                        }
                    }
                })
        }
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
        move |data: &[T], _: &cpal::InputCallbackInfo| state.process(data),
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

fn open_device(
    choice: HostChoice,
    spec: &SourceSpec,
    period_ms: Option<f64>,
) -> Result<(Capture, EngineInput), CaptureError> {
    let _quiet = super::devices::quiet_alsa();
    let host = super::host(choice)?;
    let device = find_device(&host, spec)?;
    let device_id = short_id(&device).unwrap_or_else(|| "unknown".into());
    let open_err = |e: cpal::Error| CaptureError::Open {
        device: device_id.clone(),
        reason: e.to_string(),
    };
    // Only building the stream involves the period: its refusal says which was asked for.
    let build_err = |e: cpal::Error| CaptureError::Open {
        device: device_id.clone(),
        reason: match period_ms {
            Some(ms) => format!(
                "{e} (with the {ms} ms capture period asked for by --period or \
                 capture_period_ms in the settings: try another, or none)"
            ),
            None => e.to_string(),
        },
    };
    let supported = device.default_input_config().map_err(open_err)?;
    let sample_format = supported.sample_format();
    let mut config = supported.config();
    if let Some(ms) = period_ms {
        // A fixed period: the callback runs once per period (cpal asks ALSA for two of them).
        let frames = (ms / 1000.0 * f64::from(config.sample_rate))
            .round()
            .max(1.0);
        config.buffer_size = cpal::BufferSize::Fixed(frames as u32);
    }
    let format = StreamFormat {
        sample_rate: config.sample_rate,
        channels: usize::from(config.channels),
    }
    .validate()?;
    let (ring, samples, stats) = sample_ring(format);
    let (arrivals_tx, arrivals) = rtrb::RingBuffer::<Arrival>::new(ARRIVALS);
    let (gaps_tx, gaps) = rtrb::RingBuffer::<Gap>::new(GAPS);
    let state = CallbackState::new(ring, format.channels, arrivals_tx, gaps_tx);
    let fault = Arc::new(StreamFault::default());
    let xruns = Arc::new(AtomicU64::new(0));
    let (f, x) = (fault.clone(), xruns.clone());
    use cpal::SampleFormat as S;
    // Dispatch on the sample format once, here; the callback itself is generic.
    let stream = match sample_format {
        S::I8 => build::<i8>(&device, config, state, f, x),
        S::I16 => build::<i16>(&device, config, state, f, x),
        S::I24 => build::<cpal::I24>(&device, config, state, f, x),
        S::I32 => build::<i32>(&device, config, state, f, x),
        S::I64 => build::<i64>(&device, config, state, f, x),
        S::U8 => build::<u8>(&device, config, state, f, x),
        S::U16 => build::<u16>(&device, config, state, f, x),
        S::U24 => build::<cpal::U24>(&device, config, state, f, x),
        S::U32 => build::<u32>(&device, config, state, f, x),
        S::U64 => build::<u64>(&device, config, state, f, x),
        S::F32 => build::<f32>(&device, config, state, f, x),
        S::F64 => build::<f64>(&device, config, state, f, x),
        other => {
            return Err(CaptureError::Open {
                device: device_id,
                reason: format!("sample format {other} is not PCM"),
            });
        }
    }
    .map_err(build_err)?;
    stream.play().map_err(open_err)?;
    let live = LiveStream {
        stream,
        format,
        sample_format: sample_format.to_string(),
        sample_format_raw: sample_format,
        device: device_id.clone(),
        host: host.id().name().to_lowercase(),
        fault,
        xruns,
    };
    Ok((
        Capture::Device(live),
        EngineInput::live(samples, stats, arrivals, gaps),
    ))
}

/// Opens `spec`: a device through `choice`'s host (asking for a capture period of `period_ms`
/// when given), or a file/synth source at real-time pace.
pub fn open_source(
    choice: HostChoice,
    spec: &SourceSpec,
    looped: bool,
    period_ms: Option<f64>,
) -> Result<(Capture, EngineInput), CaptureError> {
    match spec {
        SourceSpec::File(_) | SourceSpec::Synth(_) => {
            let (paced, input) = PacedSource::start(spec, looped)?;
            Ok((Capture::Paced(paced), input))
        }
        _ => open_device(choice, spec, period_ms),
    }
}
