//! One piece of an answer ([`Chunk`]): an OpenAI `chat.completion.chunk`
//! kept as the JSON text it arrived as, with what the gateway reads of it
//! (whether it carries a token, its log-probabilities and usage, what a
//! client sees only when it asked), and the `chat.completion` a
//! non-streaming client gets of an answer's chunks ([`aggregate`]).
//!
//! A chunk is read without building a JSON tree, in one pass: typed views
//! borrow from the text (scalars kept as their text, objects and arrays
//! read where they stand), and every member the gateway does not read is
//! skipped. A view
//! reads a member as `serde_json::Value` would (`get`, then `as_str`,
//! `as_array`, `as_u64`, `as_f64`): a member of another type counts as
//! absent. The one thing a view cannot read as a tree would is an object
//! with a duplicate key (a tree keeps the last); such a text is rewritten
//! once, through a tree, and read again ([`Chunk::read`]). The tests check
//! the views against a reading of the tree.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value as J;
use serde_json::value::RawValue;

use super::Usage;

/// One piece of an answer, as an OpenAI `chat.completion.chunk`.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// The chunk's JSON text: the upstream's own, or written by an adapter.
    pub text: String,
    /// Carries at least one output token (text, a refusal or a tool call).
    pub token: bool,
    /// The log-probabilities of the chunk's tokens, when the upstream gave them.
    pub logprobs: Vec<f64>,
    pub usage: Usage,
    /// A confidence the backend stated (`provider http`).
    pub confidence: Option<f64>,
    /// Has a `usage` member other than `null` (a client sees it only when
    /// it asked for usage).
    pub has_usage: bool,
    /// Its `choices` is an empty array (a usage-only chunk).
    pub no_choices: bool,
    /// A choice has `logprobs` other than `null` (a client sees them only
    /// when it asked for them).
    pub has_logprobs: bool,
}

/// What else a chunk's object says, besides the chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An answer's piece.
    Chunk,
    /// It has an `error` member: the upstream failed mid-stream.
    Error,
    /// Its `object` is `chat.completion`: a whole answer, not a stream.
    Completion,
}

impl Chunk {
    /// Reads a chunk's JSON text. `Err` is the JSON parser's message when
    /// the text is not JSON.
    pub fn read(text: String) -> Result<(Chunk, Kind), String> {
        if let Ok(read) = scan(&text) {
            return Ok(read.into_chunk(text));
        }
        // Not JSON, not an object, or a duplicate key: through a tree.
        let tree: J = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let text = tree.to_string();
        Ok(match scan(&text) {
            Ok(read) => read.into_chunk(text),
            // Not an object: nothing in it to read.
            Err(()) => (Chunk::plain(text), Kind::Chunk),
        })
    }

    /// A chunk an adapter wrote (`token`, `usage` as the adapter says).
    pub fn written(json: &J, token: bool, usage: Usage) -> Chunk {
        // A tree's text has no duplicate key: one scan reads it (nothing
        // to read when it is not an object).
        let text = json.to_string();
        let mut chunk = match scan(&text) {
            Ok(read) => read.into_chunk(text).0,
            Err(()) => Chunk::plain(text),
        };
        chunk.token = token;
        chunk.usage = usage;
        chunk.logprobs.clear();
        chunk
    }

    fn plain(text: String) -> Chunk {
        Chunk {
            text,
            token: false,
            logprobs: Vec::new(),
            usage: Usage::default(),
            confidence: None,
            has_usage: false,
            no_choices: false,
            has_logprobs: false,
        }
    }

    /// The chunk as a tree (`null` if its text were not JSON, which
    /// [`Chunk::read`] does not let happen).
    pub fn json(&self) -> J {
        serde_json::from_str(&self.text).unwrap_or(J::Null)
    }
}

/// The visitor methods of scalars, each giving `$none`.
macro_rules! scalars {
    ($none:expr) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
}

/// Deserializes a member that is present, whatever its value (`null`
/// included: `Option` alone would read `null` as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Deserializes a member that is present, whatever its value, skipping it.
fn present_skipped<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| Some(()))
}

