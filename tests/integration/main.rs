//! spektr's integration tests, one binary (ripgrep's layout: one link of the library and the
//! window instead of one per topic). Tests that need a process of their own stay apart: the
//! allocation counters (`no_alloc`, `ui_alloc`: a global allocator) and `ui` (the Slint
//! testing backend).
// The audio callback's rules (clippy.toml) are for the callback only.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

mod accuracy;
mod bars;
mod capture;
mod cli;
mod desktop;
mod endurance;
mod hostile;
mod live;
mod loudness;
mod measure;
mod record;
mod render;
mod spectrogram;
mod supervisor;
mod window;
