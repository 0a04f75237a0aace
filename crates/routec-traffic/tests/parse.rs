//! The shape of recorded lines: good lines read, each class of bad line gives
//! a located error, and no input makes the parser panic.
#![allow(
    clippy::disallowed_methods,
    reason = "tests read their fixtures from disk; the crate itself does no IO"
)]

use proptest::prelude::*;
use routec_traffic::{parse, parse_line};

fn errors(text: &str) -> String {
    match parse(text) {
        Ok(r) => format!("ok: {} records", r.len()),
        Err(es) => es.iter().map(|e| format!("{e}\n")).collect(),
    }
}

#[test]
fn reads_a_full_record() {
    let line = r#"{"id": "mmlu-17", "signals": {"task": "factual", "prompt_tokens": 812}, "outcomes": {"gpt4": {"success": true, "score": 1.0, "latency_ms": 1234.0, "ttft_ms": 310.0, "input_tokens": 812, "output_tokens": 5, "cost_usd": 0.0245}, "mixtral": {"score": 0.25}}}"#;
    let r = parse_line(3, line).unwrap();
    assert_eq!(r.line, 3);
    assert_eq!(r.id.as_deref(), Some("mmlu-17"));
    assert_eq!(r.signals.len(), 2);
    assert_eq!(r.signals[0].name, "task");
    assert_eq!(r.signals[0].column, 31);
    assert_eq!(r.outcomes.len(), 2);
    assert!(r.outcomes[0].outcome.succeeded());
    assert_eq!(r.outcomes[0].outcome.input_tokens, Some(812));
    assert!(!r.outcomes[1].outcome.succeeded());
}

#[test]
fn blank_lines_bom_and_crlf() {
    let text = "\u{feff}{\"signals\": {}}\r\n\r\n   \n{\"signals\": {\"x\": 1}}";
    let r = parse(text).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].line, 4);
}

/// Feedback lines join the nearest earlier request with their id, as an
/// outcome of the model they name; later feedback on the same model
/// replaces earlier; an orphan is a located error.
#[test]
fn feedback_joins_its_request() {
    let text = [
        r#"{"id": "a", "signals": {"task": "code"}, "outcomes": {"big": {"success": true}}}"#,
        r#"{"id": "b", "signals": {}}"#,
        r#"{"id": "a", "feedback": {"model": "small", "success": false, "latency_ms": 900}}"#,
        r#"{"id": "a", "signals": {"task": "chat"}}"#,
        r#"{"id": "a", "feedback": {"model": "small", "score": 0.9}}"#,
        r#"{"id": "a", "feedback": {"model": "small", "score": 0.2}}"#,
        r#"{"id": "b", "feedback": {"model": "big", "success": true}}"#,
    ]
    .join("\n");
    let records = parse(&text).unwrap();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| !r.feedback));
    let outcomes = |r: &routec_traffic::Record| {
        r.outcomes
            .iter()
            .map(|o| format!("{}@{}:{}", o.model, o.line, o.outcome.succeeded()))
            .collect::<Vec<_>>()
    };
    assert_eq!(outcomes(&records[0]), ["big@1:true", "small@3:false"]);
    assert_eq!(records[0].outcomes[1].outcome.latency_ms, Some(900.0));
    assert_eq!(outcomes(&records[1]), ["big@7:true"]);
    // The second `a` (line 4) takes the feedback after it; the last wins.
    assert_eq!(outcomes(&records[2]), ["small@6:false"]);
    assert_eq!(records[2].outcomes[0].outcome.score, Some(0.2));

    // Orphans count toward the error limit like any bad line.
    let many = "{\"id\": \"x\", \"feedback\": {\"model\": \"m\", \"success\": true}}\n".repeat(150);
    let errs = parse(&many).unwrap_err();
    assert_eq!(errs.len(), routec_traffic::MAX_ERRORS + 1);
    assert_eq!(
        errs[100].to_string(),
        "100:1: too many errors (100); stopped reading"
    );

    let orphan = "{\"id\": \"x\", \"feedback\": {\"model\": \"m\", \"success\": true}}\n{\"id\": \"x\", \"signals\": {}}";
    assert_eq!(
        errors(orphan),
        "1:1: feedback for `x`, which no earlier line records (feedback joins the nearest earlier valid line with the same `id`)\n"
    );
}