/// A member read as `T` when it is an object, and skipped (`None`) when
/// it is any other value: a tree's `get` on a non-object finds nothing.
/// Read in the same pass as the object around it.
struct Obj<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|t| Obj(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Obj<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Obj(None))
            }
            scalars!(Obj(None));
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A member's elements when it is an array (the first kept inline: most
/// arrays here have one), `None` when it is any other value.
struct Arr<T>(Option<(Option<T>, Vec<T>)>);

impl<T> Arr<T> {
    fn iter(&self) -> impl Iterator<Item = &T> {
        self.0
            .iter()
            .flat_map(|(first, rest)| first.iter().chain(rest.iter()))
    }

    fn is_nonempty(&self) -> bool {
        self.0.as_ref().is_some_and(|(first, _)| first.is_some())
    }

    fn is_empty_array(&self) -> bool {
        self.0.as_ref().is_some_and(|(first, _)| first.is_none())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Arr<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Arr<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Arr<T>, A::Error> {
                let first = seq.next_element()?;
                let mut rest = Vec::new();
                if first.is_some() {
                    while let Some(t) = seq.next_element()? {
                        rest.push(t);
                    }
                }
                Ok(Arr(Some((first, rest))))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Arr<T>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Arr(None))
            }
            scalars!(Arr(None));
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// The top of a chunk. Scalars are kept as their text (`present`:
/// `null` included); objects and arrays are read in the same pass.
#[derive(Deserialize)]
struct Top<'a> {
    #[serde(default, borrow)]
    choices: Option<Arr<Obj<Choice<'a>>>>,
    #[serde(default, borrow, deserialize_with = "present")]
    usage: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "present_skipped")]
    error: Option<()>,
    #[serde(default, borrow, deserialize_with = "present")]
    object: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    created: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    model: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    system_fingerprint: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    index: Option<&'a RawValue>,
    #[serde(default, borrow)]
    delta: Option<Obj<Delta<'a>>>,
    #[serde(default, borrow, deserialize_with = "present")]
    finish_reason: Option<&'a RawValue>,
    /// `None` when absent or `null`.
    #[serde(default, borrow)]
    logprobs: Option<Obj<Logprobs<'a>>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    role: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    content: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    refusal: Option<&'a RawValue>,
    #[serde(default, borrow)]
    tool_calls: Option<Arr<Obj<ToolCall<'a>>>>,
}

#[derive(Deserialize)]
struct Logprobs<'a> {
    /// Each token's entry, as its text (passed through when aggregated).
    #[serde(default, borrow)]
    content: Option<Arr<&'a RawValue>>,
}

#[derive(Deserialize)]
struct TokenLogprob<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    logprob: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct UsageView<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    prompt_tokens: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    completion_tokens: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ToolCall<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    index: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    function: Option<Obj<Function<'a>>>,
}

#[derive(Deserialize)]
struct Function<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    name: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    arguments: Option<&'a RawValue>,
}

fn first_byte(raw: &RawValue) -> u8 {
    raw.get()
        .trim_start()
        .as_bytes()
        .first()
        .copied()
        .unwrap_or(0)
}

/// The object a member holds, if it holds one.
fn obj<T>(member: &Option<Obj<T>>) -> Option<&T> {
    member.as_ref().and_then(|o| o.0.as_ref())
}

/// An object kept as text, viewed: `Ok(None)` when it is not an object,
/// `Err` when it cannot be viewed (a duplicate key).
fn object<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Result<Option<T>, ()> {
    if first_byte(raw) != b'{' {
        return Ok(None);
    }
    serde_json::from_str(raw.get()).map(Some).map_err(|_| ())
}

/// A string member's text (`None` when it is not a string).
fn string(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    let r = raw.filter(|r| first_byte(r) == b'"')?;
    match serde_json::from_str::<&str>(r.get()) {
        Ok(s) => Some(Cow::Borrowed(s)),
        // Escapes: the text must be unescaped into a new string.
        Err(_) => serde_json::from_str::<String>(r.get()).ok().map(Cow::Owned),
    }
}

