//! The importer end to end: fixtures in `tests/import/<source>/` (snapshots
//! show the config, then the diagnostics, the report and the policy), every
//! output checked with the checker and the formatter, every code documented
//! and exercised, the shared corpora (skipped with a notice when
//! `../shared/data` is absent), Portkey's conditional semantics against
//! routed requests, LiteLLM round trips, semantic-router structure, and bad
//! input.
#![expect(
    clippy::disallowed_methods,
    reason = "the harness reads fixture and corpus files"
)]
#![expect(clippy::panic, reason = "test helpers fail loudly with context")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use routec_import::{Catalog, Imported, Options, Outcome, SourceKind, codes, import};
use routec_syntax::LineIndex;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shared() -> Option<PathBuf> {
    let p = root().join("../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "notice: {} is absent; skipping the shared-corpus test",
            p.display()
        );
        None
    }
}

fn kind_of(dir: &str) -> SourceKind {
    match dir {
        "litellm" => SourceKind::Litellm,
        "portkey" => SourceKind::Portkey,
        "semantic-router" => SourceKind::SemanticRouter,
        _ => SourceKind::Tensorzero,
    }
}

fn fixtures() -> Vec<(SourceKind, PathBuf)> {
    let mut out = Vec::new();
    for dir in ["litellm", "portkey", "semantic-router", "tensorzero"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/import").join(dir))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|f| (kind_of(dir), f)));
    }
    out
}

/// The checker's errors on a policy text.
fn check_errors(policy: &str) -> Vec<String> {
    let parsed = routec_syntax::parse(policy);
    let checked = routec_check::check(&parsed.file);
    parsed
        .diagnostics
        .iter()
        .chain(&checked.diagnostics)
        .filter(|d| d.is_error())
        .map(|d| {
            let (l, c) = LineIndex::new(policy).line_col_human(d.span.start as usize);
            format!("{l}:{c} [{}] {}", d.code, d.message)
        })
        .collect()
}

/// What every import must satisfy: an output that checks without errors
/// and is formatted; otherwise located diagnostics.
fn assert_sound(name: &str, text: &str, r: &Imported) {
    match r.outcome {
        Outcome::Imported => {
            let policy = r
                .policy
                .as_deref()
                .unwrap_or_else(|| panic!("{name}: no policy"));
            let errors = check_errors(policy);
            assert!(
                errors.is_empty(),
                "{name}: the policy has errors: {errors:#?}\n{policy}"
            );
            assert_eq!(
                routec_syntax::fmt::format(policy).as_deref(),
                Ok(policy),
                "{name}: the policy is not formatted"
            );
        }
        _ => {
            assert!(r.has_errors(), "{name}: failed without an error diagnostic");
        }
    }
    for d in &r.diagnostics {
        assert!(
            d.span.end as usize <= text.len(),
            "{name}: span out of range: {d:?}"
        );
        assert!(d.span.start <= d.span.end);
    }
    for u in &r.report {
        assert!(
            u.span.end as usize <= text.len(),
            "{name}: report span out of range: {u:?}"
        );
    }
}

fn render(text: &str, r: &Imported) -> String {
    let index = LineIndex::new(text);
    let mut out = String::new();
    for d in &r.diagnostics {
        let (l, c) = index.line_col_human(d.span.start as usize);
        let _ = writeln!(
            out,
            "{l}:{c} {}[{}]: {}",
            d.severity.as_str(),
            d.code,
            d.message
        );
        if let Some(h) = &d.help {
            let _ = writeln!(out, "    help: {h}");
        }
    }
    let _ = writeln!(out, "--- outcome: {:?}", r.outcome);
    if let Some(p) = &r.policy {
        out.push_str(p);
    }
    out
}

#[test]
fn fixtures_snapshot() {
    for (kind, path) in fixtures() {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let r = import(
            kind,
            &text,
            &Options {
                catalog: None,
                file_name: Some(name.clone()),
            },
        );
        assert_sound(&name, &text, &r);
        let dir = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        insta::assert_snapshot!(
            format!("{dir}__{name}"),
            format!(
                "{text}\n=== routec import {}\n{}",
                kind.name(),
                render(&text, &r)
            )
        );
    }
}

