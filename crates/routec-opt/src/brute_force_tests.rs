//! The LP against enumeration: on small random instances the LP optimum is
//! at least as good as the best pure assignment, never violates a row, and
//! equals the best pure assignment when its solution is pure. (In the crate:
//! it reads the partition, the problem and the LP, which are private.)

use crate::cells;
use crate::eval::Evaluator;
use crate::optimize::{self, Problem, Vars};
use crate::traffic::Traffic;

mod common {
    pub fn check(source: &str) -> routec_check::ir::Policy {
        let parse = routec_syntax::parse(source);
        let checked = routec_check::check(&parse.file);
        let errors: Vec<_> = parse
            .diagnostics
            .iter()
            .chain(checked.diagnostics.iter())
            .filter(|d| d.is_error())
            .map(|d| format!("{}: {}", d.code, d.message))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        checked.policy
    }
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

fn instance(rng: &mut Rng) -> String {
    let models = 2 + (rng.next() * 3.0) as usize; // 2..4
    let mut s = String::from(
        "policy p {\n  owner \"x\"\n  baseline m0\n}\n\
         signal kind: enum { a, b, c } from header \"x-kind\" default a\n",
    );
    for m in 0..models {
        let p50 = rng.range(0.1, 2.0);
        s.push_str(&format!(
            "model m{m} {{\n  endpoint \"https://m{m}.invalid\"\n  price input ${:.2}/Mtok, output ${:.2}/Mtok\n  latency ttft p50 {:.0}ms p95 {:.0}ms, decode {:.0} tok/s\n  quality by kind {{ a {:.0}%, b {:.0}%, c {:.0}% }}\n}}\n",
            rng.range(0.1, 5.0),
            rng.range(0.1, 15.0),
            p50 * 1000.0,
            p50 * rng.range(1.5, 4.0) * 1000.0,
            rng.range(40.0, 200.0),
            rng.range(40.0, 95.0),
            rng.range(40.0, 95.0),
            rng.range(40.0, 95.0),
        ));
    }
    let objective = if rng.next() < 0.5 {
        "objective minimize cost\n".to_string()
    } else {
        "objective weighted { latency 0.4, cost 0.3, quality 0.3 }\n".to_string()
    };
    s.push_str(&objective);
    s.push_str(&format!(
        "slo {{\n  quality >= {:.0}%\n  latency p95 <= {:.1}s\n  cost per 1k requests <= ${:.2}\n}}\n",
        rng.range(50.0, 90.0),
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
fn lp_matches_enumeration() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut pure_matches, mut feasible_count) = (0, 0);
    for _ in 0..40 {
        let src = instance(&mut rng);
        let policy = common::check(&src);
        let traffic = Traffic::for_policy(&policy, None).unwrap();
        let part = cells::partition(&policy, &traffic).unwrap();
        let mut ev = Evaluator::new(&policy, traffic.output_dist());
        let p = Problem::build(&policy, &part, &mut ev, traffic.qps);
        let vars = Vars::new(&part, &p);
        let coefs = optimize::row_coefs(&p, &ev, &part, &p.rows);
        let rhs: Vec<f64> = p.rows.iter().map(|r| r.rhs).collect();

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
                let obj = optimize::objective_value(&p, &part, &a);
                best = Some(best.map_or(obj, |b: f64| b.min(obj)));
            }
        }
        match optimize::solve(&p, &part, &vars, &coefs, &rhs) {
            Ok((a, obj, _)) => {
                feasible_count += 1;
                for (c, b) in coefs.iter().zip(&rhs) {
                    let v = optimize::row_value(&part, c, &a);
                    assert!(
                        v <= b + 1e-5 * b.abs().max(1.0),
                        "row violated: {v} > {b}\n{src}"
                    );
                }
                if let Some(b) = best {
                    assert!(
                        obj <= b + 1e-6 * b.abs().max(1.0),
                        "LP {obj} worse than pure {b}\n{src}"
                    );
                    let pure = a.iter().all(|s| s.iter().all(|x| *x == 0.0 || *x == 1.0));
                    if pure {
                        assert!(
                            (obj - b).abs() <= 1e-6 * b.abs().max(1.0),
                            "{obj} vs {b}\n{src}"
                        );
                        pure_matches += 1;
                    }
                }
            }
            Err(_) => assert!(
                best.is_none(),
                "LP infeasible but a pure assignment is feasible\n{src}"
            ),
        }
    }
    assert!(
        feasible_count > 5 && pure_matches > 3,
        "{feasible_count} {pure_matches}"
    );
}
