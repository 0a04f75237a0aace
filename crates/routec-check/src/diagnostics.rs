//! Every message of the checker, one constructor per diagnostic, so the
//! catalog reads in one place. Style (STYLE.md habit 5): lowercase, no
//! trailing period, user input in backticks, no Rust type names; the extra
//! explanation goes in the label, the help and the suggestions.

use routec_syntax::ast::{CmpOp, Lit, LitKind, Name};
use routec_syntax::{Diagnostic, Span};

use crate::codes as c;
use crate::ir::{CostBasis, MetricDef};
use crate::units::{self, Found, Unit, UnitError};
use routec_syntax::suggest;

fn did_you_mean(diag: Diagnostic, span: Span, best: Option<&str>) -> Diagnostic {
    match best {
        Some(b) => diag
            .with_help(format!("did you mean `{b}`?"))
            .with_suggestion(format!("replace with `{b}`"), span, b),
        None => diag,
    }
}

/// `unknown WHAT `word``, with a did-you-mean when there is a close name
/// and otherwise how to declare one.
fn unknown(
    code: &'static str,
    span: Span,
    what: &str,
    word: &str,
    best: Option<&str>,
    declare: String,
) -> Diagnostic {
    let d = Diagnostic::error(code, span, format!("unknown {what} `{word}`"));
    match best {
        Some(_) => did_you_mean(d, span, best),
        None => d.with_help(declare),
    }
}

fn list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

fn chain(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(" -> ")
}

// ---------------------------------------------------------------- names

pub(crate) fn unknown_name(span: Span, word: &str, best: Option<&str>) -> Diagnostic {
    let d = Diagnostic::error(
        c::UNKNOWN_NAME,
        span,
        format!("unknown signal or slice `{word}`"),
    )
    .with_label("not a bool signal or a slice");
    match best {
        Some(_) => did_you_mean(d, span, best),
        None => d.with_help("a bare word in a condition must be a bool signal or a slice"),
    }
}

pub(crate) fn unknown_signal(name: &Name, best: Option<&str>) -> Diagnostic {
    unknown_signal_at(name.span, &name.text, best)
}

pub(crate) fn unknown_signal_at(span: Span, word: &str, best: Option<&str>) -> Diagnostic {
    let declare = format!("declare it: `signal {word}: TYPE from SOURCE default VALUE`");
    unknown(c::UNKNOWN_SIGNAL, span, "signal", word, best, declare)
}

pub(crate) fn unknown_model(name: &Name, best: Option<&str>) -> Diagnostic {
    let declare = format!(
        "declare it, with its price, latency and quality: `model {} {{ provider openai }}`",
        name.text
    );
    unknown(
        c::UNKNOWN_MODEL,
        name.span,
        "model",
        &name.text,
        best,
        declare,
    )
}

pub(crate) fn unknown_slice(name: &Name, best: Option<&str>) -> Diagnostic {
    let declare = format!("declare it: `slice {} = CONDITION`", name.text);
    unknown(
        c::UNKNOWN_SLICE,
        name.span,
        "slice",
        &name.text,
        best,
        declare,
    )
}

pub(crate) fn unknown_traffic(name: &Name, best: Option<&str>) -> Diagnostic {
    let declare = format!(
        "declare it, with the mix of each signal: `traffic {} {{ qps 100 }}`",
        name.text
    );
    unknown(
        c::UNKNOWN_TRAFFIC,
        name.span,
        "traffic profile",
        &name.text,
        best,
        declare,
    )
}

pub(crate) fn unknown_value(
    span: Span,
    word: &str,
    signal: &str,
    variants: &[String],
    best: Option<&str>,
) -> Diagnostic {
    let d = Diagnostic::error(
        c::UNKNOWN_VALUE,
        span,
        format!("`{word}` is not a value of `{signal}`"),
    );
    let vs: Vec<&str> = variants.iter().map(String::as_str).collect();
    match best {
        Some(_) => did_you_mean(d, span, best),
        None if vs.is_empty() => d,
        None => d.with_help(format!("`{signal}` is one of {}", list(&vs))),
    }
}

pub(crate) fn unknown_word(
    name: &Name,
    what: &str,
    known: &[&str],
    best: Option<&str>,
) -> Diagnostic {
    let d = Diagnostic::error(
        c::UNKNOWN_WORD,
        name.span,
        format!("unknown {what} `{}`", name.text),
    );
    match best {
        Some(_) => did_you_mean(d, name.span, best),
        None => d.with_help(format!("expected {}", list(known))),
    }
}

pub(crate) fn unknown_type(name: &Name, best: Option<&str>) -> Diagnostic {
    let d = Diagnostic::error(
        c::UNKNOWN_TYPE,
        name.span,
        format!("unknown type `{}`", name.text),
    );
    match best {
        Some(_) => did_you_mean(d, name.span, best),
        None => d.with_help(format!(
            "expected {} or `enum {{ a, b }}`",
            list(crate::cx::TYPE_NAMES)
        )),
    }
}

pub(crate) fn unknown_unit_word(name: &Name, known: &[&str]) -> Diagnostic {
    let best = suggest::closest(&name.text, known.iter().copied());
    let d = Diagnostic::error(
        c::UNKNOWN_UNIT,
        name.span,
        format!("unknown unit `{}`", name.text),
    );
    match best {
        Some(_) => did_you_mean(d, name.span, best),
        None => d.with_help(format!("expected {}", list(known))),
    }
}

pub(crate) fn duplicate_definition(name: &Name, first_kind: &str, first: Span) -> Diagnostic {
    Diagnostic::error(
        c::DUPLICATE_DEFINITION,
        name.span,
        format!("`{}` is defined more than once", name.text),
    )
    .with_label("defined again here")
    .with_secondary(first, format!("first defined here as a {first_kind}"))
    .with_help("rename one of the definitions")
}

