//! Requests: one slot per signal of the table, each present, missing or
//! invalid, plus the hash of the request key that makes splits sticky.

use crate::{Router, values};

const PRESENT: u8 = 0;
const MISSING: u8 = 1;
const INVALID: u8 = 2;

/// The value of one signal in a request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SignalValue {
    /// In base units; enum values are variant indices, bools 0 or 1.
    Present(f64),
    Missing,
    Invalid,
}

/// The signals of one request, indexed like `table.signals`.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    values: Vec<f64>,
    states: Vec<u8>,
    /// The hash of the sticky-split key, when the request has one.
    key_hash: Option<u64>,
}

impl Request {
    pub fn new(signals: usize) -> Request {
        Request {
            values: vec![0.0; signals],
            states: vec![MISSING; signals],
            key_hash: None,
        }
    }

    /// Forgets every value and the key, keeping the allocation.
    pub fn clear(&mut self) {
        self.states.fill(MISSING);
        self.key_hash = None;
    }

    /// Sets a signal's value in base units. Out-of-range indices are ignored.
    pub fn set(&mut self, signal: usize, value: f64) {
        if let (Some(v), Some(s)) = (self.values.get_mut(signal), self.states.get_mut(signal)) {
            *v = value;
            *s = if value.is_finite() { PRESENT } else { INVALID };
        }
    }

    /// Records that the request carried an unusable value for a signal.
    pub fn set_invalid(&mut self, signal: usize) {
        if let Some(s) = self.states.get_mut(signal) {
            *s = INVALID;
        }
    }

    pub fn get(&self, signal: usize) -> SignalValue {
        match (self.states.get(signal), self.values.get(signal)) {
            (Some(&PRESENT), Some(&v)) => SignalValue::Present(v),
            (Some(&INVALID), _) => SignalValue::Invalid,
            _ => SignalValue::Missing,
        }
    }

    /// Sets the key sticky splits hash (a user or session id). Requests with
    /// the same key always take the same side of a split.
    pub fn set_key(&mut self, key: &str) {
        self.key_hash = Some(key_hash(key.as_bytes()));
    }

    /// Whether the request has a sticky-split key.
    pub fn has_key(&self) -> bool {
        self.key_hash.is_some()
    }

    /// The key's position in `[0, 1)`; `None` without a key (the router
    /// then draws the position: see [`crate::Router::decide`]).
    pub fn key_fraction(&self) -> Option<f64> {
        self.key_hash.map(fraction)
    }
}

