//! Conformance of compiled tables to the policies they come from.
//!
//! [`interpret`] routes a request by reading the checked policy directly
//! (rules in order, slices, the optimizer's cells), without the decision
//! diagram; the differential tests compare it with
//! [`routec_runtime::Router::decide`] on random requests, and write the
//! shared test vectors every runtime (library, proxy, wasm) must reproduce.
//!
//! This crate is test support: it reads files and may not be used by the
//! product crates.

pub mod generate;
pub mod interpret;

use std::path::{Path, PathBuf};

use routec_check::ir::Policy;
use routec_opt::{CompileOptions, Compiled};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example policies, sorted by name.
pub fn examples() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "route"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// A compiled policy with everything the tests need.
#[derive(Debug)]
pub struct Fixture {
    pub name: String,
    pub source: String,
    pub policy: Policy,
    pub compiled: Compiled,
}

/// Parses and checks a policy's text: the checked policy, and the message of
/// every error of both steps (none: the policy can be compiled).
pub fn check_source(source: &str) -> (Policy, Vec<String>) {
    let parse = routec_syntax::parse(source);
    let checked = routec_check::check(&parse.file);
    let errors: Vec<_> = parse
        .diagnostics
        .iter()
        .chain(&checked.diagnostics)
        .filter(|d| d.is_error())
        .map(|d| d.message.clone())
        .collect();
    (checked.policy, errors)
}

