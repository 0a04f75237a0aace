// routec-wasm: routes requests with a routec policy compiled to WebAssembly
// (`routec compile POLICY --format wasm`). Plain ES modules, no dependencies,
// no Node-only APIs: Node 20+, browsers, Deno, Cloudflare Workers.
// The module's ABI is documented in docs/wasm.md of the routec repository.

import { reader } from './values.js';
import { compactDiagram, walk } from './explain.js';
import { sha256 } from './sha256.js';

/** The module ABI version this package reads. */
export const ABI_VERSION = 2;

/** The name of the module's metadata section. */
export const SECTION = 'routec';

/** The name of the section that ends every module: the SHA-256 of all the bytes before it. */
const CHECKSUM_SECTION = 'routec.sha256';

/**
 * THE KEYLESS RULE, host side: the key length passed to the module's
 * `decide` for a request without a key. A negative length tells the module
 * to apply its own keyless rule (`$keyless_hash` in routec-wasm's
 * `codegen.rs`: as in routec-runtime, the n-th keyless split decision of a
 * module instance takes the position frac(n * phi), a low-discrepancy
 * sequence, so keyless requests split by the compiled shares). This is the
 * one place the package decides it.
 */
const KEYLESS = -1;

/**
 * The key length passed to `decide` for a request with a key not written
 * yet: the module returns it, writing nothing, when the decision reaches a
 * leaf that splits (the only one that reads the key), and the key is
 * written then. Most decisions never need the key's bytes.
 */
const KEY_LATER = -2;

/** The value that marks a signal missing in the module's inputs; NaN marks it invalid. */
const MISSING = -Infinity;
const INVALID = NaN;

const EXPORTS = [
  'decide',
  'decide_hashed',
  'hash_key',
  'abi_version',
  'signal_count',
  'values_ptr',
  'result_ptr',
  'key_ptr',
];

/** What went wrong, with a stable `code`: `not_wasm`, `corrupt`, `not_routec`, `abi`, `request`, `key`. */
export class RoutecError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'RoutecError';
    this.code = code;
  }
}

function toBytes(source) {
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  return undefined;
}

/** Reads an unsigned LEB128 at `at`; `[value, next]` or undefined past the end. */
function leb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (let i = at; i < bytes.length && shift < 35; i++) {
    value += (bytes[i] & 0x7f) * 2 ** shift;
    if ((bytes[i] & 0x80) === 0) return [value, i + 1];
    shift += 7;
  }
  return undefined;
}

const ENCODER = new TextEncoder();
const META_NAME = ENCODER.encode(SECTION);
const CHECKSUM_NAME = ENCODER.encode(CHECKSUM_SECTION);

function nameIs(bytes, at, name) {
  for (let i = 0; i < name.length; i++) if (bytes[at + i] !== name[i]) return false;
  return true;
}

/**
 * Walks the module's sections: the metadata section's bytes, and the
 * checksum section (where it starts, where it ends, its digest). Reading
 * the sections first lets the ABI version be checked before the engine
 * compiles anything.
 */
function sections(bytes) {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new RoutecError('not a WebAssembly module: it does not start with `\\0asm`', 'not_wasm');
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    throw new RoutecError('not a WebAssembly 1.0 module (its binary version is not 1)', 'not_wasm');
  }
  let meta;
  let checksum;
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at];
    const size = leb(bytes, at + 1);
    if (size === undefined || size[1] + size[0] > bytes.length) {
      throw new RoutecError('the module is truncated: a section runs past its end', 'corrupt');
    }
    const [length, start] = size;
    const end = start + length;
    if (id === 0) {
      const name = leb(bytes, start);
      if (name !== undefined && name[1] + name[0] <= end) {
        const [nameLength, nameStart] = name;
        if (nameLength === META_NAME.length && nameIs(bytes, nameStart, META_NAME)) {
          meta = bytes.subarray(nameStart + nameLength, end);
        } else if (nameLength === CHECKSUM_NAME.length && nameIs(bytes, nameStart, CHECKSUM_NAME)) {
          checksum = { start: at, end, digest: bytes.subarray(nameStart + nameLength, end) };
        }
      }
    }
    at = end;
  }
  return { meta, checksum };
}

/** Refuses bytes whose checksum section is missing, not last, or wrong. */
function verify(bytes, checksum) {
  if (checksum === undefined) {
    throw new RoutecError(
      'the module has no checksum section: it is truncated, or routec did not write it',
      'corrupt',
    );
  }
  const digest = sha256(bytes.subarray(0, checksum.start));
  const same =
    checksum.end === bytes.length &&
    checksum.digest.length === digest.length &&
    digest.every((b, i) => b === checksum.digest[i]);
  if (!same) throw new RoutecError('the module is corrupt: its checksum does not match', 'corrupt');
}

