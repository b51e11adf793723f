//! Pareto frontiers over a sweep's results.

/// Indices of the points no other point dominates. `objectives[i]` holds point `i`'s values, each
/// already oriented so that smaller is better; points with a NaN objective are never on the frontier.
/// A point dominates another when it is no worse in every objective and better in at least one;
/// points with identical objectives are all kept.
pub fn pareto(objectives: &[Vec<f64>]) -> Vec<usize> {
    let valid = |v: &Vec<f64>| v.iter().all(|x| !x.is_nan());
    let dominates =
        |a: &Vec<f64>, b: &Vec<f64>| a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y);
    (0..objectives.len())
        .filter(|&i| valid(&objectives[i]))
        .filter(|&i| {
            !(0..objectives.len()).any(|j| j != i && valid(&objectives[j]) && dominates(&objectives[j], &objectives[i]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_exactly_the_non_dominated_points() {
        let pts = vec![
            vec![1.0, 5.0], // frontier
            vec![2.0, 2.0], // frontier
            vec![3.0, 3.0], // dominated by [2,2]
            vec![5.0, 1.0], // frontier
            vec![5.0, 1.0], // tie: kept
            vec![f64::NAN, 0.0],
            vec![6.0, 6.0],
        ];
        assert_eq!(pareto(&pts), vec![0, 1, 3, 4]);
        assert_eq!(pareto(&[]), Vec::<usize>::new());
    }
}
