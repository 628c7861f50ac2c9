//! The analysis engine: multi-resolution band power, weighting, ballistics and meters.
//!
//! [`Analyzer`] is the stateful core; [`run`] is the engine thread's loop around it. Neither
//! allocates after start-up, neither waits on the UI or the writer.

pub mod analyzer;
pub mod bands;
pub mod decimate;
pub mod dsp;
pub mod plan;
mod run;

pub use analyzer::{Analyzer, DB_CONVENTION, Fed};
pub use plan::BandInfo;
pub use run::{EngineControl, EngineExit, EngineInput, run};
