//! Binding parsed records to a checked policy: signal names to ids, values to
//! the signal's type (the rules of `routec explain --request`, but a value
//! that does not fit is an error here, not a default), model names to ids.

use routec_check::ir::{ModelId, Policy, SignalType, Value};
use routec_runtime::values;

use crate::{Outcome, Record, RecordError, suggest};

/// A recorded file bound to a policy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BoundTraffic {
    pub records: Vec<BoundRecord>,
}

/// One recorded request, in the policy's terms.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundRecord {
    /// 1-based line in the file.
    pub line: usize,
    pub id: Option<String>,
    /// Indexed like `policy.signals`; `None`: not recorded (the signal's
    /// default applies).
    pub values: Vec<Option<Value>>,
    /// Indexed like `policy.models`; `None`: no outcome for that model.
    pub outcomes: Vec<Option<Outcome>>,
}

impl BoundRecord {
    /// The outcome recorded for `model`, if any.
    pub fn outcome(&self, model: ModelId) -> Option<&Outcome> {
        self.outcomes.get(model.index()).and_then(Option::as_ref)
    }

    /// Whether any model has a recorded outcome.
    pub fn is_labeled(&self) -> bool {
        self.outcomes.iter().any(Option::is_some)
    }
}

impl BoundTraffic {
    /// How many records carry at least one outcome.
    pub fn labeled(&self) -> usize {
        self.records.iter().filter(|r| r.is_labeled()).count()
    }
}

/// Binds `records` to `policy`. Either every record binds, or every error (in
/// line order) is returned.
pub fn bind(policy: &Policy, records: &[Record]) -> Result<BoundTraffic, Vec<RecordError>> {
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let mut values = vec![None; policy.signals.len()];
        let mut outcomes = vec![None; policy.models.len()];
        let before = errors.len();
        for s in &r.signals {
            let Some(id) = policy.signal_by_name(&s.name) else {
                let mut e =
                    RecordError::new(r.line, s.column, format!("unknown signal `{}`", s.name));
                e.help = suggest(&s.name, policy.signals.iter().map(|s| s.name.as_str()))
                    .map(|x| format!("did you mean `{x}`?"));
                errors.push(e);
                continue;
            };
            let sig = policy.signal(id);
            match read_value(&sig.ty, &s.value) {
                Ok(v) => values[id.index()] = Some(v),
                Err(help) => {
                    let mut e = RecordError::new(
                        r.line,
                        s.value_column,
                        format!(
                            "`{}` is not a valid value of signal `{}` ({})",
                            short(&s.value),
                            s.name,
                            sig.ty.describe()
                        ),
                    );
                    e.help = Some(help);
                    errors.push(e);
                }
            }
        }
        for o in &r.outcomes {
            match policy.model_by_name(&o.model) {
                Some(id) => outcomes[id.index()] = Some(o.outcome.clone()),
                None => {
                    let mut e =
                        RecordError::new(o.line, o.column, format!("unknown model `{}`", o.model));
                    e.help = suggest(&o.model, policy.models.iter().map(|m| m.name.as_str()))
                        .map(|x| format!("did you mean `{x}`?"));
                    errors.push(e);
                }
            }
        }
        if errors.len() == before {
            out.push(BoundRecord {
                line: r.line,
                id: r.id.clone(),
                values,
                outcomes,
            });
        }
        if errors.len() >= crate::MAX_ERRORS {
            errors.truncate(crate::MAX_ERRORS);
            break;
        }
    }
    if errors.is_empty() {
        Ok(BoundTraffic { records: out })
    } else {
        Err(errors)
    }
}

/// A value as written in a request, shortened for messages.
fn short(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

/// Reads one signal value as a request would carry it (the parsing is
/// `routec_runtime::values`, shared with `explain --request`): enum variants as
/// strings, bools as booleans, tokens and ints as whole numbers or strings
/// like `"12k"`, ratios as numbers in `0..=1` or strings like `"10%"`,
/// durations as seconds or strings like `"200ms"`, money as USD or strings
/// like `"$0.5"`. `Err` is a help text saying what would be accepted.
pub fn read_value(ty: &SignalType, value: &serde_json::Value) -> Result<Value, String> {
    match ty {
        SignalType::Bool => values::boolean(value)
            .map(Value::Bool)
            .ok_or_else(|| "a bool signal takes `true` or `false`".into()),
        SignalType::Enum(vs) => match (values::variant(vs, value), value) {
            (Some(i), _) => Ok(Value::Enum(i)),
            (None, serde_json::Value::String(s)) => {
                Err(match suggest(s, vs.iter().map(String::as_str)) {
                    Some(x) => format!("did you mean `{x}`?"),
                    None => format!("the values are {}", list(vs)),
                })
            }
            (None, _) => Err(format!("write one of {} as a string", list(vs))),
        },
        SignalType::Tokens => values::tokens(value)
            .map(Value::Number)
            .ok_or_else(|| "tokens are a whole number >= 0 such as `812` or `\"12k\"`".into()),
        SignalType::Int => values::int(value)
            .map(Value::Number)
            .ok_or_else(|| "an int signal takes a whole number such as `3` or `\"2k\"`".into()),
        SignalType::Ratio => values::ratio(value)
            .map(Value::Number)
            .ok_or_else(|| "a ratio is a number from 0 to 1 or a string like `\"10%\"`".into()),
        SignalType::Duration => values::duration(value)
            .map(Value::Number)
            .ok_or_else(|| "a duration is seconds >= 0 or a string like `\"200ms\"`".into()),
        SignalType::Money => values::money(value)
            .map(Value::Number)
            .ok_or_else(|| "money is USD >= 0 or a string like `\"$0.5\"`".into()),
    }
}

fn list(vs: &[String]) -> String {
    vs.iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