/// A judge's score (`"source": "judge"`) joins like feedback, but never
/// replaces a client's feedback on the same model, whichever comes first;
/// a client's replaces a judge's. A bad `source` is a located error.
#[test]
fn a_judges_score_gives_way_to_the_clients() {
    let text = [
        r#"{"id": "a", "signals": {}, "outcomes": {"small": {"success": true}}}"#,
        r#"{"id": "a", "feedback": {"model": "small", "source": "judge", "score": 0.4, "judge_cost_usd": 0.0002}}"#,
        r#"{"id": "b", "signals": {}}"#,
        r#"{"id": "b", "feedback": {"model": "small", "score": 0.9}}"#,
        r#"{"id": "b", "feedback": {"model": "small", "source": "judge", "score": 0.3}}"#,
        r#"{"id": "c", "signals": {}}"#,
        r#"{"id": "c", "feedback": {"model": "small", "source": "judge", "score": 0.3}}"#,
        r#"{"id": "c", "feedback": {"model": "small", "success": false}}"#,
    ]
    .join("\n");
    let records = parse(&text).unwrap();
    let joined = |r: &routec_traffic::Record| {
        r.outcomes
            .iter()
            .map(|o| format!("{}@{}:{:?}:{}", o.model, o.line, o.outcome.score, o.judged))
            .collect::<Vec<_>>()
    };
    // The judge's score replaces the request line's own outcome.
    assert_eq!(joined(&records[0]), ["small@2:Some(0.4):true"]);
    // The client said first: the judge's later score is dropped.
    assert_eq!(joined(&records[1]), ["small@4:Some(0.9):false"]);
    // The judge said first: the client's later feedback replaces it.
    assert_eq!(joined(&records[2]), ["small@8:None:false"]);

    assert_eq!(
        errors(
            r#"{"id": "a", "signals": {}}
{"id": "a", "feedback": {"model": "m", "source": "oracle", "success": true}}
{"id": "a", "feedback": {"model": "m", "judge_cost_usd": 0.1, "success": true}}"#
        ),
        "2:50: `source` is `judge` or absent (leave `source` out for the client's feedback; `\"source\": \"judge\"` marks a judge's score)\n\
         3:40: `judge_cost_usd` belongs to a judge's feedback (add `\"source\": \"judge\"`, or leave the judge's cost out)\n"
    );
}

/// The library's feedback writer (`routec_runtime::write_feedback`)
/// writes lines this reader joins: an embedder's own decision log is
/// labeled traffic too.
#[test]
fn the_runtime_writes_feedback_this_reader_joins() {
    let mut log: Vec<u8> = b"{\"id\": \"req-9\", \"signals\": {\"task\": \"code\"}}\n".to_vec();
    let feedback = routec_runtime::Feedback {
        model: "small".into(),
        score: Some(0.75),
        latency_ms: Some(812.5),
        input_tokens: Some(100),
        cost_usd: Some(0.001),
        ..routec_runtime::Feedback::default()
    };
    routec_runtime::write_feedback(&mut log, "req-9", &feedback).unwrap();
    let records = parse(std::str::from_utf8(&log).unwrap()).unwrap();
    assert_eq!(records.len(), 1);
    let o = &records[0].outcomes[0];
    assert_eq!((o.model.as_str(), o.line), ("small", 2));
    assert_eq!(
        o.outcome,
        routec_traffic::Outcome {
            score: Some(0.75),
            latency_ms: Some(812.5),
            input_tokens: Some(100),
            cost_usd: Some(0.001),
            ..routec_traffic::Outcome::default()
        }
    );
}

/// Every line of a fixture with the errors it gives (source, then output).
#[test]
fn fixtures() {
    insta::glob!("../../../tests/traffic/parse", "*.jsonl", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            out.push_str(&format!("{:>3} | {line}\n", i + 1));
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(i + 1, line) {
                Ok(_) => out.push_str("    ok\n"),
                Err(es) => {
                    for e in es {
                        out.push_str(&format!("    {}{}^ {}\n", " ".repeat(e.column - 1), "", e));
                    }
                }
            }
        }
        out.push_str(&format!("\nwhole file: {}", errors(&text)));
        insta::assert_snapshot!(out);
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse(&text);
    }

    #[test]
    fn never_panics_on_near_json(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just(":"),
                Just("\"signals\""), Just("\"outcomes\""), Just("\"id\""), Just("\"success\""),
                Just("\"score\""), Just("\"latency_ms\""), Just("\"input_tokens\""), Just("\"m\""),
                Just("\"feedback\""), Just("\"model\""), Just("\"decision\""),
                Just("1"), Just("-2.5"), Just("1e999"), Just("true"), Just("null"), Just("\"\\u00e9\""),
                Just("\n"), Just(" "), Just("\"é\""),
            ],
            0..40,
        )
    ) {
        let text: String = parts.concat();
        if let Err(es) = parse(&text) {
            for e in es {
                prop_assert!(e.line >= 1 && e.column >= 1);
            }
        }
    }
}