pub(crate) fn redefined_builtin(name: &Name) -> Diagnostic {
    Diagnostic::error(
        c::DUPLICATE_DEFINITION,
        name.span,
        format!("`{}` is a built-in signal", name.text),
    )
    .with_help(
        "built-in signals are always available; remove this declaration or choose another name",
    )
}

pub(crate) fn duplicate_property(span: Span, key: &str, first: Span) -> Diagnostic {
    Diagnostic::error(
        c::DUPLICATE_PROPERTY,
        span,
        format!("`{key}` is written more than once"),
    )
    .with_label("written again here")
    .with_secondary(first, "first written here")
    .with_help("keep one of them")
}

pub(crate) fn duplicate_variant(name: &Name, first: Span) -> Diagnostic {
    Diagnostic::error(
        c::DUPLICATE_VARIANT,
        name.span,
        format!("the enum lists `{}` twice", name.text),
    )
    .with_secondary(first, "first listed here")
    .with_suggestion("remove the repeated value", name.span, "")
}

pub(crate) fn missing_policy() -> Diagnostic {
    Diagnostic::error(c::MISSING_POLICY, Span::at(0), "the file has no `policy`").with_help(
        "add `policy NAME { baseline MODEL }` (and `owner \"team\"` on a line of its own)",
    )
}

pub(crate) fn duplicate_block(span: Span, kind: &str, first: Span) -> Diagnostic {
    Diagnostic::error(c::DUPLICATE_BLOCK, span, format!("more than one `{kind}`"))
        .with_secondary(first, "first written here")
        .with_help(format!("a file has at most one `{kind}`; merge them"))
}

pub(crate) fn missing_default(name: &Name, hint: String) -> Diagnostic {
    Diagnostic::error(
        c::MISSING_PROPERTY,
        name.span,
        format!("signal `{}` has no `default`", name.text),
    )
    .with_help(format!(
        "the router needs a value when the signal is missing; add `{hint}`"
    ))
}

pub(crate) fn missing_source(name: &Name) -> Diagnostic {
    Diagnostic::error(
        c::MISSING_PROPERTY,
        name.span,
        format!("signal `{}` has no source", name.text),
    )
    .with_help(
        "add `from header \"...\"`, `from metadata \"...\"` or `from classifier \"...\" cost 5ms`",
    )
}

pub(crate) fn missing_source_key(kind: &Name) -> Diagnostic {
    Diagnostic::error(
        c::MISSING_PROPERTY,
        kind.span,
        format!("`{}` needs a name in quotes", kind.text),
    )
    .with_help(format!("for example `{} \"x-route-task\"`", kind.text))
}

pub(crate) fn missing_classifier_cost(span: Span) -> Diagnostic {
    Diagnostic::error(c::MISSING_PROPERTY, span, "a classifier needs a `cost`")
        .with_help("add the latency the classifier adds, for example `cost 4ms`")
}

pub(crate) fn missing_baseline(span: Span) -> Diagnostic {
    Diagnostic::error(c::MISSING_PROPERTY, span, "the policy has no `baseline`")
        .with_help("a weighted objective scores plans against the baseline; add `baseline MODEL`")
}

pub(crate) fn budget_needs_period(span: Span) -> Diagnostic {
    Diagnostic::error(
        c::MISSING_PROPERTY,
        span,
        "an exploration budget needs a period",
    )
    .with_help("add `per day` (or `per hour`, `per week`, `per month`)")
}

pub(crate) fn bad_sampling(span: Span, message: impl Into<String>, help: &str) -> Diagnostic {
    Diagnostic::error(c::BAD_SAMPLING, span, message).with_help(help)
}

pub(crate) fn test_without_expect(span: Span) -> Diagnostic {
    Diagnostic::error(c::MISSING_PROPERTY, span, "the test has no `expect`")
        .with_help("add `expect PLAN` after `given { signal: value }`, or `expect latency p95 <= 3s` after `under TRAFFIC`")
}

pub(crate) fn missing_route() -> Diagnostic {
    Diagnostic::error(c::MISSING_ROUTE, Span::at(0), "the file has no `route`")
        .with_help("add `route { otherwise => MODEL }`")
}

pub(crate) fn cost_not_classifier(span: Span, kind: &str) -> Diagnostic {
    Diagnostic::error(
        c::MISPLACED_PROPERTY,
        span,
        format!("a `{kind}` signal has no cost"),
    )
    .with_help("only classifiers add latency; remove the `cost`")
}

pub(crate) fn clause_not_classifier(word: &Name, kind: &str) -> Diagnostic {
    Diagnostic::error(
        c::MISPLACED_PROPERTY,
        word.span,
        format!("a `{kind}` signal has no `{}`", word.text),
    )
    .with_help(format!(
        "only classifiers have clauses (`cost`, `endpoint`, `timeout`); remove the `{}` clause",
        word.text
    ))
}

pub(crate) fn nested_for(span: Span) -> Diagnostic {
    Diagnostic::error(c::MISPLACED_PROPERTY, span, "`for MODEL` cannot be nested")
        .with_help("write per-model overrides at the top of `faults`")
}

// ---------------------------------------------------------------- types and values

