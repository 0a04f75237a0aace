// A stand-in for the `vscode` module, enough to load extension.js and vscode-languageclient in
// plain Node and record what the extension asks of the editor. Unknown API members are inert
// classes, so that vscode-languageclient's `class X extends vscode.Y` lines load.
'use strict';

const Module = require('module');
const path = require('path');
const { pathToFileURL, fileURLToPath } = require('url');

class Uri {
  constructor(scheme, fsPath, text) {
    this.scheme = scheme;
    this.fsPath = fsPath;
    this.text = text;
  }
  static parse(text) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text);
    if (!scheme) throw new Error(`not a URI: ${text}`);
    const fsPath = scheme[1] === 'file' ? fileURLToPath(text) : '';
    return new Uri(scheme[1], fsPath, text);
  }
  static file(p) {
    return new Uri('file', p, pathToFileURL(p).href);
  }
  toString() {
    return this.text;
  }
}

class EventEmitter {
  constructor() {
    this.listeners = [];
    this.event = (l) => {
      this.listeners.push(l);
      return { dispose() {} };
    };
  }
  fire(e) {
    this.listeners.forEach((l) => l(e));
  }
  dispose() {}
}

/** A fresh fake editor: `settings` are the `routec.*` values, `recorded` what the extension did. */
function createFake(settings = {}) {
  const recorded = { commands: new Map(), errors: [], warnings: [], terminals: [], executed: [], output: [] };
  const api = {
    version: '1.82.0',
    Uri,
    EventEmitter,
    Disposable: class {
      constructor(f) {
        this.dispose = f || (() => {});
      }
      static from(...ds) {
        return { dispose: () => ds.forEach((d) => d && d.dispose && d.dispose()) };
      }
    },
    window: {
      activeTextEditor: undefined,
      terminals: [],
      createOutputChannel: (name) => ({
        name,
        appendLine: (l) => recorded.output.push(l),
        append: (l) => recorded.output.push(l),
        show() {},
        clear() {},
        dispose() {},
      }),
      showErrorMessage: async (m) => {
        recorded.errors.push(m);
        return undefined;
      },
      showWarningMessage: async (m) => {
        recorded.warnings.push(m);
        return undefined;
      },
      showInformationMessage: async () => undefined,
      createTerminal: (options) => {
        const t = { name: options.name, options, exitStatus: undefined, sent: [], show() {}, sendText: (s) => t.sent.push(s) };
        recorded.terminals.push(t);
        api.window.terminals.push(t);
        return t;
      },
    },
    workspace: {
      workspaceFolders: undefined,
      textDocuments: [],
      getConfiguration: (section) => ({
        get: (key, def) => {
          const v = settings[`${section}.${key}`];
          return v === undefined ? def : v;
        },
      }),
      getWorkspaceFolder: () => undefined,
      onDidChangeConfiguration: () => ({ dispose() {} }),
    },
    commands: {
      registerCommand: (id, handler) => {
        if (recorded.commands.has(id)) throw new Error(`command '${id}' already exists`);
        recorded.commands.set(id, handler);
        return { dispose: () => recorded.commands.delete(id) };
      },
      executeCommand: async (...args) => {
        recorded.executed.push(args);
      },
    },
  };
  // Namespaces answer unknown `onDid...` members with an event that never fires.
  const namespace = (ns) =>
    new Proxy(ns, {
      get(target, prop) {
        if (prop in target) return target[prop];
        if (typeof prop === 'string' && /^on[A-Z]/.test(prop)) return () => ({ dispose() {} });
        return undefined;
      },
    });
  for (const key of ['window', 'workspace', 'commands', 'languages', 'env', 'extensions', 'notebooks']) {
    api[key] = namespace(api[key] || {});
  }
  const inert = new Map();
  const vscode = new Proxy(api, {
    get(target, prop) {
      if (prop in target) return target[prop];
      if (typeof prop !== 'string') return undefined;
      if (!inert.has(prop)) inert.set(prop, class {});
      return inert.get(prop);
    },
  });
  return { vscode, recorded };
}

/**
 * Loads `file` (extension.js) with `require('vscode')` answered by the fake; every module is
 * loaded afresh so fakes do not leak between tests.
 */
function loadWithFake(file, fake) {
  const original = Module._load;
  Module._load = function (request, parent, isMain) {
    if (request === 'vscode') return fake.vscode;
    return original.call(this, request, parent, isMain);
  };
  try {
    for (const key of Object.keys(require.cache)) {
      if (key.includes(`${path.sep}vscode-languageclient${path.sep}`) || key === require.resolve(file)) delete require.cache[key];
    }
    return require(file);
  } finally {
    Module._load = original;
  }
}

module.exports = { createFake, loadWithFake, Uri };
