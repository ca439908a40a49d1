'use strict';
// stepIn on a line that calls another process steps into the code that takes the call, on the node where
// it runs: a GenServer.call to a pid and to a name on another node, an :erpc.call, a message to a
// GenServer. The caller waits (its stack starts with `→ awaiting …`), the callee's stack ends with who
// called it, stepOut returns to the caller's next line with the answer, and a target that cannot be told
// steps over the line with a console line that says why.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { request, waitForStopped } = require('../lib/client');
const { FILES, withCluster, openAccountOn, resultOf, topFrame, eventually } = require('../lib/bank');

const TEST_TIMEOUT = 240000;
// Lines of fixtures/demo/lib/bank/remote.ex.
const CALL_PID = 10; //     reply = GenServer.call(pid, {:deposit, amount})
const CALL_NAME = 16; //   total = GenServer.call({Bank.Ledger, node}, :total)
const ERPC = 22; //        reply = :erpc.call(node, Bank.AccountSupervisor, :start_account, [...])
const SEND = 28; //        sent = send(pid, {:note, text})
const SHOUT = 34; //       sent = send({:nobody_here, node}, :hello)

/** Waits for the stopped events of `n` threads from now on (any reason), in order. */
function stopsOf(dap, n, ms = 30000) {
  const seen = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      dap.removeListener('stopped', on);
      reject(new Error(`waiting for ${n} stopped events: got ${JSON.stringify(seen)}`));
    }, ms);
    const on = (e) => {
      seen.push(e.body);
      if (seen.length >= n) {
        clearTimeout(timer);
        dap.removeListener('stopped', on);
        resolve(seen);
      }
    };
    dap.on('stopped', on);
  });
}

async function frames(dap, threadId) {
  return (await request(dap, 'stackTrace', { threadId, startFrame: 0, levels: 30 })).body.stackFrames;
}

