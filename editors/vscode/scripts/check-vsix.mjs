// Checks a built .vsix: its file list and the manifest VS Code will read from it, and that the
// bundled extension loads (against a stub `vscode` module) and exports activate/deactivate.
//   node scripts/check-vsix.mjs orbit-0.1.0.vsix
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

const vsix = process.argv[2];
assert.ok(vsix, "usage: check-vsix.mjs FILE.vsix");
const listing = execFileSync("unzip", ["-Z1", vsix], { encoding: "utf8" }).split("\n").filter(Boolean);
for (const f of ["extension/package.json", "extension/dist/extension.js", "extension/media/mermaid.min.js", "extension.vsixmanifest"]) {
  assert.ok(listing.includes(f), `${f} missing from ${vsix}`);
}
for (const f of listing) {
  assert.ok(!/node_modules|\/src\/|\/out\/|\.ts$|\.map$/.test(f), `${f} should not be packaged`);
}

const pkg = JSON.parse(execFileSync("unzip", ["-p", vsix, "extension/package.json"], { encoding: "utf8" }));
const dbg = (pkg.contributes?.debuggers ?? []).find((d) => d.type === "orbit");
assert.ok(dbg, "contributes.debuggers has no type orbit");
assert.ok(dbg.configurationAttributes?.attach?.properties?.node, "attach schema");
assert.ok(dbg.configurationAttributes?.launch?.properties?.projectDir, "launch schema");
for (const e of ["onLanguage:elixir", "onLanguage:erlang", "onDebugResolve:orbit"]) {
  assert.ok(pkg.activationEvents.includes(e), `activation event ${e}`);
}
const commands = pkg.contributes.commands.map((c) => c.command);
for (const c of ["orbit.reloadModule", "orbit.reloadModuleOnNode", "orbit.showDrift", "orbit.sandboxCreate", "orbit.sandboxMigrate", "orbit.sandboxDestroy", "orbit.sandboxBalance", "orbit.traceCalls", "orbit.stopTrace", "orbit.showClusterStatus", "orbit.showProcesses"]) {
  assert.ok(commands.includes(c), `command ${c}`);
}
assert.ok(pkg.contributes.views.debug.some((v) => v.id === "orbit.cluster"), "Cluster view in Run and Debug");

// Load the bundle with a stub `vscode`: it must need nothing else (no node_modules in the package).
const dir = mkdtempSync(join(tmpdir(), "orbit-vsix-"));
try {
  execFileSync("unzip", ["-q", vsix, "extension/dist/extension.js", "-d", dir]);
  const require = createRequire(join(dir, "extension/dist/extension.js"));
  const Module = require("node:module");
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, ...rest) {
    if (request === "vscode") return "vscode";
    return resolve.call(this, request, ...rest);
  };
  require.cache.vscode = { id: "vscode", filename: "vscode", loaded: true, exports: new Proxy({}, { get: () => function Stub() {} }) };
  const ext = require(join(dir, "extension/dist/extension.js"));
  assert.equal(typeof ext.activate, "function");
  assert.equal(typeof ext.deactivate, "function");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`${vsix}: ${listing.length} files; manifest ok (debugger orbit, ${commands.length} commands); bundle loads`);
