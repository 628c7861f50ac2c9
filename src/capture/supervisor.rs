//! The capture supervisor: a thread that owns the capture (a `cpal::Stream` is not `Send`
//! everywhere, so it is built, played and dropped here), takes commands and reports events.
//!
//! It never touches the UI or the engine: the engine's end of each new stream travels in
//! [`Event::Started`] to whoever runs the engine ([`crate::live`]).

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::fault::Fault;
use super::stream::{Capture, open_source};
use super::{HostChoice, Period, SourceSpec, StreamInfo};
use crate::stream::StreamReader;

/// How often the supervisor looks at fault flags and counters: a loss is reported within this
/// (a wake costs tens of microseconds on a virtual machine: not more often than a person sees).
const POLL: Duration = Duration::from_millis(500);
/// How often it retries a lost device when reconnecting.
const RETRY: Duration = Duration::from_secs(1);

/// Commands to the supervisor.
#[derive(Debug, Clone)]
pub enum Command {
    /// Open the current source if it is not open (also: retry after a loss).
    Start,
    /// Hold a file or generator where it is (devices keep running: the engine pauses).
    Pause,
    /// Let a file or generator go on.
    Resume,
    /// Close the capture and end the supervisor.
    Stop,
    /// Close the current capture and open another.
    SetSource(SourceSpec),
    /// Use another audio system from the next open on (send before `SetSource`).
    SetHost(HostChoice),
}

/// Events from the supervisor.
#[derive(Debug)]
pub enum Event {
    /// A capture started; run an engine on `reader`.
    Started {
        /// What it is.
        info: StreamInfo,
        /// The engine's end of the new stream.
        reader: Box<StreamReader>,
        /// Something the user should know (the device refused the period asked for).
        note: Option<String>,
    },
    /// Delivery paused.
    Paused,
    /// Delivery resumed.
    Resumed,
    /// The capture could not be opened.
    Failed {
        /// One line for the user.
        error: String,
        /// Whether the mistake is the user's (bad name, bad spec) rather than the system's.
        usage: bool,
    },
    /// The device or server went away; the capture is closed.
    DeviceLost {
        /// One line for the user.
        reason: String,
    },
    /// The default device changed, and the source follows it (`default`, `monitor`): the
    /// capture on the old one is closed, and a `Started` (or `Failed`) for the new one follows.
    DefaultChanged {
        /// The device that is the default now.
        to: String,
    },
    /// A file source reached its end (without `--loop`); the capture is closed.
    Ended,
    /// The device reported xruns (running total).
    Xruns(u64),
    /// The supervisor ended.
    Stopped,
    /// Not from the supervisor: someone asked the controller to look now ([`Waker`]).
    Wake,
}

/// Wakes the controller waiting for the supervisor's events (a Ctrl-C, the engine's end), so
/// it need not wake on a timer to look.
#[derive(Debug, Clone)]
pub struct Waker(Sender<Event>);

impl Waker {
    /// Wakes the controller (nothing happens if it is gone).
    pub fn wake(&self) {
        let _ = self.0.send(Event::Wake);
    }
}

/// Handle to the supervisor thread.
#[derive(Debug)]
pub struct Supervisor {
    commands: Sender<Command>,
    /// Events, in order.
    pub events: Receiver<Event>,
    /// For [`Waker`]s.
    wake: Sender<Event>,
    thread: Option<JoinHandle<()>>,
}

/// How the supervisor behaves.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Which host to use.
    pub host: HostChoice,
    /// Play file sources again from the start when they end.
    pub looped: bool,
    /// Retry a lost device every second until it returns.
    pub reconnect: bool,
    /// The capture period to ask the audio system for.
    pub period: Period,
}

impl Supervisor {
    /// Starts the supervisor and asks it to open `spec`.
    pub fn spawn(spec: SourceSpec, options: Options) -> std::io::Result<Self> {
        let (commands, command_rx) = mpsc::channel();
        let (event_tx, events) = mpsc::channel();
        let wake = event_tx.clone();
        let thread = std::thread::Builder::new()
            .name("spektr-capture".into())
            .spawn(move || supervise(spec, options, command_rx, event_tx))?;
        let _ = commands.send(Command::Start);
        Ok(Supervisor {
            commands,
            events,
            wake,
            thread: Some(thread),
        })
    }

    /// Something that wakes whoever waits for the events.
    pub fn waker(&self) -> Waker {
        Waker(self.wake.clone())
    }