#[test]
fn every_code_has_a_fixture() {
    let mut seen = BTreeSet::new();
    for (kind, path) in fixtures() {
        let text = std::fs::read_to_string(&path).unwrap();
        for d in import(kind, &text, &Options::default()).diagnostics {
            seen.insert(d.code);
        }
    }
    let missing: Vec<&&str> = codes::ALL.iter().filter(|c| !seen.contains(**c)).collect();
    assert!(
        missing.is_empty(),
        "codes without a fixture in tests/import: {missing:?}"
    );
}

#[test]
fn every_code_is_documented() {
    let doc = std::fs::read_to_string(root().join("docs/diagnostics.md")).unwrap();
    let missing: Vec<&&str> = codes::ALL
        .iter()
        .chain(std::iter::once(&codes::INTERNAL))
        .filter(|c| !doc.contains(&format!("## {c}")))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a section in docs/diagnostics.md: {missing:?}"
    );
}

/// Every config of the shared corpora imports soundly or fails with located
/// diagnostics; none panics.
#[test]
fn shared_corpora() {
    let Some(data) = shared() else { return };
    let mut configs: Vec<(SourceKind, String, String)> = Vec::new();
    let mut walk = |dir: &Path, kind: SourceKind, ext: &str| {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == ext) {
                    let text = std::fs::read_to_string(&p).unwrap();
                    configs.push((kind, p.display().to_string(), text));
                }
            }
        }
    };
    walk(
        &data.join("litellm/third_party_configs"),
        SourceKind::Litellm,
        "yaml",
    );
    walk(
        &data.join("litellm/proxy_configs"),
        SourceKind::Litellm,
        "yaml",
    );
    walk(&data.join("tensorzero"), SourceKind::Tensorzero, "toml");
    walk(
        &data.join("semantic-router/config"),
        SourceKind::SemanticRouter,
        "yaml",
    );
    let portkey =
        std::fs::read_to_string(data.join("portkey/gateway_cookbook_configs.json")).unwrap();
    let snippets: serde_json::Value = serde_json::from_str(&portkey).unwrap();
    for (i, s) in snippets.as_array().unwrap().iter().enumerate() {
        let strict = s["strict_json"].as_bool() == Some(true);
        configs.push((
            SourceKind::Portkey,
            format!("portkey[{i}] strict={strict}"),
            s["text"].as_str().unwrap().to_owned(),
        ));
    }
    let mut imported = 0;
    for (kind, name, text) in &configs {
        let r = import(*kind, text, &Options::default());
        assert_sound(name, text, &r);
        if r.outcome == Outcome::Imported {
            imported += 1;
            // Nothing dropped silently: every key is read or reported.
        } else if name.contains("strict=true") {
            panic!(
                "{name}: a strict Portkey config did not import: {:?}",
                r.diagnostics
            );
        }
    }
    // Every LiteLLM config with deployments, every recipe and most
    // TensorZero files import; the rest are other kinds of files.
    assert!(
        imported >= 100,
        "only {imported} of {} configs imported",
        configs.len()
    );
    // The CIRISProxy config has a fallback cycle.
    let ciris = configs
        .iter()
        .find(|(_, n, _)| n.contains("CIRISProxy"))
        .unwrap();
    let r = import(SourceKind::Litellm, &ciris.2, &Options::default());
    assert!(
        r.diagnostics
            .iter()
            .any(|d| d.code == codes::FALLBACK_CYCLE)
    );
    // With the catalog, prices and windows are filled in.
    let catalog = Catalog::parse(
        &std::fs::read_to_string(data.join("litellm/model_prices_and_context_window_backup.json"))
            .unwrap(),
    )
    .unwrap();
    for (kind, name, text) in configs.iter().filter(|(k, _, _)| *k == SourceKind::Litellm) {
        let r = import(
            *kind,
            text,
            &Options {
                catalog: Some(&catalog),
                file_name: None,
            },
        );
        assert_sound(name, text, &r);
    }
    let r = import(
        SourceKind::Litellm,
        &ciris.2,
        &Options {
            catalog: Some(&catalog),
            file_name: None,
        },
    );
    let p = r.policy.unwrap();
    assert!(p.contains("price input $") && p.contains("tokens"), "{p}");
}

