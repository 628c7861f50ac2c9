//! The analysis engine: multi-resolution band power, weighting, ballistics and meters.
//!
//! [`Analyzer`] is the stateful core; [`Engine`] is the engine thread's loop around it and
//! [`EngineHandle`] the controller's end of that thread. Neither allocates after start-up,
//! neither waits on the UI or the writer.

pub mod analyzer;
pub mod bands;
pub mod decimate;
pub mod dsp;
mod kfilter;
pub mod loudness;
pub mod mask;
pub mod pacer;
pub mod plan;
mod run;
pub mod spectro;
pub mod truepeak;
mod worker;

pub use analyzer::{Analyzer, DB_CONVENTION, Fed};
pub use plan::BandInfo;
pub use run::{Engine, EngineExit, EngineOutcome};
pub use worker::{EngineBusy, EngineHandle};
