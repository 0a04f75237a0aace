//! The optimizer against enumeration: on small random instances, for every
//! objective form (`minimize cost`, `minimize cost per success`, `minimize
//! latency p95`, `maximize quality for SLICE`, `weighted`), the solution is
//! feasible and at least as good as the best pure assignment that meets
//! the SLOs, and every pure assignment the LP finds equals the enumerated
//! optimum. (In the crate: it reads the partition, the problem and the LP,
//! which are private.)

use crate::cells;
use crate::eval::Evaluator;
use crate::objective::{self, Goal, Space};
use crate::optimize::{self, Problem, Vars};
use crate::traffic::Traffic;

fn check(source: &str) -> routec_check::ir::Policy {
    let parse = routec_syntax::parse(source);
    let checked = routec_check::check(&parse.file);
    let errors: Vec<_> = parse
        .diagnostics
        .iter()
        .chain(checked.diagnostics.iter())
        .filter(|d| d.is_error())
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{source}");
    checked.policy
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

/// The objective lines tried, one per instance in turn.
const OBJECTIVES: &[&str] = &[
    "objective minimize cost",
    "objective minimize cost per success",
    "objective minimize latency p95",
    "objective maximize quality for hard",
    "objective weighted { latency 0.4, cost 0.3, quality 0.3 }",
    "objective weighted { latency 0.1, cost 0.8, quality 0.1 }",
];

fn instance(rng: &mut Rng, objective: &str) -> String {
    let models = 2 + (rng.next() * 3.0) as usize; // 2..4
    let mut s = String::from(
        "policy p {\n  owner \"x\"\n  baseline m0\n}\n\
         signal kind: enum { a, b, c } from header \"x-kind\" default a\n",
    );
    for m in 0..models {
        let p50 = rng.range(0.1, 2.0);
        // Some models bill per request, so cost and quality trade off in
        // every direction.
        let price = if rng.next() < 0.3 {
            format!("${:.4}/request", rng.range(0.0005, 0.01))
        } else {
            format!(
                "input ${:.2}/Mtok, output ${:.2}/Mtok",
                rng.range(0.1, 5.0),
                rng.range(0.1, 15.0)
            )
        };
        s.push_str(&format!(
            "model m{m} {{\n  endpoint \"https://m{m}.invalid\"\n  price {price}\n  latency ttft p50 {:.0}ms p95 {:.0}ms, decode {:.0} tok/s\n  quality by kind {{ a {:.0}%, b {:.0}%, c {:.0}% }}\n}}\n",
            p50 * 1000.0,
            p50 * rng.range(1.5, 4.0) * 1000.0,
            rng.range(40.0, 200.0),
            rng.range(20.0, 95.0),
            rng.range(20.0, 95.0),
            rng.range(20.0, 95.0),
        ));
    }
    s.push_str("slice hard = kind in { b, c }\n");
    s.push_str(objective);
    s.push('\n');
    s.push_str(&format!(
        "slo {{\n  quality >= {:.0}%\n  latency p95 <= {:.1}s\n  cost per 1k requests <= ${:.2}\n}}\n",
        rng.range(30.0, 80.0),
        rng.range(2.0, 20.0),
        rng.range(0.5, 8.0),
    ));
    let cands: Vec<String> = (0..models).map(|m| format!("m{m}")).collect();
    s.push_str(&format!(
        "route {{\n  otherwise => optimize [{}] by kind\n}}\n\
         traffic t {{\n  kind {{ a 50%, b 30%, c 20% }}\n  prompt_tokens lognormal p50 800 p95 4k\n  output_tokens lognormal p50 200 p95 900\n}}\n",
        cands.join(", ")
    ));
    s
}

#[test]
fn every_objective_is_at_least_the_best_pure_assignment() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut feasible_count = vec![0usize; OBJECTIVES.len()];
    let mut pure_matches = 0;
    for n in 0..90 {
        let k = n % OBJECTIVES.len();
        let src = instance(&mut rng, OBJECTIVES[k]);
        let policy = check(&src);
        let traffic = Traffic::for_policy(&policy, None).unwrap();
        let part = cells::partition(&policy, &traffic).unwrap();
        let mut ev = Evaluator::new(&policy, traffic.output_dist(), traffic.qps);
        let p = Problem::build(&policy, &part, &mut ev, traffic.qps);
        let vars = Vars::new(&part, &p);
        let coefs = optimize::row_coefs(&p, &ev, &part, &p.rows);
        let rhs: Vec<f64> = p.rows.iter().map(|r| r.rhs).collect();
        let goal = Goal::of(&policy);
        let space = Space {
            problem: &p,
            part: &part,
            ev: &ev,
            vars: &vars,
        };

        // Enumerate pure assignments.
        let sizes: Vec<usize> = p.options.iter().map(Vec::len).collect();
        let total: usize = sizes.iter().product();
        let mut best: Option<f64> = None;
        for mut code in 0..total {
            let a: Vec<Vec<f64>> = sizes
                .iter()
                .map(|&k| {
                    let mut v = vec![0.0; k];
                    v[code % k] = 1.0;
                    code /= k;
                    v
                })
                .collect();
            let ok = coefs
                .iter()
                .zip(&rhs)
                .all(|(c, b)| optimize::row_value(&part, c, &a) <= b + 1e-9);
            if ok {
                let v = objective::value(&space, &goal, &a);
                best = Some(best.map_or(v, |b: f64| b.min(v)));
            }
        }
        match objective::solve(&space, &goal, &coefs, &rhs) {
            Ok(a) => {
                feasible_count[k] += 1;
                for (c, b) in coefs.iter().zip(&rhs) {
                    let v = optimize::row_value(&part, c, &a);
                    assert!(
                        v <= b + 1e-5 * b.abs().max(1.0),
                        "row violated: {v} > {b}\n{src}"
                    );
                }
                let v = objective::value(&space, &goal, &a);
                if let Some(b) = best {
                    assert!(
                        v <= b + 1e-6 * b.abs().max(1.0),
                        "{}: the optimizer's {v} is worse than the pure {b}\n{src}",
                        OBJECTIVES[k]
                    );
                    let pure = a.iter().all(|s| s.iter().all(|x| *x == 0.0 || *x == 1.0));
                    if pure {
                        assert!(
                            (v - b).abs() <= 1e-6 * b.abs().max(1.0),
                            "{}: {v} vs {b}\n{src}",
                            OBJECTIVES[k]
                        );
                        pure_matches += 1;
                    }
                }
            }
            Err(_) => assert!(
                best.is_none(),
                "{}: infeasible but a pure assignment is feasible\n{src}",
                OBJECTIVES[k]
            ),
        }
    }
    assert!(
        feasible_count.iter().all(|n| *n >= 3) && pure_matches > 10,
        "{feasible_count:?} {pure_matches}"
    );
}
