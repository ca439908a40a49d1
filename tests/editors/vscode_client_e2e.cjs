// The VS Code extension's client layer (editors/vscode/src/client.ts, compiled to out/) against the
// real `orbit lsp` and a real cluster: every request the extension makes, with the argument shapes it
// sends, answered in the shapes it reads. Run by neovim_e2e.sh with the cluster it starts.
//   ORBIT_BIN=… ORBIT_E2E_NODES=a@h,b@h,c@h ORBIT_E2E_COOKIE_FILE=… ORBIT_E2E_FILE=…/fees.ex node vscode_client_e2e.cjs
"use strict";
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const path = require("node:path");
const { test, after } = require("node:test");

const ext = path.join(__dirname, "..", "..", "editors", "vscode");
const rpc = require(path.join(ext, "node_modules", "vscode-jsonrpc", "node"));
const { OrbitClient } = require(path.join(ext, "out", "client.js"));

const nodes = process.env.ORBIT_E2E_NODES.split(",");
const file = process.env.ORBIT_E2E_FILE;
const settings = { nodes: [nodes[0]], cookieFile: process.env.ORBIT_E2E_COOKIE_FILE };

const proc = spawn(process.env.ORBIT_BIN, ["lsp"], { stdio: ["pipe", "pipe", "inherit"], cwd: path.dirname(file) });
// The server is this file's from its spawn: stopped by pid in `after` (which node:test runs also when
// it times a test out), and SIGKILLed should this process end first (exit, uncaught exception, signal).
const exited = new Promise((resolve) => {
  proc.once("exit", resolve);
  proc.once("error", resolve);
});
const running = () => proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null;
const killNow = () => {
  if (running()) proc.kill("SIGKILL");
};
process.on("exit", killNow);
process.on("uncaughtExceptionMonitor", killNow);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    killNow();
    process.kill(process.pid, signal);
  });
}
proc.stdin.on("error", () => {});
const conn = rpc.createMessageConnection(new rpc.StreamMessageReader(proc.stdout), new rpc.StreamMessageWriter(proc.stdin));
const health = [];
conn.onNotification((method, params) => {
  if (method === "orbit/clusterHealth") health.push(params);
});
conn.onRequest((method, params) => {
  if (method === "workspace/configuration") return params.items.map(() => settings);
  return null; // window/workDoneProgress/create, workspace/codeLens/refresh, …
});
conn.listen();
const client = new OrbitClient({ sendRequest: (method, params) => conn.sendRequest(method, params) });

/** Resolves true when `promise` settles within `ms`, false otherwise. */
function settlesWithin(promise, ms) {
  let timer;
  return Promise.race([
    promise.then(() => true, () => true),
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

after(async () => {
  // shutdown + exit, each bounded; then SIGTERM, SIGKILL after 1 s, by pid.
  if (running() && (await settlesWithin(conn.sendRequest("shutdown"), 3000))) {
    try {
      conn.sendNotification("exit");
    } catch {
      /* already gone */
    }
  }
  if (!(await settlesWithin(exited, 2000)) && running()) proc.kill("SIGTERM");
  if (!(await settlesWithin(exited, 1000)) && running()) proc.kill("SIGKILL");
  await settlesWithin(exited, 5000);
  conn.dispose();
});

async function until(ms, f, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test("initialize and orbit/clusterStatus: every node up", async () => {
  const root = path.dirname(path.dirname(path.dirname(file)));
  const init = await conn.sendRequest("initialize", {
    processId: process.pid,
    rootUri: `file://${root}`,
    capabilities: { workspace: { configuration: true } },
    initializationOptions: settings,
  });
  conn.sendNotification("initialized", {});
  const h = await until(60000, async () => {
    const s = await client.clusterStatus();
    const up = s.nodes.filter((n) => n.up && typeof n.processes === "number");
    return s.connected && up.length === nodes.length ? s : undefined;
  }, "3 nodes up, each with a process count");
  assert.deepEqual(h.nodes.map((n) => n.node).sort(), [...nodes].sort());
  await until(10000, () => health.length > 0, "an orbit/clusterHealth notification");
  // vscode-languageclient (like Neovim's client) refuses a result without `capabilities`.
  assert.ok(init && typeof init.capabilities === "object", `initialize must answer an InitializeResult, got ${JSON.stringify(init).slice(0, 200)}`);
  const commands = init.capabilities.executeCommandProvider?.commands ?? [];
  for (const c of ["orbit.reload", "orbit.drift", "orbit.sandbox.list", "orbit.trace.start", "orbit.trace.stop", "orbit.processes"]) {
    assert.ok(commands.includes(c), `executeCommandProvider lists ${c}`);
  }
});

test("orbit.drift, orbit.processes, orbit.sandbox.list, orbit.status", async () => {
  const d = await client.drift({ module: "Bank.Fees" });
  assert.equal(d.nodes.length, nodes.length);
  const p = await client.processes({ sort: "memory", limit: 5 });
  assert.ok(p.processes.length > 0 && p.processes.length <= 5, `processes: ${p.processes.length}`);
  assert.ok(p.processes.every((x) => x.pid !== "?" && nodes.includes(x.node)));
  assert.ok(Array.isArray(await client.sandboxList()));
  assert.equal((await client.status()).nodes.length, nodes.length);
});

test("orbit.reload on one node, then every node", async () => {
  const one = await client.reload(file, [nodes[2]]);
  assert.equal(one.nodes.length, 1);
  const all = await client.reload(file);
  assert.equal(all.consistent, true);
  assert.equal(all.nodes.length, nodes.length);
});

test("orbit.trace.start / orbit.trace.stop give the call counts the diagram is drawn from", async () => {
  const started = await client.traceStart("Bank.Fees.fee_for/1", 50);
  assert.ok(started.id, JSON.stringify(started));
  await new Promise((r) => setTimeout(r, 1500));
  const stopped = await client.traceStop();
  assert.notEqual(stopped.stopped, false, JSON.stringify(stopped));
  assert.equal(typeof stopped.calls, "object");
});
