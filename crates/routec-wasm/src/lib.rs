//! The wasm backend: compiles a decision table into a self-contained
//! WebAssembly module whose `decide` export routes a request, the way OPA
//! compiles Rego to wasm. The decision diagram becomes code (enum tests are
//! `br_table`s, threshold trees balanced comparisons, the sticky-split hash
//! FNV-1a then splitmix64 as `routec-runtime` computes it), the split leaves'
//! cumulative shares are data, and a custom section (`routec`, JSON) carries
//! what a host needs to turn a request into arguments and a result into a
//! plan. The ABI is documented in `docs/wasm.md` and versioned
//! ([`ABI_VERSION`]), like the table.
//!
//! Architecture Invariant: a module decides exactly what
//! `routec_runtime::Router::decide` decides for the same table, request and
//! key (the same rule, leaf, plan, and the same missing and invalid signals);
//! the tests run both on the shared vectors and on 100,000 random requests
//! per example. Every module this crate emits passes `wasmparser`
//! validation for WebAssembly 1.0 plus saturating float-to-int conversions.
//!
//! Architecture Invariant: depends on `routec-table` only (never on the
//! compiler); pure (no IO, clocks or environment).

mod codegen;
mod layout;
mod meta;

pub use layout::Layout;
pub use meta::Meta;

use routec_table::Table;

/// The version of the module ABI (exports, memory layout, custom section).
/// A host refuses a module of another version.
pub const ABI_VERSION: u32 = 2;

/// The name of the custom section holding the module's metadata (JSON).
pub const SECTION: &str = "routec";

/// The name of the custom section that ends every module: the SHA-256 of
/// all the bytes before it (32 bytes). A host with the module's bytes checks
/// it ([`verify`]), so a corrupt or truncated module is refused even where it
/// would still validate.
pub const CHECKSUM_SECTION: &str = "routec.sha256";

/// The largest function body the backend emits, in bytes: the limit V8 (Node,
/// browsers, Cloudflare Workers) puts on one function.
pub const MAX_FUNCTION_BYTES: usize = 7_654_321;

/// Why a table could not be compiled to a module.
#[derive(Debug, Clone, PartialEq)]
pub enum CompileError {
    /// The table is inconsistent (it fails `Table::validate`).
    Invalid(String),
    /// The table is too large for a module: its code or data would pass
    /// the limits of WebAssembly engines.
    TooLarge(String),
    /// The emitted module does not validate: a bug in routec.
    Internal(String),
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileError::Invalid(why) => write!(f, "the table is inconsistent: {why}"),
            CompileError::TooLarge(why) => write!(f, "the table is too large for a module: {why}"),
            CompileError::Internal(why) => write!(
                f,
                "the emitted module does not validate: {why} (this is a bug in routec)"
            ),
        }
    }
}

impl std::error::Error for CompileError {}

/// Compiles a table into the bytes of a WebAssembly module, validated with
/// `wasmparser` before it is returned.
pub fn compile(table: &Table) -> Result<Vec<u8>, CompileError> {
    table
        .validate()
        .map_err(|e| CompileError::Invalid(e.to_string()))?;
    let layout = Layout::of(table)?;
    let meta = Meta::of(table, &layout);
    let bytes = codegen::module(table, &layout, &meta)?;
    validate(&bytes).map_err(CompileError::Internal)?;
    verify(&bytes).map_err(CompileError::Internal)?;
    Ok(bytes)
}

/// The WebAssembly features modules use: 1.0 plus the saturating
/// float-to-int conversions (`i32.trunc_sat_f64_u`, part of 2.0), which every
/// current engine has (Node 12+, all browsers since 2021, wasmi).
pub fn features() -> wasmparser::WasmFeatures {
    wasmparser::WasmFeatures::WASM1 | wasmparser::WasmFeatures::SATURATING_FLOAT_TO_INT
}

/// Validates module bytes with [`features`].
pub fn validate(bytes: &[u8]) -> Result<(), String> {
    wasmparser::Validator::new_with_features(features())
        .validate_all(bytes)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Checks a module's checksum section (the last section, see
/// [`CHECKSUM_SECTION`]): `Err` says why the module is corrupt or truncated.
pub fn verify(bytes: &[u8]) -> Result<(), String> {
    use sha2::{Digest, Sha256};
    let mut checksum = None;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(wasmparser::Payload::CustomSection(reader)) if reader.name() == CHECKSUM_SECTION => {
                // The section's contents (name and digest) follow its id and size.
                let range = reader.range();
                let start = range
                    .start
                    .checked_sub(1 + leb_len(range.len() as u64))
                    .ok_or("the checksum section is malformed")?;
                checksum = Some((start, range.end, reader.data()));
            }
            Ok(wasmparser::Payload::End(_)) => {
                let Some((start, end, digest)) = checksum else {
                    return Err("the module has no checksum section (it is truncated, or routec did not write it)".into());
                };
                if end != bytes.len() || Sha256::digest(&bytes[..start]).as_slice() != digest {
                    return Err("the module is corrupt: its checksum does not match".into());
                }
                return Ok(());
            }
            Ok(_) => {}
            Err(e) => return Err(format!("the module is corrupt or truncated: {e}")),
        }
    }
    Err("the module is truncated".into())
}

fn leb_len(mut x: u64) -> usize {
    let mut n = 1;
    while x >= 0x80 {
        x >>= 7;
        n += 1;
    }
    n
}

/// Reads the metadata section of a module this crate emitted; `None` when
/// the module has none or it is not JSON.
pub fn read_meta(bytes: &[u8]) -> Option<serde_json::Value> {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let Ok(wasmparser::Payload::CustomSection(reader)) = payload
            && reader.name() == SECTION
        {
            return serde_json::from_slice(reader.data()).ok();
        }
    }
    None
}
