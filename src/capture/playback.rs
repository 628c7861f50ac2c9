//! The generator's output through cpal (ALSA, JACK): the device's callback fills its buffer
//! from [`Signal::fill`] (no allocation, no lock), and a small watcher thread reports the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::devices::short_id;
use super::{CaptureError, HostChoice};
use crate::generate::{Output, Signal};

/// The samples a callback converts at a time (for devices that take integers).
const CHUNK: usize = 4096;

/// The playing cpal stream; dropping it closes the device.
pub struct StreamHolder(#[allow(dead_code)] cpal::Stream);

impl std::fmt::Debug for StreamHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamHolder")
    }
}

/// Sample types an output callback is written in.
pub trait FromF32: cpal::SizedSample + Send + 'static {
    fn from_f32(v: f32) -> Self;
}

impl FromF32 for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
}

impl FromF32 for i16 {
    fn from_f32(v: f32) -> Self {
        (v * 32767.0).round() as i16
    }
}

impl FromF32 for i32 {
    fn from_f32(v: f32) -> Self {
        (f64::from(v) * 2_147_483_647.0).round() as i32
    }
}

/// The callback's scratch buffer for `channels` channels (made once, with the stream).
pub fn scratch_for(channels: usize) -> Vec<f32> {
    vec![0.0f32; CHUNK * channels.max(1)]
}

/// The output callback's body: `data` filled from `signal` through `scratch` (whole frames
/// at a time). `false` once the signal has ended.
pub fn fill_output<T: FromF32>(signal: &mut Signal, scratch: &mut [f32], data: &mut [T]) -> bool {
    let mut going = true;
    for chunk in data.chunks_mut(scratch.len()) {
        let buf = &mut scratch[..chunk.len()];
        going &= signal.fill(buf);
        for (out, v) in chunk.iter_mut().zip(buf.iter()) {
            *out = T::from_f32(*v);
        }
    }
    going
}

fn build<T: FromF32>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut signal: Signal,
    ended: Arc<AtomicBool>,
    failed: Arc<AtomicBool>,
) -> Result<cpal::Stream, cpal::Error> {
    let mut scratch = scratch_for(usize::from(config.channels));
    device.build_output_stream::<T, _, _>(
        config,
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
            if !fill_output(&mut signal, &mut scratch, data) {
                ended.store(true, Ordering::Relaxed);
            }
        },
        move |err: cpal::Error| {
            if matches!(
                err.kind(),
                cpal::ErrorKind::DeviceNotAvailable
                    | cpal::ErrorKind::StreamInvalidated
                    | cpal::ErrorKind::HostUnavailable
            ) {
                failed.store(true, Ordering::Relaxed);
            }
        },
        Some(Duration::from_secs(5)),
    )
}

/// Plays what `make(rate, channels)` gives to `device` of `choice`'s audio system (`None`: its
/// default output), at the device's own rate and channels.
pub fn play(
    choice: HostChoice,
    device: Option<&str>,
    make: impl FnOnce(u32, usize) -> Result<Signal, CaptureError>,
    done: std::sync::mpsc::Sender<Result<(), String>>,
) -> Result<(Output, Arc<AtomicU64>, StreamHolder), CaptureError> {
    let _quiet = super::devices::quiet_alsa();
    let host = super::cpal_host(choice)?;
    let host_name = super::host_name(&host);
    let dev = match device {
        None => host
            .default_output_device()
            .ok_or(CaptureError::NoDefault {
                host: host_name.clone(),
                what: "default output",
                hint: "; 'aplay -L' lists the outputs",
            })?,
        Some(name) => host
            .output_devices()
            .map_err(|e| CaptureError::HostUnavailable {
                host: host_name.clone(),
                reason: e.to_string(),
            })?
            .find(|d| {
                short_id(d).as_deref() == Some(name)
                    || d.description().map(|x| x.name() == name).unwrap_or(false)
            })
            .ok_or(CaptureError::UnknownOutput {
                name: name.to_owned(),
                host: host_name.clone(),
            })?,
    };
    let id = short_id(&dev).unwrap_or_else(|| "default".into());
    let open_err = |e: cpal::Error| CaptureError::Open {
        device: id.clone(),
        reason: e.to_string(),
    };
    let supported = dev.default_output_config().map_err(open_err)?;
    let config = supported.config();
    let (rate, channels) = (config.sample_rate, usize::from(config.channels));
    let signal = make(rate, channels)?;
    let played = signal.played();
    let (ended, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (e, f) = (ended.clone(), failed.clone());
    use cpal::SampleFormat as S;
    let stream = match supported.sample_format() {
        S::F32 => build::<f32>(&dev, config, signal, e, f),
        S::I16 => build::<i16>(&dev, config, signal, e, f),
        S::I32 => build::<i32>(&dev, config, signal, e, f),
        other => Err(cpal::Error::with_message(
            cpal::ErrorKind::UnsupportedConfig,
            format!("the generator plays f32, i16 or i32 samples, not {other}"),
        )),
    }
    .map_err(open_err)?;
    stream.play().map_err(open_err)?;
    let description = dev
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| id.clone());
    // The end, as the callback saw it, told the way the PulseAudio output tells it (after the
    // device has played what it was given).
    // The watcher ends with the stream too (the callback holds the flag's other end).
    std::thread::Builder::new()
        .name("spektr-generator".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(50));
                if Arc::strong_count(&ended) == 1 {
                    let _ = done.send(Ok(()));
                    return;
                }
                if failed.load(Ordering::Relaxed) {
                    let _ = done.send(Err("the output device went away".into()));
                    return;
                }
                if ended.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    let _ = done.send(Ok(()));
                    return;
                }
            }
        })
        .map_err(|e| CaptureError::Open {
            device: id.clone(),
            reason: format!("cannot start the generator's thread: {e}"),
        })?;
    Ok((
        Output {
            device: id,
            description,
            host: if choice == HostChoice::Jack {
                "jack"
            } else {
                "alsa"
            },
            rate,
            channels,
        },
        played,
        StreamHolder(stream),
    ))
}
