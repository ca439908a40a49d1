// The manifest: what VS Code reads from package.json, checked against the extension's code.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import * as path from "path";

const root = path.join(__dirname, "..", "..");
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const extensionSrc = readFileSync(path.join(root, "src", "extension.ts"), "utf8");

test("a debugger of type orbit for Elixir and Erlang, with breakpoints", () => {
  const dbg = pkg.contributes.debuggers.find((d: { type: string }) => d.type === "orbit");
  assert.ok(dbg);
  assert.deepEqual(dbg.languages, ["elixir", "erlang"]);
  assert.deepEqual(pkg.contributes.breakpoints.map((b: { language: string }) => b.language), ["elixir", "erlang"]);
  assert.deepEqual(dbg.configurationAttributes.attach.required, ["node"]);
  assert.deepEqual(dbg.configurationAttributes.launch.required, ["projectDir"]);
  const requests = dbg.initialConfigurations.map((c: { request: string }) => c.request);
  assert.deepEqual(requests, ["attach", "launch"]);
  assert.equal(dbg.initialConfigurations[1].nodes, 3);
  assert.ok(dbg.configurationSnippets.length >= 2);
});

test("the elixir and erlang languages are contributed, so a VS Code without an Elixir or Erlang extension opens .ex/.erl files as them (language server and breakpoints)", () => {
  const langs = Object.fromEntries(pkg.contributes.languages.map((l: { id: string; extensions: string[] }) => [l.id, l.extensions]));
  assert.deepEqual(langs, { elixir: [".ex", ".exs"], erlang: [".erl", ".hrl"] });
});

test("initial configurations and snippets use only attributes the adapter accepts", () => {
  const dbg = pkg.contributes.debuggers[0];
  const common = new Set(["type", "request", "name"]);
  for (const c of [...dbg.initialConfigurations, ...dbg.configurationSnippets.map((s: { body: unknown }) => s.body)]) {
    const props = dbg.configurationAttributes[c.request].properties;
    for (const k of Object.keys(c)) assert.ok(common.has(k) || k in props, `${c.request}: unknown attribute ${k}`);
    for (const r of dbg.configurationAttributes[c.request].required) assert.ok(r in c, `${c.name}: missing ${r}`);
  }
});

test("activation on Elixir/Erlang files, debugging and the Cluster view", () => {
  for (const e of ["onLanguage:elixir", "onLanguage:erlang", "onDebugResolve:orbit", "onView:orbit.cluster"]) {
    assert.ok(pkg.activationEvents.includes(e), e);
  }
  assert.equal(pkg.main, "./dist/extension.js");
  assert.equal(pkg.contributes.views.debug[0].id, "orbit.cluster");
});

test("every contributed command is registered, and none clashes with the server's command ids", () => {
  const ids: string[] = pkg.contributes.commands.map((c: { command: string }) => c.command);
  for (const id of ids) assert.ok(extensionSrc.includes(`reg("${id}"`), `${id} is not registered in extension.ts`);
  const server = ["orbit.reload", "orbit.drift", "orbit.status", "orbit.processes", "orbit.sandbox.create", "orbit.trace.start"];
  for (const s of server) assert.ok(!ids.includes(s), `${s} would clash with vscode-languageclient's registration`);
  for (const t of ["Reload Module (All Nodes)", "Show Drift", "Sandbox: Create", "Sandbox: Migrate", "Sandbox: Destroy", "Sandbox: Balance", "Trace Function Calls", "Stop Trace", "Show Cluster Status", "Show Processes"]) {
    assert.ok(pkg.contributes.commands.some((c: { title: string }) => c.title === t), t);
  }
});

test("settings the extension reads are contributed", () => {
  const props = pkg.contributes.configuration.properties;
  for (const k of ["orbit.path", "orbit.nodes", "orbit.cookie", "orbit.cookieFile", "orbit.autoReloadOnSave", "orbit.thresholds", "orbit.traceLimit", "orbit.refreshIntervalMs", "orbit.lsp.enabled", "orbit.sslDistOptfile", "orbit.tlsCert", "orbit.tlsKey", "orbit.tlsCa", "orbit.tlsVerify", "orbit.tlsServerName"]) {
    assert.ok(k in props, k);
  }
  assert.deepEqual(Object.keys(props["orbit.thresholds"].properties).sort(), ["mailboxCritical", "mailboxWarning", "memoryWarning"]);
});
