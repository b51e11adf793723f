//! Calibration: read microbenchmark measurements, fit the cost model to them, report the fit.

pub mod data;
pub mod fit;
pub mod lm;
pub mod models;
pub mod readers;
pub mod report;
