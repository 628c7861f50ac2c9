//! References: spectra kept as lines over the live bars (T stores the one on screen, named or
//! "Ref N"; a snapshot's JSON or CSV loads), and the difference view (D: the live bars minus
//! one of them on a +/-24 dB scale). At most four; each keeps its colour. They are kept in
//! `references.json` beside the settings file, come back at the next start, and travel with
//! snapshots. UI thread; the file dialog runs on a helper, as the source picker's.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

use slint::{ComponentHandle, Model, ModelRc, SharedString, VecModel};

use super::{App, ERROR_NOTICE_S, ReferenceRow, TraceMark, Ui, adapters};
use crate::reference::{DIFF_RANGE_DB, MAX_REFERENCES, Reference};

/// The file they are kept in, beside the settings file.
pub const FILE_NAME: &str = "references.json";

/// A reference as the window keeps it.
#[derive(Debug, Clone)]
pub(super) struct Kept {
    pub reference: Reference,
    /// Its line's colour (kept when another is removed).
    pub colour: usize,
    /// Whether it fits the bands on screen, and if not why.
    pub fits: Result<(), String>,
}

/// The references, the one compared with, and the difference view.
#[derive(Debug, Default)]
pub(super) struct References {
    pub kept: Vec<Kept>,
    /// The one the difference view subtracts.
    pub compare: Option<usize>,
    /// The difference view is on (and `compare` fits).
    pub difference: bool,
    /// The compared reference's levels while the difference view is on (else empty): a frame
    /// reads them without allocating.
    pub base: Vec<f32>,
    /// The lines' rows, made when something changes (not every frame).
    marks: Vec<TraceMark>,
    path: Option<PathBuf>,
    /// The file dialog's answer, while one is open.
    dialog: Option<Receiver<(Option<PathBuf>, Duration)>>,
}

impl References {
    /// The references kept at `path` (none when there is no file). A file that cannot be
    /// read is moved aside to `references.json.bak`, never overwritten, and named in the
    /// warning.
    pub fn load(path: Option<PathBuf>) -> (Self, Option<String>) {
        let mut refs = References {
            path,
            ..Default::default()
        };
        let Some(path) = refs.path.clone() else {
            return (refs, None);
        };
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (refs, None),
            Err(e) => {
                // Never written over: the file may be fine once it can be read again.
                refs.path = None;
                return (
                    refs,
                    Some(format!(
                        "cannot read {}: {}; references are not kept this time",
                        path.display(),
                        crate::paths::io_reason(&e)
                    )),
                );
            }
        };
        match parse_kept(&text) {
            Ok((kept, compare, difference)) => {
                refs.kept = kept;
                refs.compare = compare.filter(|&i| i < refs.kept.len());
                refs.difference = difference && refs.compare.is_some();
                (refs, None)
            }
            Err(why) => {
                let mut aside = path.as_os_str().to_owned();
                aside.push(".bak");
                let moved = std::fs::rename(&path, &aside).is_ok();
                let what = if moved {
                    format!("moved to {}", Path::new(&aside).display())
                } else {
                    "left as it is".into()
                };
                refs.path = moved.then_some(path.clone());
                (
                    refs,
                    Some(format!(
                        "{} is not a list of references ({why}): {what}; starting with none",
                        path.display()
                    )),
                )
            }
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "spektr-references",
            "version": 1,
            "compare": self.compare,
            "difference": self.difference,
            "references": self.kept.iter().map(|k| {
                let mut v = k.reference.to_json();
                v["colour"] = k.colour.into();
                v
            }).collect::<Vec<_>>(),
        })
    }

    /// Writes the list (no file: not kept).
    fn save(&self) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut text = serde_json::to_string_pretty(&self.to_json()).map_err(|e| e.to_string())?;
        text.push('\n');
        crate::reference::write_whole(path, text.as_bytes()).map_err(|e| {
            format!(
                "cannot keep the references in {}: {}",
                path.display(),
                crate::paths::io_reason(&e)
            )
        })
    }

    /// What a snapshot says of them: each as its file has it, whether it is drawn, and the
    /// difference view.
    pub fn snapshot_json(&self) -> serde_json::Value {
        serde_json::json!({
            "shown": self.kept.iter().map(|k| {
                let mut v = k.reference.to_json();
                v["colour"] = k.colour.into();
                v["drawn"] = k.fits.is_ok().into();
                v
            }).collect::<Vec<_>>(),
            "difference": if self.difference {
                self.compare.and_then(|i| self.kept.get(i)).map(|k| serde_json::json!({
                    "against": k.reference.name,
                    "scale_db": [DIFF_RANGE_DB.0, DIFF_RANGE_DB.1],
                    "rule": "the picture only: bars are drawn as the live level minus the \
                             reference's; every level in this file is as measured",
                }))
            } else {
                None
            },
        })
    }

    /// The lowest colour no reference has.
    fn free_colour(&self) -> usize {
        (0..MAX_REFERENCES)
            .find(|c| self.kept.iter().all(|k| k.colour != *c))
            .unwrap_or(0)
    }

    /// "Ref N" with the lowest N no reference is called.
    fn next_name(&self) -> String {
        (1..)
            .map(|n| format!("Ref {n}"))
            .find(|name| self.kept.iter().all(|k| &k.reference.name != name))
            .unwrap_or_default()
    }

    /// The bars' scale: the difference view's, or `range`.
    pub fn range(&self, range: (f32, f32)) -> (f32, f32) {
        if self.difference {
            DIFF_RANGE_DB
        } else {
            range
        }
    }
}