/// Whether a member is a string other than `""`.
fn nonempty_string(raw: Option<&RawValue>) -> bool {
    raw.is_some_and(|r| {
        let t = r.get().trim();
        t.starts_with('"') && t != "\"\""
    })
}

fn is_null(raw: &RawValue) -> bool {
    raw.get().trim() == "null"
}

fn u64_of(raw: Option<&RawValue>) -> Option<u64> {
    serde_json::from_str(raw?.get()).ok()
}

fn f64_of(raw: Option<&RawValue>) -> Option<f64> {
    let r = raw?;
    matches!(first_byte(r), b'-' | b'0'..=b'9')
        .then(|| serde_json::from_str(r.get()).ok())
        .flatten()
}

/// The view of a chunk; `Err` when the text is not an object (a derived
/// view would read an array's elements as its members) or has an object
/// with a duplicate key.
fn top(text: &str) -> Result<Top<'_>, ()> {
    if !text.trim_start().starts_with('{') {
        return Err(());
    }
    serde_json::from_str(text).map_err(|_| ())
}

/// What a scan read.
struct Read {
    chunk: Chunk,
    kind: Kind,
}

impl Read {
    fn into_chunk(self, text: String) -> (Chunk, Kind) {
        (Chunk { text, ..self.chunk }, self.kind)
    }
}

/// Reads a chunk's text through the views, in one pass; `Err` as [`top`].
fn scan(text: &str) -> Result<Read, ()> {
    let top = top(text)?;
    let mut chunk = Chunk::plain(String::new());
    if let Some(choices) = &top.choices {
        chunk.no_choices = choices.is_empty_array();
        for c in choices.iter().filter_map(|c| c.0.as_ref()) {
            if let Some(d) = obj(&c.delta)
                && (nonempty_string(d.content)
                    || d.tool_calls.as_ref().is_some_and(Arr::is_nonempty)
                    || nonempty_string(d.refusal))
            {
                chunk.token = true;
            }
            chunk.has_logprobs |= c.logprobs.is_some();
            if let Some(l) = obj(&c.logprobs) {
                for t in l.content.iter().flat_map(Arr::iter) {
                    if let Some(x) = object::<TokenLogprob<'_>>(t)?.and_then(|t| f64_of(t.logprob))
                    {
                        chunk.logprobs.push(x);
                    }
                }
            }
        }
    }
    chunk.has_usage = top.usage.is_some_and(|u| !is_null(u));
    if let Some(u) = top
        .usage
        .map(object::<UsageView<'_>>)
        .transpose()?
        .flatten()
    {
        chunk.usage = Usage {
            input: u64_of(u.prompt_tokens),
            output: u64_of(u.completion_tokens),
        };
    }
    let kind = if top.error.is_some() {
        Kind::Error
    } else if string(top.object).as_deref() == Some("chat.completion") {
        Kind::Completion
    } else {
        Kind::Chunk
    };
    Ok(Read { chunk, kind })
}

/// The aggregated answer of a non-streaming client: one
/// `chat.completion` built from the chunks. With `logprobs`, each
/// choice's token log-probabilities (`logprobs.content`) are joined as
/// OpenAI returns them; without, `logprobs` is `null` (the gateway may
/// have asked for them for a cascade the client knows nothing of).
pub fn aggregate(chunks: &[Chunk], model_name: &str, logprobs: bool) -> J {
    serde_json::to_value(Aggregate::of(chunks, model_name, logprobs)).unwrap_or(J::Null)
}

/// [`aggregate`] as JSON text (members in the order a tree writes them:
/// sorted), written from the chunks' texts without a tree.
pub fn aggregate_text(chunks: &[Chunk], model_name: &str, logprobs: bool) -> Vec<u8> {
    serde_json::to_vec(&Aggregate::of(chunks, model_name, logprobs)).unwrap_or_default()
}

/// A `chat.completion` gathered from chunks, borrowing from their texts.
struct Aggregate<'a> {
    choices: BTreeMap<u64, Gathered<'a>>,
    id: Option<&'a RawValue>,
    created: Option<&'a RawValue>,
    model: Option<&'a RawValue>,
    fingerprint: Option<&'a RawValue>,
    usage: Option<&'a RawValue>,
    model_name: &'a str,
}

