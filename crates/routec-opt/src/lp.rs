//! A small linear-program front end over `clarabel` (an interior-point
//! conic solver): minimize `c·x` subject to `A x <= b`, `E x = f`, `x >= 0`.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
};

/// A sparse row: `(variable, coefficient)`.
pub type Row = Vec<(usize, f64)>;

#[derive(Clone, Debug, Default)]
pub struct Lp {
    pub vars: usize,
    /// Minimized.
    pub objective: Vec<f64>,
    /// `row · x <= rhs`.
    pub le: Vec<(Row, f64)>,
    /// `row · x == rhs`.
    pub eq: Vec<(Row, f64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LpResult {
    Optimal {
        x: Vec<f64>,
        /// One per `le` row: the objective's increase per unit the row's
        /// right-hand side is tightened (non-negative).
        duals: Vec<f64>,
        objective: f64,
    },
    Infeasible,
    /// The solver failed numerically or hit its iteration limit.
    Failed,
}

impl Lp {
    pub fn solve(&self) -> LpResult {
        let n = self.vars;
        if n == 0 {
            // Only constants: feasible iff every row holds at x = [].
            let ok = self.le.iter().all(|(_, b)| *b >= -1e-9)
                && self.eq.iter().all(|(_, b)| b.abs() <= 1e-9);
            return if ok {
                LpResult::Optimal {
                    x: Vec::new(),
                    duals: vec![0.0; self.le.len()],
                    objective: 0.0,
                }
            } else {
                LpResult::Infeasible
            };
        }
        // Rows: equalities, then inequalities, then -x <= 0.
        let mut trip: Vec<(usize, usize, f64)> = Vec::new();
        let mut b = Vec::new();
        let mut row = 0;
        for (r, rhs) in &self.eq {
            for &(j, v) in r {
                if v != 0.0 {
                    trip.push((row, j, v));
                }
            }
            b.push(*rhs);
            row += 1;
        }
        for (r, rhs) in &self.le {
            for &(j, v) in r {
                if v != 0.0 {
                    trip.push((row, j, v));
                }
            }
            b.push(*rhs);
            row += 1;
        }
        for j in 0..n {
            trip.push((row, j, -1.0));
            b.push(0.0);
            row += 1;
        }
        let a = csc(row, n, trip);
        let p = CscMatrix::zeros((n, n));
        let cones = [
            SupportedConeT::ZeroConeT(self.eq.len()),
            SupportedConeT::NonnegativeConeT(self.le.len() + n),
        ];
        let cones: Vec<SupportedConeT<f64>> = cones
            .into_iter()
            .filter(|c| match c {
                SupportedConeT::ZeroConeT(k) | SupportedConeT::NonnegativeConeT(k) => *k > 0,
                _ => true,
            })
            .collect();
        let Ok(settings) = DefaultSettingsBuilder::default()
            .verbose(false)
            .max_iter(200)
            .tol_gap_abs(1e-10)
            .tol_gap_rel(1e-10)
            .tol_feas(1e-10)
            .build()
        else {
            return LpResult::Failed;
        };
        let Ok(mut solver) = DefaultSolver::new(&p, &self.objective, &a, &b, &cones, settings)
        else {
            return LpResult::Failed;
        };
        solver.solve();
        let sol = &solver.solution;
        match sol.status {
            SolverStatus::Solved | SolverStatus::AlmostSolved => {
                let k = self.eq.len();
                let duals = sol.z[k..k + self.le.len()]
                    .iter()
                    .map(|z| z.max(0.0))
                    .collect();
                let objective = self.objective.iter().zip(&sol.x).map(|(c, x)| c * x).sum();
                LpResult::Optimal {
                    x: sol.x.clone(),
                    duals,
                    objective,
                }
            }
            SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => {
                LpResult::Infeasible
            }
            _ => LpResult::Failed,
        }
    }
}

fn csc(m: usize, n: usize, mut trip: Vec<(usize, usize, f64)>) -> CscMatrix<f64> {
    trip.sort_by_key(|a| (a.1, a.0));
    let mut colptr = vec![0usize; n + 1];
    let mut rowval = Vec::with_capacity(trip.len());
    let mut nzval = Vec::with_capacity(trip.len());
    let mut last: Option<(usize, usize)> = None;
    for (r, c, v) in trip {
        if last == Some((r, c)) {
            if let Some(x) = nzval.last_mut() {
                *x += v;
            }
            continue;
        }
        last = Some((r, c));
        rowval.push(r);
        nzval.push(v);
        colptr[c + 1] += 1;
    }
    for j in 0..n {
        colptr[j + 1] += colptr[j];
    }
    CscMatrix::new(m, n, colptr, rowval, nzval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_lp() {
        // max x + 2y s.t. x + y = 1, y <= 0.4
        let lp = Lp {
            vars: 2,
            objective: vec![-1.0, -2.0],
            le: vec![(vec![(1, 1.0)], 0.4)],
            eq: vec![(vec![(0, 1.0), (1, 1.0)], 1.0)],
        };
        match lp.solve() {
            LpResult::Optimal {
                x,
                duals,
                objective,
            } => {
                assert!((x[0] - 0.6).abs() < 1e-6 && (x[1] - 0.4).abs() < 1e-6);
                assert!((objective + 1.4).abs() < 1e-6);
                assert!((duals[0] - 1.0).abs() < 1e-6, "{duals:?}");
            }
            other => panic!("{other:?}"),
        }
        let bad = Lp {
            vars: 1,
            objective: vec![0.0],
            le: vec![(vec![(0, 1.0)], 0.2)],
            eq: vec![(vec![(0, 1.0)], 1.0)],
        };
        assert_eq!(bad.solve(), LpResult::Infeasible);
    }
}