function parseMeta(data) {
  if (data === undefined) {
    throw new RoutecError(
      'not a routec module: it has no `routec` section (compile a policy with `routec compile POLICY --format wasm`)',
      'not_routec',
    );
  }
  let meta;
  try {
    meta = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (e) {
    throw new RoutecError(`the module's \`routec\` section is corrupt: ${e.message}`, 'corrupt');
  }
  if (meta === null || typeof meta !== 'object' || typeof meta.abi !== 'number') {
    throw new RoutecError("the module's `routec` section has no ABI version", 'corrupt');
  }
  if (meta.abi !== ABI_VERSION) {
    const fix =
      meta.abi > ABI_VERSION
        ? 'upgrade routec-wasm'
        : 'recompile the policy with a routec that writes this version';
    throw new RoutecError(
      `the module has ABI version ${meta.abi}; this package reads version ${ABI_VERSION}: ${fix}`,
      'abi',
    );
  }
  const shaped =
    Array.isArray(meta.signals) &&
    Array.isArray(meta.plans) &&
    Array.isArray(meta.rules) &&
    Array.isArray(meta.leaves) &&
    meta.diagram !== null &&
    typeof meta.diagram === 'object' &&
    Array.isArray(meta.diagram.nodes) &&
    meta.table !== null &&
    typeof meta.table === 'object';
  if (!shaped) throw new RoutecError("the module's `routec` section is incomplete", 'corrupt');
  return meta;
}

/**
 * Loads a module: `bytes` are the bytes of a `.wasm` file (an ArrayBuffer or
 * a typed array such as a Node Buffer), or an already compiled
 * `WebAssembly.Module` (Cloudflare Workers import modules that way). A module
 * that is not WebAssembly, is corrupt or truncated, is not a routec module or
 * has another ABI version is refused with a `RoutecError`.
 * @returns {Promise<Router>}
 */
export async function load(source) {
  let module;
  let meta;
  if (source instanceof WebAssembly.Module) {
    module = source;
    const sections = WebAssembly.Module.customSections(module, SECTION);
    meta = parseMeta(sections.length > 0 ? new Uint8Array(sections[0]) : undefined);
  } else {
    const bytes = toBytes(source);
    if (bytes === undefined) {
      throw new RoutecError(
        'load() takes the bytes of a module (an ArrayBuffer or a typed array) or a WebAssembly.Module',
        'not_wasm',
      );
    }
    const found = sections(bytes);
    meta = parseMeta(found.meta);
    verify(bytes, found.checksum);
    try {
      module = await WebAssembly.compile(bytes);
    } catch (e) {
      throw new RoutecError(`the module is corrupt or truncated: ${e.message}`, 'corrupt');
    }
  }
  const exported = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  const missing = [...EXPORTS.filter((n) => exported.get(n) !== 'function'), ...(exported.get('memory') === 'memory' ? [] : ['memory'])];
  if (missing.length > 0) {
    throw new RoutecError(`not a routec module: it does not export ${missing.map((n) => `\`${n}\``).join(', ')}`, 'not_routec');
  }
  let instance;
  try {
    instance = await WebAssembly.instantiate(module, {});
  } catch (e) {
    throw new RoutecError(`the module cannot be instantiated: ${e.message}`, 'corrupt');
  }
  return new Router(instance, meta);
}

/** The (unrestricted) Damerau-Levenshtein distance, as the `strsim` crate computes it, for did-you-mean. */
function damerauLevenshtein(a, b) {
  const s = [...a];
  const t = [...b];
  const n = s.length;
  const m = t.length;
  if (n === 0) return m;
  if (m === 0) return n;
  const width = m + 2;
  const d = new Array((n + 2) * width).fill(0);
  const max = n + m;
  d[0] = max;
  for (let i = 0; i <= n; i++) {
    d[(i + 1) * width] = max;
    d[(i + 1) * width + 1] = i;
  }
  for (let j = 0; j <= m; j++) {
    d[j + 1] = max;
    d[width + j + 1] = j;
  }
  const last = new Map();
  for (let i = 1; i <= n; i++) {
    let db = 0;
    for (let j = 1; j <= m; j++) {
      const k = last.get(t[j - 1]) ?? 0;
      const l = db;
      let cost = 1;
      if (s[i - 1] === t[j - 1]) {
        cost = 0;
        db = j;
      }
      const substitution = d[i * width + j] + cost;
      const insertion = d[i * width + j + 1] + 1;
      const deletion = d[(i + 1) * width + j] + 1;
      const transposition = d[k * width + l] + (i - k - 1) + 1 + (j - l - 1);
      d[(i + 1) * width + j + 1] = Math.min(substitution, insertion, deletion, transposition);
    }
    last.set(s[i - 1], i);
  }
  return d[(n + 1) * width + m + 1];
}

const UTF8 = ENCODER;

/** A loaded module: decides requests. Create it with `load`. */
export class Router {
  #exports;
  #memory;
  #decide;
  #meta;
  #n;
  #index;
  #readers;
  #valuesPtr;
  #resultPtr;
  #keyPtr;
  #buffer;
  #values;
  #result;
  #bytes;
  #keyArea;
  #compact;

  /** @internal Use `load`. */
  constructor(instance, meta) {
    const ex = instance.exports;
    this.#exports = ex;
    this.#meta = meta;
    this.#memory = ex.memory;
    this.#decide = ex.decide;
    if (ex.abi_version() !== ABI_VERSION || ex.signal_count() !== meta.signals.length) {
      throw new RoutecError("the module's exports do not match its `routec` section", 'corrupt');
    }
    this.#n = meta.signals.length;
    this.#index = new Map(meta.signals.map((s, i) => [s.name, i]));
    this.#readers = meta.signals.map(reader);
    this.#valuesPtr = ex.values_ptr();
    this.#resultPtr = ex.result_ptr();
    this.#keyPtr = ex.key_ptr();
    this.#views();
    /** What the module was compiled from and what it reads. */
    this.info = Object.freeze({
      abi: meta.abi,
      generator: meta.generator,
      policy: meta.table.policy,
      sourceHash: meta.table.source_hash,
      schemaVersion: meta.table.schema_version,
      languageVersion: meta.table.language_version,
      compilerVersion: meta.table.compiler_version,
      signals: meta.signals.map((s) =>
        Object.freeze({
          name: s.name,
          kind: s.kind,
          variants: s.variants,
          default: s.default,
          defaultText: s.default_text,
          unit: s.unit,
          source: s.source,
          sourceName: s.source_name,
        }),
      ),
      rules: meta.rules.map((r) => Object.freeze({ line: r.line, text: r.text })),
      plans: meta.plans.map((p) => Object.freeze({ text: p.text, models: p.models })),
    });
  }

  /**
   * (Re)creates the memory views. The module never grows its memory; only
   * `#writeKey` does, and calls this after, so the views stay valid between.
   */
  #views() {
    const buffer = this.#memory.buffer;
    if (buffer === this.#buffer) return;
    this.#buffer = buffer;
    this.#values = new Float64Array(buffer, this.#valuesPtr, this.#n);
    this.#result = new Int32Array(buffer, this.#resultPtr, 4);
    this.#bytes = new Uint8Array(buffer, this.#resultPtr, 80);
    this.#keyArea = new Uint8Array(buffer, this.#keyPtr);
  }

  /**
   * Writes a request into the module's inputs: every signal's value, `-inf`
   * for a missing one, NaN for an invalid one.
   */
  #encode(signals) {
    if (signals === null || typeof signals !== 'object' || Array.isArray(signals)) {
      throw new RoutecError('a request is an object keyed by signal name', 'request');
    }
    const values = this.#values;
    for (let i = 0; i < values.length; i++) values[i] = MISSING;
    for (const name of Object.keys(signals)) {
      const raw = signals[name];
      // `undefined` is no value (JSON.stringify drops it): the signal is missing.
      if (raw === undefined) continue;
      const i = this.#index.get(name);
      if (i === undefined) throw this.#unknown(name);
      const v = this.#readers[i](raw);
      values[i] = v === undefined || !Number.isFinite(v) ? INVALID : v;
    }
  }

  #unknown(name) {
    let best;
    for (const s of this.#meta.signals) {
      const d = damerauLevenshtein(s.name, name);
      const limit = Math.max(Math.floor(UTF8.encode(s.name).length / 3), 1);
      if (d > 0 && d <= limit && (best === undefined || d < best[0] || (d === best[0] && s.name < best[1]))) {
        best = [d, s.name];
      }
    }
    const hint = best === undefined ? '' : `; did you mean \`${best[1]}\`?`;
    return new RoutecError(`unknown signal \`${name}\`${hint}`, 'request');
  }

  /** Writes `key` (UTF-8) into the key area, growing the memory if needed; returns its length. */
  #writeKey(key) {
    if (typeof key !== 'string') throw new RoutecError('the key must be a string', 'key');
    // Short ASCII keys (the usual user or session ids) are copied directly:
    // cheaper than a call to the encoder.
    const area = this.#keyArea;
    if (key.length <= 64 && key.length <= area.length) {
      let i = 0;
      for (; i < key.length; i++) {
        const c = key.charCodeAt(i);
        if (c >= 0x80) break;
        area[i] = c;
      }
      if (i === key.length) return i;
    }
    for (;;) {
      const { read, written } = UTF8.encodeInto(key, this.#keyArea);
      if (read === key.length) return written;
      const need = this.#keyPtr + UTF8.encode(key).length;
      const pages = Math.ceil((need - this.#memory.buffer.byteLength) / 65536);
      try {
        this.#memory.grow(pages);
      } catch {
        throw new RoutecError(`the key is too long (${need - this.#keyPtr} bytes)`, 'key');
      }
      this.#views();
    }
  }

  #set(base) {
    const out = [];
    const bytes = this.#bytes;
    for (let b = 0; b * 8 < this.#n; b++) {
      const byte = bytes[base + b];
      if (byte === 0) continue;
      for (let bit = 0; bit < 8; bit++) {
        if ((byte & (1 << bit)) !== 0) out.push(this.#meta.signals[b * 8 + bit].name);
      }
    }
    return out;
  }

  #run(signals, key) {
    this.#encode(signals);
    let plan;
    if (key === undefined || key === null) {
      plan = this.#decide(KEYLESS);
    } else {
      if (typeof key !== 'string') throw new RoutecError('the key must be a string', 'key');
      plan = this.#decide(KEY_LATER);
      if (plan === KEY_LATER) plan = this.#decide(this.#writeKey(key));
    }
    if (plan < 0) throw new RoutecError('the key does not fit the module memory', 'key');
    return plan;
  }

  /**
   * Routes one request. `signals` is an object keyed by signal name, with
   * values as `routec explain --request` takes them (`{task: 'code',
   * prompt_tokens: 9000, difficulty: '10%'}`); omitted signals take their
   * defaults, values that do not fit are invalid and take their defaults.
   * `key` is the sticky-split key (a string; omitted: no key). Throws a
   * `RoutecError` (code `request` or `key`) for a request that is not an
   * object, an unknown signal name or a key that is not a string.
   */
  decide(signals, key) {
    const plan = this.#run(signals, key);
    const r = this.#result;
    const rule = this.#meta.rules[r[1]];
    const missing = this.#set(16);
    const invalid = this.#set(48);
    const p = this.#meta.plans[plan];
    return {
      rule: rule.line,
      ruleText: rule.text,
      plan: p.text,
      models: p.models,
      defaulted: invalid.length === 0 ? missing : missing.concat(invalid),
      invalid,
      planIndex: plan,
      ruleIndex: r[1],
      leaf: r[2],
    };
  }

  /**
   * Why `signals` is routed where it is: the decision, the leaf's split
   * shares, the optimizer's cell, and the path through the decision diagram
   * (`routec-runtime`'s `Router::explain`).
   */
  explain(signals, key) {
    const decision = this.decide(signals, key);
    if (this.#compact === undefined) this.#compact = compactDiagram(this.#meta.diagram);
    const values = this.#values;
    const signalsMeta = this.#meta.signals;
    const { steps, leaf } = walk(this.#meta, this.#compact, (s) => {
      const v = values[s];
      if (Number.isFinite(v)) return [v, 'request'];
      return [signalsMeta[s].default, v === MISSING ? 'default' : 'invalid'];
    });
    if (leaf !== decision.leaf) {
      throw new RoutecError(`the explanation ends in leaf ${leaf}, the module decided leaf ${decision.leaf} (a bug in routec-wasm)`, 'corrupt');
    }
    const l = this.#meta.leaves[leaf];
    return {
      ...decision,
      splits: l.splits.map(([plan, share]) => ({ plan: this.#meta.plans[plan].text, share })),
      cell: l.cell,
      path: steps,
    };
  }

  /** The sticky-split hash of `key` as the module computes it (FNV-1a then splitmix64), as a BigInt. */
  keyHash(key) {
    const length = this.#writeKey(key);
    return BigInt.asUintN(64, this.#exports.hash_key(length));
  }
}
