//! The language's words: one table from which the lexer's reserved words,
//! the parser's item keywords and did-you-mean lists, the checker's word
//! lists, the editor's completion and semantic tokens, and the grammar
//! tests derive.
//!
//! Every word a `.route` file can use as a keyword (contextual or
//! reserved) is one [`Word`] of [`WORDS`]: its text, how editors highlight
//! it, whether it is reserved (cannot name anything), and the positions
//! ([`Context`]) where it is one of the words the language expects. The
//! lists below ([`RESERVED_WORDS`], [`ITEMS`], ...) are computed from the
//! table at compile time, in table order; [`RESERVED_WORDS`] is sorted.
//!
//! Words of the same context appear in the table in the order completion
//! offers them.

/// How editors highlight a word (the semantic token kind; `None`: the
/// word is not highlighted as a keyword).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Highlight {
    Keyword,
    Type,
    Property,
    None,
}

/// A position where the language expects one of a few words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// The first word of a top-level item.
    Item,
    /// A statement of `policy { ... }`.
    PolicyProperty,
    /// A statement of `model NAME { ... }`.
    ModelProperty,
    /// A scalar signal type (`enum { ... }` is the other form).
    SignalType,
    /// `from SOURCE` of a signal.
    SignalSource,
    /// A clause of a `classifier` source (`cost 4ms endpoint env("URL") timeout 50ms`).
    ClassifierClause,
    /// A metric of an SLO, an objective or a test.
    Metric,
    /// A rule of `route { ... }`.
    Rule,
    /// A plan form other than a model name.
    PlanForm,
    /// A statement of `faults { ... }`.
    FaultSetting,
    /// A statement of `learn { ... }`.
    LearnSetting,
    /// A statement of `test "..." { ... }`.
    TestStatement,
    /// A percentile offered by completion.
    Percentile,
    /// `price input ..., output ...`
    PriceKind,
    /// `supports images, tools`
    Capability,
    /// `per day`
    Period,
    /// `drift kl > ... => ACTION`
    DriftAction,
    /// `drift MEASURE > ...`
    DriftMeasure,
    /// `accept when MEASURE >= ...`
    AcceptMeasure,
    /// A key of `objective weighted { ... }`.
    WeightKey,
    /// A provider offered by completion (any word is accepted).
    Provider,
    /// A word that only structures its construct (`extends`, `from`,
    /// `accept`, ...).
    Structure,
}

/// One word of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: &'static str,
    pub highlight: Highlight,
    /// Reserved words cannot name a signal, model, slice or profile.
    pub reserved: bool,
    pub contexts: &'static [Context],
}

const fn w(text: &'static str, highlight: Highlight, contexts: &'static [Context]) -> Word {
    Word {
        text,
        highlight,
        reserved: false,
        contexts,
    }
}

const fn r(text: &'static str, highlight: Highlight, contexts: &'static [Context]) -> Word {
    Word {
        text,
        highlight,
        reserved: true,
        contexts,
    }
}

use Context as C;
use Highlight::{Keyword as K, None as N, Property as P, Type as T};