/// The kept list from its file's bytes.
fn parse_kept(bytes: &[u8]) -> Result<(Vec<Kept>, Option<usize>, bool), String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let list = value
        .get("references")
        .and_then(|r| r.as_array())
        .ok_or("no \"references\" list")?;
    let mut kept: Vec<Kept> = Vec::new();
    for (i, entry) in list.iter().take(MAX_REFERENCES).enumerate() {
        let reference = Reference::from_value(entry, &format!("Ref {}", i + 1))
            .map_err(|e| format!("reference {}: {e}", i + 1))?;
        let colour = entry
            .get("colour")
            .and_then(|c| c.as_u64())
            .map(|c| c as usize)
            .filter(|c| *c < MAX_REFERENCES && kept.iter().all(|k| k.colour != *c))
            .unwrap_or_else(|| {
                (0..MAX_REFERENCES)
                    .find(|c| kept.iter().all(|k| k.colour != *c))
                    .unwrap_or(0)
            });
        kept.push(Kept {
            reference,
            colour,
            fits: Ok(()),
        });
    }
    let compare = value
        .get("compare")
        .and_then(|c| c.as_u64())
        .map(|c| c as usize);
    let difference = value
        .get("difference")
        .and_then(|d| d.as_bool())
        .unwrap_or(false);
    Ok((kept, compare, difference))
}