/// Parses, checks and compiles a policy file; `Err` says why it could not.
pub fn compile_file(path: &Path) -> Result<Fixture, String> {
    let source = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let (policy, errors) = check_source(&source);
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    let options = CompileOptions {
        traffic: None,
        compiler_version: env!("CARGO_PKG_VERSION").into(),
        slo_margin: None,
    };
    let compiled = routec_opt::compile(&policy, &source, &options).map_err(|diags| {
        diags
            .iter()
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let name = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    Ok(Fixture {
        name,
        source,
        policy,
        compiled,
    })
}

/// A policy with `rules` disjoint rules over a numeric signal and an enum,
/// for the `decide` benchmark on large tables.
pub fn generated_rules_policy(rules: usize) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let models = 16;
    let _ = writeln!(
        s,
        "policy generated {{\n  owner \"bench\"\n  baseline m0\n}}\n"
    );
    let _ = writeln!(
        s,
        "signal account: int from metadata \"account\" default 0\nsignal tier: enum {{ free, pro, enterprise }} from metadata \"tier\" default free\n"
    );
    for m in 0..models {
        let _ = writeln!(
            s,
            "model m{m} {{\n  provider openai\n  endpoint env(\"M{m}_URL\")\n  context 128k tokens\n  price input ${}/Mtok, output ${}/Mtok\n  latency ttft p50 {}ms p95 {}ms p99 {}ms, decode 100 tok/s\n  quality {}%\n}}\n",
            0.1 + m as f64 * 0.1,
            0.2 + m as f64 * 0.2,
            100 + 10 * m,
            300 + 20 * m,
            900 + 30 * m,
            60 + m
        );
    }
    let _ = writeln!(
        s,
        "objective weighted {{ latency 0.5, cost 0.3, quality 0.2 }}\n"
    );
    let _ = writeln!(s, "route {{");
    for i in 0..rules {
        let tier = ["free", "pro", "enterprise"][i % 3];
        let lo = (i / 3) * 100;
        let _ = writeln!(
            s,
            "  when tier == {tier} and account >= {lo} and account < {} => m{}",
            lo + 100,
            (i * 7) % models
        );
    }
    let _ = writeln!(s, "  otherwise => m0\n}}");
    s
}

/// A policy of about `lines` lines in the shape of real ones: many models
/// with quality tables, signals, slices, SLOs, rules with thresholds,
/// faults, traffic and tests. For the front-end benchmark.
pub fn generated_front_end_policy(lines: usize) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "/// A generated policy.\npolicy generated {{\n  owner \"bench\"\n  baseline m0\n}}\n"
    );
    let _ = writeln!(
        s,
        "signal task: enum {{ chat, code, factual, reasoning }} from header \"x-task\" default chat\nsignal lang: enum {{ en, es, de, ja, other }} from header \"x-lang\" default other\nsignal tier: enum {{ free, pro, enterprise }} from metadata \"tier\" default free\nsignal difficulty: ratio from classifier \"difficulty\" cost 4ms default 50%\n"
    );
    let mut m = 0;
    let mut rule_lines = Vec::new();
    while s.lines().count() + rule_lines.len() < lines.saturating_sub(30) {
        let _ = writeln!(
            s,
            "/// Model {m}.\nmodel m{m} {{\n  provider openai\n  endpoint env(\"M{m}_URL\")\n  upstream \"org/model-{m}\"\n  context 200k tokens\n  price input ${}/Mtok, output ${}/Mtok\n  latency ttft p50 {}ms p95 {}ms p99 {}ms, decode {} tok/s\n  quality by task {{ chat {}%, code {}%, factual {}%, reasoning {}% }} adjust by lang {{ ja -{}%, other -3% }}\n{}}}\n",
            0.05 + (m % 17) as f64 * 0.1,
            0.1 + (m % 13) as f64 * 0.3,
            80 + m % 400,
            250 + m % 900,
            600 + m % 1500,
            50 + m % 150,
            60 + m % 35,
            50 + m % 45,
            55 + m % 40,
            40 + m % 55,
            1 + m % 9,
            if m > 0 {
                format!("  fallback m{}\n", m / 2)
            } else {
                String::new()
            },
        );
        if m > 0 {
            // Every (tier, task, token range) combination once: no rule
            // shadows another.
            let tier = ["free", "pro", "enterprise"][m % 3];
            let task = ["chat", "code", "factual", "reasoning"][(m / 3) % 4];
            let range = m / 12;
            rule_lines.push(format!(
                "  when tier == {tier} and task == {task} and prompt_tokens > {}k and prompt_tokens <= {}k => m{m}",
                range * 2,
                range * 2 + 1
            ));
        }
        m += 1;
    }
    let _ = writeln!(
        s,
        "slice english = lang == en\nslice non_english = lang != en\nslice paying = tier in {{ pro, enterprise }}\n"
    );
    let _ = writeln!(
        s,
        "objective weighted {{ latency 0.6, cost 0.3, quality 0.1 }}\n"
    );
    let _ = writeln!(
        s,
        "slo {{\n  ttft p95 <= 3s\n  cost per 1k requests <= $5\n  quality >= 60% for each slice\n}}\n"
    );
    let _ = writeln!(s, "route {{\n  when has_images => m0");
    for r in &rule_lines {
        let _ = writeln!(s, "{r}");
    }
    let _ = writeln!(s, "  otherwise => m0\n}}\n");
    let _ = writeln!(
        s,
        "faults {{\n  timeout 30s\n  retry 1 on [429, 5xx] backoff 200ms\n}}\n"
    );
    let _ = writeln!(
        s,
        "traffic launch {{\n  qps 100\n  task {{ chat 55%, code 20%, factual 15%, reasoning 10% }}\n  prompt_tokens lognormal p50 900 p95 12k\n}}\n"
    );
    let _ = writeln!(
        s,
        "test \"images go to m0\" {{\n  given {{ has_images: true }}\n  expect m0\n}}"
    );
    s
}