/// One choice gathered from its deltas.
#[derive(Default)]
struct Gathered<'a> {
    role: Option<Cow<'a, str>>,
    content: Option<String>,
    refusal: Option<String>,
    /// By index: the call's id, name and arguments.
    tool_calls: BTreeMap<u64, (Option<Cow<'a, str>>, String, String)>,
    finish: Option<&'a RawValue>,
    logprobs: Vec<&'a RawValue>,
}

impl<'a> Aggregate<'a> {
    fn of(chunks: &'a [Chunk], model_name: &'a str, logprobs: bool) -> Aggregate<'a> {
        let mut out = Aggregate {
            choices: BTreeMap::new(),
            id: None,
            created: None,
            model: None,
            fingerprint: None,
            usage: None,
            model_name,
        };
        for c in chunks {
            // `Chunk::read` leaves only texts the views read (or non-objects).
            let Ok(top) = top(&c.text) else {
                continue;
            };
            // The first chunk's member (`null` included), as `get` reads it.
            out.id = out.id.or(top.id);
            out.created = out.created.or(top.created);
            out.model = out.model.or(top.model);
            out.fingerprint = out.fingerprint.or(top.system_fingerprint);
            if let Some(u) = top.usage.filter(|u| !is_null(u)) {
                out.usage = Some(u);
            }
            for ch in top.choices.iter().flat_map(Arr::iter) {
                out.gather(ch, logprobs);
            }
        }
        if out.choices.is_empty() {
            out.choices.insert(0, Gathered::default());
        }
        out
    }

    fn gather(&mut self, ch: &Obj<Choice<'a>>, logprobs: bool) {
        // A choice that is not an object opens choice 0 all the same (its
        // index reads as absent).
        let Some(ch) = &ch.0 else {
            self.choices.entry(0).or_default();
            return;
        };
        let slot = self
            .choices
            .entry(u64_of(ch.index).unwrap_or(0))
            .or_default();
        if let Some(d) = obj(&ch.delta) {
            if let Some(r) = string(d.role) {
                slot.role = Some(r);
            }
            if let Some(t) = string(d.content) {
                slot.content.get_or_insert_with(String::new).push_str(&t);
            }
            if let Some(t) = string(d.refusal) {
                slot.refusal.get_or_insert_with(String::new).push_str(&t);
            }
            for tc in d.tool_calls.iter().flat_map(Arr::iter) {
                let Some(tc) = &tc.0 else {
                    slot.tool_calls.entry(0).or_default();
                    continue;
                };
                let call = slot
                    .tool_calls
                    .entry(u64_of(tc.index).unwrap_or(0))
                    .or_default();
                if let Some(tid) = string(tc.id) {
                    call.0 = Some(tid);
                }
                if let Some(f) = obj(&tc.function) {
                    if let Some(n) = string(f.name) {
                        call.1.push_str(&n);
                    }
                    if let Some(a) = string(f.arguments) {
                        call.2.push_str(&a);
                    }
                }
            }
        }
        if let Some(f) = ch.finish_reason.filter(|f| !is_null(f)) {
            slot.finish = Some(f);
        }
        if logprobs && let Some(l) = obj(&ch.logprobs) {
            slot.logprobs
                .extend(l.content.iter().flat_map(Arr::iter).copied());
        }
    }
}

impl serde::Serialize for Aggregate<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // Members sorted, as a tree writes them.
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("choices", &Choices(&self.choices))?;
        match self.created {
            Some(c) => map.serialize_entry("created", c)?,
            None => map.serialize_entry("created", &0)?,
        }
        match self.id {
            Some(id) => map.serialize_entry("id", id)?,
            None => map.serialize_entry("id", "chatcmpl-routec")?,
        }
        match self.model {
            Some(m) => map.serialize_entry("model", m)?,
            None => map.serialize_entry("model", self.model_name)?,
        }
        map.serialize_entry("object", "chat.completion")?;
        if let Some(f) = self.fingerprint {
            map.serialize_entry("system_fingerprint", f)?;
        }
        if let Some(u) = self.usage {
            map.serialize_entry("usage", u)?;
        }
        map.end()
    }
}