test('stepIn on GenServer.call to a pid on another node stops in its handle_call/3 there; stepOut brings the answer back', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 2, 100);
  const { dap, output } = await attach(0, { breakpoints: { [FILES.remote]: [CALL_PID] } });
  const hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const call = cluster.evalAsync(1, `'Elixir.Bank.Remote':deposit_via_pid('Elixir.Bank':whereis(<<"${id}">>), 5)`);
  const caller = (await hit).body.threadId;
  assert.match((await hit).body.text, new RegExp(cluster.name(1)));

  const both = stopsOf(dap, 2);
  await request(dap, 'stepIn', { threadId: caller });
  const [first, second] = await both;
  assert.equal(first.threadId, caller, 'the caller shows as stopped, waiting');
  assert.match(first.text, /waiting for the answer of/);
  const callee = second.threadId;
  assert.notEqual(callee, caller);
  assert.equal(second.reason, 'step');
  assert.match(second.text, new RegExp(`^${cluster.name(2)} #PID<`), 'a thread of the account\'s node');
  const { frame, frames: calleeFrames, vars } = await topFrame(dap, callee);
  assert.equal(frame.name, 'Bank.Account.handle_call/3');
  assert.equal(frame.line, 74);
  assert.equal(vars.Locals.find((v) => v.name === 'amount').value, '5');
  const bottom = calleeFrames[calleeFrames.length - 1];
  assert.match(bottom.name, new RegExp(`^← GenServer.call from ${cluster.name(1)} #PID<0\\.\\d+\\.\\d+> Bank.Remote.deposit_via_pid/2`));
  assert.equal(bottom.line, CALL_PID);

  const callerFrames = await frames(dap, caller);
  assert.match(callerFrames[0].name, new RegExp(`^→ awaiting ${cluster.name(2)} #PID<0\\.\\d+\\.\\d+> Bank.Account.handle_call/3`));
  assert.equal(callerFrames[0].line, 74);
  // Below it, the caller as the interpreter knows it: inside GenServer.call/2, called from its line.
  const own = callerFrames.find((f) => f.name === 'Bank.Remote.deposit_via_pid/2');
  assert.ok(own, JSON.stringify(callerFrames.map((f) => f.name)));
  assert.equal(own.line, CALL_PID);
  await assert.rejects(request(dap, 'next', { threadId: caller }), /waiting for the answer/);
  assert.match(output.text(), /stepped into/);

  // stepOut of the callee: the answer goes back, the caller's step ends on its next line.
  const back = waitForStopped(dap, { threadId: caller, timeout: 30000 });
  await request(dap, 'stepOut', { threadId: callee });
  const landed = await back;
  assert.equal(landed.body.reason, 'step');
  const after = await topFrame(dap, caller);
  assert.equal(after.frame.line, CALL_PID + 1);
  assert.equal(after.vars.Locals.find((v) => v.name === 'reply').value, '{:ok, 105}');
  await request(dap, 'continue', { threadId: caller });
  assert.equal(await resultOf(call, 'deposit_via_pid'), '{deposited,{ok,105},5}');
  // Bank.Account was interpreted on node 2 for this step only.
  await eventually(async () => (await cluster.eval(2, "orbit_dbg:interpreted_here(['Elixir.Bank.Account'])")) === '[]', 10000, 'Bank.Account native again on node 2');

  // :erpc.call: into the function it runs on the other node.
  await request(dap, 'setBreakpoints', { source: { path: FILES.remote }, breakpoints: [{ line: ERPC }] });
  const hit2 = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const open = cluster.evalAsync(0, `'Elixir.Bank.Remote':open_on('${cluster.name(2)}', <<"stepped_in">>)`);
  const caller2 = (await hit2).body.threadId;
  const two = stopsOf(dap, 2);
  await request(dap, 'stepIn', { threadId: caller2 });
  const [, into] = await two;
  assert.match(into.text, new RegExp(`^${cluster.name(2)} `));
  const top = await topFrame(dap, into.threadId);
  assert.equal(top.frame.name, 'Bank.AccountSupervisor.start_account/3');
  assert.equal(top.vars.Locals.find((v) => v.name === 'id').value, '"stepped_in"');
  assert.match(top.frames[top.frames.length - 1].name, new RegExp(`^← called over :erpc by ${cluster.name(0)} `));
  const back2 = waitForStopped(dap, { threadId: caller2, timeout: 30000 });
  await request(dap, 'continue', { threadId: into.threadId });
  await back2;
  assert.equal((await topFrame(dap, caller2)).frame.line, ERPC + 1);
  await request(dap, 'continue', { threadId: caller2 });
  assert.match(await resultOf(open, 'open_on'), /^\{opened,\{ok,<[^>]+>\},/);
}));

