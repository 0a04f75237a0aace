//! LiteLLM's model catalog (`model_prices_and_context_window.json`): prices
//! per token and context windows by model name, the figures an imported
//! policy can be given without measuring anything.

use std::collections::HashMap;

use serde_json::Value;

/// One catalog entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Entry {
    /// Dollars per input token.
    pub input: Option<f64>,
    /// Dollars per output token.
    pub output: Option<f64>,
    /// The context window (`max_input_tokens`, else `max_tokens`).
    pub context: Option<u64>,
    pub provider: Option<String>,
    /// `chat`, `embedding`, `image_generation`, ...
    pub mode: Option<String>,
    pub vision: bool,
}

/// The catalog, by model name.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    entries: HashMap<String, Entry>,
}

impl Catalog {
    /// Reads the catalog's JSON text; the error says why it is not one.
    pub fn parse(text: &str) -> Result<Catalog, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            format!(
                "not valid JSON at line {}, column {}: {e}",
                e.line(),
                e.column()
            )
        })?;
        let Value::Object(map) = value else {
            return Err("not a model catalog: expected an object keyed by model name".to_owned());
        };
        let mut entries = HashMap::new();
        for (name, v) in map {
            let Value::Object(o) = v else { continue };
            let num = |k: &str| o.get(k).and_then(Value::as_f64).filter(|x| x.is_finite());
            let context = num("max_input_tokens")
                .or_else(|| num("max_tokens"))
                .filter(|x| *x >= 1.0)
                .map(|x| x as u64);
            entries.insert(
                name,
                Entry {
                    input: num("input_cost_per_token"),
                    output: num("output_cost_per_token"),
                    context,
                    provider: o
                        .get("litellm_provider")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    mode: o.get("mode").and_then(Value::as_str).map(str::to_owned),
                    vision: o.get("supports_vision").and_then(Value::as_bool) == Some(true),
                },
            );
        }
        if entries.is_empty() {
            return Err("not a model catalog: no model entries".to_owned());
        }
        Ok(Catalog { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of a LiteLLM model string (`groq/llama-3.1-8b-instant`,
    /// `gpt-4o`): the exact name, else without its provider prefix.
    pub fn lookup(&self, model: &str) -> Option<&Entry> {
        if let Some(e) = self.entries.get(model) {
            return Some(e);
        }
        let (_, rest) = model.split_once('/')?;
        self.entries.get(rest)
    }
}
