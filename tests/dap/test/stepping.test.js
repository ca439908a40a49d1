'use strict';
// Function breakpoints and stepping (next, stepIn, stepOut) across Elixir and Erlang modules of
// fixtures/demo, on a 3-node cluster, in the Bank.Ledger process of a node other than the entry node.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { request, waitForStopped } = require('../lib/client');
const { FILES, withCluster, resultOf, topFrame } = require('../lib/bank');

const TEST_TIMEOUT = 180000;

/** Records a ledger entry on node `on`, called from node `from` (a 60 s call: the ledger may be paused). */
function recordOn(cluster, from, on, amount) {
  return cluster.evalAsync(from, `gen_server:call({'Elixir.Bank.Ledger', '${cluster.name(on)}'}, {record, <<"alice">>, <<"bob">>, ${amount}, #{}}, 60000)`);
}

test('function breakpoints stop in the process that runs the function, in Elixir and Erlang modules', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const { dap, attached } = await attach(0, {
    functionBreakpoints: [
      { name: 'Bank.Fees.fee_for/1' },
      { name: 'bank_ledger:append/3' },
      { name: 'Bank.Fees.no_such/9' },
      { name: 'Bank.NoSuchModule.f/1' },
      { name: 'not a function' },
    ],
  });
  const [feeFor, append, noFun, noMod, garbage] = attached.functionBreakpoints;
  assert.equal(feeFor.verified, true, JSON.stringify(feeFor));
  assert.equal(feeFor.line, 13);
  assert.equal(append.verified, true, JSON.stringify(append));
  assert.equal(append.line, 29);
  for (const bad of [noFun, noMod, garbage]) {
    assert.equal(bad.verified, false, JSON.stringify(bad));
    assert.ok(bad.message, `an unverified function breakpoint says why: ${JSON.stringify(bad)}`);
  }

  let stopped = waitForStopped(dap, { timeout: 30000 });
  const call = recordOn(cluster, 0, 2, 250);
  let ev = await stopped;
  assert.equal(ev.body.reason, 'function breakpoint');
  assert.match(ev.body.text, new RegExp(cluster.name(2)));
  assert.deepEqual(ev.body.hitBreakpointIds, [feeFor.id]);
  const threadId = ev.body.threadId;
  let top = await topFrame(dap, threadId);
  assert.equal(top.frame.name, 'Bank.Fees.fee_for/1');
  assert.equal(top.frame.line, 13);
  assert.equal(top.vars.Locals.find((v) => v.name === 'amount').value, '250');
  const name = top.vars.Process.find((v) => v.name === 'registered_name');
  assert.equal(name && name.value, 'Bank.Ledger', 'the function runs in the ledger process');

  stopped = waitForStopped(dap, { timeout: 30000 });
  await request(dap, 'continue', { threadId });
  ev = await stopped;
  assert.equal(ev.body.reason, 'function breakpoint');
  assert.equal(ev.body.threadId, threadId, 'the same process');
  top = await topFrame(dap, threadId);
  assert.equal(top.frame.name, 'bank_ledger:append/3');
  assert.equal(top.frame.line, 29);
  assert.equal(top.frame.source.path, FILES.bankLedger);
  const names = top.vars.Locals.map((v) => v.name);
  for (const v of ['Entry', 'Entries', 'Max']) assert.ok(names.includes(v), `Erlang variable ${v} in ${names}`);
  assert.equal(top.vars.Locals.find((v) => v.name === 'Max').value, '100');

  await request(dap, 'continue', { threadId });
  const entry = await resultOf(call, 'record');
  assert.match(entry, /amount=>250/);
  assert.match(entry, /fee=>2/);
}));

test('next, stepIn and stepOut move through Elixir and Erlang code', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const { dap, attached } = await attach(0, {
    args: { interpret: ['Bank.Ledger', 'bank_ledger'] },
    breakpoints: { [FILES.ledger]: [76] },
  });
  assert.equal(attached.breakpoints[FILES.ledger][0].verified, true, JSON.stringify(attached.breakpoints));
  const stopped = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const call = recordOn(cluster, 2, 1, 40);
  const ev = await stopped;
  const threadId = ev.body.threadId;
  let top = await topFrame(dap, threadId);
  assert.equal(top.frame.name, 'Bank.Ledger.handle_call/3');
  assert.equal(top.frame.line, 76);

  const step = async (command, what) => {
    const s = waitForStopped(dap, { reason: 'step', threadId, timeout: 20000 });
    await request(dap, command, { threadId });
    await s;
    const t = await topFrame(dap, threadId);
    return t;
  };

  // stepIn enters the Erlang function called on line 76.
  top = await step('stepIn');
  assert.equal(top.frame.name, 'bank_ledger:append/3');
  assert.equal(top.frame.line, 29);
  assert.equal(top.frames[1].name, 'Bank.Ledger.handle_call/3', JSON.stringify(top.frames.map((f) => f.name)));
  assert.equal(top.frames[1].line, 76);

  // next stays in the function.
  top = await step('next');
  assert.equal(top.frame.name, 'bank_ledger:append/3');
  assert.equal(top.frame.line, 30);
  assert.ok(top.vars.Locals.some((v) => v.name === 'Kept'), 'Kept is bound after line 29');

  // stepOut returns to the caller.
  top = await step('stepOut');
  assert.equal(top.frame.name, 'Bank.Ledger.handle_call/3');
  assert.ok(top.frame.line === 76 || top.frame.line === 77, `back in the caller at ${top.frame.line}`);
  if (top.frame.line === 76) top = await step('next');
  assert.equal(top.frame.line, 77);
  assert.ok(top.vars.Locals.some((v) => v.name === 'entries'), JSON.stringify(top.vars.Locals.map((v) => v.name)));

  await request(dap, 'continue', { threadId });
  assert.match(await resultOf(call, 'record'), /amount=>40/);
}));
