// editors/README.md stays true: its Neovim setup, copied verbatim from the README into an init.lua,
// starts `routec lsp` for a .route file in headless Neovim (the `nvim` that
// scripts/setup-test-deps installs), which then receives the server's diagnostics for a broken
// policy, a hover and the Simulate / Run tests code lenses. The block tested is the one for the
// installed Neovim (Debian 12 ships 0.7); with 0.10 or later both blocks are tested.
'use strict';

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const test = require('node:test');
const { spawnSync } = require('child_process');
const { REPO, routecBinary } = require('./helpers');

const readme = fs.readFileSync(path.join(REPO, 'editors', 'README.md'), 'utf8');

/** The ```lua block that follows `heading` in editors/README.md. */
function luaBlock(heading) {
  const at = readme.indexOf(heading);
  assert.ok(at >= 0, `no "${heading}" in editors/README.md`);
  const m = /```lua\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(m, `no lua block after "${heading}"`);
  return m[1];
}

function nvimVersion() {
  const run = spawnSync('nvim', ['--version'], { encoding: 'utf8' });
  assert.ok(!run.error, '`nvim` is not installed: run scripts/setup-test-deps');
  const m = /NVIM v(\d+)\.(\d+)/.exec(run.stdout);
  assert.ok(m, `unexpected \`nvim --version\`: ${run.stdout}`);
  return [Number(m[1]), Number(m[2])];
}

// Waits (polling, bounded) for diagnostics, then asks for a hover and the code lenses and prints
// them as one JSON line.
const PROBE = `
local function finish(result)
  io.stdout:write('RESULT ' .. vim.fn.json_encode(result) .. '\\n')
  vim.cmd('qa!')
end
local function probe()
  local result = { filetype = vim.bo.filetype, diagnostics = {}, hover = '', lenses = {} }
  for _, d in ipairs(vim.diagnostic.get(0)) do
    table.insert(result.diagnostics, { line = d.lnum + 1, message = d.message })
  end
  local hover = vim.lsp.buf_request_sync(0, 'textDocument/hover', {
    textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = HOVER_LINE, character = HOVER_CHAR },
  }, 10000)
  for _, r in pairs(hover or {}) do
    if r.result and r.result.contents then result.hover = r.result.contents.value or '' end
  end
  local lenses = vim.lsp.buf_request_sync(0, 'textDocument/codeLens', { textDocument = { uri = vim.uri_from_bufnr(0) } }, 10000)
  for _, r in pairs(lenses or {}) do
    for _, l in ipairs(r.result or {}) do
      if l.command then table.insert(result.lenses, { title = l.command.title, command = l.command.command }) end
    end
  end
  finish(result)
end
local polls = 0
local function poll()
  polls = polls + 1
  if #vim.diagnostic.get(0) > 0 then probe()
  elseif polls > 300 then finish({ filetype = vim.bo.filetype, diagnostics = {}, timeout = true })
  else vim.defer_fn(poll, 100) end
end
vim.cmd('edit ' .. vim.fn.fnameescape(POLICY))
vim.defer_fn(poll, 100)
`;

function runSetup(t, heading) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'routec-nvim-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // A policy with one mistake: a misspelt fallback model.
  const source = fs.readFileSync(path.join(REPO, 'examples', 'support.route'), 'utf8');
  const broken = source.replace('  fallback medium\n', '  fallback medum\n');
  assert.notStrictEqual(broken, source);
  const policy = path.join(dir, 'broken.route');
  fs.writeFileSync(policy, broken);
  const lines = broken.split('\n');
  const hoverLine = lines.findIndex((l) => l.startsWith('model small'));
  // The README's snippet runs `routec`: put the workspace build first on PATH.
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(routecBinary(), path.join(bin, 'routec'));
  const init = path.join(dir, 'init.lua');
  const probe = PROBE.replace('POLICY', JSON.stringify(policy))
    .replace('HOVER_LINE', String(hoverLine))
    .replace('HOVER_CHAR', String('model s'.length));
  fs.writeFileSync(init, luaBlock(heading) + '\n' + probe);
  const run = spawnSync('nvim', ['--headless', '--clean', '-u', init], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}`, XDG_STATE_HOME: dir, XDG_CACHE_HOME: dir },
    timeout: 120000,
  });
  const line = `${run.stdout}\n${run.stderr}`.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `Neovim printed no result:\n${run.stdout}\n${run.stderr}`);
  const result = JSON.parse(line.slice('RESULT '.length));
  assert.strictEqual(result.filetype, 'route');
  assert.ok(!result.timeout, 'no diagnostics arrived from routec lsp');
  const fallbackLine = lines.findIndex((l) => l === '  fallback medum') + 1;
  assert.deepStrictEqual(
    result.diagnostics.map((d) => d.line),
    [fallbackLine],
    `diagnostics: ${JSON.stringify(result.diagnostics)}`,
  );
  assert.match(result.diagnostics[0].message, /unknown model `medum`/);
  assert.match(result.hover, /model small/);
  const commands = result.lenses.map((l) => l.command).sort();
  assert.deepStrictEqual(commands, ['routec.runTests', 'routec.simulate']);
}

test('the Neovim 0.7 to 0.9 setup in editors/README.md works with routec lsp', (t) => {
  nvimVersion();
  runSetup(t, '### Neovim 0.7 to 0.9');
});

test('the Neovim 0.10 setup in editors/README.md works with routec lsp', (t) => {
  const [major, minor] = nvimVersion();
  if (major === 0 && minor < 10) {
    t.skip(`Neovim ${major}.${minor} is installed; this setup needs 0.10`);
    return;
  }
  runSetup(t, '### Neovim 0.10 and later');
});
