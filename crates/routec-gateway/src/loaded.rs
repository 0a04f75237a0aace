//! A table ready to serve: the router plus everything resolved once per
//! load (endpoints and keys from the environment, each model's adapter and
//! fault settings, how each signal is read). Built off the request path
//! (at start and on reload) and swapped in whole.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use routec_runtime::{Router, SignalSet};
use routec_table::{Endpoint, FaultSettings, Param, Price, SignalKind, Source, Table};

use crate::signals::Reader;
use crate::upstream::Provider;
use crate::upstream::client::Target;

/// Reads an environment variable (the process environment, or a map in tests).
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The default wait for a classifier that declares no `timeout`.
pub const DEFAULT_CLASSIFIER_TIMEOUT: Duration = Duration::from_secs(1);

/// One model, resolved.
#[derive(Clone)]
pub struct ModelRt {
    pub name: String,
    pub provider: Provider,
    /// The base URL; `None` when the model has none (`provider http`
    /// without `endpoint`): the model is not configured and every call to
    /// it fails.
    pub endpoint: Option<String>,
    /// The URL the adapter calls (the endpoint joined with the provider's
    /// path), parsed once per load; `None` when there is no endpoint. An
    /// endpoint that is not a URL still loads: each call to it fails as a
    /// connection failure.
    pub call_url: Option<Target>,
    /// Never logged, counted or written anywhere.
    pub api_key: Option<String>,
    pub upstream: Option<String>,
    /// Merged into the request body.
    pub params: serde_json::Map<String, serde_json::Value>,
    pub price: Price,
    pub faults: FaultSettings,
    pub fallback: Option<u32>,
    /// Counted with OpenAI's tokenizer (an OpenAI-family upstream).
    pub openai_family: bool,
}

impl std::fmt::Debug for ModelRt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRt")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

/// A classifier signal, resolved.
#[derive(Clone, Debug)]
pub struct ClassifierRt {
    pub name: String,
    /// `None`: no endpoint declared; the default always applies. Parsed
    /// once per load (a URL that does not parse fails each call).
    pub url: Option<Target>,
    pub timeout: Duration,
}

/// A loaded table.
#[derive(Debug)]
pub struct Loaded {
    pub router: Router,
    /// The table's `source_hash` (what decision logs and metrics name).
    pub hash: String,
    /// The metric series this table's requests count into.
    pub handles: crate::metrics::Handles,
    pub loaded_at: SystemTime,
    pub policy: String,
    pub models: Vec<ModelRt>,
    pub by_name: HashMap<String, u32>,
    /// Per signal: how the gateway reads it.
    pub readers: Vec<Reader>,
    /// Per signal: the classifier, for classifier signals.
    pub classifiers: Vec<Option<ClassifierRt>>,
    /// The signals computed only when the diagram reaches them.
    pub lazy: SignalSet,
    /// The model whose tokenizer counts `prompt_tokens` for policy
    /// requests: the baseline, else the first model.
    pub count_with: Option<u32>,
    /// The traffic-mix drift monitor of this table (`None` when the table
    /// carries no assumed mix); a reload starts a new window.
    pub drift: Option<std::sync::Mutex<routec_runtime::DriftMonitor>>,
    /// The drift window's counts as replicas share them (`crate::drift`).
    pub drift_set: Option<crate::state::BucketSet>,
    /// The per-model drift monitors of this table (`crate::health`; `None`
    /// without `drift ttft|latency|errors`); a reload starts new windows.
    pub health: Option<std::sync::Mutex<routec_runtime::HealthMonitor>>,
    /// Per monitor of `health`: its windows' counts as replicas share them,
    /// or why they are not shared (`crate::health::bucket_sets`).
    pub health_sets: Vec<Result<crate::state::BucketSet, String>>,
    /// Exploration (`learn { explore ... }`, `crate::explore`); `None`
    /// without it. A reload carries the period's spend over.
    pub explore: Option<std::sync::Mutex<routec_runtime::Explorer>>,
    /// Quality sampling (`learn { judge ... }`, `crate::judge`); `None`
    /// without a judge. A reload starts a new rate meter.
    pub judge: Option<std::sync::Mutex<routec_runtime::Sampler>>,
    /// The routers of the pacing ladder's steps (rung `k` is `steps[k -
    /// 1]`; rung 0 is `router`), and the pacer (`crate::pacing`); `None`
    /// without a ladder. A reload carries the period's spend over.
    pub steps: Vec<Router>,
    pub pacer: Option<std::sync::Mutex<routec_runtime::Pacer>>,
    /// The shared-state counters of the exploration budget and of pacing
    /// (`crate::explore::counter`, `crate::pacing::counters`).
    pub explore_counter: String,
    pub pacing_counters: [String; 3],
    /// The answers' routing headers, written once per load.
    pub headers: RoutingHeaders,
}

