//! Watt config resolution. See `model` for the output.
mod model;
pub use model::*;
