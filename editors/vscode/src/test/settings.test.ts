import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveDebugConfig } from "../debugConfig";
import { buildServerSettings } from "../settings";

function getter(values: Record<string, unknown>) {
  return (k: string) => values[k];
}

test("server settings are flattened to the keys orbit lsp reads", () => {
  const s = buildServerSettings(
    getter({
      path: "/x/orbit",
      nodes: [" a@h ", "", "b@h"],
      cookie: "",
      cookieFile: "~/.erlang.cookie",
      autoReloadOnSave: true,
      thresholds: { mailboxWarning: 500, mailboxCritical: 5000.7, memoryWarning: -1, bogus: 3 },
      traceLimit: 50,
      refreshIntervalMs: 1000,
      readOnly: true,
    }),
  );
  assert.deepEqual(s, {
    nodes: ["a@h", "b@h"],
    cookieFile: "~/.erlang.cookie",
    autoReloadOnSave: true,
    refreshIntervalMs: 1000,
    mailboxWarning: 500,
    mailboxCritical: 5000,
    traceLimit: 50,
    readOnly: true,
  });
});

test("defaults (empty settings) send nothing, so the server's defaults and .orbit.toml apply", () => {
  assert.deepEqual(buildServerSettings(getter({ nodes: [], cookie: "", cookieFile: "", thresholds: {} })), {});
});

test("F5 without launch.json: attach to orbit.nodes[0] with the configured cookie", () => {
  const c = resolveDebugConfig({}, { nodes: ["a@h", "b@h"], cookieFile: "/c" });
  assert.equal(typeof c, "object");
  assert.deepEqual(c, {
    type: "orbit",
    request: "attach",
    name: "Orbit: attach to a@h",
    node: "a@h",
    projectDir: "${workspaceFolder}",
    cookieFile: "/c",
  });
});

test("F5 without launch.json and no nodes: launch a 3-node cluster of the workspace", () => {
  const c = resolveDebugConfig({}, {});
  assert.ok(typeof c === "object");
  assert.equal(c.request, "launch");
  assert.equal(c.nodes, 3);
  assert.equal(c.projectDir, "${workspaceFolder}");
});

test("attach without node takes orbit.nodes; an explicit cookie is kept", () => {
  const c = resolveDebugConfig({ type: "orbit", request: "attach", name: "x", cookie: "k" }, { nodes: ["a@h", "b@h"], cookie: "other" });
  assert.ok(typeof c === "object");
  assert.equal(c.node, "a@h");
  assert.deepEqual(c.nodes, ["b@h"]);
  assert.equal(c.cookie, "k");
  assert.equal(c.cookieFile, undefined);
});

test("attach with no node anywhere, or an unknown request, is an error message", () => {
  assert.match(String(resolveDebugConfig({ type: "orbit", request: "attach", name: "x" }, {})), /needs "node"/);
  assert.match(String(resolveDebugConfig({ type: "orbit", request: "restart", name: "x" }, {})), /unknown request/);
});

test("TLS settings go to the server and to attach configurations that set none", () => {
  const s = buildServerSettings(getter({ sslDistOptfile: " /etc/app/ssl_dist.conf ", tlsCa: "/ca.pem", tlsCert: "", tlsVerify: "verify_peer" }));
  assert.deepEqual(s, { sslDistOptfile: "/etc/app/ssl_dist.conf", tlsCa: "/ca.pem", tlsVerify: "verify_peer" });
  const filled = resolveDebugConfig({ type: "orbit", request: "attach", name: "x", node: "a@h" }, s);
  assert.ok(typeof filled === "object");
  assert.equal(filled.sslDistOptfile, "/etc/app/ssl_dist.conf");
  assert.equal(filled.tlsCa, "/ca.pem");
  // A configuration with TLS keys of its own keeps exactly those.
  const own = resolveDebugConfig({ type: "orbit", request: "attach", name: "x", node: "a@h", tlsCa: "/other.pem" }, s);
  assert.ok(typeof own === "object");
  assert.equal(own.tlsCa, "/other.pem");
  assert.equal(own.sslDistOptfile, undefined);
});