/// "synth:demo, 2026-12-04 20:31".
fn detail(k: &Kept) -> String {
    if let Err(why) = &k.fits {
        return format!("not drawn: {why}");
    }
    let r = &k.reference;
    let when = chrono::DateTime::parse_from_rfc3339(&r.time)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default();
    [r.source.as_str(), when.as_str(), r.unit.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

impl App {
    /// Where the references are kept: beside the settings file (no settings file: not kept).
    pub(super) fn references_path(settings: Option<&Path>) -> Option<PathBuf> {
        settings.map(|p| p.with_file_name(FILE_NAME))
    }

    /// The spectrum on screen as a reference (the T key, the panel's Store): named `name`,
    /// or "Ref N".
    pub(super) fn store_reference(&mut self, name: &str) {
        let Some(info) = &self.info else {
            self.notice("nothing to store yet: the source has not started");
            return;
        };
        if self.bands.is_empty() || self.stats.frames_shown == 0 {
            self.notice("nothing to store yet: no spectrum has been shown");
            return;
        }
        // Frozen across a change of source or bands, the picture is not of the stream now:
        // its source and rate would be misnamed.
        if self.bands.as_slice() != self.session.bands() || self.frozen_across_streams {
            self.notice(
                "the frozen spectrum is from before a change of source or bands: unfreeze first",
            );
            return;
        }
        let name = match crate::reference::clean_name(name) {
            n if n.is_empty() => self.refs.next_name(),
            n => n,
        };
        let reference = Reference::from_levels(
            &name,
            &info.name,
            self.unit(),
            info.format.sample_rate,
            &self.bands,
            &self.shown.bars_db,
        );
        self.add_reference(reference, "stored");
    }

    /// A snapshot's JSON or CSV (or a reference file) as a reference.
    pub(super) fn load_reference(&mut self, path: &str) {
        let path = path.trim();
        if path.is_empty() {
            self.notice("type the path of a snapshot's .json or .csv first");
            return;
        }
        match Reference::load(Path::new(path)) {
            Ok(r) => self.add_reference(r, "loaded"),
            Err(e) => self.notice_for(e.to_string(), ERROR_NOTICE_S),
        }
    }

    /// The unit the bars read: dB SPL on a calibrated input with the units so, else dBFS.
    pub(super) fn unit(&self) -> &'static str {
        self.analysis().unit()
    }

    fn add_reference(&mut self, reference: Reference, verb: &str) {
        if self.refs.kept.len() >= MAX_REFERENCES {
            self.notice_for(
                format!(
                    "{MAX_REFERENCES} references are kept already: remove one (References) \
                     before adding \"{}\"",
                    reference.name
                ),
                ERROR_NOTICE_S,
            );
            return;
        }
        // Refused, not re-binned: another layout's levels are not these bands' levels.
        if let Some(info) = &self.info
            && let Err(why) = reference.fits(&self.bands, info.format.sample_rate, self.unit())
        {
            self.notice_for(
                format!("cannot compare with it: {why} (set the same Bands and Bars)"),
                ERROR_NOTICE_S,
            );
            return;
        }
        let name = reference.name.clone();
        let colour = self.refs.free_colour();
        self.refs.kept.push(Kept {
            reference,
            colour,
            fits: Ok(()),
        });
        self.references_changed();
        self.notice(format!("{verb} \"{name}\"; D: the live bars against it"));
    }

    /// Removes reference `i` (the panel's Remove).
    pub(super) fn remove_reference(&mut self, i: usize) {
        if i >= self.refs.kept.len() {
            return;
        }
        self.refs.kept.remove(i);
        self.refs.compare = match self.refs.compare {
            Some(c) if c == i => None,
            Some(c) if c > i => Some(c - 1),
            other => other,
        };
        if self.refs.compare.is_none() {
            self.refs.difference = false;
        }
        self.references_changed();
    }

    /// The difference view against reference `i` (the panel's Compare; again: off).
    pub(super) fn compare_reference(&mut self, i: usize) {
        if self.refs.difference && self.refs.compare == Some(i) {
            self.refs.difference = false;
        } else {
            self.refs.compare = Some(i);
            self.refs.difference = true;
        }
        self.check_difference();
        self.references_changed();
    }

    /// The D key and the panel's switch: the difference view on or off (on: against the
    /// reference compared last, or the first that fits).
    pub(super) fn toggle_difference(&mut self) {
        self.refs.difference = !self.refs.difference;
        if self.refs.difference
            && self
                .refs
                .compare
                .is_none_or(|c| self.refs.kept.get(c).is_none_or(|k| k.fits.is_err()))
        {
            self.refs.compare = self.refs.kept.iter().position(|k| k.fits.is_ok());
        }
        self.check_difference();
        self.references_changed();
    }

    /// A difference view that cannot be shown is turned off, saying why.
    fn check_difference(&mut self) {
        if !self.refs.difference {
            return;
        }
        let why = match self.refs.compare.and_then(|c| self.refs.kept.get(c)) {
            None if self.refs.kept.is_empty() => {
                Some("no reference to compare with: store one first (T)".to_owned())
            }
            None => Some(
                "none of the kept references was measured in these bands: set the Bands they \
                 were measured in, or store one (T)"
                    .to_owned(),
            ),
            Some(k) => k
                .fits
                .as_ref()
                .err()
                .map(|e| format!("no difference view: {e}")),
        };
        if let Some(why) = why {
            self.refs.difference = false;
            self.notice(why);
        }
    }

    /// The bands on screen changed: which references fit them now.
    pub(super) fn refit_references(&mut self) {
        // No bands on screen yet (a stream starting): nothing to judge against.
        if self.bands.is_empty() {
            return;
        }
        let rate = self.info.as_ref().map(|i| i.format.sample_rate);
        let unit = self.unit();
        for k in &mut self.refs.kept {
            k.fits = match rate {
                Some(rate) => k.reference.fits(&self.bands, rate, unit),
                None => Err("the source has not started".into()),
            };
        }
        self.check_difference();
        self.references_changed_unsaved();
    }

    fn references_changed(&mut self) {
        if let Err(e) = self.refs.save() {
            self.notice_for(e, ERROR_NOTICE_S);
        }
        self.references_changed_unsaved();
    }

    /// The panel's rows, the lines, the scale and the bars after any change.
    pub(super) fn references_changed_unsaved(&mut self) {
        let refs = &mut self.refs;
        refs.base = match refs.compare.and_then(|c| refs.kept.get(c)) {
            Some(k) if refs.difference && k.fits.is_ok() => k.reference.levels().collect(),
            _ => {
                refs.difference = false;
                Vec::new()
            }
        };
        let range = refs.range(self.db_range);
        refs.marks.clear();
        for k in refs.kept.iter().filter(|k| k.fits.is_ok()) {
            for (i, level) in k.reference.levels().enumerate() {
                // Drawn as the bars are: tilted with them, or against the compared one.
                let db = match refs.base.get(i) {
                    Some(base) => level - base,
                    None => level + self.tilts.get(i).copied().unwrap_or(0.0),
                };
                refs.marks.push(TraceMark {
                    bar: i as i32,
                    channel: k.colour as i32,
                    level: ((db - range.0) / (range.1 - range.0)).clamp(0.0, 1.0),
                });
            }
        }
        self.models.ref_marks.set_vec(refs.marks.clone());
        let rows: Vec<ReferenceRow> = refs
            .kept
            .iter()
            .enumerate()
            .map(|(i, k)| ReferenceRow {
                name: k.reference.name.as_str().into(),
                detail: detail(k).into(),
                colour: k.colour as i32,
                drawn: k.fits.is_ok(),
                compared: refs.difference && refs.compare == Some(i),
            })
            .collect();
        if let Some(w) = self.window.upgrade() {
            let ui = w.global::<Ui>();
            ui.set_references(ModelRc::new(VecModel::from(rows)));
            ui.set_difference(refs.difference);
            let against = refs
                .compare
                .and_then(|c| refs.kept.get(c))
                .filter(|_| refs.difference)
                .map_or_else(SharedString::new, |k| k.reference.name.as_str().into());
            ui.set_difference_name(against);
        }
        self.show_grid();
        self.show();
    }

    /// The dB grid of the bars' scale.
    pub(super) fn show_grid(&self) {
        if let Some(w) = self.window.upgrade() {
            let grid = if self.refs.difference {
                adapters::diff_grid(DIFF_RANGE_DB)
            } else {
                adapters::grid(self.db_range)
            };
            w.global::<Ui>()
                .set_grid(ModelRc::new(VecModel::from(grid)));
        }
    }

    /// The tilted lines follow a new tilt or scale.
    pub(super) fn redraw_references(&mut self) {
        if self.models.ref_marks.row_count() > 0 || self.refs.difference {
            self.references_changed_unsaved();
        }
    }

    /// Opens the desktop's file dialog for a snapshot to load as a reference.
    pub(super) fn browse_reference(&mut self) {
        if self.refs.dialog.is_some() {
            return;
        }
        let dir = self
            .user
            .snapshots
            .clone()
            .unwrap_or_else(super::snapshot::default_dir);
        match super::sources::file_dialog(
            "Load a snapshot as a reference - spektr",
            "spektr snapshots",
            &["json", "csv"],
            Some(dir),
        ) {
            Ok(rx) => self.refs.dialog = Some(rx),
            Err(e) => self.notice(format!("cannot open the file dialog: {e}")),
        }
    }

    /// The dialog's answer, when it came.
    pub(super) fn poll_reference_dialog(&mut self) {
        let Some(rx) = &self.refs.dialog else {
            return;
        };
        match rx.try_recv() {
            Ok((picked, after)) => {
                self.refs.dialog = None;
                match picked {
                    Some(path) => self.load_reference(&path.to_string_lossy()),
                    None if after < super::sources::NO_DIALOG => self.notice_for(
                        "no file dialog on this desktop (it needs xdg-desktop-portal or \
                         zenity): type the snapshot's path in the field and press Enter",
                        ERROR_NOTICE_S,
                    ),
                    None => {}
                }
            }
            Err(TryRecvError::Disconnected) => self.refs.dialog = None,
            Err(TryRecvError::Empty) => {}
        }
    }
}