/// Every word of the language.
pub const WORDS: &[Word] = &[
    // Items, in the grammar's order.
    r("policy", K, &[C::Item]),
    r("signal", K, &[C::Item]),
    r("model", K, &[C::Item]),
    r("slice", K, &[C::Item, C::Structure]),
    r("objective", K, &[C::Item]),
    r("slo", K, &[C::Item]),
    r("route", K, &[C::Item]),
    r("faults", K, &[C::Item]),
    r("learn", K, &[C::Item]),
    r("traffic", K, &[C::Item]),
    r("test", K, &[C::Item]),
    // policy { ... }
    w("owner", P, &[C::PolicyProperty]),
    w("baseline", P, &[C::PolicyProperty]),
    // model NAME extends BASE { ... }
    w("extends", K, &[C::Structure]),
    w("provider", P, &[C::ModelProperty]),
    w("endpoint", P, &[C::ModelProperty, C::ClassifierClause]),
    w("upstream", P, &[C::ModelProperty]),
    w("api_key", P, &[C::ModelProperty]),
    w("params", P, &[C::ModelProperty]),
    w("context", P, &[C::ModelProperty]),
    w("price", P, &[C::ModelProperty]),
    // Faults come before the metrics: `timeout` then `ttft` there.
    w("timeout", P, &[C::FaultSetting, C::ClassifierClause]),
    w(
        "ttft",
        P,
        &[C::Metric, C::FaultSetting, C::Structure, C::DriftMeasure],
    ),
    w(
        "latency",
        P,
        &[C::ModelProperty, C::Metric, C::WeightKey, C::DriftMeasure],
    ),
    w(
        "cost",
        P,
        &[C::Metric, C::WeightKey, C::Structure, C::ClassifierClause],
    ),
    w("quality", P, &[C::ModelProperty, C::Metric, C::WeightKey]),
    w("share", P, &[C::Metric]),
    w("spend", P, &[C::Metric]),
    w("fallback", P, &[C::ModelProperty]),
    w("supports", P, &[C::ModelProperty]),
    w("reasoning", P, &[C::ModelProperty]),
    w("capacity", P, &[C::ModelProperty]),
    w("rate", P, &[C::ModelProperty]),
    w("retry", P, &[C::FaultSetting]),
    w("cooldown", P, &[C::FaultSetting]),
    w("hedge", P, &[C::FaultSetting]),
    w("for", K, &[C::FaultSetting, C::Structure]),
    // Inside model properties.
    w("input", P, &[C::PriceKind]),
    w("output", P, &[C::PriceKind, C::Structure]),
    w("prompts", P, &[C::Structure]),
    w("of", N, &[C::Structure]),
    w("decode", P, &[C::Structure]),
    w("by", K, &[C::Structure]),
    w("adjust", K, &[C::Structure]),
    w("images", P, &[C::Capability]),
    w("tools", P, &[C::Capability]),
    w("openai", N, &[C::Provider]),
    w("anthropic", N, &[C::Provider]),
    w("http", N, &[C::Provider]),
    // Load: `capacity 40 qps, 64 concurrent`, `rate limit ...`.
    w("limit", P, &[C::Structure]),
    w("concurrent", P, &[C::Structure]),
    // Signals.
    w("from", K, &[C::Structure]),
    w("default", K, &[C::Structure]),
    w("bool", T, &[C::SignalType]),
    w("int", T, &[C::SignalType]),
    w("tokens", T, &[C::SignalType]),
    w("ratio", T, &[C::SignalType]),
    w("duration", T, &[C::SignalType]),
    w("money", T, &[C::SignalType]),
    w("enum", T, &[C::Structure]),
    w("header", P, &[C::SignalSource]),
    w("metadata", P, &[C::SignalSource]),
    w("classifier", P, &[C::SignalSource]),
    // Conditions.
    r("and", K, &[C::Structure]),
    r("or", K, &[C::Structure]),
    r("not", K, &[C::Structure]),
    r("in", K, &[C::Structure]),
    r("true", K, &[C::Structure]),
    r("false", K, &[C::Structure]),
    r("env", K, &[C::Structure]),
    // Objective and metrics.
    w("weighted", K, &[C::Structure]),
    w("minimize", K, &[C::Structure]),
    w("maximize", K, &[C::Structure]),
    w("per", K, &[C::Structure]),
    w("success", P, &[C::Structure]),
    w("requests", P, &[C::Structure]),
    w("request", P, &[C::Structure]),
    w("each", K, &[C::Structure]),
    w("p50", P, &[C::Percentile]),
    w("p90", P, &[]),
    w("p95", P, &[C::Percentile]),
    w("p99", P, &[C::Percentile]),
    w("p999", P, &[]),
    // Routes and plans.
    r("when", K, &[C::Rule, C::Structure]),
    r("otherwise", K, &[C::Rule]),
    r("cascade", K, &[C::PlanForm]),
    r("split", K, &[C::PlanForm]),
    r("optimize", K, &[C::PlanForm]),
    r("else", K, &[C::Structure]),
    w("accept", K, &[C::Structure]),
    w("confidence", P, &[C::AcceptMeasure, C::Structure]),
    w("at", K, &[C::Structure]),
    // Faults.
    w("on", N, &[C::Structure]),
    w("backoff", P, &[C::Structure]),
    w("after", K, &[C::Structure]),
    w("failures", P, &[C::Structure]),
    w("failure", N, &[C::Structure]),
    // Learning.
    w("explore", P, &[C::LearnSetting]),
    w("drift", P, &[C::LearnSetting]),
    w("judge", P, &[C::LearnSetting]),
    w("budget", P, &[C::Structure]),
    w("sample", P, &[C::Structure]),
    w("below", K, &[C::Structure]),
    w("above", K, &[C::Structure]),
    w("over", K, &[C::Structure]),
    w("kl", P, &[C::DriftMeasure]),
    w("errors", P, &[C::DriftMeasure]),
    w("alert", P, &[C::DriftAction]),
    w("freeze", P, &[C::DriftAction]),
    w("rollback", P, &[C::DriftAction]),
    w("refit", P, &[C::DriftAction]),
    w("hour", P, &[C::Period]),
    w("day", P, &[C::Period]),
    w("week", P, &[C::Period]),
    w("month", P, &[C::Period]),
    // Traffic.
    w("file", K, &[C::Structure]),
    w("qps", P, &[C::Structure]),
    w("peak", P, &[C::Structure]),
    w("lognormal", P, &[C::Structure]),
    w("margin", P, &[C::Structure]),
    w("uniform", P, &[C::Structure]),
    // Tests.
    w("given", K, &[C::TestStatement]),
    w("expect", K, &[C::TestStatement]),
    w("under", K, &[C::TestStatement]),
];

