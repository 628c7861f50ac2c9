//! `spektr devices [--json] [--host H]`: every input device and output monitor, per host.

use std::io::Write;

use clap::Args;

use super::CliError;
use crate::capture::{DeviceKind, HostChoice, HostListing, all_devices};

/// Arguments of `spektr devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only this audio system (default: every one that is available).
    #[arg(long, value_enum, default_value_t = HostChoice::Auto)]
    pub host: HostChoice,
}

/// Runs `spektr devices`.
pub fn run(args: &DevicesArgs) -> Result<(), CliError> {
    let all = all_devices(args.host);
    let mut out = std::io::stdout().lock();
    let text = if args.json {
        let mut t = serde_json::to_string_pretty(&serde_json::json!({ "hosts": all }))
            .map_err(|e| CliError::Io(e.to_string()))?;
        t.push('\n');
        t
    } else {
        table(&all)
    };
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Io(format!("cannot write standard output: {e}"))),
    }
}

fn table(all: &[HostListing]) -> String {
    use std::fmt::Write as _;
    let mut t = String::new();
    for h in all {
        if !h.available {
            let _ = writeln!(
                t,
                "{}: not available ({})",
                h.host,
                h.error.as_deref().unwrap_or("unknown reason")
            );
            continue;
        }
        let _ = writeln!(t, "{}:", h.host);
        if h.devices.is_empty() {
            let _ = writeln!(t, "  (no input devices)");
        }
        for d in &h.devices {
            let source = d.source_spec();
            let format = match (d.sample_rate, d.channels, &d.sample_format) {
                (Some(r), Some(c), Some(f)) => format!("{r} Hz, {c} ch, {f}"),
                _ => "format unknown".into(),
            };
            let kind = match d.kind {
                DeviceKind::Input => "input",
                DeviceKind::Monitor => "monitor (what you hear)",
            };
            let _ = writeln!(
                t,
                "  {} {:<40} {kind}, {format}{}",
                if d.default { "*" } else { " " },
                source,
                if d.name != d.id {
                    format!(": {}", d.name)
                } else {
                    String::new()
                }
            );
        }
    }
    let _ = writeln!(
        t,
        "\n* marks the default input and the default output's monitor; use the first column with --source."
    );
    t
}
