/** The module ABI version this package reads. */
export const ABI_VERSION: 2;

/** The name of the module's metadata section. */
export const SECTION: 'routec';

/** Why a module was refused or a request could not be read. */
export class RoutecError extends Error {
  readonly name: 'RoutecError';
  /**
   * `not_wasm` (not WebAssembly), `corrupt` (corrupt or truncated), `not_routec`
   * (not compiled by routec), `abi` (another ABI version), `request` (not an
   * object, or an unknown signal), `key` (not a string, or too long).
   */
  readonly code: 'not_wasm' | 'corrupt' | 'not_routec' | 'abi' | 'request' | 'key';
}

/**
 * A signal value as `routec explain --request` takes it: enum variants as
 * strings, bools as booleans (or `"true"`/`"false"`), tokens and ints as whole
 * numbers (or `"12k"`), ratios in `0..1` (or `"10%"`), durations in seconds
 * (or `"200ms"`), money in USD (or `"$0.5"`). A value that does not fit its
 * signal is invalid and takes the default; `undefined` is the same as omitting it.
 */
export type SignalValue = string | number | boolean | null | undefined;

/** A request: signal name to value. */
export type Signals = Readonly<Record<string, SignalValue>>;

export interface Decision {
  /** The matching rule's 1-based line in the policy. */
  rule: number;
  /** The rule as written, e.g. `when has_images => large`. */
  ruleText: string;
  /** The chosen plan in the language's syntax, e.g. `search else small`. */
  plan: string;
  /** The models the plan calls, in order. */
  models: string[];
  /**
   * The signals the decision read that took their default: the missing ones
   * (in table order), then the invalid ones.
   */
  defaulted: string[];
  /** The signals the decision read whose value was invalid (also in `defaulted`). */
  invalid: string[];
  /** Index into `info.plans`. */
  planIndex: number;
  /** Index into `info.rules`. */
  ruleIndex: number;
  /** The table's leaf. */
  leaf: number;
}

export interface Step {
  signal: string;
  /** The value tested, as the language writes it. */
  value: string;
  /** Where it came from: the request, the default (missing) or the default (invalid). */
  origin: 'request' | 'default' | 'invalid';
  /** The test as taken, e.g. `prompt_tokens = 500 < 2000`. */
  test: string;
}

export interface Explanation extends Decision {
  /** Every plan of the leaf with its share (one entry unless split). */
  splits: { plan: string; share: number }[];
  /** The optimizer's cell, as a readable predicate, when known. */
  cell: string | null;
  /** The tests taken through the decision diagram. */
  path: Step[];
}

export interface SignalInfo {
  readonly name: string;
  readonly kind: 'bool' | 'int' | 'tokens' | 'ratio' | 'duration' | 'money' | 'enum';
  /** An enum's variants, in order (empty otherwise). */
  readonly variants: readonly string[];
  /** The default in base units (an enum's variant index, 0/1 for bools). */
  readonly default: number;
  /** The default as the language writes it. */
  readonly defaultText: string;
  /** `tokens`, `ratio` (0..1), `seconds`, `usd`, or null. */
  readonly unit: 'tokens' | 'ratio' | 'seconds' | 'usd' | null;
  /** Where a request carries it. */
  readonly source: 'builtin' | 'header' | 'metadata' | 'classifier';
  /** The header, metadata key or classifier name. */
  readonly sourceName: string | null;
}

export interface Info {
  readonly abi: number;
  readonly generator: string;
  readonly policy: string;
  /** `sha256:` and the digest of the policy's source. */
  readonly sourceHash: string;
  readonly schemaVersion: number;
  readonly languageVersion: string;
  readonly compilerVersion: string;
  readonly signals: readonly SignalInfo[];
  readonly rules: readonly { readonly line: number; readonly text: string }[];
  readonly plans: readonly { readonly text: string; readonly models: readonly string[] }[];
}

/** A loaded module. Not safe to share between concurrent callers of one instance (none exist in JS). */
export class Router {
  private constructor();
  readonly info: Info;
  /**
   * Routes one request; `key` is the sticky-split key (omitted: no key).
   * @throws {RoutecError} `request` for a request that is not an object or
   * names an unknown signal, `key` for a key that is not a string.
   */
  decide(signals: Signals, key?: string | null): Decision;
  /** The decision and why: the leaf's splits, the cell, the path through the diagram. */
  explain(signals: Signals, key?: string | null): Explanation;
  /** The sticky-split hash of `key` (FNV-1a then splitmix64), as the module computes it. */
  keyHash(key: string): bigint;
}

/**
 * Loads a module compiled by `routec compile POLICY --format wasm`: its bytes
 * (ArrayBuffer or typed array, e.g. a Node Buffer) or a compiled
 * `WebAssembly.Module`.
 * @throws {RoutecError} `not_wasm`, `corrupt`, `not_routec` or `abi`.
 */
export function load(source: ArrayBuffer | ArrayBufferView | WebAssembly.Module): Promise<Router>;