/// A literal that does not fit `unit`.
pub(crate) fn unit_error(lit: &Lit, unit: Unit, err: UnitError) -> Diagnostic {
    match err {
        UnitError::UnknownUnit { unit: word, known } => {
            let best = suggest::closest(&word, known.iter().copied().filter(|k| !k.is_empty()));
            let d = Diagnostic::error(c::UNKNOWN_UNIT, lit.span, format!("unknown unit `{word}`"));
            match (best, &lit.kind) {
                (Some(b), LitKind::Number { value, .. }) => {
                    d.with_help(format!("did you mean `{b}`?")).with_suggestion(
                        format!("replace with `{b}`"),
                        lit.span,
                        format!("{}{b}", units::num(*value)),
                    )
                }
                (Some(b), LitKind::Money { value, .. }) => {
                    d.with_help(format!("did you mean `{b}`?")).with_suggestion(
                        format!("replace with `{b}`"),
                        lit.span,
                        format!("${}/{b}", units::num(*value)),
                    )
                }
                _ => d.with_help(format!("expected {}", unit.example())),
            }
        }
        UnitError::Mismatch { expected, found } => {
            let d = Diagnostic::error(
                c::TYPE_MISMATCH,
                lit.span,
                format!(
                    "expected {}, found {}",
                    expected.describe(),
                    found.describe()
                ),
            );
            match (expected, &found) {
                (Unit::Ratio | Unit::SignedRatio, Found::Number(v)) if v.abs() <= 1.0 => {
                    let r = units::percent(*v);
                    d.with_help(format!("write ratios as percentages: `{r}`"))
                        .with_suggestion(format!("write `{r}`"), lit.span, r)
                }
                (Unit::Duration, Found::Number(v)) => d.with_help(format!(
                    "add a unit: `{v}ms`, `{v}s`, `{v}m` or `{v}h`",
                    v = units::num(*v)
                )),
                (Unit::PricePerToken, Found::Money(v)) => {
                    let r = format!("${}/Mtok", units::num(*v));
                    d.with_help("token prices are per million tokens")
                        .with_suggestion(format!("write `{r}`"), lit.span, r)
                }
                (Unit::PricePerRequest, Found::Money(v)) => {
                    let r = format!("${}/request", units::num(*v));
                    d.with_help("a flat price is per request").with_suggestion(
                        format!("write `{r}`"),
                        lit.span,
                        r,
                    )
                }
                (Unit::PricePerRequest, Found::PricePerToken(_)) => {
                    d.with_help("a token price needs `input` or `output` before it")
                }
                _ => d.with_help(format!("expected {}", expected.example())),
            }
        }
        UnitError::OutOfRange { reason, .. } => out_of_range(lit.span, reason),
        UnitError::NotWhole { value } => Diagnostic::error(
            c::NOT_A_WHOLE_NUMBER,
            lit.span,
            format!("expected a whole number, found `{}`", units::num(value)),
        )
        .with_suggestion("round it", lit.span, units::num(value.round())),
    }
}

pub(crate) fn expected_value_of(span: Span, signal: &str, what: &str, found: &str) -> Diagnostic {
    Diagnostic::error(
        c::TYPE_MISMATCH,
        span,
        format!("expected a value of `{signal}`, found {found}"),
    )
    .with_help(format!("`{signal}` takes {what}"))
}

pub(crate) fn expected_string_or_env(lit: &Lit, prop: &str) -> Diagnostic {
    let found = units::classify(lit)
        .map(|f| f.describe())
        .unwrap_or_default();
    Diagnostic::error(
        c::TYPE_MISMATCH,
        lit.span,
        format!("expected a string or `env(...)`, found {found}"),
    )
    .with_help(format!(
        "write `{prop} \"https://...\"` or `{prop} env(\"NAME\")`"
    ))
}

pub(crate) fn expected_string(lit: &Lit, prop: &str) -> Diagnostic {
    let found = units::classify(lit)
        .map(|f| f.describe())
        .unwrap_or_default();
    Diagnostic::error(
        c::TYPE_MISMATCH,
        lit.span,
        format!("expected a string, found {found}"),
    )
    .with_help(format!("write `{prop} \"...\"`"))
}

pub(crate) fn expected_env(lit: &Lit) -> Diagnostic {
    let found = units::classify(lit)
        .map(|f| f.describe())
        .unwrap_or_default();
    Diagnostic::error(
        c::TYPE_MISMATCH,
        lit.span,
        format!("expected `env(...)`, found {found}"),
    )
    .with_help("read keys from the environment: `api_key env(\"NAME\")`")
}

pub(crate) fn metric_bound_mismatch(span: Span, metric: &str, other: &str) -> Diagnostic {
    Diagnostic::error(
        c::TYPE_MISMATCH,
        span,
        format!("`{metric}` cannot be compared with `{other}`"),
    )
    .with_help(
        "compare a metric with the same metric, such as `quality for A >= quality for B - 5%`",
    )
}

pub(crate) fn out_of_range(span: Span, reason: &str) -> Diagnostic {
    Diagnostic::error(
        c::OUT_OF_RANGE,
        span,
        format!("value out of range: {reason}"),
    )
}

pub(crate) fn quantiles_out_of_order(
    span: Span,
    higher: &str,
    lower: &str,
    lower_span: Span,
) -> Diagnostic {
    Diagnostic::error(
        c::QUANTILES_OUT_OF_ORDER,
        span,
        format!("`{higher}` is below `{lower}`"),
    )
    .with_secondary(lower_span, format!("`{lower}` is here"))
    .with_help("a higher percentile cannot be smaller than a lower one")
}

pub(crate) fn bad_percentile(name: &Name) -> Diagnostic {
    Diagnostic::error(
        c::BAD_PERCENTILE,
        name.span,
        format!("`{}` is not a percentile", name.text),
    )
    .with_help("percentiles lie strictly between 0 and 100: `p50`, `p95`, `p99`, `p999`")
}

pub(crate) fn bad_operator(span: Span, op: CmpOp, signal: &str, ty: &str) -> Diagnostic {
    Diagnostic::error(
        c::BAD_OPERATOR,
        span,
        format!(
            "`{}` does not apply to the {ty} signal `{signal}`",
            op.as_str()
        ),
    )
    .with_help(match ty {
        "bool" => format!("test it directly: `{signal}` or `not {signal}`"),
        _ => format!("compare with `==`, `!=` or `in`: `{signal} in {{ a, b }}`"),
    })
}

