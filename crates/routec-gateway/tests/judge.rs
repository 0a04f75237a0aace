//! Quality sampling (`learn { judge MODEL sample ... }`): the judge model
//! scores the sampled answers in the background, its score is written as
//! feedback with `source` `judge` (joined onto the request by the traffic
//! reader), what it costs is spent like any answer, and a judge that fails
//! or answers without a score never touches the client's answer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use std::time::{Duration, Instant};

use common::{Act, Fake, TempDir, TextLoader, client, env, gateway, metric, options};
use serde_json::{Value as J, json};

fn policy(sample: &str) -> String {
    format!(
        r#"
policy judged {{
  owner "tests"
  baseline small
}}

model small {{
  provider openai
  endpoint env("SMALL_URL")
  price input $1/Mtok, output $2/Mtok
  latency ttft p50 100ms p95 300ms, decode 100 tok/s
  quality 80%
}}

model grader {{
  provider openai
  endpoint env("GRADER_URL")
  upstream "grader-large"
  price input $10/Mtok, output $30/Mtok
}}

route {{
  otherwise => small
}}

learn {{
  judge grader sample {sample}
}}
"#
    )
}

struct World {
    small: Fake,
    grader: Fake,
    gw: routec_gateway::Running,
    dir: TempDir,
}

impl World {
    async fn start(name: &str, sample: &str) -> World {
        let small = Fake::start().await;
        small.text("Paris is the capital of France.");
        let grader = Fake::start().await;
        grader.text("0.8");
        let dir = common::temp_dir("judge", name);
        let mut opts = options();
        opts.decision_log = Some(dir.0.join("decisions.jsonl"));
        opts.explore_seed = Some(7);
        let env = env(&[
            ("SMALL_URL", format!("{}/v1", small.url())),
            ("GRADER_URL", format!("{}/v1", grader.url())),
        ]);
        let gw = gateway(TextLoader::new(&policy(sample)), env, opts).await;
        World {
            small,
            grader,
            gw,
            dir,
        }
    }