/// A rule-heavy policy of about `lines` lines for the checker benchmarks.
/// `tenants`: rules route one tenant each (the shape of a policy generated
/// from a table of customers); otherwise rules overlap heavily and most of
/// them are shadowed (the adversarial shape for the shadowing proof).
pub fn generated_checker_policy(lines: usize, tenants: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "policy generated {{\n  owner \"gen\"\n  baseline m0\n}}");
    let enums = 12;
    let values = 8;
    for e in 0..enums {
        let vs: Vec<String> = (0..values).map(|v| format!("v{v}")).collect();
        let _ = writeln!(
            s,
            "signal e{e}: enum {{ {} }} from header \"x-e{e}\" default v0",
            vs.join(", ")
        );
    }
    if tenants {
        let ts: Vec<String> = (0..lines).map(|t| format!("t{t}")).collect();
        let _ = writeln!(
            s,
            "signal tenant: enum {{ {} }} from header \"x-tenant\" default t0",
            ts.join(", ")
        );
    }
    for r in 0..4 {
        let _ = writeln!(
            s,
            "signal r{r}: ratio from classifier \"c{r}\" cost 2ms default 50%"
        );
    }
    let models = 60;
    for m in 0..models {
        let ctx = [32, 64, 128, 200][m % 4];
        let q: Vec<String> = (0..values)
            .map(|v| format!("v{v} {}%", 50 + (v * 5 + m) % 45))
            .collect();
        let _ = writeln!(
            s,
            "model m{m} {{\n  provider openai\n  endpoint env(\"M{m}_URL\")\n  context {ctx}k tokens\n  price input ${}/Mtok, output ${}/Mtok\n  latency ttft p50 {}ms p95 {}ms p99 {}ms, decode 100 tok/s\n  quality by e0 {{ {} }}\n}}",
            0.1 + m as f64 * 0.05,
            0.2 + m as f64 * 0.1,
            100 + m,
            300 + m,
            900 + m,
            q.join(", ")
        );
    }
    for sl in 0..20 {
        let _ = writeln!(
            s,
            "slice s{sl} = e{} == v{} and r{} > {}%",
            sl % enums,
            sl % values,
            sl % 4,
            sl * 3
        );
    }
    let _ = writeln!(
        s,
        "objective weighted {{ latency 0.5, cost 0.3, quality 0.2 }}"
    );
    let _ = writeln!(
        s,
        "slo {{\n  ttft p95 <= 3s\n  quality >= 60% for each slice\n}}"
    );
    let _ = writeln!(s, "route {{\n  when prompt_tokens > 32k => m3");
    let mut i = 0;
    let mut count = s.lines().count();
    while count < lines.saturating_sub(30) {
        count += 1;
        if tenants {
            let _ = writeln!(
                s,
                "  when tenant == t{i} and prompt_tokens <= {}k => m{}",
                [8, 16, 32][i % 3],
                (i * 7) % models
            );
            i += 1;
            continue;
        }
        let e = i % enums;
        let v = (i / enums) % values;
        let t = 1 + (i * 37) % 31;
        let r = i % 4;
        let m = (i * 7) % models;
        let _ = writeln!(
            s,
            "  when e{e} == v{v} and prompt_tokens > {t}k and r{r} < {}% and e{} != v{} => m{m}",
            5 + (i * 13) % 90,
            (e + 1) % enums,
            (v + 3) % values
        );
        i += 1;
    }
    let cands: Vec<String> = (0..8).map(|m| format!("m{}", m * 4 + 3)).collect();
    let _ = writeln!(
        s,
        "  otherwise => optimize [{}] by e0, e1, prompt_tokens at [2k, 8k, 16k]\n}}",
        cands.join(", ")
    );
    let _ = writeln!(
        s,
        "traffic main {{\n  qps 100\n  prompt_tokens lognormal p50 900 p95 12k\n}}"
    );
    s
}

/// The shapes of [`generated_tenant_policy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantShape {
    /// One rule per tenant, each on its own tenant value: the shape of a
    /// policy generated from a table of customers. No rule meets another
    /// except the shared ones before and after them.
    Disjoint,
    /// The adversarial variant: each rule names three tenants, one of them
    /// shared with the rule before and one with a rule seven places back,
    /// with overlapping task and prompt-length conditions, so every rule
    /// meets several earlier ones; every fifth rule is mostly shadowed by
    /// the union of two earlier ones. The policy checks without errors.
    Overlapping,
}

