//! A host for routec modules in the tests: instantiates a module with wasmi
//! and drives its ABI (`docs/wasm.md`) the way any host would: values into
//! memory (`-inf` for a missing signal, NaN for an invalid one), the key into
//! the key area, `decide`, the result out.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    dead_code,
    reason = "tests"
)]

use routec_runtime::{Request, SignalValue};
use wasmi::{Engine, Instance, Linker, Memory, Module, Store, TypedFunc};

/// What the module decided, read back from its memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WasmDecision {
    pub plan: u32,
    pub rule: u32,
    pub leaf: u32,
    pub cell: Option<u32>,
    pub missing: Vec<usize>,
    pub invalid: Vec<usize>,
}

pub struct Host {
    store: Store<()>,
    memory: Memory,
    decide: TypedFunc<i32, i32>,
    decide_hashed: TypedFunc<(i32, i32), i32>,
    hash_key: TypedFunc<i32, i64>,
    pub instance: Instance,
    pub signals: usize,
    pub values: usize,
    pub result: usize,
    pub key: usize,
}

impl Host {
    pub fn new(bytes: &[u8]) -> Result<Host, wasmi::Error> {
        let engine = Engine::default();
        let module = Module::new(&engine, bytes)?;
        let mut store = Store::new(&engine, ());
        let linker = Linker::<()>::new(&engine);
        let instance = linker.instantiate_and_start(&mut store, &module)?;
        let get = |store: &mut Store<()>, name: &str| -> usize {
            let f = instance
                .get_typed_func::<(), i32>(&*store, name)
                .unwrap_or_else(|e| panic!("export `{name}`: {e}"));
            f.call(store, ()).unwrap() as usize
        };
        let abi = get(&mut store, "abi_version");
        assert_eq!(abi as u32, routec_wasm::ABI_VERSION);
        let signals = get(&mut store, "signal_count");
        let values = get(&mut store, "values_ptr");
        let result = get(&mut store, "result_ptr");
        let key = get(&mut store, "key_ptr");
        Ok(Host {
            memory: instance.get_memory(&store, "memory").unwrap(),
            decide: instance.get_typed_func(&store, "decide")?,
            decide_hashed: instance.get_typed_func(&store, "decide_hashed")?,
            hash_key: instance.get_typed_func(&store, "hash_key")?,
            store,
            instance,
            signals,
            values,
            result,
            key,
        })
    }

    pub fn memory(&mut self) -> &mut [u8] {
        self.memory.data_mut(&mut self.store)
    }

    /// Writes a runtime request into the module's inputs: every signal's
    /// value, `-inf` when it is missing and NaN when it is invalid.
    pub fn set_request(&mut self, request: &Request) {
        for i in 0..self.signals {
            let v = match request.get(i) {
                SignalValue::Present(v) => v,
                SignalValue::Missing => f64::NEG_INFINITY,
                SignalValue::Invalid => f64::NAN,
            };
            self.set_raw(i, v);
        }
    }

    /// Sets one input slot as a host may: any value, any bits.
    pub fn set_raw(&mut self, signal: usize, value: f64) {
        let at = self.values + 8 * signal;
        self.memory()[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }

    /// Writes `key` into the key area, growing the memory when needed;
    /// returns the length to pass to `decide`.
    pub fn set_key(&mut self, key: &[u8]) -> i32 {
        let need = self.key + key.len();
        let have = self.memory().len();
        if need > have {
            let pages = (need - have).div_ceil(65536) as u64;
            self.memory.grow(&mut self.store, pages).unwrap();
        }
        let at = self.key;
        self.memory()[at..at + key.len()].copy_from_slice(key);
        key.len() as i32
    }

    /// `decide` with `key` (none: the keyless rule).
    pub fn decide(&mut self, key: Option<&str>) -> WasmDecision {
        let len = match key {
            Some(k) => self.set_key(k.as_bytes()),
            None => -1,
        };
        let plan = self.decide.call(&mut self.store, len).unwrap();
        assert!(plan >= 0, "decide refused key length {len}");
        self.result()
    }

    /// The result area (plan, rule, leaf, cell and the two signal sets), as
    /// bytes.
    pub fn result_bytes(&mut self) -> Vec<u8> {
        let r = self.result;
        self.memory()[r..r + 80].to_vec()
    }

    pub fn decide_raw(&mut self, key_len: i32) -> i32 {
        self.decide.call(&mut self.store, key_len).unwrap()
    }

    pub fn decide_hashed(&mut self, hash: u64) -> WasmDecision {
        let plan = self
            .decide_hashed
            .call(
                &mut self.store,
                (hash as u32 as i32, (hash >> 32) as u32 as i32),
            )
            .unwrap();
        assert!(plan >= 0);
        self.result()
    }

    pub fn hash_key(&mut self, key: &[u8]) -> u64 {
        let len = self.set_key(key);
        self.hash_key.call(&mut self.store, len).unwrap() as u64
    }

    pub fn result(&mut self) -> WasmDecision {
        let (r, n) = (self.result, self.signals);
        let mem = self.memory();
        let word = |at: usize| i32::from_le_bytes(mem[at..at + 4].try_into().unwrap());
        let set = |base: usize| -> Vec<usize> {
            (0..n)
                .filter(|&s| mem[base + (s >> 3)] & (1 << (s & 7)) != 0)
                .collect()
        };
        WasmDecision {
            plan: word(r) as u32,
            rule: word(r + 4) as u32,
            leaf: word(r + 8) as u32,
            cell: u32::try_from(word(r + 12)).ok(),
            missing: set(r + 16),
            invalid: set(r + 48),
        }
    }
}

/// The runtime's decision in the same shape.
pub fn native(decision: &routec_runtime::Decision) -> WasmDecision {
    WasmDecision {
        plan: decision.plan,
        rule: decision.rule,
        leaf: decision.leaf,
        cell: decision.cell,
        missing: decision.defaulted.iter().collect(),
        invalid: decision.invalid.iter().collect(),
    }
}

/// The split hash, written independently of `routec-runtime` (which does not
/// export it): FNV-1a over the bytes, then splitmix64's finalizer. The tests
/// pin it to the runtime's published values.
pub fn key_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}