/// The semantics Portkey documents for conditional routing: the first
/// condition whose query matches picks its target, else `default`.
fn portkey_matches(
    q: &serde_json::Value,
    meta: &serde_json::Map<String, serde_json::Value>,
) -> bool {
    let obj = q.as_object().unwrap();
    obj.iter().all(|(k, v)| match k.as_str() {
        "$and" => v
            .as_array()
            .unwrap()
            .iter()
            .all(|s| portkey_matches(s, meta)),
        "$or" => v
            .as_array()
            .unwrap()
            .iter()
            .any(|s| portkey_matches(s, meta)),
        key => {
            let field = meta.get(key.trim_start_matches("metadata."));
            let ops: Vec<(String, serde_json::Value)> = match v.as_object() {
                Some(o) => o.iter().map(|(a, b)| (a.clone(), b.clone())).collect(),
                None => vec![("$eq".into(), v.clone())],
            };
            ops.iter().all(|(op, val)| {
                let num = |x: Option<&serde_json::Value>| x.and_then(serde_json::Value::as_f64);
                match op.as_str() {
                    "$eq" => field == Some(val),
                    "$ne" => field != Some(val),
                    "$gt" => num(field).zip(val.as_f64()).is_some_and(|(a, b)| a > b),
                    "$gte" => num(field).zip(val.as_f64()).is_some_and(|(a, b)| a >= b),
                    "$lt" => num(field).zip(val.as_f64()).is_some_and(|(a, b)| a < b),
                    "$lte" => num(field).zip(val.as_f64()).is_some_and(|(a, b)| a <= b),
                    "$in" => field.is_some_and(|f| val.as_array().unwrap().contains(f)),
                    "$nin" => !field.is_some_and(|f| val.as_array().unwrap().contains(f)),
                    _ => false,
                }
            })
        }
    })
}

