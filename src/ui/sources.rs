//! The source picker: devices and monitors listed on a helper thread ("spektr-devices"), the
//! demo signal, an audio file from the desktop's file dialog (on "spektr-file-dialog") or a
//! typed path. UI thread; the helpers only list and ask.

use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use slint::ComponentHandle;

use super::{App, DEMO_SOURCE, ERROR_NOTICE_S, SourceEntry, Ui};
use crate::capture::{DeviceInfo, DeviceKind, HostChoice, SourceSpec};

/// A file dialog that returns nothing sooner than this never opened.
pub(super) const NO_DIALOG: Duration = Duration::from_millis(400);

/// What the picker waits for and what its rows stand for.
#[derive(Default)]
pub(super) struct Picker {
    /// Each row's audio system and source spec.
    specs: Vec<(HostChoice, String)>,
    /// The device list, while it is being made.
    devices: Option<Receiver<Vec<DeviceInfo>>>,
    /// The file dialog's answer, while one is open.
    file: Option<Receiver<(Option<std::path::PathBuf>, Duration)>>,
}

/// Opens the desktop's file dialog on a helper thread (it blocks until the user chooses): the
/// file picked, or none, and how long the dialog was up.
pub(super) fn file_dialog(
    title: &str,
    filter: &str,
    extensions: &'static [&'static str],
    dir: Option<std::path::PathBuf>,
) -> std::io::Result<Receiver<(Option<std::path::PathBuf>, Duration)>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    let (title, filter) = (title.to_owned(), filter.to_owned());
    std::thread::Builder::new()
        .name("spektr-file-dialog".into())
        .spawn(move || {
            let mut dialog = rfd::FileDialog::new()
                .set_title(title)
                .add_filter(filter, extensions);
            if let Some(dir) = dir {
                dialog = dialog.set_directory(dir);
            }
            let picked = dialog.pick_file();
            let _ = tx.send((picked, start.elapsed()));
        })?;
    Ok(rx)
}

impl App {
    /// Starts listing devices on a helper thread (a server connect can take a moment); the
    /// timer fills the picker when the list arrives.
    pub(super) fn list_sources(&mut self) {
        let (tx, rx) = std::sync::mpsc::channel();
        self.picker.devices = Some(rx);
        if let Some(w) = self.window.upgrade() {
            w.global::<Ui>().set_sources_loading(true);
        }
        let _ = std::thread::Builder::new()
            .name("spektr-devices".into())
            .spawn(move || {
                let all = crate::capture::all_devices(HostChoice::Auto)
                    .into_iter()
                    .flat_map(|h| h.devices)
                    .collect();
                let _ = tx.send(all);
            });
    }

    fn fill_sources(&mut self, devices: Vec<DeviceInfo>) {
        let mut entries = vec![(
            SourceEntry {
                label: "Demo signal".into(),
                detail: "tones and pink noise, built in".into(),
                current: self.using_demo,
            },
            (HostChoice::Auto, DEMO_SOURCE.to_string()),
        )];
        let current = self
            .info
            .as_ref()
            .map(|i| i.name.clone())
            .unwrap_or_default();
        for d in devices {
            let label = match d.kind {
                DeviceKind::Monitor => format!("what you hear: {}", d.name),
                DeviceKind::Input => d.name.clone(),
            };
            let format = match (d.sample_rate, d.channels) {
                (Some(r), Some(c)) => format!(", {r} Hz, {c} ch"),
                _ => String::new(),
            };
            let detail = format!(
                "{}{}{format}",
                d.host,
                if d.default { ", default" } else { "" }
            );
            entries.push((
                SourceEntry {
                    label: label.into(),
                    detail: detail.into(),
                    current: current == format!("{}:{}", d.host, d.id),
                },
                (d.host_choice(), d.source_spec()),
            ));
        }
        self.picker.specs = entries.iter().map(|e| e.1.clone()).collect();
        self.models
            .sources
            .set_vec(entries.into_iter().map(|e| e.0).collect::<Vec<_>>());
        if let Some(w) = self.window.upgrade() {
            w.global::<Ui>().set_sources_loading(false);
        }
    }

    fn switch_source(&mut self, host: HostChoice, spec: &str) {
        match spec.parse::<SourceSpec>() {
            Ok(parsed) => {
                // A recording is of one source: the session ends it before the switch.
                self.using_demo = spec == DEMO_SOURCE;
                self.session.set_source(host, parsed);
                if let Some(w) = self.window.upgrade() {
                    w.global::<Ui>().set_sources_open(false);
                }
            }
            Err(e) => self.notice(e.to_string()),
        }
    }

    pub(super) fn pick_source(&mut self, index: usize) {
        if let Some((host, spec)) = self.picker.specs.get(index).cloned() {
            self.switch_source(host, &spec);
        }
    }

    /// Opens the desktop's file dialog on a helper thread (it blocks until the user chooses);
    /// the timer opens what it returns.
    pub(super) fn browse_file(&mut self) {
        if self.picker.file.is_some() {
            return;
        }
        match file_dialog(
            "Open audio file - spektr",
            "Audio files",
            &["wav", "wave", "flac", "ogg", "oga"],
            dirs::audio_dir().or_else(dirs::home_dir),
        ) {
            Ok(rx) => self.picker.file = Some(rx),
            Err(e) => self.notice(format!("cannot open the file dialog: {e}")),
        }
    }

    /// The file dialog's answer: a file to open, a cancel, or no dialog at all.
    fn file_chosen(&mut self, picked: Option<std::path::PathBuf>, after: Duration) {
        match picked {
            Some(path) => match path.to_str() {
                Some(path) => self.switch_source(HostChoice::Auto, &format!("file:{path}")),
                None => self.notice(format!(
                    "cannot open {}: spektr needs file names in UTF-8",
                    path.display()
                )),
            },
            // Nobody cancels a dialog that fast: none could open.
            None if after < NO_DIALOG => self.notice_for(
                "no file dialog on this desktop (it needs xdg-desktop-portal or zenity): \
                 type the file's path in the field and press Enter",
                ERROR_NOTICE_S,
            ),
            None => {}
        }
    }

    pub(super) fn open_file(&mut self, path: &str) {
        let path = path.trim();
        if path.is_empty() {
            self.notice("type the path of an audio file first");
            return;
        }
        self.switch_source(HostChoice::Auto, &format!("file:{path}"));
    }

    /// The helpers' answers, when they came.
    pub(super) fn poll_picker(&mut self) {
        if let Some(devices) = self
            .picker
            .devices
            .as_ref()
            .and_then(|rx| rx.try_recv().ok())
        {
            self.picker.devices = None;
            self.fill_sources(devices);
        }
        if let Some(rx) = &self.picker.file {
            match rx.try_recv() {
                Ok((picked, after)) => {
                    self.picker.file = None;
                    self.file_chosen(picked, after);
                }
                Err(TryRecvError::Disconnected) => self.picker.file = None,
                Err(TryRecvError::Empty) => {}
            }
        }
    }
}
