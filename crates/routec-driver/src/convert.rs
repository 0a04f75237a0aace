//! What `routec convert` does: turns public per-query evaluation data into recorded traffic (JSON Lines, one
//! request per line with its signals and per-model outcomes;
//! `docs/traffic.md`, `docs/evaluation.md`).
//!
//! Formats:
//! - `routerbench`: RouterBench CSVs (`routerdc/datasets/routerbench_zs/
//!   *.csv`): per prompt, the correctness (`1.0`/`0.0`; an empty grade is
//!   written as a failure, as RouterBench counts it) and the recorded
//!   dollar cost of each model, and the response text.
//! - `routellm-mmlu`: the RouteLLM MMLU folder (`responses/mmlu_*.csv` and
//!   `contaminated_prompts.jsonl`): per prompt, the correctness of
//!   Mixtral-8x7B and GPT-4; contaminated prompts are dropped, as RouteLLM
//!   does.
//! - `routellm-gsm8k`: the RouteLLM GSM8K folder (`gsm8k_responses.csv` and
//!   `contaminated_prompts.jsonl`), the same with the response texts.
//!
//! Signals are what is known before routing: the data set (or MMLU subject)
//! as an enum and `prompt_tokens` estimated from the prompt text
//! ([`estimate_tokens`]). The data is read at run time; nothing is copied.
//! [`convert`] returns the records as JSON lines and a summary; writing
//! them is the caller's.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json, json};

use crate::Failed;

/// What the input of a conversion is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// RouterBench CSV files (their records are concatenated).
    Routerbench,
    /// The RouteLLM MMLU folder.
    RoutellmMmlu,
    /// The RouteLLM GSM8K folder.
    RoutellmGsm8k,
}

/// Which records of a data set without splits to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Every record.
    All,
    /// The records whose id hashes into the lower half.
    Train,
    /// The records whose id hashes into the upper half.
    Test,
}

/// Dollars per token (input, output) for the RouteLLM models, which record
/// no costs: the LiteLLM price catalog (`litellm/model_prices_and_context_
/// window_backup.json` in the shared data) for `gpt-4-1106-preview` and for
/// `anyscale/mistralai/Mixtral-8x7B-Instruct-v0.1`, the endpoint RouteLLM
/// used.
const GPT4_PRICE: (f64, f64) = (10e-6, 30e-6);
const MIXTRAL_PRICE: (f64, f64) = (0.15e-6, 0.15e-6);
/// The RouteLLM column names and the policy model names they become.
const ROUTELLM_MODELS: [(&str, &str, (f64, f64)); 2] = [
    ("gpt-4-1106-preview", "gpt_4_1106_preview", GPT4_PRICE),
    (
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "mixtral_8x7b_instruct_v0_1",
        MIXTRAL_PRICE,
    ),
];
/// MMLU answers are one letter: RouteLLM graded the first token after
/// `Answer:`; no response text is recorded.
const MMLU_OUTPUT_TOKENS: u64 = 1;

/// Estimated tokens of a text: one token per four characters (Unicode
/// scalar values), rounded up; the usual rule of thumb for English with
/// BPE tokenizers (about 4 characters per token). An estimate, documented
/// as such: the data carries no token counts.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// A model name from the data as a policy identifier: the part after the
/// last `/`, lowercased, every run of other characters than ASCII letters
/// and digits replaced by `_` (`mistralai/mixtral-8x7b-chat` becomes
/// `mixtral_8x7b_chat`); prefixed with `m_` if it would start with a digit.
pub fn model_ident(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let mut out = String::new();
    for c in base.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_owned();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("m_{out}")
    } else {
        out
    }
}

/// The deterministic split of data sets that have none: a record is in the
/// test half when the hash of its id, salted with `split:` (the runtime's
/// FNV-1a and splitmix64 over `split:ID`), falls in the upper half. The
/// salt makes the split independent of the sticky-split position of the
/// same id (`routec_runtime::key_hash(ID)`), which a replay uses: without
/// it every held-out record would sit in the upper half of `[0, 1)` and
/// fractional cells would over-send to their later plans.
pub fn in_split(id: &str, split: Split) -> bool {
    let salted = format!("split:{id}");
    let fraction = routec_runtime::fraction(routec_runtime::key_hash(salted.as_bytes()));
    match split {
        Split::All => true,
        Split::Train => fraction < 0.5,
        Split::Test => fraction >= 0.5,
    }
}

