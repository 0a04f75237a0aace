//! Quality sampling (`learn { judge MODEL sample ... }`): a judge model
//! scores a sampled share of answers, and each score is recorded as
//! feedback with `source` `judge` (`docs/learn.md`, "Quality sampling").
//!
//! **Rate.** The share judged is the table's [`Judge::share_at`] the
//! current request rate, estimated by a [`RateMeter`]: an exponentially
//! weighted count of arrivals over [`RATE_WINDOW`] seconds, so a burst
//! lowers the share within about a minute and a quiet hour raises it back.
//!
//! **Grading.** [`grading_request`] builds the judge's request (an
//! OpenAI-style chat body: [`GRADING_INSTRUCTIONS`], then the conversation
//! as text and the answer), and [`parse_score`] reads its reply: the first
//! number in it, a score from 0 to 1 (`0.8`, `80%`, `8/10` all read 0.8);
//! a reply without one in range is no score (counted, never guessed).
//!
//! Pure, like [`crate::Explorer`]: the caller passes the time (seconds on
//! any monotonic clock) and the uniform draw.

use routec_table::Judge;
use serde_json::{Value as J, json};

/// The judge's instructions: the system message of every grading request.
pub const GRADING_INSTRUCTIONS: &str = "You grade the answer an AI assistant gave to a conversation. \
Judge whether the answer responds to the last user message correctly, completely and helpfully, \
as an expert reviewer would. Reply with one number from 0 (wrong or useless) to 1 (excellent), \
and nothing else.";

/// The most tokens the judge may answer with (its reply is one number).
pub const GRADING_MAX_TOKENS: u64 = 8;

/// The time constant of the request-rate estimate, seconds.
pub const RATE_WINDOW: f64 = 60.0;

/// The request rate: arrivals counted with weights decaying as
/// `exp(-age / RATE_WINDOW)`, divided by `RATE_WINDOW`. For steady
/// arrivals at `λ` per second it tends to `λ`; O(1) per arrival.
#[derive(Clone, Debug, Default)]
pub struct RateMeter {
    /// The decayed count times `1 / RATE_WINDOW`, as of `last`.
    rate: f64,
    last: Option<f64>,
}

impl RateMeter {
    pub fn new() -> RateMeter {
        RateMeter::default()
    }

    fn decayed(&self, t: f64) -> f64 {
        match self.last {
            Some(last) if t > last => self.rate * (-(t - last) / RATE_WINDOW).exp(),
            _ => self.rate,
        }
    }

    /// Counts an arrival at `t`.
    pub fn tick(&mut self, t: f64) {
        self.rate = self.decayed(t) + 1.0 / RATE_WINDOW;
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }

    /// Requests per second as of `t`.
    pub fn rate(&self, t: f64) -> f64 {
        self.decayed(t)
    }
}

/// Which answers the judge scores: the table's sampling rate at the
/// metered request rate.
#[derive(Clone, Debug)]
pub struct Sampler {
    judge: Judge,
    meter: RateMeter,
}

impl Sampler {
    pub fn new(judge: &Judge) -> Sampler {
        Sampler {
            judge: judge.clone(),
            meter: RateMeter::new(),
        }
    }

    /// Counts a request arriving at `t` (every request, judged or not).
    pub fn arrived(&mut self, t: f64) {
        self.meter.tick(t);
    }

    /// The share of answers judged as of `t`.
    pub fn share(&self, t: f64) -> f64 {
        self.judge.share_at(self.meter.rate(t))
    }

    /// Whether an answer at `t` is judged, given a uniform draw `u` in
    /// `[0, 1)`.
    pub fn sample(&self, t: f64, u: f64) -> bool {
        u < self.share(t)
    }

    /// The judge's model (an index into the table's `models`).
    pub fn model(&self) -> u32 {
        self.judge.model
    }
}

/// The text of a message's `content`: a string, or the text parts of an
/// array of parts (an image or audio part reads `[image]`, `[audio]`).
fn content_text(content: &J) -> String {
    match content {
        J::String(s) => s.clone(),
        J::Array(parts) => parts
            .iter()
            .map(|p| match p.get("type").and_then(J::as_str) {
                Some("text") => p.get("text").and_then(J::as_str).unwrap_or("").to_owned(),
                Some("image_url" | "image") => "[image]".to_owned(),
                Some("input_audio" | "audio") => "[audio]".to_owned(),
                Some(other) => format!("[{other}]"),
                None => String::new(),
            })
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
        J::Null => String::new(),
        other => other.to_string(),
    }
}

/// The conversation as text: one `role: content` paragraph per message
/// (tool calls written as their JSON).
pub fn conversation_text(messages: &J) -> String {
    let mut out = String::new();
    for m in messages.as_array().into_iter().flatten() {
        let role = m.get("role").and_then(J::as_str).unwrap_or("user");
        let mut text = m.get("content").map(content_text).unwrap_or_default();
        if let Some(calls) = m.get("tool_calls") {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&calls.to_string());
        }
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(role);
        out.push_str(": ");
        out.push_str(&text);
    }
    out
}