/// A policy of about `lines` lines generated from a table of customers:
/// one model (the tenant's deployment) and one rule per tenant, about 11
/// lines per tenant, after a few shared models and signals; long prompts
/// and unknown tenants go to an `optimize` over the shared models.
pub fn generated_tenant_policy(lines: usize, shape: TenantShape) -> String {
    use std::fmt::Write as _;
    const HEADER: usize = 50;
    const PER_TENANT: usize = 11;
    let tenants = lines.saturating_sub(HEADER).max(PER_TENANT) / PER_TENANT;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "/// Generated from the customer table.\npolicy gateway {{\n  owner \"platform\"\n  baseline large\n}}\n"
    );
    let names: Vec<String> = (0..tenants).map(|t| format!("t{t}")).collect();
    let _ = writeln!(
        s,
        "signal task: enum {{ chat, code, factual, reasoning }} from header \"x-task\" default chat\nsignal tier: enum {{ free, pro, enterprise }} from metadata \"tier\" default free\nsignal tenant: enum {{ {}, unknown }} from header \"x-tenant\" default unknown\n",
        names.join(", ")
    );
    for (name, ctx, p_in, p_out, ttft, q) in [
        ("small", 128, 0.05, 0.08, 90, [84, 58, 71, 44]),
        ("medium", 128, 0.30, 0.60, 180, [89, 76, 80, 66]),
        ("large", 200, 3.0, 15.0, 600, [93, 90, 88, 86]),
    ] {
        let _ = writeln!(
            s,
            "model {name} {{\n  provider openai\n  endpoint env(\"{}_URL\")\n  context {ctx}k tokens\n  price input ${p_in}/Mtok, output ${p_out}/Mtok\n  latency ttft p50 {ttft}ms p95 {}ms p99 {}ms, decode 100 tok/s\n  quality by task {{ chat {}%, code {}%, factual {}%, reasoning {}% }}\n}}\n",
            name.to_uppercase(),
            ttft * 3,
            ttft * 6,
            q[0],
            q[1],
            q[2],
            q[3]
        );
    }
    let mut rules = Vec::with_capacity(tenants);
    for t in 0..tenants {
        let ctx = [64, 128, 200][t % 3];
        let _ = writeln!(
            s,
            "/// The deployment of tenant t{t}.\nmodel m{t} {{\n  provider openai\n  endpoint env(\"T{t}_URL\")\n  context {ctx}k tokens\n  price input ${}/Mtok, output ${}/Mtok\n  latency ttft p50 {}ms p95 {}ms p99 {}ms, decode {} tok/s\n  quality by task {{ chat {}%, code {}%, factual {}%, reasoning {}% }}\n  fallback medium\n}}",
            0.05 + (t % 17) as f64 * 0.05,
            0.1 + (t % 13) as f64 * 0.1,
            80 + t % 200,
            3 * (80 + t % 200),
            6 * (80 + t % 200),
            60 + t % 120,
            70 + t % 25,
            60 + t % 30,
            65 + t % 28,
            50 + t % 40,
        );
        rules.push(match shape {
            TenantShape::Disjoint => {
                format!("  when tenant == t{t} and prompt_tokens <= {ctx}k => m{t}")
            }
            TenantShape::Overlapping if t % 5 == 4 => {
                // Almost shadowed: tenant t-2 with the task its own rule
                // leaves out is taken by rule t-1 (whose task differs) up
                // to that rule's prompt bound; longer prompts reach this one.
                let task = ["chat", "code", "factual", "reasoning"][(t - 2) % 4];
                format!(
                    "  when tenant == t{} and task == {task} and prompt_tokens <= {ctx}k => m{t}",
                    t - 2
                )
            }
            TenantShape::Overlapping => {
                let group = [t, t.saturating_sub(1), t.saturating_sub(7)];
                let mut group: Vec<String> = group.iter().map(|g| format!("t{g}")).collect();
                group.dedup();
                let task = ["chat", "code", "factual", "reasoning"][t % 4];
                let tier = ["free", "pro", "enterprise"][(t / 4) % 3];
                format!(
                    "  when tenant in {{ {} }} and (task != {task} or tier == {tier}) and prompt_tokens <= {}k => m{t}",
                    group.join(", "),
                    [8, 16, 32][t % 3]
                )
            }
        });
    }
    let _ = writeln!(
        s,
        "\nslice paying = tier in {{ pro, enterprise }}\nslice coding = task == code\n\nobjective weighted {{ latency 0.5, cost 0.3, quality 0.2 }}\n\nslo {{\n  ttft p95 <= 3s\n  quality >= 60% for each slice\n}}\n"
    );
    let _ = writeln!(s, "route {{\n  when has_images => large");
    for r in &rules {
        let _ = writeln!(s, "{r}");
    }
    let _ = writeln!(
        s,
        "  otherwise => optimize [small, medium, large] by task, prompt_tokens at [8k, 32k]\n}}\n"
    );
    let _ = writeln!(
        s,
        "traffic main {{\n  qps 500\n  task {{ chat 55%, code 20%, factual 15%, reasoning 10% }}\n  tier {{ free 50%, pro 40%, enterprise 10% }}\n  prompt_tokens lognormal p50 900 p95 12k\n  has_images 2%\n}}"
    );
    s
}
