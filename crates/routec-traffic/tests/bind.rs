//! Binding records to a policy: every signal type's accepted values, and
//! located did-you-mean errors for unknown names and bad values; binding
//! never panics on any parsed record.

use proptest::prelude::*;
use routec_check::ir::{Policy, Value};
use routec_traffic::{bind, parse};

const POLICY: &str = r#"
policy p { baseline big }
signal task: enum { chat, code } from header "x-task" default chat
signal urgent: bool from header "x-urgent" default false
signal budget: ratio from metadata "budget" default 50%
signal wait: duration from metadata "wait" default 1s
signal spend: money from metadata "spend" default $1
signal retries: int from metadata "retries" default 0
model small { quality 70% }
model big { quality 90% }
route { when task == code and urgent and budget > 10% and wait > 1s and spend > $1 and retries > 2 => big
        otherwise => small }
"#;

fn policy() -> Policy {
    let parsed = routec_syntax::parse(POLICY);
    let checked = routec_check::check(&parsed.file);
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    checked.policy
}

#[test]
fn every_type_reads_its_written_forms() {
    let p = policy();
    let text = r#"{"signals": {"task": "code", "urgent": true, "budget": "25%", "wait": "200ms", "spend": "$0.5", "retries": "2k", "prompt_tokens": "12k"}}
{"signals": {"urgent": "false", "budget": 0.75, "wait": 3, "spend": 2, "retries": -4, "prompt_tokens": 812}}
{"signals": {}, "outcomes": {"big": {"score": 0.7}, "small": {"success": false, "score": 0.9}}}"#;
    let bound = bind(&p, &parse(text).unwrap()).unwrap();
    let v = |r: usize, name: &str| {
        bound.records[r].values[p.signal_by_name(name).unwrap().index()].clone()
    };
    assert_eq!(v(0, "task"), Some(Value::Enum(1)));
    assert_eq!(v(0, "urgent"), Some(Value::Bool(true)));
    assert_eq!(v(0, "budget"), Some(Value::Number(0.25)));
    assert_eq!(v(0, "wait"), Some(Value::Number(0.2)));
    assert_eq!(v(0, "spend"), Some(Value::Number(0.5)));
    assert_eq!(v(0, "retries"), Some(Value::Number(2000.0)));
    assert_eq!(v(0, "prompt_tokens"), Some(Value::Number(12_000.0)));
    assert_eq!(v(1, "urgent"), Some(Value::Bool(false)));
    assert_eq!(v(1, "retries"), Some(Value::Number(-4.0)));
    assert_eq!(v(2, "task"), None);
    let big = p.model_by_name("big").unwrap();
    let small = p.model_by_name("small").unwrap();
    // score >= 0.5 succeeds; an explicit `success` wins over the score.
    assert!(bound.records[2].outcome(big).unwrap().succeeded());
    assert!(!bound.records[2].outcome(small).unwrap().succeeded());
    assert_eq!(bound.labeled(), 1);
}

#[test]
fn bad_names_and_values_are_located_with_suggestions() {
    let p = policy();
    let text = r#"{"signals": {"tsak": "code"}}
{"signals": {"task": "cdoe", "budget": 2, "wait": "soon", "spend": "5", "retries": 1.5, "prompt_tokens": -1, "urgent": 1}}
{"signals": {}, "outcomes": {"bgi": {"success": true}}}"#;
    let errors = bind(&p, &parse(text).unwrap()).unwrap_err();
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    insta::assert_snapshot!(format!("{text}\n---\n{}", shown.join("\n")));
}

/// A feedback line's unknown model is reported on the feedback line, where
/// the name was written.
#[test]
fn an_unknown_model_in_feedback_is_located_on_its_line() {
    let p = policy();
    let text = "{\"id\": \"r\", \"signals\": {}}\n{\"id\": \"r\", \"feedback\": {\"model\": \"smal\", \"success\": true}}";
    let errors = bind(&p, &parse(text).unwrap()).unwrap_err();
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["2:35: unknown model `smal` (did you mean `small`?)"]
    );
}

proptest! {
    #[test]
    fn binding_never_panics(
        names in proptest::collection::vec(
            prop_oneof![Just("task"), Just("urgent"), Just("budget"), Just("wait"), Just("spend"),
                        Just("retries"), Just("prompt_tokens"), Just("nope"), Just("big"), Just("small")],
            0..6,
        ),
        values in proptest::collection::vec(
            prop_oneof![Just("\"chat\""), Just("\"12k\""), Just("\"10%\""), Just("\"$0.5\""),
                        Just("\"200ms\""), Just("true"), Just("-1"), Just("1e300"), Just("0.5"),
                        Just("\"\""), Just("\"-\""), Just("\"k\""), Just("\"1.2.3M\"")],
            6,
        ),
    ) {
        let p = policy();
        let signals: Vec<String> = names.iter().zip(&values).map(|(n, v)| format!("\"{n}\": {v}")).collect();
        let line = format!("{{\"signals\": {{{}}}, \"outcomes\": {{\"{}\": {{\"success\": true}}}}}}",
            signals.join(", "), names.first().copied().unwrap_or("big"));
        if let Ok(records) = parse(&line)
            && let Err(es) = bind(&p, &records)
        {
            for e in es {
                prop_assert!(e.line == 1 && e.column >= 1);
            }
        }
    }
}