struct Choices<'s, 'a>(&'s BTreeMap<u64, Gathered<'a>>);

impl serde::Serialize for Choices<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        struct Message<'s, 'a>(&'s Gathered<'a>);
        impl serde::Serialize for Message<'_, '_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let c = self.0;
                let mut map = s.serialize_map(None)?;
                map.serialize_entry("content", &c.content)?;
                if let Some(r) = &c.refusal {
                    map.serialize_entry("refusal", r)?;
                }
                map.serialize_entry("role", c.role.as_deref().unwrap_or("assistant"))?;
                if !c.tool_calls.is_empty() {
                    map.serialize_entry("tool_calls", &ToolCalls(&c.tool_calls))?;
                }
                map.end()
            }
        }
        struct Logprobs<'s, 'a>(&'s [&'a RawValue]);
        impl serde::Serialize for Logprobs<'_, '_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("content", self.0)?;
                map.end()
            }
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (index, c) in self.0 {
            struct One<'s, 'a>(u64, &'s Gathered<'a>);
            impl serde::Serialize for One<'_, '_> {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    let (index, c) = (self.0, self.1);
                    let mut map = s.serialize_map(None)?;
                    match c.finish {
                        Some(f) => map.serialize_entry("finish_reason", f)?,
                        None => map.serialize_entry("finish_reason", "stop")?,
                    }
                    map.serialize_entry("index", &index)?;
                    if c.logprobs.is_empty() {
                        map.serialize_entry("logprobs", &())?;
                    } else {
                        map.serialize_entry("logprobs", &Logprobs(&c.logprobs))?;
                    }
                    map.serialize_entry("message", &Message(c))?;
                    map.end()
                }
            }
            seq.serialize_element(&One(*index, c))?;
        }
        seq.end()
    }
}

struct ToolCalls<'s, 'a>(&'s BTreeMap<u64, (Option<Cow<'a, str>>, String, String)>);