pub(crate) fn slo_equality(span: Span, op: CmpOp) -> Diagnostic {
    Diagnostic::error(
        c::BAD_OPERATOR,
        span,
        format!("an SLO cannot use `{}`", op.as_str()),
    )
    .with_help("bound the metric with `<=` or `>=`")
}

pub(crate) fn empty_enum(span: Span) -> Diagnostic {
    Diagnostic::error(c::EMPTY_ENUM, span, "the enum has no values")
        .with_help("list the values: `enum { a, b }`")
}

pub(crate) fn not_an_enum(name: &Name, ty: &str, context: &str) -> Diagnostic {
    Diagnostic::error(
        c::NOT_AN_ENUM,
        name.span,
        format!(
            "{context} needs an enum signal, but `{}` is {}",
            name.text,
            article(ty)
        ),
    )
}

fn article(ty: &str) -> String {
    match ty.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {ty}"),
        _ => format!("a {ty}"),
    }
}

// ---------------------------------------------------------------- conditions and routes

pub(crate) fn signal_not_a_condition(
    span: Span,
    name: &str,
    ty: &str,
    example: &str,
) -> Diagnostic {
    Diagnostic::error(
        c::NOT_A_CONDITION,
        span,
        format!("`{name}` is {} signal, not a condition", article(ty)),
    )
    .with_help(format!("compare it, for example `{example}`"))
}

pub(crate) fn literal_not_a_condition(span: Span, found: &str) -> Diagnostic {
    Diagnostic::error(
        c::NOT_A_CONDITION,
        span,
        format!("expected a condition, found {found}"),
    )
    .with_help("a condition is a comparison, a bool signal or a slice")
}

pub(crate) fn comparison_without_signal(span: Span) -> Diagnostic {
    Diagnostic::error(
        c::NOT_A_CONDITION,
        span,
        "a comparison needs a signal on one side",
    )
}

pub(crate) fn in_without_signal(span: Span, found: &str) -> Diagnostic {
    Diagnostic::error(
        c::NOT_A_CONDITION,
        span,
        format!("expected a signal before `in`, found {found}"),
    )
}

pub(crate) fn comparison_never_true(span: Span, domain: &str) -> Diagnostic {
    Diagnostic::error(
        c::COMPARISON_NEVER_TRUE,
        span,
        "this comparison is never true",
    )
    .with_help(format!("no value of {domain} satisfies it"))
}

pub(crate) fn comparison_always_true(span: Span, domain: &str) -> Diagnostic {
    Diagnostic::warning(
        c::COMPARISON_ALWAYS_TRUE,
        span,
        "this comparison is always true",
    )
    .with_help(format!("every value of {domain} satisfies it; remove it"))
}

pub(crate) fn rule_never_true(span: Span) -> Diagnostic {
    Diagnostic::error(
        c::CONDITION_NEVER_TRUE,
        span,
        "this condition is never true",
    )
    .with_help("no request satisfies every part of it; the rule never matches")
}

pub(crate) fn slice_never_true(span: Span, name: &str) -> Diagnostic {
    Diagnostic::error(
        c::CONDITION_NEVER_TRUE,
        span,
        format!("slice `{name}` contains no request"),
    )
    .with_help("no request satisfies its condition")
}

pub(crate) fn rule_always_true(span: Span, keyword: Span) -> Diagnostic {
    Diagnostic::warning(
        c::CONDITION_ALWAYS_TRUE,
        span,
        "this condition is always true",
    )
    .with_help("every request matches it; say so with `otherwise`")
    .with_suggestion("use `otherwise`", keyword.cover(span), "otherwise")
}

pub(crate) fn slice_always_true(span: Span, name: &str) -> Diagnostic {
    Diagnostic::warning(
        c::CONDITION_ALWAYS_TRUE,
        span,
        format!("slice `{name}` contains every request"),
    )
    .with_help("a slice of all traffic adds nothing to per-slice SLOs")
}

pub(crate) fn shadowed_rule(span: Span, otherwise: bool, shadowers: &[Span]) -> Diagnostic {
    let what = if otherwise {
        "`otherwise`"
    } else {
        "this rule"
    };
    let mut d = Diagnostic::error(
        c::SHADOWED_RULE,
        span,
        format!("{what} never matches: earlier rules take every request it admits"),
    )
    .with_help("remove it, or move it above the rules that shadow it");
    for s in shadowers {
        d = d.with_secondary(*s, "this earlier rule matches first");
    }
    d
}

pub(crate) fn rule_after_otherwise(span: Span, otherwise: Span) -> Diagnostic {
    Diagnostic::error(
        c::RULE_AFTER_OTHERWISE,
        span,
        "rule after `otherwise` is never reached",
    )
    .with_secondary(otherwise, "`otherwise` matches every remaining request")
    .with_help("move `otherwise` to the end of the route")
}

pub(crate) fn missing_otherwise(span: Span, example: Option<&str>, close: Span) -> Diagnostic {
    let message = match example {
        Some(e) if !e.is_empty() => format!("some requests match no rule, e.g. `{e}`"),
        _ => "no rule matches any request".to_owned(),
    };
    Diagnostic::error(c::MISSING_OTHERWISE, span, message)
        .with_help("add `otherwise => PLAN` as the last rule")
        .with_suggestion(
            "add an `otherwise` rule",
            Span::at(close.start as usize),
            "  otherwise => PLAN\n",
        )
}

pub(crate) fn split_sum(span: Span, sum: f64) -> Diagnostic {
    Diagnostic::error(
        c::SPLIT_SUM,
        span,
        format!("split shares sum to {}, not 100%", units::percent(sum)),
    )
}

pub(crate) fn cascade_one_stage(span: Span) -> Diagnostic {
    Diagnostic::error(c::BAD_CASCADE, span, "a cascade needs at least two models")
        .with_help("write `cascade cheap -> strong accept when confidence >= 70%`, or route to the model directly")
}

