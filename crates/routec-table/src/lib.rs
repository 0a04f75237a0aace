//! The decision table: the artifact `routec compile` writes and every runtime
//! (the Rust library, the proxy, the wasm module) loads.
//!
//! It is a versioned boundary format with two encodings: readable JSON for
//! review, and a compact binary envelope for runtimes (`RTBL` magic, the
//! schema version, a postcard payload and a SHA-256 checksum). Both decode
//! into [`Table`] through [`Table::from_json`] / [`Table::from_binary`], which
//! refuse a corrupt, truncated, unknown-field or future-version table whole
//! and then [`Table::validate`] every index, so a runtime never sees a
//! half-loaded table.
//!
//! Architecture Invariant: this crate does not depend on the compiler; its
//! types are the contract, and `schema/table.schema.json` (checked by a test)
//! is their JSON Schema.

mod types;
mod v1;
mod validate;

pub use types::*;
pub use validate::ValidationError;

use sha2::{Digest, Sha256};

/// The schema version this crate writes. Version 2 added models' `price`,
/// classifiers' `endpoint` and `timeout`, and the policy's `slices`;
/// version 3 the budget's `pacing` ladder and the exploration candidates;
/// version 4 the `judge` and the models' expected health (`model_health`).
pub const SCHEMA_VERSION: u32 = 4;
/// The fields appended to [`Table`] since version 2, with the version that
/// added each: an older binary is the current one without them, and each
/// is an `Option` or a `Vec`, which postcard writes as one byte, 0 for
/// `None` and for empty.
const APPENDED: &[(u32, &str)] = &[
    (3, "pacing"),
    (3, "explore_candidates"),
    (4, "judge"),
    (4, "model_health"),
];
/// The oldest schema version this crate still reads (and upgrades).
pub const OLDEST_SCHEMA_VERSION: u32 = 1;
/// The version of the `.route` language the compiler accepts.
pub const LANGUAGE_VERSION: &str = "0.1";
/// The four bytes every binary table starts with.
pub const MAGIC: &[u8; 4] = b"RTBL";

/// Why a table could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The bytes are not a table of any version.
    Malformed(String),
    /// The table was written by a newer routec.
    FutureVersion { found: u32, supported: u32 },
    /// The table was written by an older routec whose format is no longer read.
    UnsupportedVersion { found: u32, supported: u32 },
    /// The binary checksum does not match: the file is corrupt or truncated.
    Checksum,
    /// The table decodes but is inconsistent.
    Invalid(ValidationError),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Malformed(why) => write!(f, "not a routec decision table: {why}"),
            LoadError::FutureVersion { found, supported } => write!(
                f,
                "the table has schema version {found}, newer than the {supported} this routec reads; upgrade routec"
            ),
            LoadError::UnsupportedVersion { found, supported } => write!(
                f,
                "the table has schema version {found}, which this routec no longer reads (it reads {supported}); recompile the policy"
            ),
            LoadError::Checksum => {
                f.write_str("the table is corrupt or truncated: its checksum does not match")
            }
            LoadError::Invalid(e) => write!(f, "the table is inconsistent: {e}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// The SHA-256 of a policy's source text, as stored in `source_hash`.
pub fn source_hash(source: &str) -> String {
    let digest = Sha256::digest(source.as_bytes());
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for byte in digest {
        hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(byte & 15), 16).unwrap_or('0'));
    }
    hex
}

impl Table {
    /// Readable, stable JSON (two-space indentation, trailing newline).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The binary envelope: magic, schema version (little endian), payload
    /// length, postcard payload, SHA-256 of everything before it.
    pub fn to_binary(&self) -> Vec<u8> {
        let payload = postcard::to_allocvec(self).unwrap_or_default();
        let mut out = Vec::with_capacity(payload.len() + 48);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&SCHEMA_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    /// Loads either encoding, telling them apart by the magic bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Table, LoadError> {
        if bytes.starts_with(MAGIC) {
            Table::from_binary(bytes)
        } else {
            let text = std::str::from_utf8(bytes).map_err(|_| {
                LoadError::Malformed("neither a binary table nor UTF-8 JSON".into())
            })?;
            Table::from_json(text)
        }
    }

    pub fn from_json(text: &str) -> Result<Table, LoadError> {
        // Read the version first, so that a future table gets a clear error
        // rather than a complaint about a field this version does not know.
        #[derive(serde::Deserialize)]
        struct Header {
            schema_version: Option<u32>,
        }
        let header: Header = serde_json::from_str(text)
            .map_err(|e| LoadError::Malformed(format!("invalid JSON: {e}")))?;
        let Some(version) = header.schema_version else {
            return Err(LoadError::Malformed("`schema_version` is missing".into()));
        };
        check_version(version)?;
        let mut table: Table = serde_json::from_str(text)
            .map_err(|e| LoadError::Malformed(format!("invalid table: {e}")))?;
        // Older versions' JSON is the current one without the fields that
        // default.
        table.schema_version = SCHEMA_VERSION;
        table.validate().map_err(LoadError::Invalid)?;
        Ok(table)
    }