/// What a conversion produced.
#[derive(Debug, Default)]
pub struct Converted {
    /// One JSON record per line, without line ends.
    pub lines: Vec<String>,
    /// Records read, and dropped (RouteLLM's contaminated prompts).
    pub read: usize,
    pub dropped: usize,
    /// Values of the enum signal, for the summary.
    pub values: BTreeSet<String>,
    pub models: Vec<String>,
}

impl Converted {
    /// The recorded traffic file: the lines, each ended by a newline.
    pub fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        text
    }
}

/// Converts `inputs` (RouterBench CSV files, or one RouteLLM folder),
/// keeping the records of `split`. Errors (a usage error, an unreadable
/// or malformed input) are [`Failed::Usage`], naming the file and line.
pub fn convert(format: Format, inputs: &[PathBuf], split: Split) -> Result<Converted, Failed> {
    let one = match (format, inputs) {
        (Format::Routerbench, _) => None,
        (_, [one]) => Some(one),
        _ => {
            return Err(Failed::Usage(
                "the RouteLLM formats read one folder".to_owned(),
            ));
        }
    };
    let converted = match (format, one) {
        (Format::Routerbench, _) => {
            if split != Split::All {
                return Err(Failed::Usage(
                    "`--split` does not apply to RouterBench: its train and test splits are separate files"
                        .to_owned(),
                ));
            }
            routerbench_files(inputs)
        }
        (Format::RoutellmMmlu, Some(dir)) => routellm_mmlu(dir, split),
        (Format::RoutellmGsm8k, Some(dir)) => routellm_gsm8k(dir, split),
        (_, None) => Err("no input".to_owned()),
    };
    converted.map_err(Failed::Usage)
}

/// RouterBench files, their records concatenated; they must have the same
/// models.
fn routerbench_files(inputs: &[PathBuf]) -> Result<Converted, String> {
    let mut all = Converted::default();
    for input in inputs {
        let c = routerbench(input)?;
        if !all.models.is_empty() && all.models != c.models {
            return Err(format!(
                "`{}` has other models than the files before it",
                input.display()
            ));
        }
        all.lines.extend(c.lines);
        all.read += c.read;
        all.dropped += c.dropped;
        all.values.extend(c.values);
        all.models = c.models;
    }
    Ok(all)
}

fn reader(path: &Path) -> Result<csv::Reader<fs::File>, String> {
    csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

fn csv_error(path: &Path, e: &csv::Error) -> String {
    match e.position() {
        Some(p) => format!("`{}`:{}: {e}", path.display(), p.line()),
        None => format!("`{}`: {e}", path.display()),
    }
}

fn column(headers: &csv::StringRecord, name: &str, path: &Path) -> Result<usize, String> {
    headers
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| format!("`{}` has no column `{name}`", path.display()))
}

/// A boolean cell as pandas writes it (`True`/`False`).
fn python_bool(cell: &str, path: &Path, line: u64) -> Result<bool, String> {
    match cell.trim() {
        "True" | "true" | "1" | "1.0" => Ok(true),
        "False" | "false" | "0" | "0.0" => Ok(false),
        other => Err(format!(
            "`{}`:{line}: expected `True` or `False`, found `{other}`",
            path.display()
        )),
    }
}

/// The prompts RouteLLM excludes (`eval_prompt` of each line).
fn contaminated(dir: &Path) -> Result<BTreeSet<String>, String> {
    let path = dir.join("contaminated_prompts.jsonl");
    let text =
        fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut set = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Json = serde_json::from_str(line)
            .map_err(|e| format!("`{}`:{}: {e}", path.display(), i + 1))?;
        let prompt = value["eval_prompt"].as_str().ok_or_else(|| {
            format!(
                "`{}`:{}: no string field `eval_prompt`",
                path.display(),
                i + 1
            )
        })?;
        set.insert(prompt.to_owned());
    }
    Ok(set)
}

fn outcome(success: Option<bool>, input: u64, output: u64, cost: Option<f64>) -> Json {
    let mut o = Map::new();
    if let Some(s) = success {
        o.insert("success".into(), json!(s));
    }
    o.insert("input_tokens".into(), json!(input));
    o.insert("output_tokens".into(), json!(output));
    if let Some(c) = cost {
        o.insert("cost_usd".into(), json!(c));
    }
    Json::Object(o)
}

