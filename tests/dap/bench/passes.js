'use strict';
// Consecutive passes of one process through a breakpoint, measured at a real DAP client
// (@vscode/debugadapter-testsupport) against `orbit dap`, beside a native Erlang `int` client on another
// node of the same cluster, in the same run (scripts/bench runs this).
//
// Both measure the same thing: a process on node 1 calls bank_ledger:fee/1 in a loop and stops at line 70
// on every pass; the client continues it and waits for the next stop. Microseconds from sending continue
// to the next stop received: `{break_at, …}` for the native client, the DAP `stopped` event here.
//
//   ORBIT_BIN=target/release/orbit node tests/dap/bench/passes.js [N]

const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { execFileSync } = require('node:child_process');
const { Cluster, REPO_ROOT } = require('../lib/cluster');
const client = require('../lib/client');
const { FILES } = require('../lib/bank');

const N = Number(process.argv[2]) || 200;
const LINE = 70; // bank_ledger:fee/1, `Fee0 = Amount div 100`

function summary(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { p50: at(0.5), p99: at(0.99) };
}

async function main() {
  const cluster = new Cluster(2);
  let dap;
  try {
    await cluster.start();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orbit-bench-'));
    execFileSync('erlc', ['-o', dir, path.join(REPO_ROOT, 'beam/benches/orbit_bench_dbg.erl')]);
    for (let i = 0; i < 2; i++) await cluster.eval(i, `code:add_patha("${dir}"), code:ensure_loaded(orbit_bench_dbg)`);

    // Native: an int client on node 0, the process on node 1.
    // As floats: a list of small integers would print as a string.
    const nativeRaw = await cluster.eval(0, `[float(T) || T <- orbit_bench_dbg:native_continue_latency(bank_ledger, ${LINE}, ${N}, '${cluster.name(1)}')]`, 120);
    if (!/^\[/.test(nativeRaw.trim())) throw new Error(`the native int client: ${nativeRaw}`);
    const native = nativeRaw
      .replace(/[[\]\s]/g, '').split(',').map(Number);
    await cluster.eval(0, 'orbit_bench_dbg:native_cleanup(bank_ledger)');

    // Orbit, at the DAP client.
    dap = await client.startClient({ timeout: 30000 });
    await client.attach(dap, {
      args: { node: cluster.name(0), cookie: cluster.cookie, projectDir: path.dirname(path.dirname(FILES.bankLedger)) },
      breakpoints: { [FILES.bankLedger]: [LINE] },
    });
    let next = client.waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
    await cluster.eval(1, `is_pid(spawn(orbit_bench_dbg, spin, [bank_ledger]))`);
    let ev = await next;
    const threadId = ev.body.threadId;
    const orbit = [];
    for (let i = 0; i < N; i++) {
      next = new Promise((resolve) => dap.once('stopped', resolve));
      const t0 = process.hrtime.bigint();
      const answered = client.request(dap, 'continue', { threadId });
      ev = await next;
      orbit.push(Number(process.hrtime.bigint() - t0) / 1000);
      await answered;
      if (ev.body.threadId !== threadId) throw new Error(`stopped in thread ${ev.body.threadId}, not ${threadId}`);
    }
    const n = summary(native);
    const o = summary(orbit);
    const row = (what, s) => `  ${what.padEnd(44)} p50 ${s.p50.toFixed(1).padStart(8)}   p99 ${s.p99.toFixed(1).padStart(8)}`;
    console.log(`Continue -> next stop, ${N} consecutive passes of one process on another node (µs):`);
    console.log(row('native Erlang int client on another node', n));
    console.log(row('orbit dap, at a DAP client (testsupport)', o));
    console.log(`  ratio orbit/native                           p50 ${(o.p50 / n.p50).toFixed(2).padStart(8)}x  p99 ${(o.p99 / n.p99).toFixed(2).padStart(8)}x`);
  } finally {
    if (dap) await client.stopClient(dap).catch(() => {});
    await cluster.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
