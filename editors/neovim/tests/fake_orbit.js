#!/usr/bin/env node
// A stand-in for the `orbit` executable in the plugin's tests: `lsp` speaks LSP on stdio with the
// requests, notifications and command shapes of docs/README-lsp.md, over a made-up 3-node cluster;
// `--help`/`--version` succeed. Every message received is appended to $FAKE_ORBIT_LOG (JSON lines).
"use strict";
const fs = require("fs");

const argv = process.argv.slice(2);
if (argv.includes("--help") || argv.includes("--version")) {
  console.log("orbit (fake for tests) " + argv.join(" "));
  process.exit(0);
}
if (argv[0] !== "lsp") {
  console.error("fake orbit: only `lsp` is implemented");
  process.exit(2);
}

const LOG = process.env.FAKE_ORBIT_LOG;
function log(entry) {
  if (LOG) fs.appendFileSync(LOG, JSON.stringify(entry) + "\n");
}

const NODES = ["a@h", "b@h", "c@h"];
const health = {
  connected: true,
  status: "degraded",
  message: "3 nodes up",
  nodes: NODES.map((node, i) => ({
    node, up: true, status: i === 1 ? "degraded" : "ok", reason: null,
    processes: 400 + i, memory: 41234432, longestQueue: { pid: "#PID<0.234.0>", len: i === 1 ? 20000 : 12 },
  })),
  alerts: [{ node: "b@h", level: "degraded", key: "mailbox", message: "Bank.Mailbox has 20,000 messages queued" }],
  partition: null,
  updatedMs: Date.now(),
};
let drifting = true;
let nextId = 1000;
const open = new Set();

function send(msg) {
  const body = Buffer.from(JSON.stringify(Object.assign({ jsonrpc: "2.0" }, msg)), "utf8");
  process.stdout.write(`Content-Length: ${body.length}\r\n\r\n`);
  process.stdout.write(body);
}

function diagnostics(uri) {
  const diags = drifting
    ? [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 9 } }, severity: 2, source: "orbit", code: "drift",
         message: "Bank.Fees: version drift: a@h, c@h run 3f2a…; b@h runs 91c0…" }]
    : [];
  send({ method: "textDocument/publishDiagnostics", params: { uri, diagnostics: diags } });
}

function command(name, arg) {
  switch (name) {
    case "orbit.reload":
      drifting = false;
      setTimeout(() => open.forEach(diagnostics), 10);
      return { outcome: "loaded", modules: [{ module: "Bank.Fees", md5: "3f2a", source: arg.file, origin: "compiled" }],
               nodes: (arg.nodes || NODES).map((node) => ({ node, outcome: "loaded", modules: [] })), consistent: true, warnings: [] };
    case "orbit.drift":
      return { nodes: NODES, checked: 40, unanswered: [], modules: drifting
        ? [{ module: "Bank.Fees", kind: "different", versions: { "a@h": { state: "loaded", md5: "3f2a1b0c" }, "b@h": { state: "loaded", md5: "91c0ffee" }, "c@h": { state: "loaded", md5: "3f2a1b0c" } } }]
        : [] };
    case "orbit.status":
      return health;
    case "orbit.processes":
      return { total: 1234, errors: {}, processes: [{ node: "b@h", pid: "#PID<0.153.0>", registered_name: "Bank.Mailbox", memory: 5000000, reductions: 10, message_queue_len: 20000, status: "waiting", current_function: "Bank.Mailbox.handle_info/2", initial_call: "proc_lib:init_p/5" }] };
    case "orbit.sandbox.create":
      return { id: arg.name || `${arg.module}-1`, node: arg.node || "a@h", status: "running", children: [] };
    case "orbit.sandbox.list":
      return [{ id: "Bank.Fees-1", node: "a@h", status: "running" }];
    case "orbit.sandbox.migrate":
      return { sandbox: arg.name, from: "a@h", to: arg.to, handed_off: 1, not_handed_off: 0, dropped_messages: 0 };
    case "orbit.sandbox.destroy":
      return { destroyed: arg.name };
    case "orbit.sandbox.balance":
      return { before: { "a@h": 1 }, after: { "a@h": 1 }, moves: [], dry_run: !!arg.dryRun };
    case "orbit.trace.start":
      return { id: "trace-1", pattern: arg.pattern, limit: arg.limit || 100 };
    case "orbit.profile.start":
    case "orbit.profile.result":
      return { id: "profile-1", what: (arg.modules || ["Bank.Fees"]).join(", "), table: "FUNCTION  CALLS\nBank.Fees.fee_for/1  41,200\n1 function(s) called on 3 node(s)\n", flamegraph: "/tmp/profile-1.svg", functions: [] };
    case "orbit.trace.stop":
      return { id: "trace-1", reason: "stopped by the user", calls: { "Bank.Fees.charge/2": 42 } };
    default:
      throw { code: -32602, message: `unknown command ${name}` };
  }
}

function handle(msg) {
  log(msg);
  if (msg.method === undefined) return; // a response to our request
  const reply = (result) => send({ id: msg.id, result });
  switch (msg.method) {
    case "initialize":
      return reply({
        capabilities: {
          textDocumentSync: { openClose: true, change: 1, save: true },
          executeCommandProvider: { commands: ["orbit.reload", "orbit.drift", "orbit.sandbox.create", "orbit.sandbox.list", "orbit.sandbox.migrate", "orbit.sandbox.destroy", "orbit.sandbox.balance", "orbit.trace.start", "orbit.trace.stop", "orbit.status", "orbit.processes", "orbit.profile.start", "orbit.profile.result", "orbit.profile.clear"] },
        },
        serverInfo: { name: "orbit-fake" },
      });
    case "initialized":
      send({ id: nextId++, method: "workspace/configuration", params: { items: [{ section: "orbit" }] } });
      send({ method: "orbit/clusterHealth", params: health });
      return;
    case "textDocument/didOpen":
      open.add(msg.params.textDocument.uri);
      return diagnostics(msg.params.textDocument.uri);
    case "orbit/clusterStatus":
      return reply(health);
    case "workspace/executeCommand":
      try {
        return reply(command(msg.params.command, (msg.params.arguments || [])[0] || {}));
      } catch (e) {
        return send({ id: msg.id, error: e });
      }
    case "shutdown":
      return reply(null);
    case "exit":
      return process.exit(0);
    default:
      if (msg.id !== undefined) send({ id: msg.id, error: { code: -32601, message: `not implemented: ${msg.method}` } });
  }
}

let buf = Buffer.alloc(0);
process.stdin.on("data", (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  for (;;) {
    const end = buf.indexOf("\r\n\r\n");
    if (end < 0) return;
    const m = /Content-Length: (\d+)/i.exec(buf.slice(0, end).toString());
    if (!m) throw new Error("bad header");
    const len = Number(m[1]);
    if (buf.length < end + 4 + len) return;
    const body = buf.slice(end + 4, end + 4 + len).toString("utf8");
    buf = buf.slice(end + 4 + len);
    handle(JSON.parse(body));
  }
});
process.stdin.on("end", () => process.exit(0));