impl serde::Serialize for ToolCalls<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        struct Function<'s>(&'s str, &'s str);
        impl serde::Serialize for Function<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("arguments", self.1)?;
                map.serialize_entry("name", self.0)?;
                map.end()
            }
        }
        struct Call<'s, 'a>(u64, &'s (Option<Cow<'a, str>>, String, String));
        impl serde::Serialize for Call<'_, '_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let (i, (id, name, args)) = (self.0, self.1);
                let mut map = s.serialize_map(Some(3))?;
                map.serialize_entry("function", &Function(name, args))?;
                match id {
                    Some(id) => map.serialize_entry("id", id)?,
                    None => map.serialize_entry("id", &format!("call_{i}"))?,
                }
                map.serialize_entry("type", "function")?;
                map.end()
            }
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (i, call) in self.0 {
            seq.serialize_element(&Call(*i, call))?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// What the gateway read of a chunk's tree before the views: the
    /// reading the views must agree with.
    fn reference(j: &J) -> (bool, Vec<f64>, Usage, Kind) {
        let mut token = false;
        let mut logprobs = Vec::new();
        if let Some(choices) = j.get("choices").and_then(J::as_array) {
            for c in choices {
                let delta = c.get("delta");
                let content = delta.and_then(|d| d.get("content")).and_then(J::as_str);
                let tools = delta
                    .and_then(|d| d.get("tool_calls"))
                    .and_then(J::as_array)
                    .is_some_and(|a| !a.is_empty());
                let refusal = delta.and_then(|d| d.get("refusal")).and_then(J::as_str);
                if content.is_some_and(|s| !s.is_empty())
                    || tools
                    || refusal.is_some_and(|s| !s.is_empty())
                {
                    token = true;
                }
                if let Some(lp) = c
                    .get("logprobs")
                    .and_then(|l| l.get("content"))
                    .and_then(J::as_array)
                {
                    logprobs.extend(lp.iter().filter_map(|t| t.get("logprob")?.as_f64()));
                }
            }
        }
        let usage = j.get("usage").map_or_else(Usage::default, |u| Usage {
            input: u.get("prompt_tokens").and_then(J::as_u64),
            output: u.get("completion_tokens").and_then(J::as_u64),
        });
        let kind = if j.get("error").is_some() {
            Kind::Error
        } else if j.get("object").and_then(J::as_str) == Some("chat.completion") {
            Kind::Completion
        } else {
            Kind::Chunk
        };
        (token, logprobs, usage, kind)
    }

    /// The aggregation of trees before the views.
    fn reference_aggregate(chunks: &[J], model_name: &str, logprobs: bool) -> J {
        #[derive(Default)]
        struct Choice {
            role: Option<String>,
            content: Option<String>,
            refusal: Option<String>,
            tool_calls: BTreeMap<u64, (Option<String>, String, String)>,
            finish: Option<J>,
            logprobs: Vec<J>,
        }
        let mut choices: BTreeMap<u64, Choice> = BTreeMap::new();
        let (mut id, mut created, mut model, mut usage, mut fingerprint) =
            (None, None, None, None, None);
        for j in chunks {
            id = id.or_else(|| j.get("id").cloned());
            created = created.or_else(|| j.get("created").cloned());
            model = model.or_else(|| j.get("model").cloned());
            fingerprint = fingerprint.or_else(|| j.get("system_fingerprint").cloned());
            if let Some(u) = j.get("usage").filter(|u| !u.is_null()) {
                usage = Some(u.clone());
            }
            for ch in j.get("choices").and_then(J::as_array).into_iter().flatten() {
                let index = ch.get("index").and_then(J::as_u64).unwrap_or(0);
                let slot = choices.entry(index).or_default();
                if let Some(d) = ch.get("delta") {
                    if let Some(r) = d.get("role").and_then(J::as_str) {
                        slot.role = Some(r.to_owned());
                    }
                    if let Some(t) = d.get("content").and_then(J::as_str) {
                        slot.content.get_or_insert_with(String::new).push_str(t);
                    }
                    if let Some(t) = d.get("refusal").and_then(J::as_str) {
                        slot.refusal.get_or_insert_with(String::new).push_str(t);
                    }
                    for tc in d
                        .get("tool_calls")
                        .and_then(J::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let i = tc.get("index").and_then(J::as_u64).unwrap_or(0);
                        let call = slot.tool_calls.entry(i).or_default();
                        if let Some(tid) = tc.get("id").and_then(J::as_str) {
                            call.0 = Some(tid.to_owned());
                        }
                        if let Some(f) = tc.get("function") {
                            if let Some(n) = f.get("name").and_then(J::as_str) {
                                call.1.push_str(n);
                            }
                            if let Some(a) = f.get("arguments").and_then(J::as_str) {
                                call.2.push_str(a);
                            }
                        }
                    }
                }
                if let Some(f) = ch.get("finish_reason").filter(|f| !f.is_null()) {
                    slot.finish = Some(f.clone());
                }
                if logprobs
                    && let Some(lp) = ch
                        .get("logprobs")
                        .and_then(|l| l.get("content"))
                        .and_then(J::as_array)
                {
                    slot.logprobs.extend(lp.iter().cloned());
                }
            }
        }
        if choices.is_empty() {
            choices.insert(0, Choice::default());
        }
        let choices: Vec<J> = choices
            .into_iter()
            .map(|(index, c)| {
                let mut message = serde_json::Map::new();
                message.insert(
                    "role".into(),
                    J::String(c.role.unwrap_or_else(|| "assistant".into())),
                );
                message.insert("content".into(), c.content.map_or(J::Null, J::String));
                if let Some(r) = c.refusal {
                    message.insert("refusal".into(), J::String(r));
                }
                if !c.tool_calls.is_empty() {
                    let calls: Vec<J> = c
                        .tool_calls
                        .into_iter()
                        .map(|(i, (tid, name, args))| {
                            json!({
                                "id": tid.unwrap_or_else(|| format!("call_{i}")),
                                "type": "function",
                                "function": {"name": name, "arguments": args},
                            })
                        })
                        .collect();
                    message.insert("tool_calls".into(), J::Array(calls));
                }
                json!({
                    "index": index,
                    "message": message,
                    "finish_reason": c.finish.unwrap_or(J::String("stop".into())),
                    "logprobs": if c.logprobs.is_empty() {
                        J::Null
                    } else {
                        json!({"content": c.logprobs})
                    },
                })
            })
            .collect();
        let mut out = json!({
            "id": id.unwrap_or_else(|| J::String("chatcmpl-routec".into())),
            "object": "chat.completion",
            "created": created.unwrap_or(J::from(0)),
            "model": model.unwrap_or_else(|| J::String(model_name.to_owned())),
            "choices": choices,
        });
        if let (Some(u), Some(o)) = (usage, out.as_object_mut()) {
            o.insert("usage".into(), u);
        }
        if let (Some(f), Some(o)) = (fingerprint, out.as_object_mut()) {
            o.insert("system_fingerprint".into(), f);
        }
        out
    }

    fn flags(j: &J) -> (bool, bool, bool) {
        let has_usage = j.get("usage").is_some_and(|u| !u.is_null());
        let no_choices = j
            .get("choices")
            .and_then(J::as_array)
            .is_some_and(Vec::is_empty);
        let has_logprobs = j
            .get("choices")
            .and_then(J::as_array)
            .into_iter()
            .flatten()
            .any(|c| c.get("logprobs").is_some_and(|l| !l.is_null()));
        (has_usage, no_choices, has_logprobs)
    }

    fn agrees(text: &str, tree: &J) {
        let (c, kind) = Chunk::read(text.to_owned()).unwrap();
        let (token, logprobs, usage, ref_kind) = reference(tree);
        assert_eq!(
            (c.token, &c.logprobs, c.usage, kind),
            (token, &logprobs, usage, ref_kind),
            "{text}"
        );
        assert_eq!(
            (c.has_usage, c.no_choices, c.has_logprobs),
            flags(tree),
            "{text}"
        );
        assert_eq!(c.json(), *tree, "{text}");
    }

    /// Values of every JSON type, some of them what a member should be.
    fn leaf() -> impl Strategy<Value = J> {
        prop_oneof![
            Just(J::Null),
            any::<bool>().prop_map(J::Bool),
            (0u64..100).prop_map(J::from),
            (-100i64..0).prop_map(J::from),
            (-20.0f64..0.0).prop_map(J::from),
            Just(json!(1.5e300)),
            prop_oneof![
                Just(""),
                Just("hi"),
                Just("a \"quoted\" \\ word"),
                Just("\u{e9}t\u{e9} \u{1F600}\n"),
                Just("chat.completion"),
                Just("chat.completion.chunk"),
            ]
            .prop_map(|s| J::String(s.into())),
            Just(json!([])),
            Just(json!({})),
        ]
    }

    /// An object with each of `fields` or not, each holding its own
    /// strategy's values.
    fn fields(fields: Vec<(&'static str, BoxedStrategy<J>)>) -> BoxedStrategy<J> {
        let parts: Vec<_> = fields
            .into_iter()
            .map(|(k, s)| proptest::option::of(s).prop_map(move |v| (k, v)))
            .collect();
        parts
            .prop_map(|kv| {
                J::Object(
                    kv.into_iter()
                        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
                        .collect(),
                )
            })
            .boxed()
    }

    /// Mostly `s`'s values, sometimes a value of another type.
    fn or_leaf(s: BoxedStrategy<J>) -> BoxedStrategy<J> {
        prop_oneof![4 => s, 1 => leaf()].boxed()
    }

    fn array_of(value: BoxedStrategy<J>) -> BoxedStrategy<J> {
        proptest::collection::vec(value, 0..4)
            .prop_map(J::Array)
            .boxed()
    }

    fn chunk_tree() -> impl Strategy<Value = J> {
        let l = || leaf().boxed();
        let token_lp = or_leaf(fields(vec![("logprob", l()), ("token", l())]));
        let logprobs = or_leaf(fields(vec![("content", or_leaf(array_of(token_lp)))]));
        let function = or_leaf(fields(vec![("name", l()), ("arguments", l())]));
        let tool_call = or_leaf(fields(vec![
            ("index", l()),
            ("id", l()),
            ("type", l()),
            ("function", function),
        ]));
        let delta = or_leaf(fields(vec![
            ("role", l()),
            ("content", l()),
            ("refusal", l()),
            ("tool_calls", or_leaf(array_of(tool_call))),
        ]));
        let choice = or_leaf(fields(vec![
            ("index", l()),
            ("delta", delta),
            ("finish_reason", l()),
            ("logprobs", logprobs),
        ]));
        let usage = or_leaf(fields(vec![
            ("prompt_tokens", l()),
            ("completion_tokens", l()),
        ]));
        fields(vec![
            ("id", l()),
            ("object", l()),
            ("created", l()),
            ("model", l()),
            ("system_fingerprint", l()),
            ("choices", or_leaf(array_of(choice))),
            ("usage", usage),
            ("error", l()),
            ("extra", l()),
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn views_read_as_the_tree_does(tree in chunk_tree()) {
            agrees(&tree.to_string(), &tree);
            // Pretty-printed: whitespace inside the text.
            agrees(&serde_json::to_string_pretty(&tree).unwrap(), &tree);
        }

        #[test]
        fn aggregates_agree_with_the_tree_reading(
            trees in proptest::collection::vec(chunk_tree(), 0..4),
            logprobs in any::<bool>(),
        ) {
            let chunks: Vec<Chunk> = trees
                .iter()
                .map(|t| Chunk::read(t.to_string()).unwrap().0)
                .collect();
            let reference = reference_aggregate(&trees, "m", logprobs);
            prop_assert_eq!(aggregate(&chunks, "m", logprobs), reference.clone());
            // The text a client gets is the tree's, byte for byte.
            prop_assert_eq!(
                String::from_utf8(aggregate_text(&chunks, "m", logprobs)).unwrap(),
                reference.to_string()
            );
        }
    }

    #[test]
    fn duplicate_keys_read_as_the_last_one() {
        let text =
            r#"{"choices":[{"delta":{"content":""}}],"choices":[{"delta":{"content":"x"}}]}"#;
        let tree: J = serde_json::from_str(text).unwrap();
        agrees(text, &tree);
        let (c, _) = Chunk::read(text.to_owned()).unwrap();
        assert!(c.token);
        // Nested duplicates too.
        let text = r#"{"choices":[{"delta":{"content":"x","content":""}}]}"#;
        let (c, _) = Chunk::read(text.to_owned()).unwrap();
        assert!(!c.token);
        // In a member kept as text and viewed later.
        let text = r#"{"choices":[{"logprobs":{"content":[{"logprob":-1,"logprob":-2}]}}]}"#;
        let (c, _) = Chunk::read(text.to_owned()).unwrap();
        assert_eq!(c.logprobs, vec![-2.0]);
    }

    #[test]
    fn texts_that_are_not_objects_carry_nothing() {
        for text in ["42", "[1,2]", "\"x\"", "null"] {
            let (c, kind) = Chunk::read(text.to_owned()).unwrap();
            assert_eq!((c.token, kind, c.has_usage), (false, Kind::Chunk, false));
        }
        assert!(Chunk::read("{\"a\":".to_owned()).is_err());
    }

    #[test]
    fn an_upstream_text_is_kept_as_it_came() {
        let text = r#"{"id":"b", "choices":[{"index":0,"delta":{"content":"The "},"logprobs":null}],"usage":null}"#;
        let (c, kind) = Chunk::read(text.to_owned()).unwrap();
        assert_eq!(c.text, text);
        assert_eq!(kind, Kind::Chunk);
        assert!(c.token && !c.has_usage && !c.has_logprobs && !c.no_choices);
    }
}
