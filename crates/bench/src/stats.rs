//! Medians and percentiles of repeated measurements.

use std::time::Duration;

/// The spread of one measurement over its runs.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub median: f64,
    pub p95: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Summary {
    /// Summarises `values` by the nearest-rank method, which never invents a value
    /// that was not measured.
    pub fn of(mut values: Vec<f64>) -> Summary {
        assert!(!values.is_empty(), "a measurement needs at least one run");
        values.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index = (p * values.len() as f64).ceil() as usize;
            values[index.clamp(1, values.len()) - 1]
        };
        Summary {
            median: rank(0.5),
            p95: rank(0.95),
            min: values[0],
            max: values[values.len() - 1],
            runs: values.len(),
        }
    }

    /// The same spread in another unit.
    pub fn scaled(self, factor: f64) -> Summary {
        Summary {
            median: self.median * factor,
            p95: self.p95 * factor,
            min: self.min * factor,
            max: self.max * factor,
            runs: self.runs,
        }
    }

    /// Summarises durations in microseconds.
    pub fn of_micros(durations: &[Duration]) -> Summary {
        Summary::of(durations.iter().map(|d| d.as_secs_f64() * 1e6).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_and_p95_are_measured_values() {
        let s = Summary::of((1..=100).rev().map(f64::from).collect());
        assert_eq!(s.median, 50.0);
        assert_eq!(s.p95, 95.0);
        assert_eq!((s.min, s.max, s.runs), (1.0, 100.0, 100));
    }

    #[test]
    fn one_run_is_its_own_median_and_p95() {
        let s = Summary::of(vec![7.0]);
        assert_eq!((s.median, s.p95), (7.0, 7.0));
    }
}
