//! `POST /v1/feedback`: the outcome of an answered request, reported after
//! the fact by the client (`{"request_id": ..., "success": true}`, or a
//! `score` in `0..=1`, optionally the true `cost_usd`).
//!
//! The gateway keeps the last [`Options::feedback_ids`](crate::Options)
//! recorded requests (id → the answering model and its call's figures) in
//! a bounded map, filled when a request is recorded (after its decision-log
//! line is queued, so a feedback line always follows its request's line).
//! Accepted feedback is written to the decision log as a feedback line
//! (`routec_runtime::Feedback::line`): an outcome of the answering model,
//! which `routec-traffic` joins onto the request's record, so the log is
//! labeled recorded traffic. It is counted in `routec_feedback_total`.
//!
//! With a shared state (`--state redis://...`), each recorded request is
//! also sent to the other replicas ([`SharedState::remember`], off the
//! request path, kept for [`Options::feedback_ttl`](crate::Options)), and
//! feedback naming an id this process does not know is looked up there
//! ([`Recent::find`]), so feedback may go to any replica.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use routec_runtime::Feedback;
use serde_json::Value as J;

use crate::app::App;
use crate::error::ApiError;
use crate::metrics::{FeedbackLabels, ReasonLabels};
use crate::redis_state::SYNC_INTERVAL;
use crate::state::SharedState;

/// How long feedback waits for one lookup in the shared state.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// What the gateway remembers of a recorded request, for its feedback
/// (stored as JSON in a shared state: its fields are that boundary).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Answered {
    /// The model whose answer was returned; `None` when none was (every
    /// plan failed, or the client went away).
    pub model: Option<String>,
    /// The answering call's figures (its attempt, not the whole request).
    pub latency_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    /// For a routed request: the table's hash, the leaf and the plan run,
    /// so feedback counts as an outcome for exploration (`crate::explore`).
    pub routed: Option<(String, u32, u32)>,
}

/// The last `capacity` recorded requests by id (a later request with the
/// same id replaces the earlier, as the decision-log join does), and,
/// through a shared state, the other replicas'.
#[derive(Debug)]
pub struct Recent {
    capacity: usize,
    inner: Mutex<(HashMap<String, Answered>, VecDeque<String>)>,
    /// Where other replicas' requests are, and how long ours stay there.
    shared: Option<(Arc<dyn SharedState>, Duration)>,
}

impl Recent {
    /// A map of this process only.
    pub fn new(capacity: usize) -> Recent {
        Recent {
            capacity,
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
            shared: None,
        }
    }

    /// A map whose entries also go to `state` for `ttl` (`capacity` 0 or
    /// a zero `ttl`: not sent), and whose misses are looked up there.
    pub fn shared(capacity: usize, state: Arc<dyn SharedState>, ttl: Duration) -> Recent {
        Recent {
            shared: (capacity > 0 && !ttl.is_zero()).then_some((state, ttl)),
            ..Recent::new(capacity)
        }
    }