// ---------------------------------------------------------------- derived lists

const fn has(contexts: &[Context], c: Context) -> bool {
    let mut i = 0;
    while i < contexts.len() {
        if contexts[i] as u8 == c as u8 {
            return true;
        }
        i += 1;
    }
    false
}

const fn count(c: Context) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < WORDS.len() {
        if has(WORDS[i].contexts, c) {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn collect<const LEN: usize>(c: Context) -> [&'static str; LEN] {
    let mut out = [""; LEN];
    let mut n = 0;
    let mut i = 0;
    while i < WORDS.len() {
        if has(WORDS[i].contexts, c) {
            out[n] = WORDS[i].text;
            n += 1;
        }
        i += 1;
    }
    out
}

const fn count_reserved() -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < WORDS.len() {
        if WORDS[i].reserved {
            n += 1;
        }
        i += 1;
    }
    n
}

/// `a < b` in byte order.
const fn less(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

const fn sorted_reserved<const LEN: usize>() -> [&'static str; LEN] {
    let mut out = [""; LEN];
    let mut n = 0;
    let mut i = 0;
    while i < WORDS.len() {
        if WORDS[i].reserved {
            // Insertion sort.
            let mut j = n;
            while j > 0 && less(WORDS[i].text, out[j - 1]) {
                out[j] = out[j - 1];
                j -= 1;
            }
            out[j] = WORDS[i].text;
            n += 1;
        }
        i += 1;
    }
    out
}

macro_rules! words_of {
    ($(#[$doc:meta])* $name:ident = $context:ident) => {
        $(#[$doc])*
        pub const $name: &[&str] = &collect::<{ count(Context::$context) }>(Context::$context);
    };
}

/// Words that cannot be used as names: the item keywords and the words that
/// structure rules and plans. Sorted.
pub const RESERVED_WORDS: &[&str] = &sorted_reserved::<{ count_reserved() }>();

words_of!(
    /// The words that start an item, in the grammar's order.
    ITEMS = Item
);
words_of!(
    /// The statements of `policy { ... }`.
    POLICY_PROPERTIES = PolicyProperty
);
words_of!(
    /// The statements of `model NAME { ... }`.
    MODEL_PROPERTIES = ModelProperty
);
words_of!(
    /// The scalar signal types (the other form is `enum { ... }`).
    SIGNAL_TYPES = SignalType
);
words_of!(
    /// The clauses a `classifier` source takes.
    CLASSIFIER_CLAUSES = ClassifierClause
);
words_of!(
    /// The sources of a signal.
    SIGNAL_SOURCES = SignalSource
);
words_of!(
    /// The metrics of SLOs, objectives and tests.
    METRICS = Metric
);
words_of!(
    /// The words that start a rule.
    RULES = Rule
);
words_of!(
    /// The plan forms other than a model name.
    PLAN_FORMS = PlanForm
);
words_of!(
    /// The statements of `faults { ... }`.
    FAULT_SETTINGS = FaultSetting
);
words_of!(
    /// The statements of `learn { ... }`.
    LEARN_SETTINGS = LearnSetting
);
words_of!(
    /// The statements of a test.
    TEST_STATEMENTS = TestStatement
);
words_of!(
    /// The percentiles completion offers.
    PERCENTILES = Percentile
);
words_of!(
    /// The kinds of a token price.
    PRICE_KINDS = PriceKind
);
words_of!(
    /// The capabilities of `supports`.
    CAPABILITIES = Capability
);
words_of!(
    /// The periods of budgets and spend.
    PERIODS = Period
);
words_of!(
    /// What a drift monitor does when it fires.
    DRIFT_ACTIONS = DriftAction
);
words_of!(
    /// What a drift monitor measures.
    DRIFT_MEASURES = DriftMeasure
);
words_of!(
    /// What a cascade's acceptance test reads.
    ACCEPT_MEASURES = AcceptMeasure
);
words_of!(
    /// The keys of `objective weighted { ... }`.
    WEIGHT_KEYS = WeightKey
);
words_of!(
    /// The providers completion offers (any word is accepted).
    PROVIDERS = Provider
);

/// Whether `word` is reserved (cannot name anything).
pub fn is_reserved(word: &str) -> bool {
    RESERVED_WORDS.binary_search(&word).is_ok()
}

/// The table entry of `word`, if it is a word of the language.
pub fn find(word: &str) -> Option<&'static Word> {
    WORDS.iter().find(|w| w.text == word)
}

/// How editors highlight `word` (`None` for words that are not keywords).
pub fn highlight(word: &str) -> Highlight {
    find(word).map_or(Highlight::None, |w| w.highlight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_is_listed_once() {
        for (i, a) in WORDS.iter().enumerate() {
            assert!(
                WORDS[i + 1..].iter().all(|b| b.text != a.text),
                "`{}` is listed twice",
                a.text
            );
        }
    }

    #[test]
    fn reserved_words_are_sorted_and_complete() {
        let mut sorted = RESERVED_WORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, RESERVED_WORDS);
        assert_eq!(
            RESERVED_WORDS.len(),
            WORDS.iter().filter(|w| w.reserved).count()
        );
        assert!(is_reserved("when") && !is_reserved("price"));
    }

    #[test]
    fn derived_lists_keep_table_order() {
        assert_eq!(
            ITEMS,
            [
                "policy",
                "signal",
                "model",
                "slice",
                "objective",
                "slo",
                "route",
                "faults",
                "learn",
                "traffic",
                "test"
            ]
        );
        assert_eq!(
            METRICS,
            ["ttft", "latency", "cost", "quality", "share", "spend"]
        );
        assert_eq!(
            FAULT_SETTINGS,
            ["timeout", "ttft", "retry", "cooldown", "hedge", "for"]
        );
        assert_eq!(WEIGHT_KEYS, ["latency", "cost", "quality"]);
    }
}
