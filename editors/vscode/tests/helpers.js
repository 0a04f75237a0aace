// Shared by the node tests: repository paths and the routec binary.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const EXTENSION = path.resolve(__dirname, '..');
const REPO = path.resolve(EXTENSION, '..', '..');
const GRAMMAR = path.join(REPO, 'grammar', 'route.tmLanguage.json');

/**
 * The routec binary: $ROUTEC when set, else the workspace's debug build (built with cargo on
 * first use; `scripts/test` has already built it by the time these tests run).
 */
function routecBinary() {
  if (process.env.ROUTEC) return process.env.ROUTEC;
  const exe = path.join(REPO, 'target', 'debug', process.platform === 'win32' ? 'routec.exe' : 'routec');
  if (!fs.existsSync(exe)) {
    const build = spawnSync('cargo', ['build', '-q', '-p', 'routec'], { cwd: REPO, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('`cargo build -p routec` failed');
  }
  return exe;
}

module.exports = { EXTENSION, REPO, GRAMMAR, routecBinary };
