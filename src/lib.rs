//! spektr: a real-time audio spectrum analyzer with dB-honest bars.
//!
//! # Threads and data flow
//!
//! ```text
//!  [capture supervisor]  owns the cpal stream; commands in, events out (started, lost, xruns)
//!  [audio callback, cpal] or [source thread: file, synth]   convert to f32, push whole frames
//!         |
//!         v
//!    rtrb SPSC ring (f32, interleaved, >= 2 s)       callback: drops counted, never blocks
//!         |                                          file/synth: wait for room
//!         v
//!  [engine thread]  hops <= 10 ms -> multi-resolution FFT -> bands -> levels
//!         |
//!         | triple_buffer<Frame> (live: latest wins)   or   OutputSink (offline: every frame)
//!         v
//!  [UI thread, Slint]  /  NDJSON, CSV or summary on stdout
//!
//!  engine --(raw samples + gap positions, only while recording)--> [writer thread] WAV
//! ```
//!
//! | thread | owns | must never |
//! |---|---|---|
//! | audio callback | the ring's producer, atomic counters | allocate, lock, block, do I/O, print |
//! | source (file, synth) | the ring's producer, the decoder | touch the engine's state |
//! | engine | the ring's consumer, the [`engine::Analyzer`], the frame sink | allocate in steady state, wait on a reader |
//! | capture supervisor | the `cpal::Stream` | touch Slint |
//! | UI | the window, the triple buffer's output | wait on any other thread |
//! | writer | the `hound::WavWriter` | anything but the recording's disk I/O |
//!
//! The engine is never woken by the callback (a wake is a syscall). On a live source it sleeps
//! until just after the block that completes the next hop is due, judged from the blocks'
//! arrival times the callback records (half a hop until it knows them); a fixed half-hop poll
//! cost two wakes per hop and up to half a hop of latency. Non-real-time sources unpark it
//! after each push so offline analysis runs at full speed.
//!
//! # Modules
//!
//! - [`config`]: raw settings to validated settings.
//! - [`engine`]: the analyzer (pure DSP pieces plus the stateful core) and the engine loop.
//! - [`publish`]: the [`publish::Frame`] and the sinks it goes to.
//! - [`source`]: the sample ring, audio files and the test-signal generator.
//! - [`capture`]: hosts, devices, the real-time callback and the capture supervisor.
//! - [`record`]: recording to WAV through a writer thread (lossless, or it stops and says so).
//! - [`paths`]: default folders and unique file names.
//! - [`ui`]: the Slint window's glue, snapshots, settings and offscreen rendering.
//! - [`cli`]: the subcommands and the window's command line.

pub mod capture;
pub mod cli;
pub mod config;
pub mod engine;
pub mod guard;
pub mod paths;
pub mod publish;
pub mod record;
pub mod settings;
pub mod source;
#[cfg(feature = "gui")]
pub mod ui;