pub(crate) fn cascade_without_accept(span: Span) -> Diagnostic {
    Diagnostic::error(c::BAD_CASCADE, span, "a cascade needs an acceptance test")
        .with_help("add `accept when confidence >= 70%`: without it no answer is ever escalated")
}

pub(crate) fn empty_optimize(span: Span) -> Diagnostic {
    Diagnostic::error(c::EMPTY_OPTIMIZE, span, "`optimize` has no candidates")
        .with_help("list the plans to choose from: `optimize [small, large] by task`")
}

pub(crate) fn dimension_repeated(name: &Name, first: Span) -> Diagnostic {
    Diagnostic::error(
        c::BAD_DIMENSION,
        name.span,
        format!("`{}` is listed twice", name.text),
    )
    .with_secondary(first, "first listed here")
}

pub(crate) fn thresholds_on_finite(span: Span, signal: &str, ty: &str) -> Diagnostic {
    Diagnostic::error(
        c::BAD_DIMENSION,
        span,
        format!(
            "`{signal}` is {} signal and takes no thresholds",
            article(ty)
        ),
    )
    .with_help("the optimizer already splits on every value; remove `at` and its list")
}

pub(crate) fn dimension_needs_thresholds(name: &Name, ty: &str) -> Diagnostic {
    Diagnostic::error(
        c::BAD_DIMENSION,
        name.span,
        format!(
            "`{}` is {} signal and needs thresholds",
            name.text,
            article(ty)
        ),
    )
    .with_help(format!(
        "add the cut points, e.g. `{} at [{}]`",
        name.text,
        match ty {
            "ratio" => "30%, 70%",
            "duration" => "1s, 5s",
            "money" => "$1, $10",
            _ => "2k, 8k, 32k",
        }
    ))
}

pub(crate) fn slice_cycle(span: Span, names: &[String]) -> Diagnostic {
    Diagnostic::error(
        c::SLICE_CYCLE,
        span,
        format!("slice defined in terms of itself: {}", chain(names)),
    )
}

// ---------------------------------------------------------------- models

pub(crate) fn context_too_small(
    span: Span,
    model: &str,
    context: f64,
    admitted: f64,
    model_span: Span,
) -> Diagnostic {
    let admitted = if admitted.is_finite() {
        format!("up to {} tokens", units::tokens(admitted))
    } else {
        "prompts of any length".into()
    };
    Diagnostic::error(
        c::CONTEXT_TOO_SMALL,
        span,
        format!(
            "`{model}` has a context window of {} tokens, but this rule sends it prompts {admitted}",
            units::tokens(context)
        ),
    )
    .with_secondary(model_span, format!("`{model}` is defined here"))
    .with_help(format!(
        "route longer prompts elsewhere first, e.g. `when prompt_tokens > {} => MODEL` before this rule",
        units::tokens(context)
    ))
}

pub(crate) fn no_quality(
    span: Span,
    model: &str,
    signal: &str,
    values: &[String],
    model_span: Span,
) -> Diagnostic {
    let vs: Vec<String> = values.iter().map(|v| format!("{signal} = {v}")).collect();
    let vs: Vec<&str> = vs.iter().map(String::as_str).collect();
    Diagnostic::error(
        c::NO_QUALITY,
        span,
        format!(
            "`{model}` has no quality for {}, which this rule sends it",
            list(&vs)
        ),
    )
    .with_secondary(model_span, format!("`{model}` is defined here"))
    .with_help(format!(
        "restrict the rule's `{signal}`, or give `{model}` a quality for those values"
    ))
}

pub(crate) fn unsupported_input(
    span: Span,
    model: &str,
    word: &str,
    example: Option<&str>,
    model_span: Span,
) -> Diagnostic {
    let e = example.map(|e| format!(", e.g. `{e}`")).unwrap_or_default();
    Diagnostic::error(
        c::UNSUPPORTED_INPUT,
        span,
        format!(
            "`{model}` does not support {word}, but this rule sends it requests with {word}{e}"
        ),
    )
    .with_secondary(model_span, format!("`{model}` is defined here"))
    .with_help(format!(
        "route requests with {word} elsewhere first, or add `{word}` to its `supports`"
    ))
}

pub(crate) fn no_candidate(span: Span, example: Option<&str>) -> Diagnostic {
    let e = example
        .filter(|e| !e.is_empty())
        .map(|e| format!(", e.g. `{e}`"))
        .unwrap_or_default();
    Diagnostic::error(
        c::NO_CANDIDATE,
        span,
        format!("no candidate can serve some requests of this rule{e}"),
    )
    .with_help(
        "add a candidate that can serve them (context window, quality table, supported inputs)",
    )
}

pub(crate) fn candidate_never_serves(span: Span) -> Diagnostic {
    Diagnostic::warning(
        c::CANDIDATE_NEVER_SERVES,
        span,
        "this candidate can serve none of the requests of this rule",
    )
    .with_help("the optimizer will never choose it; remove it")
}

pub(crate) fn fallback_cycle(span: Span, names: &[String]) -> Diagnostic {
    Diagnostic::error(
        c::FALLBACK_CYCLE,
        span,
        format!("fallback cycle: {}", chain(names)),
    )
    .with_help("a failing request would retry forever; end the chain at a model without `fallback`")
}

pub(crate) fn extends_cycle(span: Span, names: &[String]) -> Diagnostic {
    Diagnostic::error(
        c::EXTENDS_CYCLE,
        span,
        format!("`extends` cycle: {}", chain(names)),
    )
    .with_help("a model cannot extend itself, directly or through others")
}

pub(crate) fn inline_secret(span: Span, var: &str) -> Diagnostic {
    Diagnostic::error(
        c::INLINE_SECRET,
        span,
        "API keys must come from the environment",
    )
    .with_label("a secret written in the policy")
    .with_help(
        "policies are committed and reviewed; read the key with `env(\"NAME\")` and revoke this one",
    )
    .with_suggestion(
        format!("read it from `{var}`"),
        span,
        format!("env(\"{var}\")"),
    )
}