/// The values of `x-routec-rule`, `x-routec-plan` and `x-routec-model`,
/// per rule, plan and model of a table (`crate::handler`).
#[derive(Debug)]
pub struct RoutingHeaders {
    /// `N: TEXT` per rule.
    pub rules: Vec<axum::http::HeaderValue>,
    /// Per plan, its text.
    pub plans: Vec<axum::http::HeaderValue>,
    /// Per model, its name.
    pub models: Vec<axum::http::HeaderValue>,
}

impl RoutingHeaders {
    fn new(table: &Table, models: &[ModelRt]) -> RoutingHeaders {
        use crate::handler::header_text;
        RoutingHeaders {
            rules: table
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| header_text(&format!("{}: {}", i + 1, r.text)))
                .collect(),
            plans: table.plans.iter().map(|p| header_text(&p.text)).collect(),
            models: models.iter().map(|m| header_text(&m.name)).collect(),
        }
    }
}

/// The fault settings of `model`: the defaults, with its `for` block
/// replacing them field by field (as `routec_opt::model::fault_settings`).
pub fn fault_settings(table: &Table, model: &str) -> FaultSettings {
    let mut s = table.faults.defaults.clone();
    if let Some(o) = table.faults.per_model.get(model) {
        if o.timeout.is_some() {
            s.timeout = o.timeout;
        }
        if o.ttft_timeout.is_some() {
            s.ttft_timeout = o.ttft_timeout;
        }
        if o.retry.is_some() {
            s.retry = o.retry.clone();
        }
        if o.cooldown.is_some() {
            s.cooldown = o.cooldown.clone();
        }
        if o.hedge_after.is_some() {
            s.hedge_after = o.hedge_after;
        }
    }
    s
}

/// The URL a provider's adapter calls for an endpoint.
fn call_url(provider: Provider, endpoint: &str) -> String {
    match provider {
        Provider::OpenAi => crate::upstream::join(endpoint, &["/v1/chat/completions"]),
        Provider::Anthropic => crate::upstream::join(endpoint, &["/v1/messages"]),
        Provider::Http => endpoint.to_owned(),
    }
}

fn resolve(endpoint: &Endpoint, env: &Env, owner: &str) -> Result<String, String> {
    match endpoint {
        Endpoint::Url { url } => Ok(url.clone()),
        Endpoint::Env { var } => env(var)
            .filter(|v| !v.trim().is_empty())
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| format!("{owner}: environment variable `{var}` is not set")),
    }
}

fn is_openai_family(provider: Provider, upstream: Option<&str>, name: &str) -> bool {
    let id = upstream.unwrap_or(name).to_ascii_lowercase();
    let id = id.rsplit('/').next().unwrap_or(&id).to_owned();
    provider == Provider::OpenAi
        && ["gpt-", "o1", "o3", "o4", "chatgpt", "text-embedding"]
            .iter()
            .any(|p| id.starts_with(p))
}

