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

/// Every input device a cpal host (ALSA, JACK) offers; they have no monitors.
pub fn list_devices(host: &cpal::Host) -> Result<Vec<DeviceInfo>, cpal::Error> {
    let host_name = host.id().name().to_lowercase();
    let default_input = host.default_input_device().and_then(|d| short_id(&d));
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
        let default = default_input.as_deref() == Some(id.as_str());
        rows.push(DeviceInfo {
            host: host_name.clone(),
            kind: DeviceKind::Input,
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

/// One audio system's devices, or why it has none.
#[derive(Debug, Clone, Serialize)]
pub struct HostListing {
    /// The host's name (pulseaudio, alsa, jack).
    pub host: String,
    /// Whether it answered.
    pub available: bool,
    /// Why it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its inputs and monitors.
    pub devices: Vec<DeviceInfo>,
}

impl HostListing {
    fn of(host: &str, devices: Result<Vec<DeviceInfo>, String>) -> Self {
        match devices {
            Ok(devices) => HostListing {
                host: host.into(),
                available: true,
                error: None,
                devices,
            },
            Err(e) => HostListing {
                host: host.into(),
                available: false,
                error: Some(e),
                devices: Vec::new(),
            },
        }
    }
}

impl DeviceInfo {
    /// What `--source` takes for this device: `device:<id>` or `monitor:<output>`.
    pub fn source_spec(&self) -> String {
        match self.kind {
            DeviceKind::Input => format!("device:{}", self.id),
            DeviceKind::Monitor => format!(
                "monitor:{}",
                self.id.strip_suffix(MONITOR_SUFFIX).unwrap_or(&self.id)
            ),
        }
    }

    /// The audio system it belongs to.
    pub fn host_choice(&self) -> super::HostChoice {
        match self.host.as_str() {
            super::pulse::HOST => super::HostChoice::Pulseaudio,
            "jack" => super::HostChoice::Jack,
            _ => super::HostChoice::Alsa,
        }
    }
}

/// The devices of `choice`'s audio system (`Auto`: of every one this build has).
pub fn all_devices(choice: super::HostChoice) -> Vec<HostListing> {
    use super::HostChoice;
    let pulse = || {
        HostListing::of(
            super::pulse::HOST,
            super::pulse::Connection::open()
                .and_then(|mut c| c.devices())
                .map_err(|e| e.to_string()),
        )
    };
    let cpal_listing = |choice: HostChoice, name: &str| {
        HostListing::of(
            name,
            super::cpal_host(choice)
                .map_err(|e| e.to_string())
                .and_then(|h| list_devices(&h).map_err(|e| e.to_string())),
        )
    };
    match choice {
        HostChoice::Auto => {
            let mut all = vec![pulse(), cpal_listing(HostChoice::Alsa, "alsa")];
            if cfg!(feature = "jack") {
                all.push(cpal_listing(HostChoice::Jack, "jack"));
            }
            all
        }
        HostChoice::Pulseaudio => vec![pulse()],
        HostChoice::Alsa => vec![cpal_listing(HostChoice::Alsa, "alsa")],
        HostChoice::Jack => vec![cpal_listing(HostChoice::Jack, "jack")],
    }
}
