//! Outcome feedback: what became of a request's answer, reported after the
//! fact, as one line of a decision log.
//!
//! A feedback line is `{"id": ID, "feedback": {"model": M, "success": ...,
//! "score": ..., ...}}`: an outcome (the fields of a recorded outcome,
//! `docs/traffic.md`) of the model `M` that answered the request `ID`. A
//! reader of recorded traffic (`routec-traffic`) joins it onto the record of
//! that request, so a decision log with feedback is labeled recorded
//! traffic. The gateway writes these lines for `POST /v1/feedback`; an
//! embedder that logs its own decisions writes them with
//! [`write_feedback`] into the same writer.
//!
//! Pure: the caller owns the writer.

use std::io::Write;

use serde_json::Value as J;

/// One outcome of one request's answering model. `success` or `score` (or
/// both) is required; the rest describe the answering call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Feedback {
    /// The model whose answer is judged (by the policy's model names).
    pub model: String,
    /// Whether the answer was good.
    pub success: Option<bool>,
    /// Graded quality, `0..=1`.
    pub score: Option<f64>,
    /// End-to-end latency of the answering call, milliseconds.
    pub latency_ms: Option<f64>,
    /// Time to first token of the answering call, milliseconds.
    pub ttft_ms: Option<f64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// What the answer cost, USD.
    pub cost_usd: Option<f64>,
    /// Who reported it: `None` for the client (`POST /v1/feedback`, an
    /// embedder), `judge` for the policy's judge (`crate::judge`), whose
    /// scores never replace a client's when the log is read.
    pub source: Option<String>,
    /// What judging the answer cost, USD (a judge's feedback only).
    pub judge_cost_usd: Option<f64>,
}

/// The `source` of a judge's feedback.
pub const JUDGE_SOURCE: &str = "judge";

impl Feedback {
    /// Why the feedback cannot be recorded, if it cannot: no model, neither
    /// `success` nor `score`, a score outside `0..=1`, a negative or
    /// non-finite figure.
    pub fn problem(&self) -> Option<String> {
        if self.model.is_empty() {
            return Some("the feedback names no model".into());
        }
        if self.success.is_none() && self.score.is_none() {
            return Some("feedback needs `success` (a boolean) or `score` (0 to 1)".into());
        }
        if let Some(source) = &self.source
            && source != JUDGE_SOURCE
        {
            return Some(format!(
                "`source` is `{JUDGE_SOURCE}` or absent (the client), got `{source}`"
            ));
        }
        if self.judge_cost_usd.is_some() && self.source.is_none() {
            return Some("`judge_cost_usd` belongs to a judge's feedback".into());
        }
        if let Some(s) = self.score
            && !(s.is_finite() && (0.0..=1.0).contains(&s))
        {
            return Some(format!("`score` must be a number from 0 to 1, got {s}"));
        }
        for (name, v) in [
            ("latency_ms", self.latency_ms),
            ("ttft_ms", self.ttft_ms),
            ("cost_usd", self.cost_usd),
            ("judge_cost_usd", self.judge_cost_usd),
        ] {
            if let Some(x) = v
                && !(x.is_finite() && x >= 0.0)
            {
                return Some(format!("`{name}` must be a number >= 0, got {x}"));
            }
        }
        None
    }

    /// The `feedback` object as JSON text, fields in the documented order
    /// (written by hand: a JSON map's key order depends on serde_json's
    /// features), absent ones left out.
    pub fn to_json(&self) -> String {
        let mut fields = vec![format!("\"model\":{}", J::String(self.model.clone()))];
        if let Some(source) = &self.source {
            fields.push(format!("\"source\":{}", J::String(source.clone())));
        }
        if let Some(s) = self.success {
            fields.push(format!("\"success\":{s}"));
        }
        let number = |x: f64| serde_json::Number::from_f64(x).map(J::Number);
        for (name, v) in [
            ("score", self.score),
            ("latency_ms", self.latency_ms),
            ("ttft_ms", self.ttft_ms),
        ] {
            if let Some(n) = v.and_then(number) {
                fields.push(format!("\"{name}\":{n}"));
            }
        }
        for (name, v) in [
            ("input_tokens", self.input_tokens),
            ("output_tokens", self.output_tokens),
        ] {
            if let Some(n) = v {
                fields.push(format!("\"{name}\":{n}"));
            }
        }
        for (name, v) in [
            ("cost_usd", self.cost_usd),
            ("judge_cost_usd", self.judge_cost_usd),
        ] {
            if let Some(n) = v.and_then(number) {
                fields.push(format!("\"{name}\":{n}"));
            }
        }
        format!("{{{}}}", fields.join(","))
    }