pub(crate) fn secret_like(span: Span, key: &str) -> Diagnostic {
    Diagnostic::warning(
        c::SECRET_LIKE_STRING,
        span,
        format!("`{key}` looks like it contains a secret"),
    )
    .with_help("read secrets with `env(\"NAME\")` instead of writing them in the policy")
}

pub(crate) fn missing_load_unit(span: Span, what: &str, rate: bool) -> Diagnostic {
    Diagnostic::error(c::UNKNOWN_UNIT, span, format!("{what} needs a unit")).with_help(if rate {
        "write requests or tokens per second or minute: `40 qps`, `600 req/m`, `200k tok/m`"
    } else {
        "write requests per second (`40 qps`), tokens per second (`30k tok/s`) or requests in flight (`64 concurrent`)"
    })
}

pub(crate) fn load_not_requests(span: Span, help: &str) -> Diagnostic {
    Diagnostic::error(
        c::TYPE_MISMATCH,
        span,
        "a load is measured in requests per second",
    )
    .with_help(help)
}

pub(crate) fn peak_needs_qps(span: Span) -> Diagnostic {
    Diagnostic::error(
        c::MISSING_PROPERTY,
        span,
        "a peak needs the profile's `qps`",
    )
    .with_help("declare the load the profile is optimized for, such as `qps 800`, beside the peak")
}

pub(crate) fn tier_without_base(span: Span) -> Diagnostic {
    Diagnostic::error(
        c::MISSING_PROPERTY,
        span,
        "a price tier needs a base `price`",
    )
    .with_help(
        "write the rates of shorter prompts too, e.g. `price input $1.25/Mtok, output $5/Mtok`",
    )
}

pub(crate) fn tier_operator(span: Span) -> Diagnostic {
    Diagnostic::error(
        c::BAD_OPERATOR,
        span,
        "a price tier applies to prompts longer than a threshold",
    )
    .with_help("write `price for prompts > 128k tokens: input $2.50/Mtok`")
    .with_suggestion("write `>`", span, ">")
}

pub(crate) fn tier_beyond_context(span: Span, model: &str, context: f64) -> Diagnostic {
    Diagnostic::warning(
        c::PRICE_TIER_NEVER_APPLIES,
        span,
        format!(
            "this tier never applies: `{model}` has a context window of {} tokens",
            units::tokens(context)
        ),
    )
    .with_help(
        "no prompt is longer than the context window; correct the threshold or remove the tier",
    )
}

pub(crate) fn missing_reasoning_unit(span: Span) -> Diagnostic {
    Diagnostic::error(c::UNKNOWN_UNIT, span, "a reasoning amount needs a unit")
        .with_help("write a count, `reasoning 2k tokens`, or a share of the answer, `reasoning 300% of output`")
}

pub(crate) fn missing_rate_unit(span: Span) -> Diagnostic {
    Diagnostic::error(c::UNKNOWN_UNIT, span, "a decode rate needs a unit")
        .with_help("write it as tokens per second: `170 tok/s`")
}

// ---------------------------------------------------------------- objective and SLOs

pub(crate) fn negative_weight(span: Span, key: &str) -> Diagnostic {
    Diagnostic::error(
        c::NEGATIVE_WEIGHT,
        span,
        format!("the weight of `{key}` is negative"),
    )
    .with_help("weights are shares of the score; use 0 to ignore a term")
}

pub(crate) fn weights_sum(span: Span, sum: f64, values: &[(Span, f64)]) -> Diagnostic {
    let mut d = Diagnostic::error(
        c::WEIGHTS_SUM,
        span,
        format!("objective weights sum to {}, not 1", units::num(sum)),
    );
    if sum > 0.0 {
        let raw: Vec<f64> = values.iter().map(|(_, v)| *v).collect();
        let normalized = normalized_weights(&raw);
        d = d.with_help(format!("normalized, they are {}", normalized.join(", ")));
        for ((s, _), n) in values.iter().zip(&normalized) {
            d = d.with_suggestion("normalize the weights", *s, n.clone());
        }
    }
    d
}

