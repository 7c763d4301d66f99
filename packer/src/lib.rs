//! `watt-pack`: turns a Platformatic Watt application into one deployable artifact.
//!
//! Pipeline: [`config`] resolves the app → [`frameworks`] build each service and say what
//! production needs → [`closure`] adds each service's production dependencies → [`pack`] lays
//! everything out as one file tree → a sink ([`pack::archive`]) writes it.

pub mod config;
pub mod closure;
