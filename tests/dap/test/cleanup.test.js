'use strict';
// Clean-up contract, on 3 nodes with processes paused on every node (at breakpoints, and one suspended
// process that is not interpreted): after `disconnect`, and after the adapter is killed with SIGKILL,
// every node is left with no interpreted module (by probe and in the interpreter server), no breakpoint,
// no process in the interpreter's snapshot, no interpreter process alive, no suspended process, and no
// interpreter server (Orbit started it), and the paused calls complete with their normal results.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { request, guard } = require('../lib/client');
const { FILES, withCluster, openAccountOn, depositFrom, resultOf, leftovers, eventually } = require('../lib/bank');

const TEST_TIMEOUT = 240000;
const CLEAN = '{[],[],[],[],[],[],[]}';

// On a +D node (ORBIT_TEST_PLUS_D) the breakpoints are native: during the session Orbit's native server
// holds erl_debugger and Bank.Account is Orbit's build with line 74 armed; afterwards erl_debugger is
// free, no line is armed, and the node runs its own Bank.Account again (the md5 of the beam on disk).
const NATIVE_VIEW = [
  "M = 'Elixir.Bank.Account',",
  'Armed = case catch erl_debugger:breakpoints(M) of {ok, ByFun} -> lists:sort([L || {_, Ls} <- maps:to_list(ByFun), {L, true} <- maps:to_list(Ls)]); _ -> [] end,',
  'Own = M:module_info(md5) =:= element(2, element(2, beam_lib:md5(code:which(M)))),',
  '{is_pid(erl_debugger:whereis()), is_pid(whereis(orbit_native)), lists:member(74, Armed), length(Armed), Own}.',
].join('\n');
const NATIVE_CLEAN = '{false,false,false,0,true}';

async function nativeView(cluster, i) {
  return (await cluster.eval(i, NATIVE_VIEW)).replace(/\s/g, '');
}

/** Pauses processes on all 3 nodes; resolves with the pending calls and what they should return. */
async function pauseEverywhere(cluster, attach) {
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await openAccountOn(cluster, i, 100 * (i + 1), `n${i}_`));
  const session = await attach(0, {
    breakpoints: { [FILES.account]: [74], [FILES.fees]: [13] },
    args: { interpret: ['bank_ledger'] },
  });
  const { dap } = session;
  const stops = new Map();
  dap.on('stopped', (e) => stops.set(e.body.threadId, e.body));
  const calls = [];
  for (let i = 0; i < 3; i++) {
    // The account on node i is called from node i+1.
    calls.push({ what: `deposit on node ${i}`, call: depositFrom(cluster, (i + 1) % 3, ids[i], 5), expect: `{ok,${100 * (i + 1) + 5}}` });
  }
  await eventually(async () => stops.size >= 3, 30000, 'three processes stopped at the breakpoint');
  // A process that is not interpreted, suspended from the console, with a call waiting on it.
  await request(dap, 'evaluate', { expression: `/pause Bank.Mailbox on ${cluster.name(1)}`, context: 'repl' });
  calls.push({ what: 'mailbox drain', call: cluster.evalAsync(2, `gen_server:call({'Elixir.Bank.Mailbox', '${cluster.name(1)}'}, reset, 60000)`), expect: 'ok' });
  await eventually(async () => stops.size >= 4, 10000, 'the mailbox paused');
  const nodes = [...stops.values()].map((s) => s.text);
  for (let i = 0; i < 3; i++) assert.ok(nodes.some((t) => t.includes(cluster.name(i))), `a process paused on node ${i}: ${nodes}`);
  for (let i = 0; i < 3; i++) {
    if (cluster.plusD(i)) {
      const view = await nativeView(cluster, i);
      assert.equal(view, '{true,true,true,1,false}', `node ${i}: Orbit holds erl_debugger, line 74 armed in its build of Bank.Account`);
      const held = await leftovers(cluster, i);
      assert.match(held, /^\{\[\],/, `nothing is interpreted on +D node ${i}: ${held}`);
      continue;
    }
    const held = await leftovers(cluster, i);
    assert.match(held, /^\{\[[^\]]*'Elixir\.Bank\.Account'/, `Bank.Account is interpreted on node ${i}: ${held}`);
    assert.match(held, /\{'Elixir\.Bank\.Account',74\}/, `the breakpoint is set: ${held}`);
  }
  return { ...session, calls };
}

async function assertClean(cluster, calls) {
  for (const c of calls) assert.equal(await resultOf(c.call, c.what), c.expect, `${c.what} completes normally`);
  for (let i = 0; i < 3; i++) {
    await eventually(async () => (await leftovers(cluster, i)) === CLEAN, 30000, `node ${i} clean`);
    assert.equal(await cluster.eval(i, "length(orbit_dbg:interpreted_here(['Elixir.Bank.Account', 'Elixir.Bank.Fees', bank_ledger]))"), '0');
    if (cluster.plusD(i)) {
      await eventually(async () => (await nativeView(cluster, i)) === NATIVE_CLEAN, 30000, `node ${i}: erl_debugger free, nothing armed, its own Bank.Account`);
    }
    // The bank still works natively.
    assert.match(await cluster.eval(i, "'Elixir.Bank.Fees':fee_for(250)"), /^2$/);
  }
}

test('disconnect leaves every node as it was, and paused calls complete', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const { dap, calls } = await pauseEverywhere(cluster, attach);
  await guard(dap, dap.disconnectRequest({ terminateDebuggee: false }), 'disconnect', 90000);
  const exit = await guard(dap, dap.exited, 'adapter exit', 10000).catch((e) => e);
  assert.ok(!(exit instanceof Error) || /exited \(code 0/.test(exit.message), `the adapter ends after disconnect: ${exit && exit.message}`);
  await assertClean(cluster, calls);
}));

