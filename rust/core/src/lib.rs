//! The cannonade engine: generates socket load from a [`plan::Plan`] on worker threads,
//! each with its own event loop, connections and histograms, and summarises the run.
//!
//! This crate knows nothing of C or Python; `cannonade-capi` wraps it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod codec;
pub mod mix;
mod pacer;
pub mod plan;
pub mod recorder;
pub mod run;
pub mod summary;
mod tls;
mod worker;

pub use plan::{Plan, PlanError, ABI_VERSION};
pub use run::{Finished, PhaseError, Run, RunError, StartError};
pub use summary::{Phase, Span, StoppedBy, Summary, TlsSummary};