    async fn chat(&self, stream: bool) -> (u16, String, String) {
        let r = client()
            .post(format!("http://{}/v1/chat/completions", self.gw.addr))
            .json(&json!({"model": "judged", "stream": stream,
                          "messages": [{"role": "user", "content": "What is the capital of France?"}]}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        (status, id, r.text().await.unwrap())
    }

    async fn metrics(&self) -> String {
        common::scrape(self.gw.addr, None).await
    }

    /// Waits (up to a generous deadline) until `done` holds of the metrics.
    async fn wait_metrics(&self, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let m = self.metrics().await;
            if done(&m) || Instant::now() > deadline {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the gateway (flushing the decision log) and reads the log.
    async fn stop(self) -> (String, Fake, Fake) {
        let path = self.dir.0.join("decisions.jsonl");
        self.gw.stop().await.unwrap();
        (
            std::fs::read_to_string(path).unwrap(),
            self.small,
            self.grader,
        )
    }
}

fn judged(m: &str, outcome: &str) -> f64 {
    metric(m, &format!(r#"routec_judge_total{{outcome="{outcome}"}}"#))
}

/// Every answer judged (`sample 100%`), streamed or not: the judge gets
/// the conversation and the answer, its score becomes a feedback line
/// after the request's line, and its cost is counted as the judge's
/// model's and in the day's spend.
#[tokio::test]
async fn a_sampled_answer_is_scored_and_the_score_joins_the_log() {
    let w = World::start("scored", "100%").await;
    let (status, plain, body) = w.chat(false).await;
    assert_eq!(status, 200, "{body}");
    let (status, streamed, _) = w.chat(true).await;
    assert_eq!(status, 200);
    let m = w.wait_metrics(|m| judged(m, "scored") >= 2.0).await;
    assert_eq!(judged(&m, "scored"), 2.0, "{m}");
    let judge_cost = metric(&m, "routec_judge_cost_usd_total");
    // Each grading call: 10 input tokens and 1 output token at the fake's
    // usage, priced $10/Mtok and $30/Mtok.
    assert!(
        (judge_cost - 2.0 * (10.0 * 10e-6 + 30e-6)).abs() < 1e-12,
        "{judge_cost}"
    );
    assert_eq!(
        metric(&m, r#"routec_cost_usd_total{model="grader"}"#),
        judge_cost
    );
    let answers = metric(&m, r#"routec_cost_usd_total{model="small"}"#);
    let today = metric(&m, "routec_spend_today_usd");
    assert!((today - (answers + judge_cost)).abs() < 1e-12, "{today}");
    assert_eq!(metric(&m, "routec_judge_sample_share"), 1.0);

    let (log, small, grader) = w.stop().await;
    assert_eq!(small.count(), 2);
    let seen = grader.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(s.body["model"], "grader-large");
        assert_eq!(s.body["messages"][0]["role"], "system");
        let prompt = s.body["messages"][1]["content"].as_str().unwrap();
        assert!(
            prompt.contains("user: What is the capital of France?"),
            "{prompt}"
        );
        assert!(
            prompt.contains("Paris is the capital of France."),
            "{prompt}"
        );
    }
    let lines: Vec<J> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{log}");
    // Every line is one of the schema's.
    let schema: J = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/traffic.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for line in &lines {
        let errors: Vec<String> = validator.iter_errors(line).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{line}: {errors:?}");
    }
    // A judge's cost without its `source` is refused by the schema.
    let mut unjudged = lines
        .iter()
        .find(|l| l.get("feedback").is_some())
        .unwrap()
        .clone();
    unjudged["feedback"]
        .as_object_mut()
        .unwrap()
        .remove("source");
    assert!(!validator.is_valid(&unjudged), "{unjudged}");
    for id in [&plain, &streamed] {
        let request = lines
            .iter()
            .position(|l| l["id"] == **id && l.get("decision").is_some());
        let feedback = lines
            .iter()
            .position(|l| l["id"] == **id && l.get("feedback").is_some());
        assert!(request.unwrap() < feedback.unwrap(), "{log}");
        let f = &lines[feedback.unwrap()]["feedback"];
        assert_eq!(f["model"], "small");
        assert_eq!(f["source"], "judge");
        assert_eq!(f["score"], 0.8);
        assert!(f["judge_cost_usd"].as_f64().unwrap() > 0.0);
    }
    // The log is labeled traffic: the judge's score is the outcome.
    let records = routec_traffic::parse(&log).unwrap();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r.outcomes.len(), 1);
        assert!(r.outcomes[0].judged);
        assert_eq!(r.outcomes[0].outcome.score, Some(0.8));
    }
}

/// A judge whose reply holds no score, or that fails, leaves no feedback
/// line; the client's answers are unaffected; its failed calls are
/// counted as attempts of its model.
#[tokio::test]
async fn a_judge_without_a_score_or_failing_writes_nothing() {
    let w = World::start("unscored", "100%").await;
    w.grader.text("Excellent answer");
    assert_eq!(w.chat(false).await.0, 200);
    let m = w.wait_metrics(|m| judged(m, "unscored") >= 1.0).await;
    assert_eq!(judged(&m, "unscored"), 1.0, "{m}");
    w.grader.always(Act::Status(500, None));
    assert_eq!(w.chat(false).await.0, 200);
    let m = w.wait_metrics(|m| judged(m, "failed") >= 1.0).await;
    assert_eq!(judged(&m, "failed"), 1.0, "{m}");
    assert!(metric(&m, r#"routec_attempts_total{model="grader",status="500"}"#) >= 1.0);
    assert_eq!(judged(&m, "scored"), 0.0);
    let (log, ..) = w.stop().await;
    assert_eq!(log.lines().count(), 2, "two requests, no feedback: {log}");
    assert!(!log.contains("\"feedback\""));
}

/// `sample 30%`: about three answers in ten are judged (a binomial count
/// within four standard deviations), and each judged one once.
#[tokio::test]
async fn the_judged_share_is_the_declared_share() {
    let w = World::start("share", "30%").await;
    let n = 200;
    for _ in 0..n {
        assert_eq!(w.chat(false).await.0, 200);
    }
    let m = w
        .wait_metrics(|m| {
            let done = judged(m, "scored") + judged(m, "skipped");
            done > 0.0 && w.grader.count() as f64 == judged(m, "scored")
        })
        .await;
    let scored = judged(&m, "scored");
    assert_eq!(judged(&m, "skipped"), 0.0);
    let sd = (f64::from(n) * 0.3 * 0.7).sqrt();
    assert!(
        (scored - f64::from(n) * 0.3).abs() < 4.0 * sd,
        "{scored} of {n} judged"
    );
    assert_eq!(metric(&m, "routec_judge_sample_share"), 0.3);
    let (log, _, grader) = w.stop().await;
    assert_eq!(grader.count() as f64, scored);
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("\"source\":\"judge\""))
            .count() as f64,
        scored
    );
}

/// A judgement still running when the gateway is told to stop finishes
/// within the drain deadline: its feedback line is in the log.
#[tokio::test]
async fn a_judgement_in_flight_at_shutdown_is_written() {
    let w = World::start("shutdown", "100%").await;
    w.grader.always(Act::slow_first_token(700));
    let (status, id, body) = w.chat(false).await;
    assert_eq!(status, 200, "{body}");
    // Stopped at once: the judge has not answered yet.
    let (log, _, grader) = w.stop().await;
    assert_eq!(grader.count(), 1);
    let feedback: Vec<J> = log
        .lines()
        .map(|l| serde_json::from_str::<J>(l).unwrap())
        .filter(|j| j["id"] == id.as_str() && j.get("feedback").is_some())
        .collect();
    assert_eq!(feedback.len(), 1, "{log}");
    assert_eq!(feedback[0]["feedback"]["source"], "judge", "{log}");
}

/// The optimizer and the simulator charge every judgement the request's
/// prompt and answer plus `JUDGE_PROMPT_TOKENS` of grading template
/// (`routec_opt::model`); the template the gateway sends
/// (`routec_runtime::judge::grading_request`) must cost no more, counted
/// as the gateway counts prompts (OpenAI's tokenizer, with the
/// per-message overhead), around an empty conversation and answer.
#[test]
fn the_grading_template_costs_no_more_than_the_model_charges() {
    let body = routec_runtime::judge::grading_request(&json!([]), "");
    let counted = routec_gateway::signals::count_tokens(&body) as f64;
    let charged = routec_opt::model::JUDGE_PROMPT_TOKENS;
    assert!(
        counted <= charged,
        "the grading template counts {counted} tokens; the model charges {charged}"
    );
    // An overestimate, but not a wild one: the model errs toward spending.
    assert!(
        counted >= charged / 2.0,
        "the grading template counts {counted} tokens; the model charges {charged}: lower it"
    );
}
