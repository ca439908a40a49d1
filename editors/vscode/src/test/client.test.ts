import assert from "node:assert/strict";
import { test } from "node:test";
import { COMMANDS, OrbitClient, countArgs, functionAt, moduleOfSource } from "../client";
import { driftReport, nodePicks, processesReport, reloadSummary, statusReport } from "../format";
import { normalizeHealth } from "../model";

function fake(answers: Record<string, unknown>) {
  const calls: { method: string; params: unknown }[] = [];
  const client = new OrbitClient({
    sendRequest: async (method, params) => {
      calls.push({ method, params });
      const p = params as { command?: string } | undefined;
      return answers[p?.command ?? method];
    },
  });
  return { client, calls };
}

test("commands go through workspace/executeCommand with one object argument, undefined keys dropped", async () => {
  const { client, calls } = fake({ "orbit.reload": { outcome: "loaded" } });
  await client.reload("/p/fees.ex", undefined);
  await client.reload("/p/fees.ex", ["b@h"]);
  await client.traceStart("Bank.Fees.charge/2", 100);
  await client.sandboxMigrate("fees-1", "c@h", true);
  await client.sandboxBalance({ dryRun: true });
  assert.deepEqual(calls, [
    { method: "workspace/executeCommand", params: { command: "orbit.reload", arguments: [{ file: "/p/fees.ex" }] } },
    { method: "workspace/executeCommand", params: { command: "orbit.reload", arguments: [{ file: "/p/fees.ex", nodes: ["b@h"] }] } },
    { method: "workspace/executeCommand", params: { command: "orbit.trace.start", arguments: [{ pattern: "Bank.Fees.charge/2", limit: 100 }] } },
    { method: "workspace/executeCommand", params: { command: "orbit.sandbox.migrate", arguments: [{ name: "fees-1", to: "c@h", handoff: true }] } },
    { method: "workspace/executeCommand", params: { command: "orbit.sandbox.balance", arguments: [{ dryRun: true }] } },
  ]);
});

test("the command names are the server's (the README, section `orbit lsp`)", () => {
  assert.deepEqual(Object.values(COMMANDS).sort(), [
    "orbit.drift",
    "orbit.processes",
    "orbit.profile.result",
    "orbit.profile.start",
    "orbit.reload",
    "orbit.sandbox.balance",
    "orbit.sandbox.create",
    "orbit.sandbox.destroy",
    "orbit.sandbox.list",
    "orbit.sandbox.migrate",
    "orbit.status",
    "orbit.trace.start",
    "orbit.trace.stop",
  ]);
});

test("cluster status comes from orbit/clusterStatus and feeds the node quick pick", async () => {
  const { client, calls } = fake({
    "orbit/clusterStatus": {
      connected: true,
      status: "ok",
      nodes: [
        { node: "a@h", up: true, status: "ok", processes: 10, memory: 2048 },
        { node: "b@h", up: false, status: "down" },
      ],
      alerts: [],
    },
  });
  const h = await client.clusterStatus();
  assert.equal(calls[0].method, "orbit/clusterStatus");
  assert.deepEqual(nodePicks(h).map((p) => [p.label, p.description]), [
    ["a@h", "ok"],
    ["b@h", "down"],
  ]);
  assert.match(statusReport(h), /b@h {2}DOWN/);
});

test("results are rendered for the output channel", async () => {
  const { client } = fake({
    "orbit.drift": {
      nodes: ["a@h", "b@h"],
      checked: 40,
      modules: [{ module: "Bank.Fees", kind: "different", versions: { "a@h": { state: "loaded", md5: "3f2a1b0c99" }, "b@h": { state: "not_loaded" } } }],
      unanswered: [],
    },
    "orbit.processes": { total: 2, processes: [{ node: "a@h", pid: "#PID<0.1.0>", registered_name: "Bank.Ledger", memory: 1024, message_queue_len: 3 }], errors: { "c@h": "timeout" } },
    "orbit.sandbox.list": [{ id: "fees-1", node: "a@h", status: "running" }],
  });
  assert.match(driftReport(await client.drift()), /Bank.Fees \(different\): a@h=3f2a1b0c, b@h=not loaded/);
  const p = processesReport(await client.processes({ sort: "memory" }));
  assert.match(p, /a@h #PID<0.1.0> Bank.Ledger {2}mem 1.0 KiB {2}queue 3/);
  assert.match(p, /! c@h: timeout/);
  assert.equal((await client.sandboxList())[0].id, "fees-1");
  assert.equal(driftReport({ nodes: ["a"], checked: 3, modules: [], unanswered: [] }), "No drift: 3 modules agree on 1 nodes.");
  assert.equal(reloadSummary({ outcome: "loaded", modules: [{ module: "Bank.Fees" }], nodes: [1, 2, 3], consistent: true }), "Reload of Bank.Fees: loaded on 3 node(s)");
});

test("module and function at the cursor, Elixir and Erlang", () => {
  const ex = "defmodule Bank.Fees do\n  def charge(%{a: 1, b: 2}, amount) do\n    :ok\n  end\n\n  defp helper, do: 1\nend\n";
  assert.equal(moduleOfSource(ex), "Bank.Fees");
  assert.equal(functionAt(ex, 2), "Bank.Fees.charge/2");
  assert.equal(functionAt(ex, 5), "Bank.Fees.helper/0");
  assert.equal(functionAt(ex, 0), undefined);
  const erl = "-module(bank_ledger).\n-export([append/3]).\n\nappend(L, {K, V}, X) when is_list(L) ->\n    ok.\n";
  assert.equal(moduleOfSource(erl), "bank_ledger");
  assert.equal(functionAt(erl, 4), "bank_ledger:append/3");
  assert.equal(countArgs(" "), 0);
  assert.equal(countArgs(`a, "x,y", [1, 2]`), 3);
  assert.equal(normalizeHealth(null).connected, false);
});

test("QuietGate: info messages are hidden only while a background request runs", async () => {
  const { QuietGate } = await import("../client");
  const gate = new QuietGate();
  assert.equal(gate.shouldShow(3), true);
  let release: () => void = () => undefined;
  const pending = gate.run(() => new Promise<void>((r) => (release = r)));
  assert.equal(gate.shouldShow(3), false, "info hidden while quiet");
  assert.equal(gate.shouldShow(2), true, "warnings always shown");
  assert.equal(gate.shouldShow(1), true, "errors always shown");
  assert.equal(gate.shouldShow(4), false, "log messages never pop up");
  release();
  await pending;
  assert.equal(gate.shouldShow(3), true);
  await assert.rejects(gate.run(() => Promise.reject(new Error("x"))));
  assert.equal(gate.shouldShow(3), true, "released after a failure too");
});

test("quiet is passed to the transport for the Cluster view's background requests", async () => {
  const seen: (boolean | undefined)[] = [];
  const client = new OrbitClient({
    sendRequest: async (_m, _p, quiet) => {
      seen.push(quiet);
      return [];
    },
  });
  await client.sandboxList(true);
  await client.processes({}, true);
  await client.sandboxList();
  assert.deepEqual(seen, [true, true, false]);
});
