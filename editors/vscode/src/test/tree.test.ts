import assert from "node:assert/strict";
import { test } from "node:test";
import { normalizeHealth, normalizeProcesses, normalizeSandboxes } from "../model";
import { TreeModel, buildClusterTree } from "../tree";

const health = normalizeHealth({
  connected: true,
  status: "degraded",
  message: "2 of 3 nodes up",
  nodes: [
    { node: "a@h", up: true, status: "ok", reason: null, processes: 412, memory: 41234432, longestQueue: { pid: "#PID<0.234.0>", len: 12 } },
    { node: "b@h", up: true, status: "degraded", reason: null, processes: 90 },
    { node: "c@h", up: false, status: "down", reason: "connection closed" },
  ],
  alerts: [
    { node: "b@h", level: "degraded", key: "mailbox", message: "Bank.Mailbox has 20,000 messages queued" },
    { level: "warning", key: "trend", message: "memory grows" },
  ],
  partition: null,
});

const processes = normalizeProcesses({
  total: 8,
  processes: [
    ...[1, 2, 3, 4, 5, 6].map((i) => ({ node: "a@h", pid: `#PID<0.${i}.0>`, memory: i * 1000, message_queue_len: 0 })),
    { node: "b@h", pid: "#PID<0.153.0>", registered_name: "Bank.Mailbox", memory: 5_000_000, message_queue_len: 20000 },
  ],
  errors: {},
}).processes;

const sandboxes = normalizeSandboxes([
  { id: "fees-1", node: "a@h", status: "running" },
  { id: "old-1", node: "z@h", status: "running" },
]);

function find(models: TreeModel[], id: string): TreeModel | undefined {
  for (const m of models) {
    if (m.id === id) return m;
    const inner = find(m.children, id);
    if (inner) return inner;
  }
  return undefined;
}

test("waiting and disconnected states are single messages", () => {
  assert.equal(buildClusterTree({ health: undefined, processes: [], sandboxes: [] })[0].kind, "message");
  const t = buildClusterTree({ health: normalizeHealth({ connected: false, message: "no node reachable" }), processes: [], sandboxes: [] });
  assert.deepEqual(t.map((m) => m.label), ["no node reachable"]);
});

test("nodes at the top level, in order, with status", () => {
  const t = buildClusterTree({ health, processes, sandboxes });
  const nodes = t.filter((m) => m.kind === "node");
  assert.deepEqual(nodes.map((n) => [n.label, n.description]), [
    ["a@h", "ok"],
    ["b@h", "degraded"],
    ["c@h", "down"],
  ]);
});

test("health figures under a node", () => {
  const a = find(buildClusterTree({ health, processes, sandboxes }), "node:a@h")!;
  const figures = a.children.filter((c) => c.kind === "figure").map((c) => `${c.label}=${c.description}`);
  assert.deepEqual(figures, ["status=ok", "processes=412", "memory=39.3 MiB", "longest queue=12 (#PID<0.234.0>)"]);
  const c = find(buildClusterTree({ health, processes, sandboxes }), "node:c@h")!;
  assert.equal(c.children[0].description, "down (connection closed)");
});

test("top processes: at most 5 per node, by memory, named when registered", () => {
  const t = buildClusterTree({ health, processes, sandboxes });
  const procs = find(t, "node:a@h:procs")!;
  assert.equal(procs.children.length, 5);
  assert.equal(procs.children[0].label, "#PID<0.6.0>");
  assert.equal(find(t, "node:b@h:procs")!.children[0].label, "Bank.Mailbox #PID<0.153.0>");
});

test("alerts go under their node; others and orphan sandboxes at the top", () => {
  const t = buildClusterTree({ health, processes, sandboxes });
  const b = find(t, "node:b@h")!;
  assert.ok(b.children.some((c) => c.kind === "alert" && /20,000/.test(c.description ?? "")));
  assert.equal(find(t, "node:a@h:sandboxes")!.children[0].label, "fees-1");
  assert.equal(find(t, "sandboxes:other")!.children[0].description, "running on z@h");
  assert.ok(t.some((m) => m.kind === "alert" && m.description === "memory grows"));
});

test("ids are unique (VS Code requires it)", () => {
  const ids: string[] = [];
  const walk = (ms: TreeModel[]) => ms.forEach((m) => (ids.push(m.id), walk(m.children)));
  walk(buildClusterTree({ health: normalizeHealth({ ...health, partition: { groups: [["a@h"], ["b@h"]] } }), processes, sandboxes }));
  assert.equal(new Set(ids).size, ids.length);
});