impl Loaded {
    /// Resolves a validated table against the environment. Every missing
    /// variable is an error naming the model (or signal) and the variable.
    pub fn new(router: Router, env: &Env, loaded_at: SystemTime) -> Result<Loaded, Vec<String>> {
        let table = router.table();
        let mut errors = Vec::new();
        let mut models = Vec::with_capacity(table.models.len());
        for m in &table.models {
            let provider = Provider::parse(m.provider.as_deref());
            let owner = format!("model `{}`", m.name);
            let endpoint = match &m.endpoint {
                Some(e) => match resolve(e, env, &owner) {
                    Ok(u) => Some(u),
                    Err(e) => {
                        errors.push(e);
                        None
                    }
                },
                None => provider.default_endpoint().map(str::to_owned),
            };
            let api_key = match &m.api_key_env {
                Some(var) => match env(var).filter(|v| !v.is_empty()) {
                    Some(k) => Some(k),
                    None => {
                        errors.push(format!("{owner}: environment variable `{var}` is not set"));
                        None
                    }
                },
                None => None,
            };
            let mut params = serde_json::Map::new();
            for (k, v) in &m.params {
                let value = match v {
                    Param::Bool(b) => serde_json::Value::Bool(*b),
                    Param::Number(x) => serde_json::Number::from_f64(*x)
                        .map(serde_json::Value::Number)
                        .unwrap_or(serde_json::Value::Null),
                    Param::String(s) => {
                        match s.strip_prefix("env(\"").and_then(|r| r.strip_suffix("\")")) {
                            Some(var) => match env(var) {
                                Some(x) => serde_json::Value::String(x),
                                None => {
                                    errors.push(format!(
                                    "{owner}: environment variable `{var}` (param `{k}`) is not set"
                                ));
                                    continue;
                                }
                            },
                            None => serde_json::Value::String(s.clone()),
                        }
                    }
                };
                params.insert(k.clone(), value);
            }
            let call_url = endpoint
                .as_deref()
                .map(|e| Target::parse(&call_url(provider, e)));
            models.push(ModelRt {
                name: m.name.clone(),
                provider,
                call_url,
                openai_family: is_openai_family(provider, m.upstream.as_deref(), &m.name),
                endpoint,
                api_key,
                upstream: m.upstream.clone(),
                params,
                price: m.price.clone(),
                faults: fault_settings(table, &m.name),
                fallback: m.fallback,
            });
        }
        let mut readers = Vec::with_capacity(table.signals.len());
        let mut classifiers = Vec::with_capacity(table.signals.len());
        let mut lazy = SignalSet::default();
        for (i, s) in table.signals.iter().enumerate() {
            let reader = Reader::of(s);
            if reader.is_lazy() {
                lazy.insert(i);
            }
            readers.push(reader);
            classifiers.push(match &s.source {
                Source::Classifier {
                    name,
                    endpoint,
                    timeout,
                    ..
                } => {
                    let url = match endpoint {
                        Some(e) => resolve(e, env, &format!("signal `{}`", s.name))
                            .map_err(|e| errors.push(e))
                            .ok()
                            .map(|url| Target::parse(&url)),
                        None => None,
                    };
                    Some(ClassifierRt {
                        name: name.clone(),
                        url,
                        timeout: timeout
                            .filter(|t| *t > 0.0)
                            .map_or(DEFAULT_CLASSIFIER_TIMEOUT, |t| {
                                Duration::from_secs_f64(t.min(3600.0))
                            }),
                    })
                }
                _ => None,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let by_name = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i as u32))
            .collect();
        let count_with = table
            .policy
            .baseline
            .or(if models.is_empty() { None } else { Some(0) });
        let explore = routec_runtime::Explorer::new(table)
            .map_err(|e| vec![format!("learn: {e}")])?
            .map(std::sync::Mutex::new);
        let pacer = routec_runtime::Pacer::new(table)
            .map_err(|e| vec![format!("pacing: {e}")])?
            .map(std::sync::Mutex::new);
        let steps = (1..table.rungs())
            .filter_map(|k| table.rung(k))
            .map(Router::new)
            .collect::<Result<Vec<Router>, _>>()
            .map_err(|e| vec![format!("pacing: {e}")])?;
        let judge = table
            .judge
            .as_ref()
            .map(|j| std::sync::Mutex::new(routec_runtime::Sampler::new(j)));
        let drift = routec_runtime::DriftMonitor::new(table);
        let drift_set = drift.as_ref().map(|m| crate::drift::bucket_set(table, m));
        let health = routec_runtime::HealthMonitor::new(table);
        let health_sets = health.as_ref().map_or_else(Vec::new, |m| {
            crate::health::bucket_sets(table, m, crate::state::COUNTERS)
        });
        Ok(Loaded {
            explore,
            judge,
            pacer,
            steps,
            explore_counter: crate::explore::counter(table),
            pacing_counters: crate::pacing::counters(table),
            hash: table.source_hash.clone(),
            handles: crate::metrics::Handles::new(table.rules.len(), models.len()),
            headers: RoutingHeaders::new(table, &models),
            policy: table.policy.name.clone(),
            loaded_at,
            models,
            by_name,
            readers,
            classifiers,
            lazy,
            count_with,
            drift: drift.map(std::sync::Mutex::new),
            drift_set,
            health: health.map(std::sync::Mutex::new),
            health_sets,
            router,
        })
    }

    pub fn table(&self) -> &Table {
        self.router.table()
    }

    /// The router of pacing rung `rung` (the table's own for 0, or past
    /// the ladder).
    pub fn router_at(&self, rung: usize) -> &Router {
        rung.checked_sub(1)
            .and_then(|k| self.steps.get(k))
            .unwrap_or(&self.router)
    }

    /// Models without an endpoint (not ready) and classifiers without one
    /// (ready; their default always applies), for `/readyz`.
    pub fn unconfigured(&self) -> (Vec<&str>, Vec<&str>) {
        let models = self
            .models
            .iter()
            .filter(|m| m.endpoint.is_none())
            .map(|m| m.name.as_str())
            .collect();
        let classifiers = self
            .table()
            .signals
            .iter()
            .zip(&self.classifiers)
            .filter(|(_, c)| c.as_ref().is_some_and(|c| c.url.is_none()))
            .map(|(s, _)| s.name.as_str())
            .collect();
        (models, classifiers)
    }

    /// The signal's kind.
    pub fn kind(&self, signal: usize) -> Option<&SignalKind> {
        self.table().signals.get(signal).map(|s| &s.kind)
    }
}
