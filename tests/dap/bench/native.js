'use strict';
// Loop overhead of a breakpoint that never stops (condition false on every pass), native (erl_debugger, a
// +D node) vs the interpreter vs no session, in the same run (scripts/bench runs this with ORBIT_OTP=otp29).
//
// A process on the node calls Bank.Fees.fee_for/1 N times; the breakpoint is at fees.ex:16 with the
// condition `amount < 0`. Rows: no session; native, the module recompiled with beam_debug_info and no line
// armed (the instrumentation alone); native with the line armed (every pass pauses, is decided by Orbit's
// agent on the node and resumed); the interpreter on a node without +D (every pass interpreted and checked).
//
//   ORBIT_OTP=otp29 ORBIT_BIN=target/release/orbit node tests/dap/bench/native.js [N]

const { Cluster, OTP_ROOT_NAME } = require('../lib/cluster');
const client = require('../lib/client');
const { FILES } = require('../lib/bank');

const N = Number(process.argv[2]) || 20000;
const LINE = 16;
const NEVER = 20; // def fee_for(_amount), do: 0   (not reached with positive amounts)

const loop = (n) =>
  `element(1, timer:tc(fun() -> lists:foreach(fun(_) -> 'Elixir.Bank.Fees':fee_for(2500) end, lists:seq(1, ${n})) end))`;

async function perCall(cluster, n) {
  const us = Number(await cluster.eval(0, loop(n), 600));
  return us / n;
}

async function session(cluster, line, condition) {
  const dap = await client.startClient({ timeout: 60000 });
  await client.attach(dap, {
    args: { node: cluster.name(0), cookie: cluster.cookie, projectDir: require('node:path').dirname(require('node:path').dirname(FILES.fees)) },
    breakpoints: { [FILES.fees]: [{ line, condition }] },
  });
  return dap;
}

async function measure(plusD) {
  const cluster = new Cluster(1, { plusD });
  const rows = {};
  try {
    await cluster.start();
    await perCall(cluster, 1000); // warm up
    rows.none = await perCall(cluster, N);
    if (plusD) {
      let dap = await session(cluster, NEVER, 'amount < 0');
      rows.instrumented = await perCall(cluster, N);
      await client.stopClient(dap);
      dap = await session(cluster, LINE, 'amount < 0');
      rows.native = await perCall(cluster, N);
      await client.stopClient(dap);
    } else {
      const dap = await session(cluster, LINE, 'amount < 0');
      rows.interpreted = await perCall(cluster, Math.max(1000, Math.floor(N / 10)));
      await client.stopClient(dap);
    }
  } finally {
    await cluster.stop();
  }
  return rows;
}

async function main() {
  if (!/^otp(29|28)$/.test(OTP_ROOT_NAME)) {
    console.log(`native breakpoints need OTP 28+: set ORBIT_OTP=otp29 (nodes here: ${OTP_ROOT_NAME || 'host'}); skipped`);
    return;
  }
  const native = await measure(true);
  const interp = await measure(false);
  const f = (x) => `${x.toFixed(2)} µs`;
  console.log(`Bank.Fees.fee_for/1, ${N} calls in a loop, breakpoint at fees.ex:${LINE} with a false condition`);
  console.log(`  no session                                   ${f(native.none)} per call`);
  console.log(`  native, module instrumented, line not armed  ${f(native.instrumented)} per call (x${(native.instrumented / native.none).toFixed(1)})`);
  console.log(`  native, line armed (pause, decide, resume)   ${f(native.native)} per call (x${(native.native / native.none).toFixed(1)})`);
  console.log(`  interpreter (no +D)                          ${f(interp.interpreted)} per call (x${(interp.interpreted / interp.none).toFixed(1)})`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