    /// Remembers `id`, forgetting the oldest id beyond the capacity.
    pub fn insert(&self, id: &str, answered: Answered) {
        if self.capacity == 0 {
            return;
        }
        if let Some((state, ttl)) = &self.shared {
            state.remember(id, &answered, *ttl);
        }
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (map, order) = &mut *guard;
        if map.insert(id.to_owned(), answered).is_none() {
            order.push_back(id.to_owned());
        }
        while order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<Answered> {
        let guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.0.get(id).cloned()
    }

    /// Whether misses are looked up in a shared state.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// [`get`](Self::get), else the other replicas' record of `id` through
    /// the shared state: one lookup, and on a miss a second one after a
    /// few synchronization intervals (the replica that answered pushes its
    /// requests within one), each bounded by a timeout. `None` at once
    /// without a shared state or while it is unreachable.
    pub async fn find(&self, id: &str) -> Option<Answered> {
        if let Some(a) = self.get(id) {
            return Some(a);
        }
        let (state, _) = self.shared.as_ref()?;
        for attempt in 0..2 {
            if attempt > 0 {
                tokio::time::sleep(SYNC_INTERVAL * 3).await;
                if let Some(a) = self.get(id) {
                    return Some(a);
                }
            }
            let reply = state.recall(id)?;
            if let Ok(Ok(Some(a))) = tokio::time::timeout(LOOKUP_TIMEOUT, reply).await {
                return Some(a);
            }
        }
        None
    }
}

/// The client's report, validated.
#[derive(Debug, PartialEq)]
struct Report {
    request_id: String,
    success: Option<bool>,
    score: Option<f64>,
    cost_usd: Option<f64>,
}

const FIELDS: &[&str] = &["request_id", "success", "score", "cost_usd"];

/// Reads a feedback body; `Err` is the message of a 400.
fn report(bytes: &[u8]) -> Result<Report, String> {
    let body = match serde_json::from_slice::<J>(bytes) {
        Ok(J::Object(o)) => o,
        Ok(_) => return Err("the body must be a JSON object".into()),
        Err(e) => return Err(format!("the body is not valid JSON: {e}")),
    };
    for key in body.keys() {
        if !FIELDS.contains(&key.as_str()) {
            let hint = suggest(key);
            return Err(format!("unknown field `{key}`{hint}"));
        }
    }
    let request_id = match body.get("request_id") {
        Some(J::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err("`request_id` must be a non-empty string".into()),
        None => {
            return Err(
                "`request_id` is required (the `x-request-id` of the answer judged)".into(),
            );
        }
    };
    let success = match body.get("success") {
        None => None,
        Some(J::Bool(b)) => Some(*b),
        Some(_) => return Err("`success` must be a boolean".into()),
    };
    let number = |name: &str, ok: &dyn Fn(f64) -> bool, expected: &str| match body.get(name) {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if x.is_finite() && ok(x) => Ok(Some(x)),
            _ => Err(format!("`{name}` must be {expected}, got {v}")),
        },
    };
    let score = number(
        "score",
        &|x| (0.0..=1.0).contains(&x),
        "a number from 0 to 1",
    )?;
    let cost_usd = number("cost_usd", &|x| x >= 0.0, "a number >= 0 (USD)")?;
    if success.is_none() && score.is_none() {
        return Err("feedback needs `success` (a boolean) or `score` (0 to 1)".into());
    }
    Ok(Report {
        request_id,
        success,
        score,
        cost_usd,
    })
}

/// The did-you-mean of an unknown field.
fn suggest(key: &str) -> String {
    FIELDS
        .iter()
        .map(|f| (strsim_distance(key, f), *f))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map_or_else(
            || format!(" (the fields are {})", FIELDS.join(", ")),
            |(_, f)| format!(" (did you mean `{f}`?)"),
        )
}

/// Levenshtein distance (short field names only).
fn strsim_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn refuse(app: &App, reason: &str, error: ApiError) -> Response {
    app.metrics
        .feedback_rejected
        .get_or_create(&ReasonLabels {
            reason: reason.into(),
        })
        .inc();
    error.into_response()
}

/// The handler.
pub async fn post_feedback(
    State(app): State<Arc<App>>,
    request: axum::extract::Request,
) -> Response {
    use axum::extract::FromRequest;
    let body = tokio::time::timeout(
        app.options.body_read_timeout,
        Bytes::from_request(request, &()),
    )
    .await;
    let bytes = match body {
        Err(_) => {
            return refuse(
                &app,
                "body_timeout",
                ApiError::body_timeout(app.options.body_read_timeout),
            );
        }
        Ok(Ok(b)) => b,
        Ok(Err(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(
                &app,
                "too_large",
                ApiError::too_large(app.options.max_body_bytes),
            );
        }
        Ok(Err(e)) => return refuse(&app, "malformed", ApiError::bad_request(e.body_text())),
    };
    let r = match report(&bytes) {
        Ok(r) => r,
        Err(message) => return refuse(&app, "malformed", ApiError::bad_request(message)),
    };
    let Some(answered) = app.recent.find(&r.request_id).await else {
        return refuse(
            &app,
            "unknown_request",
            ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "request_not_found",
                format!(
                    "no recent request `{}` is known: feedback is taken for the last {} requests this process recorded, once they are recorded (a stream when it ends){}",
                    r.request_id,
                    app.options.feedback_ids,
                    if app.recent.is_shared() {
                        format!(
                            ", and for those the other replicas recorded in the last {} s while the shared state is reachable",
                            app.options.feedback_ttl.as_secs()
                        )
                    } else {
                        String::new()
                    }
                ),
            ),
        );
    };
    let Some(model) = answered.model.clone() else {
        return refuse(
            &app,
            "no_answer",
            ApiError::new(
                StatusCode::CONFLICT,
                "invalid_request_error",
                "no_answer",
                format!(
                    "request `{}` returned no answer (every plan failed, or the client went away): there is nothing to judge",
                    r.request_id
                ),
            ),
        );
    };
    let feedback = Feedback {
        model: model.clone(),
        success: r.success,
        score: r.score,
        latency_ms: answered.latency_ms,
        ttft_ms: answered.ttft_ms,
        input_tokens: answered.input_tokens,
        output_tokens: answered.output_tokens,
        cost_usd: r.cost_usd.or(answered.cost_usd),
        ..Feedback::default()
    };
    if let Some(problem) = feedback.problem() {
        return refuse(&app, "malformed", ApiError::bad_request(problem));
    }
    if let Some(dl) = &app.declog
        && !dl.write_raw(feedback.line(&r.request_id))
    {
        app.metrics.decision_log_dropped.inc();
    }
    let good = match (r.success, r.score) {
        (Some(s), _) => s,
        (None, Some(x)) => x >= 0.5,
        (None, None) => false,
    };
    app.metrics
        .feedback
        .get_or_create(&FeedbackLabels {
            model: model.clone(),
            success: good.to_string(),
        })
        .inc();
    if let Some((hash, leaf, plan)) = &answered.routed {
        crate::explore::outcome(&app, hash, *leaf, *plan);
    }
    (
        StatusCode::ACCEPTED,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"status": "accepted", "request_id": r.request_id, "model": model})
            .to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_reports_and_names_what_is_wrong() {
        let ok = report(br#"{"request_id": "r", "score": 0.25, "cost_usd": 0.1}"#).unwrap();
        assert_eq!(ok.score, Some(0.25));
        assert_eq!(ok.cost_usd, Some(0.1));
        let err = |b: &str| report(b.as_bytes()).unwrap_err();
        assert_eq!(err("[1]"), "the body must be a JSON object");
        assert!(err("{").starts_with("the body is not valid JSON"));
        assert_eq!(
            err(r#"{"request_id": "r", "sucess": true}"#),
            "unknown field `sucess` (did you mean `success`?)"
        );
        assert_eq!(
            err(r#"{"request_id": "r", "label": true}"#),
            "unknown field `label` (the fields are request_id, success, score, cost_usd)"
        );
        assert_eq!(
            err(r#"{"success": true}"#),
            "`request_id` is required (the `x-request-id` of the answer judged)"
        );
        assert_eq!(
            err(r#"{"request_id": 3, "success": true}"#),
            "`request_id` must be a non-empty string"
        );
        assert_eq!(
            err(r#"{"request_id": "r"}"#),
            "feedback needs `success` (a boolean) or `score` (0 to 1)"
        );
        assert_eq!(
            err(r#"{"request_id": "r", "score": 2}"#),
            "`score` must be a number from 0 to 1, got 2"
        );
        assert_eq!(
            err(r#"{"request_id": "r", "success": "yes"}"#),
            "`success` must be a boolean"
        );
        assert_eq!(
            err(r#"{"request_id": "r", "success": true, "cost_usd": -1}"#),
            "`cost_usd` must be a number >= 0 (USD), got -1"
        );
    }

    #[test]
    fn the_map_forgets_the_oldest_ids() {
        let recent = Recent::new(2);
        let a = |m: &str| Answered {
            model: Some(m.into()),
            ..Answered::default()
        };
        recent.insert("1", a("x"));
        recent.insert("2", a("y"));
        recent.insert("1", a("z"));
        assert_eq!(recent.get("1").unwrap().model.as_deref(), Some("z"));
        recent.insert("3", a("w"));
        assert!(recent.get("1").is_none());
        assert!(recent.get("2").is_some() && recent.get("3").is_some());
    }
}
