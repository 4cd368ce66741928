//! The load generator as a library: [`run`] one [`Load`] and get a [`Report`].

mod load;
mod process;
mod stats;

pub use load::{Load, Report, Transport, run};
pub use process::ProcessStats;
pub use stats::Latencies;
