//! The writer thread ("spektr-writer"): owns the `hound::WavWriter`, drains the ring in blocks,
//! writes gaps as silence, brings the header up to date every [`HEADER_EVERY`], keeps the
//! sidecar, and reports progress and the end. It does nothing but the recording's disk I/O.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

use rtrb::Consumer;

use super::tap::{Shared, TapEnd, TapEvent};
use super::{
    Encoding, Ending, Finished, HEADER_EVERY, Mark, MarkKind, PROGRESS_EVERY, Progress,
    RecordError, RecordEvent, RecordRequest,
};
use crate::engine::loudness::Loudness;

/// The writer's inputs.
pub(crate) struct Inputs {
    pub samples: Option<Consumer<f32>>,
    pub taps: Consumer<TapEvent>,
    pub marks: Receiver<Mark>,
    pub shared: Arc<Shared>,
    pub discard: Arc<AtomicBool>,
    pub events: Sender<RecordEvent>,
}

/// The most the writer takes from the ring at once: 100 ms.
const BLOCK_S: f64 = 0.1;
/// How long it sleeps when the ring is empty.
const IDLE: Duration = Duration::from_millis(10);

pub(crate) struct Writer {
    path: PathBuf,
    sidecar: Option<PathBuf>,
    wav: Option<hound::WavWriter<BufWriter<File>>>,
    /// A second handle on the file: its identity, for noticing a removed or replaced file.
    file: File,
    regular: bool,
    encoding: Encoding,
    dither: bool,
    rng: u64,
    channels: usize,
    rate: u32,
    header_bytes: u64,
    inputs: Inputs,
    ring_capacity: usize,
    /// Frames in the file.
    frames: u64,
    /// Frames taken from the ring.
    ring_frames: u64,
    taps: VecDeque<TapEvent>,
    marks: Vec<Mark>,
    meta: serde_json::Map<String, serde_json::Value>,
    write_delay: Option<Duration>,
    /// The take's loudness (EBU R 128), of what goes into the file (silence included), for the
    /// sidecar. Measured here, not in the engine: the take's own, whatever the display does.
    loudness: Option<Loudness>,
    /// Samples made finite for the loudness meter, when a block had any that were not.
    finite: Vec<f32>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("path", &self.path).finish()
    }
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> RecordError {
    RecordError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The system's reason from a hound error.
fn reason(e: &hound::Error) -> String {
    match e {
        hound::Error::IoError(io) => io.to_string(),
        other => other.to_string(),
    }
}

impl Writer {
    /// Creates the file (never over an existing one; devices such as `/dev/full` are opened
    /// as they are), writes and flushes the header, writes the first sidecar.
    pub(crate) fn create(
        request: &RecordRequest,
        encoding: Encoding,
        inputs: Inputs,
    ) -> Result<Writer, RecordError> {
        let path = &request.path;
        let existing = std::fs::metadata(path).ok();
        let regular = existing.as_ref().is_none_or(|m| m.is_file());
        if existing.as_ref().is_some_and(|m| m.is_file()) {
            return Err(RecordError::Exists(path.display().to_string()));
        }
        if existing.as_ref().is_some_and(|m| m.is_dir()) {
            return Err(io_error(path, "is a directory"));
        }
        let sidecar = regular.then(|| path.with_extension("json"));
        if let Some(s) = sidecar.as_ref().filter(|s| s.exists()) {
            return Err(RecordError::Exists(s.display().to_string()));
        }
        let file = if regular {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(path)
        } else {
            std::fs::OpenOptions::new().write(true).open(path)
        }
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                RecordError::Exists(path.display().to_string())
            } else {
                io_error(path, e)
            }
        })?;
        let remove = |e: RecordError| {
            if regular {
                let _ = std::fs::remove_file(path);
            }
            e
        };
        let twin = file.try_clone().map_err(|e| remove(io_error(path, e)))?;
        let spec = encoding.spec(request.format);
        let mut wav = hound::WavWriter::new(BufWriter::with_capacity(1 << 18, file), spec)
            .map_err(|e| remove(io_error(path, reason(&e))))?;
        wav.flush()
            .map_err(|e| remove(io_error(path, reason(&e))))?;
        let header_bytes = if regular {
            twin.metadata().map(|m| m.len()).unwrap_or(44)
        } else {
            44
        };
        let mut meta = serde_json::Map::new();
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        meta.insert("file".into(), file_name.into());
        meta.insert("source".into(), request.source.clone().into());
        meta.insert("sample_rate".into(), request.format.sample_rate.into());
        meta.insert("channels".into(), request.format.channels.into());
        meta.insert(
            "source_sample_format".into(),
            request.source_kind.to_string().into(),
        );
        meta.insert("recorded_as".into(), encoding.to_string().into());
        let dither = encoding.needs_dither(request.source_kind);
        meta.insert(
            "dither".into(),
            if dither { "TPDF, 1 LSB" } else { "none" }.into(),
        );
        meta.insert("started".into(), chrono::Local::now().to_rfc3339().into());
        meta.insert("settings".into(), request.settings.clone());
        let ring_capacity = (request.ring_seconds * f64::from(request.format.sample_rate)).ceil()
            as usize
            * request.format.channels;
        let dual_mono = request.settings["dual_mono"].as_bool().unwrap_or(false);
        let loudness = Loudness::new(request.format, dual_mono).ok();
        let mut writer = Writer {
            path: path.clone(),
            sidecar,
            wav: Some(wav),
            file: twin,
            regular,
            encoding,
            dither,
            rng: 0x9E37_79B9_7F4A_7C15,
            channels: request.format.channels,
            rate: request.format.sample_rate,
            header_bytes,
            inputs,
            ring_capacity,
            frames: 0,
            ring_frames: 0,
            taps: VecDeque::new(),
            marks: Vec::new(),
            meta,
            write_delay: request.write_delay,
            loudness,
            finite: Vec::new(),
        };
        if let Err(e) = writer.write_sidecar(None) {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        Ok(writer)
    }

    pub(crate) fn sidecar_path(&self) -> Option<PathBuf> {
        self.sidecar.clone()
    }

    fn bytes_per_frame(&self) -> u64 {
        u64::from(self.encoding.bits() / 8) * self.channels as u64
    }

    fn progress(&self, ring: &Consumer<f32>) -> Progress {
        Progress {
            frames: self.frames,
            bytes: self.header_bytes + self.frames * self.bytes_per_frame(),
            ring_fill: ring.slots() as f32 / self.ring_capacity.max(1) as f32,
        }
    }

    fn write_error(&self, e: &hound::Error) -> String {
        format!("cannot write {}: {}", self.path.display(), reason(e))
    }

    /// The thread's body.
    pub(crate) fn run(mut self) {
        let block = ((BLOCK_S * f64::from(self.rate)).ceil() as usize).max(1) * self.channels;
        let mut last_header = Instant::now();
        let mut last_progress = Instant::now();
        let Some(mut ring) = self.inputs.samples.take() else {
            return self.finish();
        };
        loop {
            let abandoned = ring.is_abandoned();
            let slots = ring.slots();
            let available = (slots - slots % self.channels).min(block);
            while let Ok(event) = self.inputs.taps.pop() {
                self.taps.push_back(event);
            }
            while let Ok(mark) = self.inputs.marks.try_recv() {
                self.marks.push(mark);
            }
            if available > 0 {
                let Ok(chunk) = ring.read_chunk(available) else {
                    continue;
                };
                let (a, b) = chunk.as_slices();
                let result = self.write_ring(a).and_then(|()| self.write_ring(b));
                chunk.commit_all();
                if let Err(e) = result {
                    let problem = self.write_error(&e);
                    return self.fail(problem);
                }
                self.inputs
                    .shared
                    .written
                    .store(self.frames, Ordering::Relaxed);
                if self.frames >= self.inputs.shared.limit {
                    break;
                }
                if let Some(d) = self.write_delay {
                    std::thread::sleep(d);
                }
            } else if abandoned
                || (self.inputs.shared.stop.load(Ordering::Relaxed)
                    && !self.inputs.shared.installed.load(Ordering::Acquire))
            {
                break;
            } else {
                // Events at the file's end (the source's loss, say) go in now, not when the
                // next samples come: the sidecar lists them while the source is away.
                if let Err(e) = self.write_ring(&[]) {
                    let problem = self.write_error(&e);
                    return self.fail(problem);
                }
                std::thread::sleep(IDLE);
            }
            if last_header.elapsed() >= HEADER_EVERY {
                last_header = Instant::now();
                if let Err(problem) = self.checkpoint() {
                    return self.fail(problem);
                }
            }
            if last_progress.elapsed() >= PROGRESS_EVERY {
                last_progress = Instant::now();
                let _ = self
                    .inputs
                    .events
                    .send(RecordEvent::Progress(self.progress(&ring)));
            }
        }
        // A gap right at the end still belongs to the timeline.
        if let Err(e) = self.write_ring(&[]) {
            let problem = self.write_error(&e);
            return self.fail(problem);
        }
        self.finish();
    }

    /// Writes ring samples, with the events that fall among them: silence, and marks at their
    /// exact places in the file.
    fn write_ring(&mut self, samples: &[f32]) -> Result<(), hound::Error> {
        let ch = self.channels;
        let mut rest = samples;
        loop {
            while self
                .taps
                .front()
                .is_some_and(|e| e.at() <= self.ring_frames)
            {
                let Some(event) = self.taps.pop_front() else {
                    break;
                };
                match event {
                    TapEvent::Silence { frames, kind, .. } => self.silence(frames, kind)?,
                    TapEvent::Mark { kind, frames, .. } => self.marks.push(Mark {
                        position: self.frames,
                        seconds: self.frames as f64 / f64::from(self.rate),
                        kind,
                        frames,
                        detail: String::new(),
                        time: Some(chrono::Local::now().to_rfc3339()),
                    }),
                }
            }
            if rest.is_empty() {
                return Ok(());
            }
            let until = self
                .taps
                .front()
                .map_or(u64::MAX, |e| e.at() - self.ring_frames);
            let n = ((rest.len() / ch) as u64).min(until) as usize;
            let (now, later) = rest.split_at(n * ch);
            self.samples(now)?;
            self.ring_frames += n as u64;
            rest = later;
        }
    }

    /// Frames the file can still take: WAV's 32-bit sizes cap it at 4 GiB (hound's counter
    /// would wrap silently past that).
    fn wav_room(&self) -> u64 {
        let most = (u64::from(u32::MAX) - self.header_bytes - 8) / self.bytes_per_frame();
        most.saturating_sub(self.frames)
    }

    fn full_error() -> hound::Error {
        hound::Error::IoError(std::io::Error::other(
            "a WAV file holds at most 4 GiB (start a new recording)",
        ))
    }

    fn silence(&mut self, frames: u64, kind: MarkKind) -> Result<(), hound::Error> {
        if frames > self.wav_room() {
            return Err(Self::full_error());
        }
        let frames = frames.min(self.inputs.shared.limit - self.frames);
        if frames == 0 {
            return Ok(());
        }
        // A return is marked where the source is back, after the silence for its time away;
        // a gap where the silence begins.
        let position = match kind {
            MarkKind::DeviceReturned => self.frames + frames,
            _ => self.frames,
        };
        self.marks.push(Mark {
            position,
            seconds: position as f64 / f64::from(self.rate),
            kind,
            frames: Some(frames),
            detail: match kind {
                MarkKind::DeviceReturned => "the time the source was away, written as silence",
                MarkKind::StartGap => {
                    "the source delivered nothing yet after the recording was asked for; \
                     written as silence"
                }
                _ => "frames lost before the engine, written as silence",
            }
            .into(),
            time: (kind != MarkKind::Gap).then(|| chrono::Local::now().to_rfc3339()),
        });
        let zeros = [0.0f32; 512];
        let mut left = frames as usize * self.channels;
        while left > 0 {
            let n = left.min(zeros.len() - zeros.len() % self.channels);
            self.put(&zeros[..n], false)?;
            if let Some(l) = self.loudness.as_mut() {
                l.feed(&zeros[..n]);
            }
            left -= n;
        }
        self.frames += frames;
        Ok(())
    }

    fn samples(&mut self, samples: &[f32]) -> Result<(), hound::Error> {
        let room = self.inputs.shared.limit - self.frames;
        let given = ((samples.len() / self.channels) as u64).min(room);
        let frames = given.min(self.wav_room());
        let samples = &samples[..frames as usize * self.channels];
        self.put(samples, self.dither)?;
        self.measure(samples);
        self.frames += frames;
        if frames < given {
            return Err(Self::full_error());
        }
        Ok(())
    }

    /// Feeds what went into the file to the take's loudness meter.
    fn measure(&mut self, samples: &[f32]) {
        let Some(l) = self.loudness.as_mut() else {
            return;
        };
        if samples.iter().all(|x| x.is_finite()) {
            l.feed(samples);
        } else {
            self.finite.clear();
            self.finite
                .extend(samples.iter().map(|&x| if x.is_finite() { x } else { 0.0 }));
            l.feed(&self.finite);
        }
    }

    /// TPDF noise of one LSB peak (two uniform variables), in LSB.
    fn tpdf(&mut self) -> f64 {
        let mut next = || {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            (self.rng >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
        };
        next() - next()
    }

    fn put(&mut self, samples: &[f32], dither: bool) -> Result<(), hound::Error> {
        fn quantize(x: f32, scale: f64, noise: f64) -> i64 {
            let max = scale - 1.0;
            (f64::from(x) * scale + noise).round().clamp(-scale, max) as i64
        }
        let encoding = self.encoding;
        let scale = match encoding {
            Encoding::I8 => 128.0,
            Encoding::I16 => 32_768.0,
            Encoding::I24 => 8_388_608.0,
            Encoding::I32 => 2_147_483_648.0,
            Encoding::F32 => 1.0,
        };
        for &x in samples {
            let noise = if dither { self.tpdf() } else { 0.0 };
            let Some(wav) = self.wav.as_mut() else {
                return Ok(());
            };
            match encoding {
                Encoding::F32 => wav.write_sample(x)?,
                Encoding::I8 => wav.write_sample(quantize(x, scale, noise) as i8)?,
                Encoding::I16 => wav.write_sample(quantize(x, scale, noise) as i16)?,
                Encoding::I24 | Encoding::I32 => {
                    wav.write_sample(quantize(x, scale, noise) as i32)?
                }
            }
        }
        Ok(())
    }

    /// Brings the header up to date (so a killed process leaves a playable file), checks that
    /// the file is still the one being written, rewrites the sidecar.
    fn checkpoint(&mut self) -> Result<(), String> {
        if let Some(wav) = self.wav.as_mut()
            && let Err(e) = wav.flush()
        {
            return Err(self.write_error(&e));
        }
        if self.regular && !self.same_file() {
            return Err(format!(
                "{} was deleted or moved while recording",
                self.path.display()
            ));
        }
        // The sidecar follows the header, so a killed recording's sidecar says how far it got
        // (one that cannot be written now is tried again at the end).
        let _ = self.write_sidecar(None);
        Ok(())
    }

    #[cfg(unix)]
    fn same_file(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(&self.path), self.file.metadata()) {
            (Ok(on_path), Ok(open)) => on_path.dev() == open.dev() && on_path.ino() == open.ino(),
            _ => false,
        }
    }

    #[cfg(not(unix))]
    fn same_file(&self) -> bool {
        self.path.exists()
    }

    /// Writes the sidecar (to a temporary name, then renamed over the old one).
    fn write_sidecar(&mut self, ended: Option<&Finished>) -> Result<(), RecordError> {
        let Some(sidecar) = &self.sidecar else {
            return Ok(());
        };
        let mut doc = self.meta.clone();
        let mut events = self.marks.clone();
        // The engine marks the loss where it happened; the reason comes from the controller.
        let reason = self
            .inputs
            .shared
            .loss_reason
            .lock()
            .ok()
            .and_then(|r| r.clone());
        for m in events.iter_mut().filter(|m| m.kind == MarkKind::DeviceLost) {
            if m.detail.is_empty()
                && let Some(r) = &reason
            {
                m.detail.clone_from(r);
            }
        }
        // Stable: events at one position keep their order (a loss before its return).
        events.sort_by_key(|m| m.position);
        doc.insert(
            "events".into(),
            serde_json::to_value(&events).unwrap_or_default(),
        );
        if let Some(l) = &self.loudness {
            // The take's loudness so far (a killed recording's sidecar has it up to there).
            let mut v = l.summary();
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "channels".into(),
                    crate::engine::loudness::channel_rule(l.channels(), self.dual_mono()).into(),
                );
            }
            doc.insert("loudness".into(), v);
        }
        doc.insert("frames".into(), self.frames.into());
        doc.insert(
            "seconds".into(),
            (self.frames as f64 / f64::from(self.rate)).into(),
        );
        match ended {
            None => {
                doc.insert("complete".into(), false.into());
                doc.insert("ended".into(), serde_json::Value::Null);
            }
            Some(f) => {
                doc.insert("complete".into(), f.complete().into());
                doc.insert(
                    "ended".into(),
                    serde_json::json!({
                        "reason": f.ending,
                        "time": chrono::Local::now().to_rfc3339(),
                        "error": f.error,
                    }),
                );
            }
        }
        let text = serde_json::to_string_pretty(&serde_json::Value::Object(doc))
            .unwrap_or_else(|_| "{}".into());
        let text = text + "\n";
        let tmp = sidecar.with_extension("json.tmp");
        let result = std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, sidecar));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
            // A full disk has no room for a second copy: overwrite in place (the old text's
            // blocks are freed first).
            if sidecar.exists() {
                return std::fs::write(sidecar, &text).map_err(|e| io_error(sidecar, e));
            }
        }
        result.map_err(|e| io_error(sidecar, e))
    }

    fn dual_mono(&self) -> bool {
        self.meta["settings"]["dual_mono"]
            .as_bool()
            .unwrap_or(false)
    }

    fn finished(&self, ending: Ending, error: Option<String>) -> Finished {
        Finished {
            path: self.path.clone(),
            frames: self.frames,
            bytes: self.header_bytes + self.frames * self.bytes_per_frame(),
            sample_rate: self.rate,
            ending,
            error,
            sidecar_error: None,
            file_kept: true,
        }
    }

    /// The normal end: finalize, sidecar, report.
    fn finish(mut self) {
        if let Some(wav) = self.wav.take()
            && let Err(e) = wav.finalize()
        {
            let problem = self.write_error(&e);
            return self.fail(problem);
        }
        let ending = if self.inputs.discard.load(Ordering::Relaxed) {
            Ending::Discarded
        } else if self.frames >= self.inputs.shared.limit {
            Ending::Limit
        } else {
            let lost = self.inputs.shared.lost.load(Ordering::Acquire);
            match self.inputs.shared.end() {
                Some((TapEnd::Limit, _)) => Ending::Limit,
                Some((TapEnd::Overflow, _)) => Ending::Overflow,
                // The source was away when the take ended: the loss ended it.
                _ if lost => Ending::SourceLost,
                Some((TapEnd::Released, _)) => Ending::SourceEnded,
                _ => Ending::Stopped,
            }
        };
        if ending == Ending::SourceLost
            && !self.marks.iter().any(|m| m.kind == MarkKind::DeviceLost)
        {
            // The take ended as the loss came: the loss is at its end.
            self.marks.push(Mark {
                position: self.frames,
                seconds: self.frames as f64 / f64::from(self.rate),
                kind: MarkKind::DeviceLost,
                frames: None,
                detail: String::new(),
                time: Some(chrono::Local::now().to_rfc3339()),
            });
        }
        let mut done = self.finished(ending, None);
        if ending == Ending::Discarded {
            let _ = std::fs::remove_file(&self.path);
            if let Some(s) = &self.sidecar {
                let _ = std::fs::remove_file(s);
            }
        } else if let Err(e) = self.write_sidecar(Some(&done)) {
            done.sidecar_error = Some(e.to_string());
        }
        let _ = self.inputs.events.send(RecordEvent::Finished(done));
    }

    /// A write failed: tell the engine to let go, keep every complete frame on disk, report.
    fn fail(mut self, problem: String) {
        self.inputs
            .shared
            .writer_failed
            .store(true, Ordering::Relaxed);
        // Dropping the writer tries to update the header; whatever it managed, the header is
        // then made to agree with the frames that really are on disk.
        drop(self.wav.take());
        let kept = !self.regular || self.same_file();
        if kept
            && self.regular
            && let Ok(frames) = super::wav::repair_header(&self.path)
        {
            self.frames = frames.min(self.frames);
        }
        let mut done = self.finished(Ending::WriteFailed, Some(problem));
        done.file_kept = kept;
        if kept && let Err(e) = self.write_sidecar(Some(&done)) {
            done.sidecar_error = Some(e.to_string());
        }
        let _ = self.inputs.events.send(RecordEvent::Finished(done));
    }
}
