import assert from "node:assert/strict";
import { test } from "node:test";
import { healthText, worstAlert } from "../health";
import { normalizeHealth } from "../model";

const base = {
  connected: true,
  status: "ok",
  message: "3 nodes up",
  nodes: [
    { node: "a@h", up: true, status: "ok", reason: null, processes: 412, memory: 41234432, longestQueue: { pid: "#PID<0.234.0>", len: 12 } },
    { node: "b@h", up: true, status: "ok", reason: null },
    { node: "c@h", up: true, status: "ok", reason: null },
  ],
  alerts: [],
  partition: null,
  updatedMs: 1764215000000,
};

test("no health yet, and disconnected", () => {
  assert.match(healthText(undefined).text, /Orbit$/);
  const t = healthText(normalizeHealth({ connected: false, status: "disconnected", message: "no node reachable", nodes: [] }));
  assert.match(t.text, /disconnected/);
  assert.match(t.tooltip, /no node reachable/);
  assert.equal(t.severity, "warning");
});

test("all up: nodes up/total and no alert", () => {
  const t = healthText(normalizeHealth(base));
  assert.equal(t.text, "$(pulse) Orbit 3/3");
  assert.equal(t.severity, "ok");
  assert.match(t.tooltip, /a@h — ok/);
});

test("a node down and the worst alert is shown", () => {
  const h = normalizeHealth({
    ...base,
    status: "critical",
    nodes: [...base.nodes.slice(0, 2), { node: "c@h", up: false, status: "down", reason: "connection closed" }],
    alerts: [
      { node: "a@h", level: "degraded", key: "mailbox", message: "queue long" },
      { node: "b@h", level: "critical", key: "memory", message: "memory on b@h at 97%" },
    ],
  });
  const t = healthText(h);
  assert.equal(t.text, "$(error) Orbit 2/3 · critical: memory on b@h at 97%");
  assert.equal(t.severity, "error");
  assert.match(t.tooltip, /c@h — down \(connection closed\)/);
  assert.equal(worstAlert(h.alerts)?.key, "memory");
});

test("degraded: warning severity; long alert text is cut", () => {
  const msg = "Bank.Mailbox #PID<0.153.0> on orbit_demo_2@vm has 19,938 messages queued (threshold 5,000)";
  const t = healthText(normalizeHealth({ ...base, status: "degraded", alerts: [{ node: "b@h", level: "degraded", message: msg }] }));
  assert.equal(t.severity, "warning");
  assert.ok(t.text.startsWith("$(warning) Orbit 3/3 · degraded: Bank.Mailbox"));
  assert.ok(t.text.endsWith("…"));
});

test("partition is shown", () => {
  const t = healthText(normalizeHealth({ ...base, partition: { groups: [["a@h", "b@h"], ["c@h"]] } }));
  assert.match(t.text, /partition/);
  assert.match(t.tooltip, /\[a@h, b@h\] \[c@h\]/);
  assert.equal(t.severity, "error");
});

test("malformed input does not throw", () => {
  const h = normalizeHealth({ nodes: [{ up: "yes" }, null], alerts: "x", partition: 3 });
  assert.equal(h.connected, false);
  assert.equal(h.nodes.length, 2);
  assert.equal(h.nodes[0].node, "?");
  assert.deepEqual(h.alerts, []);
  assert.equal(h.partition, null);
  assert.doesNotThrow(() => healthText(h));
});