    /// Sends a command; ignored if the supervisor has ended.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn started(c: &Capture, reader: StreamReader, note: Option<String>) -> Event {
    Event::Started {
        info: StreamInfo {
            name: c.describe(),
            format: c.format(),
            sample_format: c.sample_format(),
            kind: c.sample_kind(),
            block_frames: c.block_frames(),
        },
        reader: Box::new(reader),
        note,
    }
}

fn supervise(
    mut spec: SourceSpec,
    mut options: Options,
    commands: Receiver<Command>,
    events: Sender<Event>,
) {
    let mut capture: Option<Capture> = None;
    let mut lost_at: Option<Instant> = None;
    let mut xruns_seen = 0;
    let mut paused = false;
    let (looped, period) = (options.looped, options.period);
    let open =
        |host: HostChoice, spec: &SourceSpec, capture: &mut Option<Capture>, quiet: bool| -> bool {
            match open_source(host, spec, looped, period) {
                Ok((c, reader, note)) => {
                    let _ = events.send(started(&c, reader, note));
                    *capture = Some(c);
                    true
                }
                Err(e) => {
                    let usage = e.is_usage();
                    if !quiet {
                        let _ = events.send(Event::Failed {
                            error: e.to_string(),
                            usage,
                        });
                    }
                    false
                }
            }
        };
    loop {
        match commands.recv_timeout(POLL) {
            Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(Command::Start) => {
                if capture.is_none() && open(options.host, &spec, &mut capture, false) {
                    lost_at = None;
                    xruns_seen = 0;
                }
            }
            Ok(Command::Pause) => {
                paused = true;
                if let Some(c) = &capture {
                    c.set_paused(true);
                }
                let _ = events.send(Event::Paused);
            }
            Ok(Command::Resume) => {
                paused = false;
                if let Some(c) = &capture {
                    c.set_paused(false);
                }
                let _ = events.send(Event::Resumed);
            }
            Ok(Command::SetSource(next)) => {
                // Open the new source first: if it cannot be had, the current one stays.
                // A device may need the old stream closed first (busy): one retry after that.
                match open_source(options.host, &next, looped, period) {
                    Ok((c, reader, note)) => {
                        drop(capture.take());
                        let _ = events.send(started(&c, reader, note));
                        capture = Some(c);
                    }
                    Err(super::CaptureError::Open { .. }) if capture.is_some() => {
                        drop(capture.take());
                        open(options.host, &next, &mut capture, false);
                    }
                    Err(e) => {
                        let _ = events.send(Event::Failed {
                            error: e.to_string(),
                            usage: e.is_usage(),
                        });
                        continue;
                    }
                }
                if let Some(c) = &capture {
                    c.set_paused(paused);
                }
                spec = next;
                lost_at = None;
                xruns_seen = 0;
            }
            Ok(Command::SetHost(host)) => options.host = host,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if let Some(c) = &mut capture {
            let xruns = c.xruns();
            if xruns != xruns_seen {
                xruns_seen = xruns;
                let _ = events.send(Event::Xruns(xruns));
            }
            // Report first, then close: closing can take a while (cpal joins its threads), and
            // the reason must not wait behind it.
            if let Some(end) = c.paced_end() {
                let _ = events.send(match end {
                    Some(error) => Event::DeviceLost {
                        reason: format!("{} failed: {error}", c.describe()),
                    },
                    None => Event::Ended,
                });
                drop(capture.take());
            } else if let Some(Fault::DeviceLost | Fault::HostLost) = c.take_fault() {
                let reason = format!(
                    "{} went away (device unplugged or audio server stopped)",
                    c.describe()
                );
                let _ = events.send(Event::DeviceLost { reason });
                drop(capture.take());
                lost_at = Some(Instant::now());
            } else if let Some(to) = c.default_moved() {
                let _ = events.send(Event::DefaultChanged { to });
                drop(capture.take());
                if !open(options.host, &spec, &mut capture, false) {
                    lost_at = Some(Instant::now());
                }
            }
        } else if options.reconnect && lost_at.is_some_and(|t| t.elapsed() >= RETRY) {
            lost_at = Some(Instant::now());
            // Retries fail quietly until the device is back; success announces Started.
            if open(options.host, &spec, &mut capture, true) {
                lost_at = None;
                xruns_seen = 0;
                if let Some(c) = &capture {
                    c.set_paused(paused);
                }
            }
        }
    }
    drop(capture.take());
    let _ = events.send(Event::Stopped);
}