/// Non-negative weights scaled to sum to 1, written with as few decimals
/// as represent them exactly (`3, 1, 1` → `0.6, 0.2, 0.2`), else with four
/// decimals rounded by the largest remainder so that the written numbers
/// sum to exactly 1 (`5, 3, 3` → `0.4546, 0.2727, 0.2727`): the suggestion,
/// applied, checks.
pub(crate) fn normalized_weights(values: &[f64]) -> Vec<String> {
    let sum: f64 = values.iter().sum();
    if sum <= 0.0 || !sum.is_finite() {
        return values.iter().map(|v| units::num(*v)).collect();
    }
    let write = |units: &[u64], scale: u64| -> Vec<String> {
        units
            .iter()
            .map(|&u| units::num(u as f64 / scale as f64))
            .collect()
    };
    for decimals in 1..=4u32 {
        let scale = 10u64.pow(decimals);
        let exact: Vec<f64> = values.iter().map(|v| v / sum * scale as f64).collect();
        if exact.iter().all(|x| (x - x.round()).abs() < 1e-9) {
            let rounded: Vec<u64> = exact.iter().map(|x| x.round() as u64).collect();
            if rounded.iter().sum::<u64>() == scale {
                return write(&rounded, scale);
            }
        }
    }
    let scale = 10_000u64;
    let exact: Vec<f64> = values.iter().map(|v| v / sum * scale as f64).collect();
    let mut units: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut short = scale.saturating_sub(units.iter().sum::<u64>());
    // The largest remainders get the missing units (ties: the first).
    let mut order: Vec<usize> = (0..exact.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for i in order {
        if short == 0 {
            break;
        }
        units[i] += 1;
        short -= 1;
    }
    write(&units, scale)
}

pub(crate) fn bad_objective(span: Span, maximize: bool, metric: &MetricDef) -> Diagnostic {
    let word = crate::blocks::metric_word(metric);
    let verb = if maximize { "maximize" } else { "minimize" };
    let d = Diagnostic::error(c::BAD_OBJECTIVE, span, format!("cannot {verb} {word}"));
    match metric {
        MetricDef::Quality(_) => d.with_help("use `maximize quality`"),
        MetricDef::Ttft(_) | MetricDef::Latency(_) | MetricDef::Cost(_) => {
            d.with_help(format!("use `minimize {word} ...`"))
        }
        _ => d.with_help(format!("bound `{word}` in `slo` instead")),
    }
}

pub(crate) fn metric_needs_percentile(span: Span, which: &str) -> Diagnostic {
    Diagnostic::error(c::BAD_METRIC, span, format!("`{which}` needs a percentile")).with_help(
        format!("means hide tails: write `{which} p95` (or `p50`, `p99`)"),
    )
}

pub(crate) fn cost_needs_basis(span: Span) -> Diagnostic {
    Diagnostic::error(c::BAD_METRIC, span, "`cost` needs a basis")
        .with_help("write `cost per 1k requests`, `cost per request` or `cost per success`")
}

pub(crate) fn bad_scope(span: Span, metric: &str) -> Diagnostic {
    Diagnostic::error(
        c::BAD_SCOPE,
        span,
        format!("`{metric}` cannot be scoped to a slice"),
    )
    .with_help(match metric {
        "quality" => "this metric already names its slice",
        _ => "capacity and spend apply to the whole traffic",
    })
}

pub(crate) fn missing_objective(span: Span) -> Diagnostic {
    Diagnostic::error(c::MISSING_OBJECTIVE, span, "`optimize` needs an `objective`")
        .with_help("add `objective weighted { latency 0.5, cost 0.3, quality 0.2 }` or `objective minimize cost`")
}

pub(crate) fn no_slices(span: Span) -> Diagnostic {
    Diagnostic::warning(
        c::NO_SLICES,
        span,
        "`for each slice` but no slice is declared",
    )
    .with_help("declare slices (`slice english = lang == en`) or drop the scope")
}

pub(crate) fn slo_direction(span: Span, metric: &str, lower: bool) -> Diagnostic {
    let what = if lower {
        "a lower bound"
    } else {
        "an upper bound"
    };
    Diagnostic::warning(c::SLO_DIRECTION, span, format!("{what} on `{metric}`")).with_help(
        if lower {
            "SLOs usually cap latency and cost (`<=`); check the comparison"
        } else {
            "SLOs usually set a floor on quality (`>=`); check the comparison"
        },
    )
}

// ---------------------------------------------------------------- faults, learning, traffic and tests

pub(crate) fn bad_retry_status(span: Span) -> Diagnostic {
    Diagnostic::error(c::BAD_RETRY_STATUS, span, "not a retryable status")
        .with_help("retry on HTTP status codes (`429`), classes (`5xx`) or `timeout`")
}

pub(crate) fn fault_timing(span: Span, key: &str, value: f64, timeout: f64) -> Diagnostic {
    Diagnostic::warning(
        c::FAULT_TIMING,
        span,
        format!(
            "`{key}` at {} never happens before the {} timeout",
            units::duration(value),
            units::duration(timeout)
        ),
    )
    .with_help("make it shorter than `timeout`")
}

pub(crate) fn mix_sum(span: Span, signal: &str, sum: f64) -> Diagnostic {
    Diagnostic::error(
        c::MIX_SUM,
        span,
        format!(
            "the mix of `{signal}` sums to {}, not 100%",
            units::percent(sum)
        ),
    )
}

pub(crate) fn bad_distribution(name: &Name, dist: &str, ty: &str, allowed: &str) -> Diagnostic {
    Diagnostic::error(
        c::BAD_DISTRIBUTION,
        name.span,
        format!(
            "`{dist}` does not fit `{}`, {} signal",
            name.text,
            article(ty)
        ),
    )
    .with_help(format!("`{dist}` applies to {allowed}"))
}

pub(crate) fn test_mixes_forms(
    span: Span,
    other: Span,
    what: &str,
    other_word: &str,
) -> Diagnostic {
    Diagnostic::error(c::BAD_TEST, span, format!("{what} cannot be combined with {other_word}"))
        .with_secondary(other, "written here")
        .with_help("a test either routes one request (`given` + `expect PLAN`) or measures traffic (`under` + `expect METRIC`)")
}

pub(crate) fn test_metric_without_under(span: Span) -> Diagnostic {
    Diagnostic::error(
        c::BAD_TEST,
        span,
        "an expected metric needs `under TRAFFIC`",
    )
    .with_help("add `under PROFILE` to say which traffic to measure")
}

// ---------------------------------------------------------------- warnings

pub(crate) fn unused_signal(span: Span, name: &str) -> Diagnostic {
    Diagnostic::warning(
        c::UNUSED_SIGNAL,
        span,
        format!("signal `{name}` is never read"),
    )
    .with_help("no rule, slice, quality table or `optimize` reads it; remove it")
}

pub(crate) fn unused_model(span: Span, name: &str) -> Diagnostic {
    Diagnostic::warning(
        c::UNUSED_MODEL,
        span,
        format!("model `{name}` is never used"),
    )
    .with_help("no rule, fallback, `extends` or baseline names it")
}

pub(crate) fn unused_slice(span: Span, name: &str) -> Diagnostic {
    Diagnostic::warning(
        c::UNUSED_SLICE,
        span,
        format!("slice `{name}` is never used"),
    )
    .with_help("no rule or SLO names it, and no SLO applies `for each slice`")
}

pub(crate) fn unused_traffic(span: Span, name: &str) -> Diagnostic {
    Diagnostic::warning(
        c::UNUSED_TRAFFIC,
        span,
        format!("traffic profile `{name}` is never used"),
    )
    .with_help("the optimizer assumes the first profile; others are used by tests with `under`")
}

pub(crate) fn classifier_not_read(span: Span, name: &str) -> Diagnostic {
    Diagnostic::warning(
        c::CLASSIFIER_NOT_READ,
        span,
        format!("classifier signal `{name}` is not read by any rule that can match"),
    )
    .with_help("its classifier never runs while routing, so slices and tables that read it see the default")
}

pub(crate) fn single_option(span: Span, kind: &str) -> Diagnostic {
    Diagnostic::warning(
        c::SINGLE_OPTION,
        span,
        format!("`{kind}` with a single option"),
    )
    .with_help("route to the plan directly")
}

pub(crate) fn cascade_repeats(name: &Name, first: Span) -> Diagnostic {
    Diagnostic::warning(
        c::CASCADE_REPEATS_MODEL,
        name.span,
        format!("the cascade runs `{}` twice", name.text),
    )
    .with_secondary(first, "first stage with this model")
    .with_help("an escalation to the same model pays twice for the same answer")
}

pub(crate) fn unsorted_thresholds(span: Span, repeated: bool, prev: Span) -> Diagnostic {
    let message = if repeated {
        "threshold repeated"
    } else {
        "thresholds are not in increasing order"
    };
    Diagnostic::warning(c::UNSORTED_THRESHOLDS, span, message)
        .with_secondary(prev, "previous threshold")
        .with_help("list thresholds from smallest to largest, once each")
}

pub(crate) fn incomplete_model(span: Span, name: &str, missing: &[&str]) -> Diagnostic {
    let quoted: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
    let what = match quoted.len() {
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    };
    Diagnostic::warning(
        c::INCOMPLETE_MODEL,
        span,
        format!("model `{name}` has no {what}"),
    )
    .with_help("the optimizer and the simulator assume the worst for missing figures")
}

#[allow(dead_code)]
fn basis(b: CostBasis) -> String {
    match b {
        CostBasis::PerRequests(n) => format!("per {n} requests"),
        CostBasis::PerSuccess => "per success".into(),
    }
}

/// `drift latency > 50% nats`: a unit word on a per-model measure.
pub(crate) fn drift_unit_for_health(unit: &Name, measure: &str) -> Diagnostic {
    let example = if measure == "errors" { "2%" } else { "50%" };
    Diagnostic::error(
        c::UNKNOWN_UNIT,
        unit.span,
        format!("`{}` measures only `kl`", unit.text),
    )
    .with_label("remove this unit")
    .with_help(format!(
        "a per-model monitor takes a percentage: `drift {measure} > {example} over 1h => alert`"
    ))
}

/// `drift latency < 50%`: a per-model monitor watches for a rise only.
pub(crate) fn drift_operator(span: Span, op: CmpOp, measure: &str) -> Diagnostic {
    Diagnostic::error(
        c::BAD_OPERATOR,
        span,
        format!("`{}` does not apply to `drift {measure}`", op.as_str()),
    )
    .with_help(format!(
        "a per-model monitor fires when the observed figure rises above the expected one: `drift {measure} > {} over 1h => alert`",
        if measure == "errors" { "2%" } else { "50%" }
    ))
}

/// A model a `drift ttft` or `drift latency` monitor cannot watch.
pub(crate) fn drift_unwatched(
    span: Span,
    measure: &str,
    model: &str,
    model_span: Span,
    why: &str,
) -> Diagnostic {
    Diagnostic::warning(
        c::INCOMPLETE_MODEL,
        span,
        format!("`drift {measure}` does not watch model `{model}`: it declares {why}"),
    )
    .with_secondary(model_span, format!("`{model}` declared here"))
    .with_help(match measure {
        "ttft" => "declare its latency: `latency ttft p50 200ms p95 600ms, decode 80 tok/s`",
        _ => "declare its end-to-end latency (`latency p50 1s p95 3s`) or its TTFT and decode rate (`latency ttft p95 600ms, decode 80 tok/s`)",
    })
}

#[cfg(test)]
mod tests {
    use super::normalized_weights;

    /// The written weights, in units of 1e-4, sum to exactly 1.
    fn units(written: &[String]) -> u64 {
        written
            .iter()
            .map(|w| (w.parse::<f64>().unwrap_or(f64::NAN) * 1e4).round() as u64)
            .sum()
    }

    #[test]
    fn normalized_weights_are_short_and_sum_to_one() {
        assert_eq!(normalized_weights(&[3.0, 1.0, 1.0]), ["0.6", "0.2", "0.2"]);
        assert_eq!(normalized_weights(&[1.0, 1.0]), ["0.5", "0.5"]);
        assert_eq!(
            normalized_weights(&[5.0, 3.0, 3.0]),
            ["0.4546", "0.2727", "0.2727"]
        );
        assert_eq!(
            normalized_weights(&[1.0, 1.0, 1.0]),
            ["0.3334", "0.3333", "0.3333"]
        );
        // Every combination of small integer weights: the suggestion sums
        // to 1 exactly as written, and each weight moves less than 1e-4.
        for a in 0..12u32 {
            for b in 0..12u32 {
                for c in 1..12u32 {
                    let w = [f64::from(a), f64::from(b), f64::from(c)];
                    let written = normalized_weights(&w);
                    assert_eq!(units(&written), 10_000, "{w:?} -> {written:?}");
                    let sum: f64 = w.iter().sum();
                    for (x, s) in w.iter().zip(&written) {
                        let v: f64 = s.parse().unwrap_or(f64::NAN);
                        assert!((v - x / sum).abs() < 1e-4, "{w:?} -> {written:?}");
                    }
                }
            }
        }
    }
}
