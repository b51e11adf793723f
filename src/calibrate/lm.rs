//! A small Levenberg-Marquardt least-squares solver: few parameters, many residuals, numeric
//! Jacobian. Deterministic (no randomness, fixed iteration order), so a fit from the same rows gives
//! the same coefficients on every machine.

/// Result of a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub params: Vec<f64>,
    /// Sum of squared residuals at `params`.
    pub cost: f64,
    pub iterations: usize,
}

/// Minimises `sum_i r_i(p)^2` where `residuals(p, out)` fills `out` (length `n`) with the residuals.
/// Non-finite residuals count as a huge cost, so the search backs away from invalid regions.
pub fn minimize<F>(mut residuals: F, n: usize, start: &[f64], max_iter: usize) -> Solution
where
    F: FnMut(&[f64], &mut [f64]),
{
    let k = start.len();
    let mut p = start.to_vec();
    let mut r = vec![0.0; n];
    let cost_of = |r: &[f64]| -> f64 {
        let c: f64 = r.iter().map(|x| x * x).sum();
        if c.is_finite() {
            c
        } else {
            f64::MAX
        }
    };
    residuals(&p, &mut r);
    let mut cost = cost_of(&r);
    let mut lambda = 1e-3;
    let mut jac = vec![0.0; n * k];
    let mut r_step = vec![0.0; n];
    let mut iterations = 0;
    for _ in 0..max_iter {
        iterations += 1;
        // forward-difference Jacobian, column by column
        for j in 0..k {
            let h = 1e-6 * p[j].abs().max(1e-3);
            let mut q = p.clone();
            q[j] += h;
            residuals(&q, &mut r_step);
            for i in 0..n {
                jac[i * k + j] = (r_step[i] - r[i]) / h;
            }
        }
        // normal equations J^T J and J^T r
        let mut jtj = vec![0.0; k * k];
        let mut jtr = vec![0.0; k];
        for i in 0..n {
            let row = &jac[i * k..(i + 1) * k];
            if !row.iter().all(|x| x.is_finite()) || !r[i].is_finite() {
                continue;
            }
            for a in 0..k {
                jtr[a] += row[a] * r[i];
                for b in a..k {
                    jtj[a * k + b] += row[a] * row[b];
                }
            }
        }
        for a in 0..k {
            for b in 0..a {
                jtj[a * k + b] = jtj[b * k + a];
            }
        }
        let mut improved = false;
        for _ in 0..30 {
            let mut m = jtj.clone();
            for a in 0..k {
                m[a * k + a] += lambda * jtj[a * k + a].max(1e-12);
            }
            let Some(delta) = solve(&m, &jtr, k) else {
                lambda *= 10.0;
                continue;
            };
            let q: Vec<f64> = p.iter().zip(&delta).map(|(x, d)| x - d).collect();
            residuals(&q, &mut r_step);
            let c = cost_of(&r_step);
            if c < cost {
                let rel = (cost - c) / cost.max(1e-300);
                p = q;
                std::mem::swap(&mut r, &mut r_step);
                cost = c;
                lambda = (lambda / 3.0).max(1e-12);
                improved = true;
                if rel < 1e-10 {
                    return Solution { params: p, cost, iterations };
                }
                break;
            }
            lambda *= 4.0;
        }
        if !improved {
            break;
        }
    }
    Solution { params: p, cost, iterations }
}

/// Solves the symmetric system `m x = b` (k x k) by Gaussian elimination with partial pivoting.
pub fn solve(m: &[f64], b: &[f64], k: usize) -> Option<Vec<f64>> {
    let mut a = m.to_vec();
    let mut x = b.to_vec();
    for col in 0..k {
        let piv = (col..k).max_by(|&i, &j| a[i * k + col].abs().total_cmp(&a[j * k + col].abs()))?;
        if a[piv * k + col].abs() < 1e-300 || !a[piv * k + col].is_finite() {
            return None;
        }
        if piv != col {
            for c in 0..k {
                a.swap(piv * k + c, col * k + c);
            }
            x.swap(piv, col);
        }
        for row in col + 1..k {
            let f = a[row * k + col] / a[col * k + col];
            if f != 0.0 {
                for c in col..k {
                    a[row * k + c] -= f * a[col * k + c];
                }
                x[row] -= f * x[col];
            }
        }
    }
    for col in (0..k).rev() {
        let mut s = x[col];
        for c in col + 1..k {
            s -= a[col * k + c] * x[c];
        }
        x[col] = s / a[col * k + col];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_an_exponential_decay() {
        // y = 3 exp(-0.5 x) + 1, sampled exactly
        let xs: Vec<f64> = (0..40).map(|i| i as f64 * 0.25).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 3.0 * (-0.5 * x).exp() + 1.0).collect();
        let sol = minimize(
            |p, out| {
                for (i, (x, y)) in xs.iter().zip(&ys).enumerate() {
                    out[i] = p[0] * (-p[1] * x).exp() + p[2] - y;
                }
            },
            xs.len(),
            &[1.0, 0.1, 0.0],
            200,
        );
        assert!((sol.params[0] - 3.0).abs() < 1e-6, "{sol:?}");
        assert!((sol.params[1] - 0.5).abs() < 1e-6, "{sol:?}");
        assert!((sol.params[2] - 1.0).abs() < 1e-6, "{sol:?}");
    }

    #[test]
    fn solve_handles_pivoting_and_singular() {
        let x = solve(&[0.0, 1.0, 1.0, 0.0], &[2.0, 3.0], 2).unwrap();
        assert_eq!(x, vec![3.0, 2.0]);
        assert!(solve(&[1.0, 2.0, 2.0, 4.0], &[1.0, 1.0], 2).is_none());
    }
}
