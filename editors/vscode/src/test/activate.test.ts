// activate() against a fake `vscode` module: every contributed command is registered, the debug
// adapter is `orbit dap` from the resolved executable, F5 without launch.json is resolved, and the
// status bar shows the health. The language server is turned off (orbit.lsp.enabled = false).
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { test } from "node:test";
import * as path from "path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const Module = require("module") as { _load: (request: string, ...rest: unknown[]) => unknown };

const dir = mkdtempSync(path.join(tmpdir(), "orbit-activate-"));
const fakeOrbit = path.join(dir, "orbit");
writeFileSync(fakeOrbit, "#!/bin/sh\nexit 0\n");
chmodSync(fakeOrbit, 0o755);

const settings: Record<string, unknown> = { path: fakeOrbit, "lsp.enabled": false, nodes: ["a@h"], cookieFile: "/c" };
const commands = new Map<string, (...args: unknown[]) => unknown>();
const factories = new Map<string, { createDebugAdapterDescriptor: (s: unknown) => unknown }>();
const providers = new Map<string, { resolveDebugConfiguration: (f: unknown, c: unknown) => unknown }>();
const trees = new Map<string, unknown>();
const statusItems: { text: string; tooltip: string; command?: string; show: () => void }[] = [];

class Stub {
  readonly stub = true;
}
class EventEmitter {
  event = () => ({ dispose() {} });
  fire() {}
}
class DebugAdapterExecutable {
  constructor(
    public command: string,
    public args: string[],
  ) {}
}
const disposable = { dispose() {} };
const fake = {
  workspace: {
    getConfiguration: () => ({ get: (k: string, d?: unknown) => (k in settings ? settings[k] : d) }),
    workspaceFolders: undefined,
    onDidChangeConfiguration: () => disposable,
    textDocuments: [],
  },
  window: {
    createOutputChannel: () => ({ appendLine() {}, show() {}, dispose() {} }),
    createStatusBarItem: () => {
      const item = { text: "", tooltip: "", show() {}, dispose() {} };
      statusItems.push(item);
      return item;
    },
    registerTreeDataProvider: (id: string, p: unknown) => (trees.set(id, p), disposable),
    showWarningMessage: async () => undefined,
    showErrorMessage: async () => undefined,
    showInformationMessage: async () => undefined,
  },
  commands: { registerCommand: (id: string, f: (...a: unknown[]) => unknown) => (commands.set(id, f), disposable) },
  debug: {
    registerDebugAdapterDescriptorFactory: (t: string, f: never) => (factories.set(t, f), disposable),
    registerDebugConfigurationProvider: (t: string, p: never) => (providers.set(t, p), disposable),
  },
  EventEmitter,
  DebugAdapterExecutable,
  DebugAdapterServer: Stub,
  ThemeColor: Stub,
  ThemeIcon: Stub,
  TreeItem: Stub,
  StatusBarAlignment: { Left: 1, Right: 2 },
  TreeItemCollapsibleState: { None: 0, Collapsed: 1, Expanded: 2 },
};
const vscode = new Proxy(fake as Record<string, unknown>, { get: (t, k: string) => (k in t ? t[k] : Stub) });
const load = Module._load;
Module._load = function (request: string, ...rest: unknown[]) {
  return request === "vscode" ? vscode : load.call(this, request, ...rest);
};

test("activate registers the commands, the Cluster view, the debugger; F5 and the adapter resolve", async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ext = require("../extension") as { activate: (c: unknown) => Promise<void> };
  await ext.activate({ subscriptions: [], extensionPath: dir, extensionUri: { fsPath: dir } });
  const pkg = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));
  const contributed: string[] = pkg.contributes.commands.map((c: { command: string }) => c.command);
  assert.deepEqual([...commands.keys()].sort(), [...contributed].sort());
  assert.ok(trees.has("orbit.cluster"));

  const desc = factories.get("orbit")!.createDebugAdapterDescriptor({ configuration: { type: "orbit" } }) as DebugAdapterExecutable;
  assert.ok(desc instanceof DebugAdapterExecutable);
  assert.equal(desc.command, fakeOrbit);
  assert.deepEqual(desc.args, ["dap"]);

  const resolved = providers.get("orbit")!.resolveDebugConfiguration(undefined, {}) as Record<string, unknown>;
  assert.equal(resolved.request, "attach");
  assert.equal(resolved.node, "a@h");
  assert.equal(resolved.cookieFile, "/c");

  assert.equal(statusItems.length, 1);
  assert.match(statusItems[0].text, /Orbit/);
  assert.equal(statusItems[0].command, "orbit.showClusterStatus");
});
