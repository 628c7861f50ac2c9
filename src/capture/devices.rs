//! Listing input devices and output monitors ("what you hear"), per host.

use cpal::traits::{DeviceTrait, HostTrait};
use serde::Serialize;

/// Input device or an output's monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// A microphone, line input, interface input.
    Input,
    /// The monitor of an output device: what the computer plays.
    Monitor,
}

/// One row of `spektr devices`.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceInfo {
    /// Host name (alsa, pulseaudio, jack).
    pub host: String,
    /// Input or monitor.
    pub kind: DeviceKind,
    /// What `--source device:<id>` (or `monitor:<id>`) takes.
    pub id: String,
    /// The host's description of it.
    pub name: String,
    /// The default input, or the default output's monitor.
    pub default: bool,
    /// Default sample rate, Hz.
    pub sample_rate: Option<u32>,
    /// Default channel count.
    pub channels: Option<u16>,
    /// Default sample format.
    pub sample_format: Option<String>,
}

/// The id cpal gives a device, without the `host:` prefix.
pub fn short_id(device: &cpal::Device) -> Option<String> {
    device.id().ok().map(|id| {
        id.to_string()
            .split_once(':')
            .map_or_else(|| id.to_string(), |(_, rest)| rest.to_string())
    })
}

/// ALSA PCMs that bridge to another sound system or only convert: not capture devices, and
/// opening them to probe a format wakes JACK, OSS or PulseAudio clients that print to stderr.
pub const ALSA_PLUGINS: &[&str] = &[
    "jack",
    "oss",
    "pulse",
    "pipewire",
    "lavrate",
    "samplerate",
    "speexrate",
    "speex",
    "upmix",
    "vdownmix",
    "a52",
    "usbstream",
];

/// Routes alsa-lib's error messages ("ALSA lib ...") on this thread into a buffer instead of
/// stderr; keep the returned value alive while ALSA is used.
pub fn quiet_alsa() -> Option<impl Sized> {
    alsa::Output::local_error_handler().ok()
}

/// Candidate input devices without opening any of them.
pub fn candidates(host: &cpal::Host) -> Vec<cpal::Device> {
    let mut all: Vec<cpal::Device> = if host.id() == cpal::HostId::Alsa {
        host.devices().map(|d| d.collect()).unwrap_or_default()
    } else {
        host.input_devices()
            .map(|d| d.collect())
            .unwrap_or_default()
    };
    all.retain(|d| {
        !(host.id() == cpal::HostId::Alsa
            && short_id(d).is_some_and(|id| ALSA_PLUGINS.contains(&id.as_str())))
    });
    all.extend(host.default_input_device());
    all
}

/// PulseAudio names an output's monitor `<output>.monitor`.
pub const MONITOR_SUFFIX: &str = ".monitor";

/// Every input device and monitor `host` offers.
pub fn list_devices(host: &cpal::Host) -> Result<Vec<DeviceInfo>, cpal::Error> {
    let host_name = host.id().name().to_lowercase();
    let default_input = host.default_input_device().and_then(|d| short_id(&d));
    let default_monitor = host
        .default_output_device()
        .and_then(|d| short_id(&d))
        .map(|s| format!("{s}{MONITOR_SUFFIX}"));
    let mut rows = Vec::new();
    let _quiet = quiet_alsa();
    let mut devices: Vec<cpal::Device> = host.input_devices()?.collect();
    if host.id() == cpal::HostId::Alsa {
        // cpal lists hints without an I/O direction as duplex: probing them is the test.
        devices = host.devices()?.collect();
    }
    for device in devices {
        let Some(id) = short_id(&device) else {
            continue;
        };
        if host.id() == cpal::HostId::Alsa && ALSA_PLUGINS.contains(&id.as_str()) {
            continue;
        }
        if rows.iter().any(|r: &DeviceInfo| r.id == id) {
            continue;
        }
        let config = device.default_input_config().ok();
        if host.id() == cpal::HostId::Alsa && config.is_none() && id != "default" {
            // Output-only or unusable PCMs.
            continue;
        }
        let kind = if id.ends_with(MONITOR_SUFFIX) {
            DeviceKind::Monitor
        } else {
            DeviceKind::Input
        };
        let default = match kind {
            DeviceKind::Input => default_input.as_deref() == Some(id.as_str()),
            DeviceKind::Monitor => default_monitor.as_deref() == Some(id.as_str()),
        };
        rows.push(DeviceInfo {
            host: host_name.clone(),
            kind,
            name: device
                .description()
                .map(|d| d.name().to_string())
                .unwrap_or_else(|_| id.clone()),
            id,
            default,
            sample_rate: config.as_ref().map(|c| c.sample_rate()),
            channels: config.as_ref().map(|c| c.channels()),
            sample_format: config.as_ref().map(|c| c.sample_format().to_string()),
        });
    }
    // ALSA's "default" PCM is an input even though cpal does not list it as one.
    if let Some(id) = default_input.filter(|id| !rows.iter().any(|r| &r.id == id))
        && let Some(device) = host.default_input_device()
    {
        {
            let config = device.default_input_config().ok();
            rows.insert(
                0,
                DeviceInfo {
                    host: host_name.clone(),
                    kind: DeviceKind::Input,
                    name: device
                        .description()
                        .map(|d| d.name().to_string())
                        .unwrap_or_else(|_| id.clone()),
                    id,
                    default: true,
                    sample_rate: config.as_ref().map(|c| c.sample_rate()),
                    channels: config.as_ref().map(|c| c.channels()),
                    sample_format: config.as_ref().map(|c| c.sample_format().to_string()),
                },
            );
        }
    }
    Ok(rows)
}
