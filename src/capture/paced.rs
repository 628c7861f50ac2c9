//! File and generator sources played at real-time pace, as a device would deliver them: the
//! same stream, blocks of 5 ms released when their last frame is due on a clock.
//!
//! Runs on its own thread ("spektr-paced"); it may sleep, the callback it imitates may not.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{CaptureError, SourceSpec};
use crate::config::{SampleKind, StreamFormat};
use crate::source::{Source, SourceError};
use crate::stream::StreamReader;

/// Length of one delivered block.
const BLOCK_S: f64 = 0.005;

/// A running paced source. Dropping it stops the thread.
#[derive(Debug)]
pub struct PacedSource {
    /// Rate and channels.
    pub format: StreamFormat,
    /// The spec it plays.
    pub name: String,
    /// How the file's samples are stored (generators: 32-bit float).
    pub kind: SampleKind,
    /// Why it failed part-way, for the user (written by the paced thread before it ends;
    /// the supervisor reads it once the thread has ended, so the end is never mistaken for a
    /// lost device).
    error: Arc<std::sync::Mutex<Option<String>>>,
    paused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Option<SourceError>>>,
}

fn open(spec: &SourceSpec) -> Result<Box<dyn Source>, SourceError> {
    crate::source::open(&spec.to_string())
}

impl PacedSource {
    /// Starts playing `spec` in real time (again and again with `looped`).
    pub fn start(spec: &SourceSpec, looped: bool) -> Result<(Self, StreamReader), CaptureError> {
        let mut source = open(spec)?;
        let format = source.format().validate()?;
        let kind = source.sample_kind();
        let (mut writer, reader) = crate::stream::channel(format, true);
        let paused = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let error = Arc::new(std::sync::Mutex::new(None));
        let (p, s, e) = (paused.clone(), stop.clone(), error.clone());
        // Not the audio callback: this thread may lock to hand its error over.
        let fail = move |err: SourceError| {
            if let Ok(mut slot) = e.lock() {
                *slot = Some(err.to_string());
            }
            Some(err)
        };
        let spec_owned = spec.clone();
        let block_frames = ((BLOCK_S * f64::from(format.sample_rate)).round() as usize).max(1);
        let thread = std::thread::Builder::new()
            .name("spektr-paced".into())
            .spawn(move || {
                let mut block = vec![0.0f32; block_frames * format.channels];
                let rate = f64::from(format.sample_rate);
                let mut start = Instant::now();
                let mut sent = 0u64;
                while !s.load(Ordering::Relaxed) {
                    if p.load(Ordering::Relaxed) {
                        // Shift the clock by the pause as it really lasted (sleeps overrun).
                        let paused_at = Instant::now();
                        while p.load(Ordering::Relaxed) && !s.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        start += paused_at.elapsed();
                        continue;
                    }
                    let frames = match source.read(&mut block) {
                        Ok(0) if looped => match open(&spec_owned) {
                            Ok(next) => {
                                source = next;
                                continue;
                            }
                            Err(err) => return fail(err),
                        },
                        Ok(0) => return None,
                        Ok(n) => n,
                        Err(err) => return fail(err),
                    };
                    // A device hands a block over once its newest frame is captured: so here.
                    sent += frames as u64;
                    let due = start + Duration::from_secs_f64(sent as f64 / rate);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    writer.push_block(&block[..frames * format.channels], |x| x, due);
                }
                None
            })
            .map_err(|e| CaptureError::Open {
                device: spec.to_string(),
                reason: e.to_string(),
            })?;
        let paced = PacedSource {
            format,
            name: spec.to_string(),
            kind,
            error,
            paused,
            stop,
            thread: Some(thread),
        };
        Ok((paced, reader))
    }

    /// Why the source failed, if it did.
    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }

    /// Whether the thread has ended (end of file, or an error).
    pub fn ended(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Pauses or resumes delivery.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    /// Stops the thread; returns the error that ended it early, if one did.
    pub fn finish(mut self) -> Option<SourceError> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok().flatten())
    }
}

impl Drop for PacedSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
