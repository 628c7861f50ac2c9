//! Arguments that several commands share, flattened into each (clap's `flatten`).

use clap::Args;

use crate::capture::{HostChoice, Period};
use crate::config::AnalysisSettings;
use crate::live::LiveOptions;

/// Where live audio comes from: the audio system, the capture period, looping.
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// Audio system for devices and monitors.
    #[arg(long, value_enum, default_value_t = HostChoice::Auto)]
    pub host: HostChoice,
    /// Capture period to ask a device for, ms (1 to 200) [default: 10, or the device's own
    /// where it refuses 10]. Longer periods wake spektr less often (less CPU, more latency).
    /// Devices only: files and synth are paced.
    #[arg(long, value_name = "MS", value_parser = crate::capture::parse_period_ms)]
    pub period: Option<f64>,
    /// With a file source, play it again and again.
    #[arg(long = "loop")]
    pub looped: bool,
}

impl LiveArgs {
    /// The capture period asked for, or spektr's default.
    pub fn period(&self) -> Period {
        Period::from_option(self.period)
    }

    /// A command-line session: it ends when the source does (no reconnecting).
    pub fn options(&self, settings: &AnalysisSettings, gain_db: f32) -> LiveOptions {
        LiveOptions {
            host: self.host,
            looped: self.looped,
            reconnect: false,
            period: self.period(),
            settings: settings.clone(),
            gain_db,
        }
    }
}