    /// The decision-log line (without its line end) recording this feedback
    /// for the request `id`.
    pub fn line(&self, id: &str) -> String {
        format!(
            "{{\"id\":{},\"feedback\":{}}}",
            J::String(id.to_owned()),
            self.to_json()
        )
    }
}

/// Writes the feedback line for request `id` (and a line end) into `out`,
/// the writer of a decision log: the library's way to label its own
/// decision log. Invalid feedback ([`Feedback::problem`]) is refused with
/// `InvalidInput` and nothing is written.
pub fn write_feedback(out: &mut impl Write, id: &str, feedback: &Feedback) -> std::io::Result<()> {
    if let Some(p) = feedback.problem() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, p));
    }
    if id.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the request id is empty",
        ));
    }
    let mut line = feedback.line(id);
    line.push('\n');
    out.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_line_with_the_given_fields() {
        let mut out = Vec::new();
        let fb = Feedback {
            model: "small".into(),
            success: Some(true),
            latency_ms: Some(1200.5),
            output_tokens: Some(40),
            cost_usd: Some(0.002),
            ..Feedback::default()
        };
        write_feedback(&mut out, "req-1", &fb).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\":\"req-1\",\"feedback\":{\"model\":\"small\",\"success\":true,\"latency_ms\":1200.5,\"output_tokens\":40,\"cost_usd\":0.002}}\n"
        );
    }

    #[test]
    fn a_judges_feedback_says_so_and_what_it_cost() {
        let fb = Feedback {
            model: "small".into(),
            score: Some(0.75),
            source: Some(JUDGE_SOURCE.into()),
            judge_cost_usd: Some(0.0004),
            ..Feedback::default()
        };
        assert_eq!(
            fb.line("r"),
            "{\"id\":\"r\",\"feedback\":{\"model\":\"small\",\"source\":\"judge\",\"score\":0.75,\"judge_cost_usd\":0.0004}}"
        );
    }

    #[test]
    fn refuses_feedback_that_says_nothing_or_is_out_of_range() {
        let mut out = Vec::new();
        let mut fb = Feedback {
            model: "small".into(),
            ..Feedback::default()
        };
        let e = write_feedback(&mut out, "r", &fb).unwrap_err();
        assert_eq!(
            e.to_string(),
            "feedback needs `success` (a boolean) or `score` (0 to 1)"
        );
        fb.score = Some(1.5);
        assert_eq!(
            fb.problem().unwrap(),
            "`score` must be a number from 0 to 1, got 1.5"
        );
        fb.score = Some(0.5);
        fb.cost_usd = Some(f64::NAN);
        assert!(fb.problem().unwrap().starts_with("`cost_usd` must be"));
        fb.cost_usd = None;
        fb.source = Some("oracle".into());
        assert!(
            fb.problem()
                .unwrap()
                .starts_with("`source` is `judge` or absent")
        );
        fb.source = None;
        fb.judge_cost_usd = Some(0.001);
        assert!(fb.problem().unwrap().contains("belongs to a judge"));
        fb.judge_cost_usd = None;
        assert!(write_feedback(&mut out, "", &fb).is_err());
        assert!(out.is_empty());
        write_feedback(&mut out, "r", &fb).unwrap();
        assert!(!out.is_empty());
    }
}