fn record(id: &str, signals: Json, outcomes: Map<String, Json>) -> String {
    json!({"id": id, "signals": signals, "outcomes": outcomes}).to_string()
}

/// USD, rounded to 1e-12 (the prices' products carry float noise).
fn priced(price: (f64, f64), input: u64, output: u64) -> f64 {
    ((price.0 * input as f64 + price.1 * output as f64) * 1e12).round() / 1e12
}

/// One RouteLLM CSV: `prompt`, one correctness column per model, and
/// optionally `MODEL_response` columns.
fn routellm_file(
    path: &Path,
    dropped_prompts: &BTreeSet<String>,
    split: Split,
    id_prefix: &str,
    signals: &dyn Fn(u64) -> Json,
    out: &mut Converted,
) -> Result<(), String> {
    let mut rdr = reader(path)?;
    let headers = rdr.headers().map_err(|e| csv_error(path, &e))?.clone();
    let prompt_col = column(&headers, "prompt", path)?;
    let mut cols = Vec::new();
    for (name, ident, price) in ROUTELLM_MODELS {
        let correct = column(&headers, name, path)?;
        let response = headers.iter().position(|h| h == format!("{name}_response"));
        cols.push((ident, price, correct, response));
    }
    for (row, result) in rdr.records().enumerate() {
        let rec = result.map_err(|e| csv_error(path, &e))?;
        let line = rec.position().map_or(0, |p| p.line());
        out.read += 1;
        let prompt = rec.get(prompt_col).unwrap_or_default();
        let id = format!("{id_prefix}.{row}");
        if dropped_prompts.contains(prompt) {
            out.dropped += 1;
            continue;
        }
        if !in_split(&id, split) {
            continue;
        }
        let input = estimate_tokens(prompt);
        let mut outcomes = Map::new();
        for &(ident, price, correct, response) in &cols {
            let ok = python_bool(rec.get(correct).unwrap_or_default(), path, line)?;
            let output = match response {
                Some(c) => estimate_tokens(rec.get(c).unwrap_or_default()),
                None => MMLU_OUTPUT_TOKENS,
            };
            outcomes.insert(
                ident.into(),
                outcome(Some(ok), input, output, Some(priced(price, input, output))),
            );
        }
        out.lines.push(record(&id, signals(input), outcomes));
    }
    Ok(())
}

fn routellm_models(out: &mut Converted) {
    out.models = ROUTELLM_MODELS
        .iter()
        .map(|(_, ident, _)| (*ident).to_owned())
        .collect();
}

fn routellm_mmlu(dir: &Path, split: Split) -> Result<Converted, String> {
    let dropped = contaminated(dir)?;
    let responses = dir.join("responses");
    let entries = fs::read_dir(&responses)
        .map_err(|e| format!("cannot read `{}`: {e}", responses.display()))?;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read `{}`: {e}", responses.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(subject) = name
            .strip_prefix("mmlu_")
            .and_then(|n| n.strip_suffix(".csv"))
        {
            files.push((subject.to_owned(), entry.path()));
        }
    }
    if files.is_empty() {
        return Err(format!(
            "`{}` has no `mmlu_SUBJECT.csv` files",
            responses.display()
        ));
    }
    files.sort();
    let mut out = Converted::default();
    routellm_models(&mut out);
    for (subject, path) in &files {
        out.values.insert(subject.clone());
        let signals = |tokens: u64| json!({"subject": subject, "prompt_tokens": tokens});
        routellm_file(
            path,
            &dropped,
            split,
            &format!("mmlu.{subject}"),
            &signals,
            &mut out,
        )?;
    }
    Ok(out)
}

fn routellm_gsm8k(dir: &Path, split: Split) -> Result<Converted, String> {
    let dropped = contaminated(dir)?;
    let path = dir.join("gsm8k_responses.csv");
    let mut out = Converted::default();
    routellm_models(&mut out);
    let signals = |tokens: u64| json!({"prompt_tokens": tokens});
    routellm_file(&path, &dropped, split, "gsm8k", &signals, &mut out)?;
    Ok(out)
}

