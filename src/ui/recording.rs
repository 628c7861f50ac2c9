//! The window's recording: R starts one into the recordings folder or stops it; the indicator
//! shows its clock, size and buffer; its end becomes a notice. UI thread.

use slint::ComponentHandle;

use super::{App, ERROR_NOTICE_S, Ui};
use crate::record::{RecordEvent, RecordRequest};

impl App {
    /// R: starts a recording of the current source into the recordings folder, or stops the
    /// one that runs.
    pub(super) fn toggle_record(&mut self) {
        if let Some(r) = self.session.recording() {
            r.stop();
            return;
        }
        let Some(info) = self.info.clone().filter(|_| self.session.has_engine()) else {
            self.notice("nothing to record: no source is running");
            return;
        };
        let dir = self
            .user
            .recordings
            .clone()
            .unwrap_or_else(crate::record::default_dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            self.notice_for(
                format!("cannot record: cannot create {}: {e}", dir.display()),
                ERROR_NOTICE_S,
            );
            return;
        }
        let path = crate::record::unique_recording_path(&dir, chrono::Local::now());
        let mut request = RecordRequest::new(path, info.format, info.kind);
        request.choice = self.user.record_format;
        request.source = info.name.clone();
        request.settings = serde_json::to_value(&self.user).unwrap_or_default();
        match self.session.record(request) {
            Ok(recording) => {
                let text = format!("recording to {}", recording.path().display());
                self.notice(text);
                self.rec_progress = Default::default();
                if let Some(w) = self.window.upgrade() {
                    let ui = w.global::<Ui>();
                    ui.set_recording(true);
                    ui.set_rec_text("REC 00:00.000".into());
                }
            }
            Err(e) => self.notice_for(format!("cannot record: {e}"), ERROR_NOTICE_S),
        }
    }

    /// Takes the recording's events: progress into the indicator, the end into a notice.
    pub(super) fn poll_recording(&mut self) {
        let Some(r) = self.session.recording() else {
            return;
        };
        let mut finished = None;
        while let Ok(event) = r.events.try_recv() {
            match event {
                RecordEvent::Progress(p) => self.rec_progress = p,
                RecordEvent::Finished(f) => finished = Some(f),
            }
        }
        let text = format!(
            "REC {}  {}  buffer {:.0}%",
            r.clock(),
            crate::record::human_bytes(self.rec_progress.bytes),
            self.rec_progress.ring_fill * 100.0
        );
        if let Some(f) = finished {
            drop(self.session.take_recording());
            if let Some(w) = self.window.upgrade() {
                w.global::<Ui>().set_recording(false);
            }
            if f.complete() {
                self.notice_for(f.message(), ERROR_NOTICE_S / 2.0);
            } else {
                self.notice_for(format!("error: {}", f.message()), ERROR_NOTICE_S);
            }
            self.last_recording = Some(f);
        } else if let Some(w) = self.window.upgrade() {
            let ui = w.global::<Ui>();
            if ui.get_rec_text().as_str() != text {
                ui.set_rec_text(text.into());
            }
        }
    }

    /// Whether a recording is running.
    pub fn is_recording(&self) -> bool {
        self.session.recording().is_some()
    }
}
