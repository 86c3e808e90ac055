//! Median, min and max of a scenario's runs: the only statistics the report shows, because
//! a handful of runs supports nothing finer (no means, no deviations to over-read).

use serde::{Deserialize, Serialize};

/// The spread of one measurement over a scenario's runs.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// The middle value (the mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Summary {
    /// Summarises `values`; `None` when there are none. NaNs sort last and count as values.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let (&min, &max) = (v.first()?, v.last()?);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Some(Summary { median, min, max })
    }
}

/// The median of counters (bytes, files, cache hits): for an even count the lower of the two
/// middle values, so the result is a value some run really had.
pub fn median_u64(values: &[u64]) -> u64 {
    let mut v = values.to_vec();
    v.sort_unstable();
    match v.len() {
        0 => 0,
        n => v[(n - 1) / 2],
    }
}

/// The index (into `values`) of the representative run: the one closest to the median,
/// the earliest on a tie. `None` when there are no values.
pub fn median_index(values: &[f64]) -> Option<usize> {
    let median = Summary::of(values)?.median;
    values
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| (*a - median).abs().total_cmp(&(*b - median).abs()))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_count_median_is_the_middle_value() {
        let s = Summary::of(&[5.0, 1.0, 3.0, 9.0, 4.0]).unwrap();
        assert_eq!(
            s,
            Summary {
                median: 4.0,
                min: 1.0,
                max: 9.0
            }
        );
    }

    #[test]
    fn even_count_median_is_the_mean_of_the_middle_two() {
        let s = Summary::of(&[10.0, 2.0, 4.0, 100.0]).unwrap();
        assert_eq!(s.median, 7.0);
        assert_eq!(s.min, 2.0);
        assert_eq!(s.max, 100.0);
    }

    #[test]
    fn single_value_and_empty() {
        assert_eq!(
            Summary::of(&[2.5]).unwrap(),
            Summary {
                median: 2.5,
                min: 2.5,
                max: 2.5
            }
        );
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn counter_median_is_a_real_value() {
        assert_eq!(median_u64(&[7, 1, 3]), 3);
        assert_eq!(median_u64(&[10, 2, 4, 100]), 4);
        assert_eq!(median_u64(&[]), 0);
    }

    #[test]
    fn representative_run_is_closest_to_the_median() {
        assert_eq!(median_index(&[30.0, 10.0, 20.0]), Some(2));
        // Median 15: 10 and 20 are equally close; the earlier run wins.
        assert_eq!(median_index(&[40.0, 20.0, 10.0, 5.0]), Some(1));
        assert_eq!(median_index(&[]), None);
    }
}
