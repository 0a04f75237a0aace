// Copies the canonical TextMate grammar (grammar/route.tmLanguage.json at the repository root)
// into syntaxes/, where the extension manifest points. The copy is build output: it is ignored
// by git, made before packaging (`vscode:prepublish`) and never edited by hand.
'use strict';

const fs = require('fs');
const path = require('path');

const source = path.resolve(__dirname, '..', '..', '..', 'grammar', 'route.tmLanguage.json');
const target = path.resolve(__dirname, '..', 'syntaxes', 'route.tmLanguage.json');

JSON.parse(fs.readFileSync(source, 'utf8')); // refuse to ship a grammar that is not JSON
fs.mkdirSync(path.dirname(target), { recursive: true });
// Write then rename, so a reader never sees half a file.
const temp = `${target}.${process.pid}.tmp`;
fs.copyFileSync(source, temp);
fs.renameSync(temp, target);
console.log(`copied ${path.relative(process.cwd(), source)} to ${path.relative(process.cwd(), target)}`);