test('the adapter killed with SIGKILL: every node cleans up by itself, and paused calls complete', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const { dap, calls } = await pauseEverywhere(cluster, attach);
  dap._adapterProcess.kill('SIGKILL');
  await dap.exited;
  await assertClean(cluster, calls);
}));

// The interpreter server runs on node 0 (the entry); the one paused process is on node 2. Each node cleans
// up by itself when the adapter is SIGKILLed: node 0's server must forget node 2's process too, not only
// its own node's (int:snapshot() on node 0 lists every node's processes).
const SERVER_VIEW = [
  'Servers = [S || S <- lists:usort([whereis(dbg_iserver), global:whereis_name(dbg_iserver)]), is_pid(S)],',
  'Snap = lists:append([[P || {P, _, _, _} <- gen_server:call(S, snapshot)] || S <- Servers]),',
  '{Servers, Snap}.',
].join('\n');

// About OTP's interpreter server and a process it paused on node 2: with ORBIT_TEST_PLUS_D node 2 runs
// +D (`1`: every node, `mixed`: nodes 0 and 2), breaks natively and is none of that server's business.
const serverSkip = process.env.ORBIT_TEST_PLUS_D ? 'node 2 runs +D here: its breakpoints are native, not the interpreter server\'s' : false;

test('SIGKILL with the interpreter server on one node and the paused process on another: no node keeps any of it', { timeout: TEST_TIMEOUT, skip: serverSkip }, withCluster(3, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 2, 100, 'far_');
  const { dap } = await attach(0, { breakpoints: { [FILES.account]: [74] } });
  const stopped = new Promise((resolve) => dap.once('stopped', resolve));
  const call = depositFrom(cluster, 0, id, 5);
  const ev = await guard(dap, stopped, 'the stop on node 2', 30000);
  assert.match(ev.body.text, new RegExp(cluster.name(2)));
  const before = (await cluster.eval(0, SERVER_VIEW)).replace(/\s/g, '');
  assert.match(before, /^\{\[<[^\]]+\],\[<.+>\]\}$/, `node 0 runs the server and knows the paused process: ${before}`);
  dap._adapterProcess.kill('SIGKILL');
  await dap.exited;
  assert.equal(await resultOf(call, 'the paused deposit'), '{ok,105}');
  for (let i = 0; i < 3; i++) {
    await eventually(async () => (await cluster.eval(i, SERVER_VIEW)).replace(/\s/g, '') === '{[],[]}', 30000, `node ${i}: no interpreter server, no process in its snapshot`);
    await eventually(async () => (await leftovers(cluster, i)) === CLEAN, 30000, `node ${i} clean`);
  }
}));
