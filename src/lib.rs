//! spektr: a real-time audio spectrum analyzer with dB-honest bars.
//!
//! # Threads and data flow
//!
//! ```text
//!  [spektr-capture] supervisor: opens and closes captures, reconnects; events up, no audio
//!  [audio callback, cpal: ALSA/JACK]  [pulseaudio client thread]  [spektr-paced: file, synth]
//!         | convert to f32, push whole frames, note arrival and capture time
//!         v
//!    stream: rtrb ring (f32, interleaved, 4 s) + arrivals + gaps   (src/stream.rs)
//!         |                                   callback: drops counted, never blocks
//!         v
//!  [spektr-engine]  hops <= 10 ms -> multi-resolution FFT -> bands -> levels
//!         |                                 \--> recording tap: samples and events in order
//!         | frame sink: triple_buffer<Frame> (window, record: latest wins)
//!         |             or OutputSink (analyze: every frame, lines to [spektr-output])
//!         v                                          [spektr-writer] WAV + sidecar
//!  [UI thread, Slint]  /  NDJSON, CSV or summary
//!
//!  live::LiveSession (UI thread or main): supervisor + engine handle + recording, one place
//! ```
//!
//! | thread | owns | must never |
//! |---|---|---|
//! | audio callback (cpal) | the stream's writer, atomic counters | allocate, lock, block, do I/O, print, wake anyone |
//! | pulseaudio client | the stream's writer (for PulseAudio and PipeWire sources) | allocate, wait on spektr's threads |
//! | spektr-paced, source | the stream's writer, the decoder | touch the engine's state |
//! | spektr-pulse | a PulseAudio stream's latency poll | touch the stream's data |
//! | spektr-capture | the captures (a `cpal::Stream` is not `Send` everywhere) | touch Slint or the engine |
//! | spektr-engine | the stream's reader, the [`engine::Analyzer`], the frame sink, the recording tap | allocate in steady state, wait on a reader |
//! | spektr-output | the live output's writer | touch the frames |
//! | spektr-writer | the `hound::WavWriter` | anything but the recording's disk I/O |
//! | UI | the window, the triple buffer's output, the live session | wait on any other thread |
//! | spektr-devices, spektr-file-dialog | a device list, a file dialog | touch the window |
//!
//! The engine is never woken by the audio callback (a wake is a syscall). On a cpal source it
//! sleeps until just after the block that completes the next hop is due, judged from the
//! blocks' arrival times ([`engine::pacer`]). Writers that make syscalls anyway (the
//! PulseAudio client's socket thread, a file read as fast as possible) wake it after each
//! push instead, which needs no guess about a server's irregular delivery.
//!
//! Latency is counted from the sound: each block carries the time its newest frame was
//! captured, as the device or audio server reports it, and each frame the capture time of its
//! newest sample ([`publish::Frame::sound`]).
//!
//! # Modules
//!
//! - [`config`]: raw settings to validated settings.
//! - [`stream`]: the sample stream from a source to the engine, in two halves.
//! - [`engine`]: the analyzer (pure DSP pieces plus the stateful core), the engine thread and
//!   its handle.
//! - [`publish`]: the [`publish::Frame`] and the sinks it goes to.
//! - [`source`]: audio files and the test-signal generator.
//! - [`capture`]: hosts, devices, the real-time callback, PulseAudio, the supervisor.
//! - [`live`]: the one live pipeline (capture, engine, sink, recording) every front end uses.
//! - [`record`]: recording to WAV through a writer thread (lossless, or it stops and says so).
//! - [`calibration`]: microphone correction files and the SPL offset.
//! - [`settings`]: the window's settings file. [`paths`]: default folders, unique names.
//! - [`guard`]: a fence around third-party parsers.
//! - [`ui`]: the Slint window's glue, snapshots and offscreen rendering.
//! - [`cli`]: the subcommands and the window's command line.

// The audio callback's rules (clippy.toml) hold in `capture::callback`, which denies them.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

pub mod calibration;
pub mod capture;
pub mod cli;
pub mod config;
pub mod engine;
pub mod generate;
pub mod guard;
pub mod live;
pub mod paths;
pub mod publish;
pub mod record;
pub mod reference;
pub mod settings;
pub mod source;
pub mod spectrogram;
pub mod stream;
#[cfg(feature = "gui")]
pub mod ui;