/// Requests routed by the imported policy go where Portkey sends them, for
/// every combination of the metadata values the conditions mention (plus a
/// value none mentions).
#[test]
fn portkey_conditional_semantics() {
    let config = r#"{
      "strategy": { "mode": "conditional",
        "conditions": [
          { "query": { "metadata.plan": { "$eq": "paid" }, "metadata.region": { "$ne": "cn" } }, "then": "large" },
          { "query": { "$or": [ { "metadata.region": { "$in": ["eu", "uk"] } }, { "metadata.size": { "$gte": 100 } } ] }, "then": "eu" },
          { "query": { "metadata.plan": { "$nin": ["free", "trial"] } }, "then": "medium" }
        ],
        "default": "small" },
      "targets": [
        { "name": "large", "provider": "anthropic" }, { "name": "eu", "provider": "mistral" },
        { "name": "medium", "provider": "openai" }, { "name": "small", "provider": "groq" } ] }"#;
    let r = import(SourceKind::Portkey, config, &Options::default());
    assert_sound("conditional", config, &r);
    let policy_text = r.policy.unwrap();
    let parsed = routec_syntax::parse(&policy_text);
    let policy = routec_check::check(&parsed.file).policy;
    let doc: serde_json::Value = serde_json::from_str(config).unwrap();
    let conditions = doc["strategy"]["conditions"].as_array().unwrap();
    let values: Vec<(&str, Vec<serde_json::Value>)> = vec![
        (
            "plan",
            vec![
                "paid".into(),
                "free".into(),
                "trial".into(),
                "other_plan".into(),
            ],
        ),
        (
            "region",
            vec!["cn".into(), "eu".into(), "uk".into(), "us".into()],
        ),
        ("size", vec![0.into(), 99.into(), 100.into(), 5000.into()]),
    ];
    let mut checked = 0;
    for a in &values[0].1 {
        for b in &values[1].1 {
            for c in &values[2].1 {
                let mut meta = serde_json::Map::new();
                meta.insert("plan".into(), a.clone());
                meta.insert("region".into(), b.clone());
                meta.insert("size".into(), c.clone());
                let expected = conditions
                    .iter()
                    .find(|q| portkey_matches(&q["query"], &meta))
                    .map_or("small", |q| q["then"].as_str().unwrap());
                // The policy's effective values: unknown enum values take the default.
                let mut v: Vec<f64> = (0..policy.signals.len())
                    .map(|i| {
                        routec_conformance::interpret::default_value(
                            &policy,
                            routec_check::ir::SignalId(i as u32),
                        )
                    })
                    .collect();
                for (key, val) in &meta {
                    let Some(id) = policy.signal_by_name(key) else {
                        continue;
                    };
                    let sig = policy.signal(id);
                    v[id.index()] = match (&sig.ty, val) {
                        (routec_check::ir::SignalType::Enum(vs), serde_json::Value::String(s)) => {
                            vs.iter()
                                .position(|x| x == s)
                                .map_or(v[id.index()], |i| i as f64)
                        }
                        (_, serde_json::Value::Number(n)) => n.as_f64().unwrap(),
                        _ => v[id.index()],
                    };
                }
                let rule = policy
                    .rules
                    .iter()
                    .find(|r| routec_conformance::interpret::eval(&policy, &r.cond, &v))
                    .unwrap();
                let got = routec_conformance::interpret::render(&policy, &rule.plan);
                assert_eq!(got, expected, "request {meta:?}\n{policy_text}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 64);
}

/// LiteLLM fallback order, retries and cooldowns come back out of the
/// policy as written.
#[test]
fn litellm_round_trip() {
    let config = "model_list:
  - {model_name: a, litellm_params: {model: openai/gpt-4o-mini}}
  - {model_name: b, litellm_params: {model: anthropic/claude-3-5-haiku}}
  - {model_name: c, litellm_params: {model: groq/llama-3.1-8b-instant}}
  - {model_name: d, litellm_params: {model: openai/gpt-4o}}
router_settings:
  num_retries: 3
  retry_after: 2
  allowed_fails: 4
  cooldown_time: 45
  fallbacks: [{a: [c, b]}, {c: [d]}]
";
    let r = import(SourceKind::Litellm, config, &Options::default());
    assert_sound("round trip", config, &r);
    let p = r.policy.unwrap();
    let parsed = routec_syntax::parse(&p);
    let policy = routec_check::check(&parsed.file).policy;
    // a fails over to c, c's own fallback d, then b: LiteLLM's depth-first order.
    let a_rule = policy.rules.last().unwrap();
    assert_eq!(
        routec_conformance::interpret::render(&policy, &a_rule.plan),
        "a else c else d else b",
        "{p}"
    );
    let f = &policy.faults.defaults;
    let retry = f.retry.as_ref().unwrap();
    assert_eq!(retry.count, 3);
    assert_eq!(retry.backoff, Some(2.0));
    // LiteLLM cools a deployment down when its failures exceed allowed_fails.
    assert_eq!(f.cooldown, Some((45.0, 5)));
}

/// The imported rules follow the recipe DSL: decisions by priority, their
/// boolean structure and their candidates. Checked against the DSL text of
/// the shared recipes (`ROUTE`, `PRIORITY`, `WHEN`, `MODEL`).
#[test]
fn semantic_router_structure_matches_dsl() {
    let Some(data) = shared() else { return };
    let dir = data.join("semantic-router/config/recipes/knowledge");
    let config = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    let dsl = std::fs::read_to_string(dir.join("recipe.dsl")).unwrap();
    let r = import(SourceKind::SemanticRouter, &config, &Options::default());
    assert_sound("knowledge", &config, &r);
    let p = r.policy.unwrap();
    // The DSL's routes, by descending priority.
    let mut routes: Vec<(i64, String, String, Vec<String>)> = Vec::new();
    for block in dsl.split("\nROUTE ").skip(1) {
        let name = block.split([' ', '(']).next().unwrap().to_owned();
        let prio: i64 = block
            .split("PRIORITY ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let when = block
            .split("WHEN ")
            .nth(1)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .trim()
            .to_owned();
        let models = block
            .split("MODEL ")
            .nth(1)
            .unwrap()
            .split('"')
            .skip(1)
            .step_by(2)
            .map(routec_import::ir::ident)
            .collect();
        routes.push((prio, name, when, models));
    }
    routes.sort_by_key(|r| std::cmp::Reverse(r.0));
    // The first rule under each decision comment, without the guard on
    // prompt length the context windows add.
    let lines: Vec<&str> = p.lines().collect();
    let rules: Vec<String> = lines
        .windows(2)
        .filter(|w| w[0].trim_start().starts_with("// decision `"))
        .map(|w| {
            let r = w[1].to_owned();
            match r.find(" and prompt_tokens <= ") {
                Some(i) => {
                    let rest = &r[i..];
                    let end = rest.find(" => ").unwrap();
                    format!("{}{}", &r[..i], &rest[end..])
                }
                None => r,
            }
        })
        .collect();
    assert_eq!(rules.len(), routes.len(), "{p}");
    for ((_, name, when, models), rule) in routes.iter().zip(&rules) {
        assert!(p.contains(&format!("decision `{name}`")), "{name}");
        // The DSL's WHEN with its calls renamed as the importer names signals.
        let expected = when
            .replace("kb(\"", "kb_")
            .replace("keyword(\"", "keyword_")
            .replace(
                "projection(\"no_escalation\")",
                "projection_escalation_band == no_escalation",
            )
            .replace("\")", "")
            .replace(" OR ", " or ")
            .replace(" AND ", " and ")
            .replace("NOT ", "not ");
        let cond = rule
            .trim_start()
            .trim_start_matches("when ")
            .split(" => ")
            .next()
            .unwrap();
        assert_eq!(
            cond.trim_start_matches('(').trim_end_matches(')'),
            expected.trim_start_matches('(').trim_end_matches(')'),
            "{name}"
        );
        let plan = rule.split(" => ").nth(1).unwrap();
        assert_eq!(
            plan.split(" else ").collect::<Vec<_>>(),
            models.iter().map(String::as_str).collect::<Vec<_>>(),
            "{name}"
        );
    }
}

#[test]
fn bad_input_is_refused_clearly() {
    // Not YAML/JSON/TOML.
    for (kind, text) in [
        (SourceKind::Litellm, "model_list: [\n  {a: "),
        (SourceKind::Portkey, "{ \"strategy\": "),
        (SourceKind::Tensorzero, "[functions\nx = "),
        (SourceKind::SemanticRouter, "\u{0}\u{1}binary"),
    ] {
        let r = import(kind, text, &Options::default());
        assert_eq!(r.outcome, Outcome::Unreadable, "{text:?}");
        assert_eq!(r.diagnostics[0].code, codes::CONFIG_SYNTAX);
    }
    // The wrong kind of config.
    let r = import(
        SourceKind::Tensorzero,
        "[gateway_x]\nx = 1\n",
        &Options::default(),
    );
    assert_eq!(r.outcome, Outcome::WrongKind);
    let r = import(
        SourceKind::Litellm,
        "{\"strategy\": {\"mode\": \"fallback\"}, \"targets\": []}",
        &Options::default(),
    );
    assert_eq!(r.diagnostics[0].code, codes::WRONG_KIND);
    // Too large.
    let big = "a".repeat(routec_import::MAX_CONFIG_BYTES + 1);
    let r = import(SourceKind::Litellm, &big, &Options::default());
    assert_eq!(r.outcome, Outcome::Unreadable);
    // Deeply nested Portkey targets.
    let mut deep = String::from("{\"provider\": \"openai\"}");
    for _ in 0..40 {
        deep = format!("{{\"strategy\": {{\"mode\": \"fallback\"}}, \"targets\": [{deep}]}}");
    }
    let r = import(SourceKind::Portkey, &deep, &Options::default());
    assert!(r.has_errors());
    let mut deeper = String::from("1");
    for _ in 0..5000 {
        deeper = format!("[{deeper}]");
    }
    let r = import(
        SourceKind::Portkey,
        &format!("{{\"targets\": {deeper}}}"),
        &Options::default(),
    );
    assert_eq!(r.outcome, Outcome::Unreadable);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Never a panic, on any text, for any source.
    #[test]
    fn never_panics(text in ".{0,400}", which in 0usize..4) {
        let kind = [SourceKind::Litellm, SourceKind::Portkey, SourceKind::SemanticRouter, SourceKind::Tensorzero][which];
        let r = import(kind, &text, &Options::default());
        assert_sound("random", &text, &r);
    }
}