test('stepIn on a call to a name on another node, on a message to a GenServer, and where the target cannot be told', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const { dap, output } = await attach(0, { breakpoints: { [FILES.remote]: [CALL_NAME, SEND, SHOUT] } });

  // GenServer.call({Bank.Ledger, node}, :total): the :total clause of Bank.Ledger.handle_call/3 on node 2.
  let hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const total = cluster.evalAsync(1, `'Elixir.Bank.Remote':ledger_total_on('${cluster.name(2)}')`);
  let caller = (await hit).body.threadId;
  let two = stopsOf(dap, 2);
  await request(dap, 'stepIn', { threadId: caller });
  let [, into] = await two;
  assert.match(into.text, new RegExp(`^${cluster.name(2)} `));
  let top = await topFrame(dap, into.threadId);
  assert.equal(top.frame.name, 'Bank.Ledger.handle_call/3');
  let back = waitForStopped(dap, { threadId: caller, timeout: 30000 });
  await request(dap, 'stepOut', { threadId: into.threadId });
  await back;
  const after = await topFrame(dap, caller);
  assert.equal(after.frame.line, CALL_NAME + 1, JSON.stringify(after.frames));
  assert.ok(after.vars.Locals.some((v) => v.name === 'total'), JSON.stringify(after.vars.Locals));
  await request(dap, 'continue', { threadId: caller });
  assert.match(await resultOf(total, 'ledger_total_on'), /^\{total,\d+,/);

  // send(pid, {:note, text}) to the ledger of node 2: its handle_info/2 there; the caller's step has ended.
  hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const note = cluster.evalAsync(1, `'Elixir.Bank.Remote':note(rpc:call('${cluster.name(2)}', erlang, whereis, ['Elixir.Bank.Ledger']), <<"hi">>)`);
  caller = (await hit).body.threadId;
  two = stopsOf(dap, 2);
  await request(dap, 'stepIn', { threadId: caller });
  const stops = await two;
  const mine = stops.find((s) => s.threadId === caller);
  into = stops.find((s) => s.threadId !== caller);
  assert.ok(mine && into, JSON.stringify(stops));
  top = await topFrame(dap, into.threadId);
  assert.equal(top.frame.name, 'Bank.Ledger.handle_info/2');
  assert.equal(top.vars.Locals.find((v) => v.name === 'text').value, '"hi"');
  assert.equal((await topFrame(dap, caller)).frame.line, SEND + 1, 'a message does not wait: the caller is on its next line');
  await request(dap, 'continue', { threadId: into.threadId });
  await request(dap, 'continue', { threadId: caller });
  assert.match(await resultOf(note, 'note'), /^\{sent,\{note,/);

  // A name that no process holds: stepIn steps over the line, and says why.
  hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const shout = cluster.evalAsync(1, `'Elixir.Bank.Remote':shout('${cluster.name(2)}')`);
  caller = (await hit).body.threadId;
  back = waitForStopped(dap, { threadId: caller, timeout: 30000 });
  await request(dap, 'stepIn', { threadId: caller });
  assert.equal((await back).body.reason, 'step');
  assert.equal((await topFrame(dap, caller)).frame.line, SHOUT + 1);
  await output.waitFor(new RegExp(`stepIn steps over the line: no process is registered as nobody_here on ${cluster.name(2)}`), { timeout: 5000 });
  await request(dap, 'continue', { threadId: caller });
  assert.match(await resultOf(shout, 'shout'), /^\{sent,hello,/);
}));

const TAIL_ERPC = 40; //   :erpc.call(node, Bank.Fees, :compound, [balance, rate, 2], 60_000)   (the whole body)

test('stepIn on a tail call over :erpc.call/5, in a process an rpc from a hidden node spawned: into the function on the other node', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const { dap, output } = await attach(0, { breakpoints: { [FILES.remote]: [TAIL_ERPC] } });
  const hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  // erl_call is a hidden node: the expression runs in a process its rpc spawned on node 1.
  const call = cluster.evalAsync(1, `'Elixir.Bank.Remote':compound_on('${cluster.name(2)}', 1000, 10)`);
  const caller = (await hit).body.threadId;
  // A tail call: the caller leaves interpreted code to make it and waits natively, so only the receiving
  // process stops (there is no line of the caller to come back to).
  const one = stopsOf(dap, 1, 15000);
  await request(dap, 'stepIn', { threadId: caller });
  const [into] = await one.catch((e) => {
    throw new Error(`${e.message}\n--- console ---\n${output.text()}`);
  });
  assert.notEqual(into.threadId, caller);
  assert.equal(into.reason, 'step');
  assert.match(into.text, new RegExp(`^${cluster.name(2)} #PID<`));
  const top = await topFrame(dap, into.threadId);
  assert.equal(top.frame.name, 'Bank.Fees.compound/3');
  assert.equal(top.vars.Locals.find((v) => v.name === 'balance').value, '1000');
  assert.match(top.frames[top.frames.length - 1].name, new RegExp(`^← called over :erpc by ${cluster.name(1)} `));
  assert.match(output.text(), /stepped into/);
  await request(dap, 'continue', { threadId: into.threadId });
  assert.equal(await resultOf(call, 'compound_on'), '1210');
  // Bank.Fees was interpreted on node 2 for this step only.
  await eventually(async () => (await cluster.eval(2, "orbit_dbg:interpreted_here(['Elixir.Bank.Fees'])")) === '[]', 10000, 'Bank.Fees native again on node 2');
}));