/// The judge's request (an OpenAI-style chat body without `model`, which
/// the caller's adapter sets): the instructions, then the conversation
/// (`messages`, the request's) and the `answer` to grade.
pub fn grading_request(messages: &J, answer: &str) -> serde_json::Map<String, J> {
    let prompt = format!(
        "<conversation>\n{}\n</conversation>\n\n<answer>\n{}\n</answer>\n\nScore from 0 to 1:",
        conversation_text(messages),
        answer
    );
    let body = json!({
        "messages": [
            {"role": "system", "content": GRADING_INSTRUCTIONS},
            {"role": "user", "content": prompt},
        ],
        "max_tokens": GRADING_MAX_TOKENS,
        "temperature": 0,
    });
    match body {
        J::Object(o) => o,
        _ => serde_json::Map::new(),
    }
}

/// The score in a judge's reply: its first number, read as a share (`80%`
/// and `8/10` are 0.8); `None` when there is no number or it is not in
/// `0..=1`.
pub fn parse_score(reply: &str) -> Option<f64> {
    let bytes = reply.as_bytes();
    let start = bytes
        .iter()
        .position(|b| b.is_ascii_digit() || *b == b'.')?;
    let mut end = start;
    let mut dot = false;
    while end < bytes.len() {
        match bytes[end] {
            b'0'..=b'9' => {}
            b'.' if !dot => dot = true,
            _ => break,
        }
        end += 1;
    }
    let mut value: f64 = reply[start..end].parse().ok()?;
    let rest = reply[end..].trim_start();
    if rest.starts_with('%') {
        value /= 100.0;
    } else if let Some(denominator) = rest.strip_prefix('/') {
        let denominator = denominator.trim_start();
        let digits = denominator
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(denominator.len());
        let d: f64 = denominator[..digits].parse().ok()?;
        if d <= 0.0 {
            return None;
        }
        value /= d;
    }
    (value.is_finite() && (0.0..=1.0).contains(&value)).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use routec_table::SamplePoint;

    fn judge() -> Judge {
        Judge {
            model: 1,
            sample: vec![
                SamplePoint {
                    qps: 1000.0,
                    share: 1.0,
                },
                SamplePoint {
                    qps: 10_000.0,
                    share: 0.05,
                },
            ],
        }
    }

    #[test]
    fn the_meter_tends_to_a_steady_rate() {
        let mut m = RateMeter::new();
        // 50 requests per second for ten minutes.
        for i in 0..30_000 {
            m.tick(f64::from(i) / 50.0);
        }
        let r = m.rate(600.0);
        assert!((r - 50.0).abs() < 0.5, "{r}");
        // A quiet ten minutes later almost nothing is left.
        assert!(m.rate(1200.0) < 0.01);
    }

    #[test]
    fn the_share_follows_the_rate() {
        let mut s = Sampler::new(&judge());
        assert_eq!(s.share(0.0), 1.0);
        // 10k qps for five minutes: the meter (a minute's time constant)
        // has caught up to within 1%.
        for i in 0..3_000_000 {
            s.arrived(f64::from(i) / 10_000.0);
        }
        let share = s.share(300.0);
        assert!((share - 0.05).abs() < 0.01, "{share}");
        assert!(s.sample(300.0, 0.01));
        assert!(!s.sample(300.0, 0.5));
        // Between the points the share is linear in ln qps: at 3,162 qps
        // (the geometric middle) it is the middle share.
        let mid = Judge::share_at(&judge(), 10f64.powf(3.5));
        assert!((mid - 0.525).abs() < 1e-9, "{mid}");
    }

    #[test]
    fn scores_are_read_from_replies() {
        assert_eq!(parse_score("0.8"), Some(0.8));
        assert_eq!(parse_score(" Score: 1"), Some(1.0));
        assert_eq!(parse_score("80%"), Some(0.8));
        assert_eq!(parse_score("8/10"), Some(0.8));
        assert_eq!(parse_score("8 / 10 because"), Some(0.8));
        assert_eq!(parse_score(".5"), Some(0.5));
        assert_eq!(parse_score("0"), Some(0.0));
        assert_eq!(parse_score("7"), None);
        assert_eq!(parse_score("good"), None);
        assert_eq!(parse_score(""), None);
        assert_eq!(parse_score("3/0"), None);
        assert_eq!(parse_score("."), None);
    }

    #[test]
    fn the_grading_request_carries_the_conversation_and_the_answer() {
        let messages = json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
            ]}
        ]);
        let body = grading_request(&messages, "A cat.");
        assert_eq!(body["max_tokens"], json!(GRADING_MAX_TOKENS));
        let m = body["messages"].as_array().unwrap();
        assert_eq!(m[0]["content"], json!(GRADING_INSTRUCTIONS));
        let prompt = m[1]["content"].as_str().unwrap();
        assert_eq!(
            prompt,
            "<conversation>\nsystem: Be brief.\n\nuser: What is in this picture?\n[image]\n</conversation>\n\n<answer>\nA cat.\n</answer>\n\nScore from 0 to 1:"
        );
        assert!(!prompt.contains("base64"));
    }
}
