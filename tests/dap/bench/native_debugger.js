'use strict';
// The native engine (erl_debugger, OTP 28+, nodes with +D) against the interpreter and a bare erl_debugger
// client, in the same run (scripts/bench runs this with ORBIT_OTP=otp29):
//
// 1. Consecutive passes of one process through a breakpoint (bank_ledger:fee/1, line 70), continue -> the
//    next stop: at a real DAP client (@vscode/debugadapter-testsupport) with the process on a +D node (the
//    native engine) and on a node without +D (the interpreter), one session on a 2-node cluster; beside it
//    a bare erl_debugger client on the +D node itself (resume -> the next breakpoint event).
// 2. setBreakpoints on one line reaching 10 nodes: the first (the module readied on every node: recompiled
//    with debug info, or interpreted) and moving it, native (10 +D nodes) vs the interpreter (10 nodes).
//
//   ORBIT_OTP=otp29 ORBIT_BIN=target/release/orbit node tests/dap/bench/native_debugger.js [N]

const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { execFileSync } = require('node:child_process');
const { Cluster, REPO_ROOT, OTP_ROOT_NAME } = require('../lib/cluster');
const client = require('../lib/client');
const { FILES } = require('../lib/bank');

const N = Number(process.argv[2]) || 200;
const LINE = 70; // bank_ledger:fee/1, `Fee0 = Amount div 100`
const PROJECT = path.dirname(path.dirname(FILES.bankLedger));

function p50(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function loadBench(cluster, n) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orbit-bench-'));
  execFileSync('erlc', ['-o', dir, path.join(REPO_ROOT, 'beam/benches/orbit_bench_dbg.erl')]);
  for (let i = 0; i < n; i++) await cluster.eval(i, `code:add_patha("${dir}"), code:ensure_loaded(orbit_bench_dbg)`);
}

/** continue -> next stopped, N times, for the process `spin` runs on node `i`. */
async function passesAt(dap, cluster, i) {
  let next = client.waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const pid = (await cluster.eval(i, 'pid_to_list(spawn(orbit_bench_dbg, spin, [bank_ledger]))')).replace(/"/g, '');
  let ev = await next;
  const threadId = ev.body.threadId;
  const native = /\[native\]/.test(ev.body.text || '');
  const times = [];
  for (let k = 0; k < N; k++) {
    next = new Promise((resolve) => dap.once('stopped', resolve));
    const t0 = process.hrtime.bigint();
    const answered = client.request(dap, 'continue', { threadId });
    ev = await next;
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
    await answered;
  }
  // Stop the spinner while it is paused; the session lets it go at the end.
  await cluster.eval(i, `exit(list_to_pid("${pid}"), kill)`);
  await client.request(dap, 'continue', { threadId }).catch(() => {});
  return { native, p50: p50(times) };
}

async function passes() {
  const cluster = new Cluster(2, { plusD: [false, true] });
  let dap;
  try {
    await cluster.start();
    await loadBench(cluster, 2);
    const bareRaw = await cluster.eval(1, `orbit_bench_dbg:erl_debugger_continue_latency(bank_ledger, ${LINE}, ${N})`, 120);
    if (!/^\[/.test(bareRaw.trim())) throw new Error(`the bare erl_debugger client: ${bareRaw}`);
    const bare = bareRaw
      .replace(/[[\]\s]/g, '').split(',').map(Number);
    dap = await client.startClient({ timeout: 60000 });
    await client.attach(dap, {
      args: { node: cluster.name(0), cookie: cluster.cookie, projectDir: PROJECT },
      breakpoints: { [FILES.bankLedger]: [LINE] },
    });
    const nat = await passesAt(dap, cluster, 1);
    const int = await passesAt(dap, cluster, 0);
    if (!nat.native || int.native) throw new Error(`engines: +D node ${nat.native}, other node ${int.native}`);
    const b = p50(bare);
    console.log(`Consecutive passes of one process through bank_ledger:fee/1 line ${LINE}, continue -> next stop, p50 of ${N} (µs):`);
    console.log(`  bare erl_debugger client on the +D node (resume -> event)   ${b.toFixed(1).padStart(8)}`);
    console.log(`  orbit dap, native engine (+D node), at a DAP client         ${nat.p50.toFixed(1).padStart(8)}   (x${(nat.p50 / b).toFixed(2)} the bare client)`);
    console.log(`  orbit dap, the interpreter (node without +D), at a DAP client ${int.p50.toFixed(1).padStart(6)}   (x${(int.p50 / b).toFixed(2)})`);
  } finally {
    if (dap) await client.stopClient(dap).catch(() => {});
    await cluster.stop();
  }
}

/** setBreakpoints on one line of bank_ledger.erl reaching `n` nodes: the first, and moving it (p50 of 5). */
async function setBreakpointsOn(n, plusD) {
  const cluster = new Cluster(n, { plusD });
  let dap;
  try {
    await cluster.start();
    dap = await client.startClient({ timeout: 120000 });
    await client.attach(dap, { args: { node: cluster.name(0), cookie: cluster.cookie, projectDir: PROJECT }, breakpoints: {} });
    const set = async (line) => {
      const t0 = process.hrtime.bigint();
      const r = await client.request(dap, 'setBreakpoints', { source: { path: FILES.bankLedger }, breakpoints: [{ line }] }, 120000);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (!r.body.breakpoints[0].verified) throw new Error(JSON.stringify(r.body));
      return ms;
    };
    const first = await set(LINE);
    const moves = [];
    for (let k = 0; k < 5; k++) moves.push(await set(k % 2 === 0 ? LINE + 1 : LINE));
    return { first, move: p50(moves) };
  } finally {
    if (dap) await client.stopClient(dap).catch(() => {});
    await cluster.stop();
  }
}

async function main() {
  if (!/^otp(29|28)$/.test(OTP_ROOT_NAME)) {
    console.log(`native breakpoints need OTP 28+: set ORBIT_OTP=otp29 (nodes here: ${OTP_ROOT_NAME || 'host'}); skipped`);
    return;
  }
  await passes();
  const nodes = Number(process.env.ORBIT_BENCH_NODES) || 10;
  const nat = await setBreakpointsOn(nodes, true);
  const int = await setBreakpointsOn(nodes, false);
  console.log(`setBreakpoints on one line of bank_ledger.erl reaching ${nodes} nodes (ms):`);
  console.log(`  native (+D nodes): first ${nat.first.toFixed(1)} (recompiled on each node), moving it p50 ${nat.move.toFixed(1)}`);
  console.log(`  interpreter:       first ${int.first.toFixed(1)} (interpreted on each node), moving it p50 ${int.move.toFixed(1)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
