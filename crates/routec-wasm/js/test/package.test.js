// The package is publishable as it is: `npm pack` carries exactly the files
// it needs, and its core uses no Node-only API (it runs in browsers and
// Workers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const dir = new URL('..', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8'));

test('npm pack carries the package', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const [packed] = JSON.parse(out);
  const files = packed.files.map((f) => f.path).sort();
  assert.deepEqual(files, ['README.md', 'explain.js', 'index.d.ts', 'index.js', 'package.json', 'sha256.js', 'values.js']);
  assert.equal(packed.name, 'routec-wasm');
});

test('the entry points exist and the core is portable', () => {
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.exports['.'].default, './index.js');
  assert.equal(pkg.exports['.'].types, './index.d.ts');
  assert.deepEqual(Object.keys(pkg.dependencies ?? {}), []);
  for (const file of ['index.js', 'values.js', 'explain.js', 'sha256.js']) {
    const source = readFileSync(new URL(file, dir), 'utf8');
    for (const nodeOnly of [/from 'node:/, /require\(/, /\bprocess\./, /\bBuffer\.(from|alloc|concat|isBuffer)/, /__dirname/]) {
      assert.doesNotMatch(source, nodeOnly, `${file} uses a Node-only API`);
    }
  }
});

test('the declarations name every export', async () => {
  const types = readFileSync(new URL('index.d.ts', dir), 'utf8');
  const exported = Object.keys(await import('../index.js')).sort();
  assert.deepEqual(exported, ['ABI_VERSION', 'RoutecError', 'Router', 'SECTION', 'load']);
  for (const name of exported) assert.match(types, new RegExp(`export (const|class|function) ${name}\\b`));
});