fn routerbench(path: &Path) -> Result<Converted, String> {
    let mut rdr = reader(path)?;
    let headers = rdr.headers().map_err(|e| csv_error(path, &e))?.clone();
    let id_col = column(&headers, "sample_id", path)?;
    let prompt_col = column(&headers, "prompt", path)?;
    let eval_col = column(&headers, "eval_name", path)?;
    // The model columns sit between `eval_name` and the first `MODEL|...`.
    let models: Vec<(String, usize)> = headers
        .iter()
        .enumerate()
        .skip(eval_col + 1)
        .take_while(|(_, h)| !h.contains('|'))
        .filter(|(_, h)| *h != "oracle_model_to_route_to")
        .map(|(i, h)| (h.to_owned(), i))
        .collect();
    if models.is_empty() {
        return Err(format!(
            "`{}` has no model columns after `eval_name`",
            path.display()
        ));
    }
    let mut cols = Vec::new();
    let mut idents = BTreeMap::new();
    for (name, quality) in &models {
        let cost = column(&headers, &format!("{name}|total_cost"), path)?;
        let response = column(&headers, &format!("{name}|model_response"), path)?;
        let ident = model_ident(name);
        if let Some(other) = idents.insert(ident.clone(), name.clone()) {
            return Err(format!(
                "`{}`: models `{other}` and `{name}` both become `{ident}`",
                path.display()
            ));
        }
        cols.push((ident, *quality, cost, response));
    }
    let mut out = Converted {
        models: cols.iter().map(|c| c.0.clone()).collect(),
        ..Converted::default()
    };
    for result in rdr.records() {
        let rec = result.map_err(|e| csv_error(path, &e))?;
        let line = rec.position().map_or(0, |p| p.line());
        out.read += 1;
        let located = |what: &str| format!("`{}`:{line}: {what}", path.display());
        let id = rec.get(id_col).unwrap_or_default();
        let prompt = rec.get(prompt_col).unwrap_or_default();
        let dataset = rec.get(eval_col).unwrap_or_default().replace('-', "_");
        let input = estimate_tokens(prompt);
        let mut outcomes = Map::new();
        for (ident, quality, cost, response) in &cols {
            let q = rec.get(*quality).unwrap_or_default().trim();
            let success = if q.is_empty() {
                None
            } else {
                let v: f64 = q
                    .parse()
                    .map_err(|_| located(&format!("quality `{q}` is not a number")))?;
                if v != 0.0 && v != 1.0 {
                    return Err(located(&format!("quality `{q}` is not 0 or 1")));
                }
                Some(v == 1.0)
            };
            let c = rec.get(*cost).unwrap_or_default().trim();
            let cost = if c.is_empty() {
                None
            } else {
                Some(
                    c.parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite() && *v >= 0.0)
                        .ok_or_else(|| located(&format!("cost `{c}` is not a number")))?,
                )
            };
            // A missing grade is a failure, as RouterBench's own accuracy
            // counts it (and its cost is still paid): the published
            // accuracies and costs are reproduced exactly.
            let success = Some(success.unwrap_or(false));
            let output = estimate_tokens(rec.get(*response).unwrap_or_default());
            outcomes.insert(ident.clone(), outcome(success, input, output, cost));
        }
        out.values.insert(dataset.clone());
        out.lines.push(record(
            id,
            json!({"dataset": dataset, "prompt_tokens": input}),
            outcomes,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_estimated_at_four_characters_each() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abc"), 1);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("ééééé"), 2);
    }

    #[test]
    fn model_names_become_identifiers() {
        assert_eq!(
            model_ident("mistralai/mixtral-8x7b-chat"),
            "mixtral_8x7b_chat"
        );
        assert_eq!(
            model_ident("WizardLM/WizardLM-13B-V1.2"),
            "wizardlm_13b_v1_2"
        );
        assert_eq!(model_ident("gpt-4-1106-preview"), "gpt_4_1106_preview");
        assert_eq!(model_ident("01-ai"), "m_01_ai");
    }

    #[test]
    fn the_split_halves_are_disjoint_and_cover_everything() {
        let ids: Vec<String> = (0..1000).map(|i| format!("x.{i}")).collect();
        let train = ids.iter().filter(|i| in_split(i, Split::Train)).count();
        let test = ids.iter().filter(|i| in_split(i, Split::Test)).count();
        assert_eq!(train + test, 1000);
        assert!((400..600).contains(&train), "{train}");
        assert!(ids.iter().all(|i| in_split(i, Split::All)));
    }
}