/// A 64-bit hash's position in `[0, 1)`: its top 53 bits.
pub fn fraction(hash: u64) -> f64 {
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// The position in `[0, 1)` of the `n`-th keyless decision of a router:
/// the Weyl sequence `frac(n·φ)` in 64-bit fixed point (`n` times
/// `0x9E37_79B9_7F4A_7C15`, wrapping, then [`fraction`]). Its points fill
/// `[0, 1)` evenly (low discrepancy), so keyless requests take every split
/// plan in its compiled share, even over a few dozen requests; every
/// runtime implements it identically.
pub fn keyless_fraction(n: u64) -> f64 {
    fraction(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The split hash every runtime implements identically: 64-bit FNV-1a over
/// the key's bytes, then the splitmix64 finalizer.
pub fn key_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A request that cannot be read at all (as opposed to one with invalid
/// values, which are defaulted and recorded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    NotAnObject,
    UnknownSignal {
        name: String,
        suggestion: Option<String>,
    },
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::NotAnObject => {
                f.write_str("a request is a JSON object keyed by signal name")
            }
            RequestError::UnknownSignal {
                name,
                suggestion: Some(s),
            } => write!(f, "unknown signal `{name}`; did you mean `{s}`?"),
            RequestError::UnknownSignal { name, .. } => write!(f, "unknown signal `{name}`"),
        }
    }
}

impl std::error::Error for RequestError {}

impl Router {
    /// Reads a request from a JSON object keyed by signal name: enum values
    /// as strings, bools as booleans, tokens and ints as integers, ratios as
    /// numbers in `0..=1` or strings like `"10%"`, durations as seconds or
    /// strings like `"200ms"`, money as USD or strings like `"$0.5"`.
    /// Omitted signals are missing (their defaults apply); values of the
    /// wrong shape are recorded as invalid. Unknown names are an error.
    pub fn request_from_json(&self, json: &serde_json::Value) -> Result<Request, RequestError> {
        let object = json.as_object().ok_or(RequestError::NotAnObject)?;
        let mut request = self.request();
        for (name, value) in object {
            let Some(index) = self.table().signals.iter().position(|s| &s.name == name) else {
                let suggestion =
                    values::closest(name, self.table().signals.iter().map(|s| &s.name))
                        .map(str::to_owned);
                return Err(RequestError::UnknownSignal {
                    name: name.clone(),
                    suggestion,
                });
            };
            match values::read(&self.table().signals[index].kind, value) {
                Some(v) => request.set(index, v),
                None => request.set_invalid(index),
            }
        }
        Ok(request)
    }
}

/// A value in a request that does not fit its signal: every runtime
/// routes as if the signal were missing (its default), and says so.
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidValue {
    /// Index into `table.signals`.
    pub signal: usize,
    /// The value as the request carried it.
    pub value: serde_json::Value,
    /// What the signal accepts, with a did-you-mean for a misspelled enum
    /// variant ([`values::expected`]).
    pub help: String,
}

impl Router {
    /// The values of a request (a JSON object keyed by signal name, as
    /// [`Router::request_from_json`] reads it) that do not fit their
    /// signals, in the object's order, with what each signal accepts.
    /// Unknown names are not listed (`request_from_json` rejects them).
    pub fn invalid_values(&self, json: &serde_json::Value) -> Vec<InvalidValue> {
        let Some(object) = json.as_object() else {
            return Vec::new();
        };
        object
            .iter()
            .filter_map(|(name, value)| {
                let signal = self.table().signals.iter().position(|s| &s.name == name)?;
                let kind = &self.table().signals[signal].kind;
                match values::read(kind, value) {
                    Some(_) => None,
                    None => Some(InvalidValue {
                        signal,
                        value: value.clone(),
                        help: values::expected(kind, value),
                    }),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use routec_table::SignalKind;

    use super::*;

    #[test]
    fn key_hash_is_stable_across_releases() {
        // These values are part of the table contract: every runtime must
        // produce them, or sticky splits move users between plans.
        // Checked against an independent implementation (Python).
        assert_eq!(key_hash(b""), 0xf52a_15e9_a9b5_e89b);
        assert_eq!(key_hash(b"user-42"), 0x7a15_96f0_e94b_5793);
        assert_ne!(key_hash(b"user-42"), key_hash(b"user-43"));
    }

    #[test]
    fn values_parse_with_units() {
        let v = |s: &str| serde_json::Value::String(s.into());
        assert_eq!(values::read(&SignalKind::Ratio, &v("10%")), Some(0.1));
        assert_eq!(
            values::read(&SignalKind::Ratio, &serde_json::json!(0.3)),
            Some(0.3)
        );
        assert_eq!(
            values::read(&SignalKind::Ratio, &serde_json::json!(30)),
            None
        );
        assert_eq!(values::read(&SignalKind::Duration, &v("200ms")), Some(0.2));
        assert_eq!(values::read(&SignalKind::Tokens, &v("12k")), Some(12_000.0));
        assert_eq!(
            values::read(&SignalKind::Tokens, &serde_json::json!(-3)),
            None
        );
        assert_eq!(values::read(&SignalKind::Money, &v("$0.5")), Some(0.5));
        assert_eq!(
            values::read(&SignalKind::Bool, &serde_json::json!(true)),
            Some(1.0)
        );
    }

    #[test]
    fn invalid_values_say_what_the_signal_accepts() {
        let variants = SignalKind::Enum {
            variants: vec!["chat".into(), "code".into(), "summarize".into()],
        };
        let v = |s: &str| serde_json::Value::String(s.into());
        assert_eq!(
            values::expected(&variants, &v("chatt")),
            "did you mean `chat`?"
        );
        assert_eq!(
            values::expected(&variants, &v("Code")),
            "did you mean `code`?"
        );
        assert_eq!(
            values::expected(&variants, &v("poetry")),
            "the values are `chat`, `code`, `summarize`"
        );
        assert_eq!(
            values::expected(&variants, &serde_json::json!(3)),
            "write one of `chat`, `code`, `summarize` as a string"
        );
        assert_eq!(
            values::expected(&SignalKind::Ratio, &serde_json::json!(30)),
            "a ratio is a number from 0 to 1 or a string like `\"10%\"`"
        );
    }
}
