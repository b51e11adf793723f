//! Traffic: synthetic generators, closed-loop clients, trace readers.

pub mod spec;