    pub fn from_binary(bytes: &[u8]) -> Result<Table, LoadError> {
        const HEADER: usize = 4 + 4 + 8;
        if bytes.len() < HEADER + 32 || !bytes.starts_with(MAGIC) {
            return Err(LoadError::Malformed(
                "too short to be a binary table".into(),
            ));
        }
        let version = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        check_version(version)?;
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[8..16]);
        let len = u64::from_le_bytes(len);
        let expected = (HEADER as u64)
            .checked_add(len)
            .and_then(|n| n.checked_add(32));
        if expected != Some(bytes.len() as u64) {
            return Err(LoadError::Checksum);
        }
        let body_end = bytes.len() - 32;
        let digest = Sha256::digest(&bytes[..body_end]);
        if digest.as_slice() != &bytes[body_end..] {
            return Err(LoadError::Checksum);
        }
        let payload = &bytes[HEADER..body_end];
        let table: Table = if version == 1 {
            postcard::from_bytes::<v1::Table>(payload)
                .map_err(|e| LoadError::Malformed(format!("invalid payload: {e}")))?
                .upgrade()
                .ok_or_else(|| {
                    LoadError::Malformed(
                        "the payload's schema version differs from the header's".into(),
                    )
                })?
        } else if version < SCHEMA_VERSION {
            let appended = APPENDED.iter().filter(|(v, _)| *v > version).count();
            let mut upgraded = Vec::with_capacity(payload.len() + appended);
            upgraded.extend_from_slice(payload);
            upgraded.resize(payload.len() + appended, 0);
            let mut table: Table = postcard::from_bytes(&upgraded)
                .map_err(|e| LoadError::Malformed(format!("invalid payload: {e}")))?;
            if table.schema_version != version {
                return Err(LoadError::Malformed(
                    "the payload's schema version differs from the header's".into(),
                ));
            }
            table.schema_version = SCHEMA_VERSION;
            table
        } else {
            postcard::from_bytes(payload)
                .map_err(|e| LoadError::Malformed(format!("invalid payload: {e}")))?
        };
        if version == SCHEMA_VERSION && table.schema_version != version {
            return Err(LoadError::Malformed(
                "the payload's schema version differs from the header's".into(),
            ));
        }
        table.validate().map_err(LoadError::Invalid)?;
        Ok(table)
    }

    /// The number of routings the table can run: itself and its pacing
    /// steps.
    pub fn rungs(&self) -> usize {
        1 + self.pacing.as_ref().map_or(0, |p| p.steps.len())
    }

    /// The table that routes like rung `k` of its pacing ladder: rung 0 is
    /// the table itself (without its ladder), rung `k` its `steps[k - 1]`;
    /// `None` past the last step. Signals, models, rules, faults, learning
    /// and slices are the table's own, and so are its plans (a step's
    /// leaves index them).
    pub fn rung(&self, k: usize) -> Option<Table> {
        let step = match k {
            0 => None,
            k => Some(self.pacing.as_ref()?.steps.get(k - 1)?),
        };
        let mut table = Table {
            pacing: None,
            ..self.clone()
        };
        if step.is_some() {
            // Exploration runs on the table only (its leaves).
            table.explore_candidates = Vec::new();
        }
        if let Some(step) = step {
            table.diagram = step.diagram.clone();
            table.leaves = step.leaves.clone();
            table.assumed = step.assumed.clone();
        }
        Some(table)
    }

    /// The JSON Schema of the JSON encoding.
    pub fn json_schema() -> String {
        let schema = schemars::schema_for!(Table);
        let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
        text.push('\n');
        text
    }
}

impl Judge {
    /// The share of answers judged at `qps` requests per second: the
    /// nearest point's share outside the points, linear in `ln qps`
    /// between two (`docs/learn.md`, "Quality sampling"). The optimizer,
    /// the simulator and the runtimes all read the rate through this.
    pub fn share_at(&self, qps: f64) -> f64 {
        sample_share(&self.sample, qps)
    }
}

/// [`Judge::share_at`] over points in increasing rate.
pub fn sample_share(points: &[SamplePoint], qps: f64) -> f64 {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return 0.0;
    };
    if qps.is_nan() || qps <= first.qps {
        return first.share;
    }
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        if qps <= b.qps {
            if a.qps <= 0.0 {
                // A point at rate 0 holds up to the next one.
                return a.share;
            }
            let t = (qps.ln() - a.qps.ln()) / (b.qps.ln() - a.qps.ln());
            return a.share + t * (b.share - a.share);
        }
    }
    last.share
}

fn check_version(version: u32) -> Result<(), LoadError> {
    if version > SCHEMA_VERSION {
        Err(LoadError::FutureVersion {
            found: version,
            supported: SCHEMA_VERSION,
        })
    } else if version < OLDEST_SCHEMA_VERSION {
        Err(LoadError::UnsupportedVersion {
            found: version,
            supported: SCHEMA_VERSION,
        })
    } else {
        Ok(())
    }
}
