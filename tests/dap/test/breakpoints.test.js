'use strict';
// Line breakpoints on a 3-node cluster of fixtures/demo: a breakpoint set once holds on every node; stack,
// Elixir variables, evaluation on the right node, setVariable, conditions, hit counts, node-scoped
// conditions and log points.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { request, waitForStopped } = require('../lib/client');
const { FILES, withCluster, openAccountOn, depositFrom, resultOf, within, topFrame } = require('../lib/bank');

const TEST_TIMEOUT = 180000;

test('a breakpoint set once stops on the node where the code runs; stack, variables, evaluate, setVariable, next', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  // The account lives on node 2; the session attaches through node 0; the call comes from node 1.
  const id = await openAccountOn(cluster, 2, 100);
  const { dap, attached } = await attach(0, { breakpoints: { [FILES.account]: [74] } });
  const [bp] = attached.breakpoints[FILES.account];
  assert.equal(bp.verified, true, JSON.stringify(bp));
  assert.equal(bp.line, 74);

  const stopped = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const call = depositFrom(cluster, 1, id, 5);
  const ev = await stopped;
  const owner = cluster.name(2);
  assert.match(ev.body.text, new RegExp(owner), 'the stopped text names the node');
  assert.match(ev.body.text, /#PID<0\.\d+\.\d+>/, 'and the pid');
  assert.deepEqual(ev.body.hitBreakpointIds, [bp.id]);
  const threadId = ev.body.threadId;

  const threads = (await request(dap, 'threads', {})).body.threads;
  const thread = threads.find((t) => t.id === threadId);
  assert.ok(thread, JSON.stringify(threads));
  assert.match(thread.name, new RegExp(`^${owner} #PID<0\\.\\d+\\.\\d+>.*Bank\\.Account\\.handle_call/3`));
  // On a +D node (ORBIT_TEST_PLUS_D) the native engine stopped it, and says so.
  const native = thread.name.endsWith('[native]');
  assert.equal(native, cluster.plusD(2), `the engine that stopped it: ${thread.name}`);

  const { frame, scopes, vars } = await topFrame(dap, threadId);
  assert.equal(frame.name, 'Bank.Account.handle_call/3');
  assert.equal(frame.line, 74);
  assert.equal(frame.source.path, FILES.account);
  assert.deepEqual(scopes.map((s) => s.name), ['Locals', 'Process']);
  const amount = vars.Locals.find((v) => v.name === 'amount');
  assert.ok(amount, JSON.stringify(vars.Locals.map((v) => v.name)));
  assert.equal(amount.value, '5');
  const state = vars.Locals.find((v) => v.name === 'state');
  assert.ok(state && state.value.startsWith('%Bank.Account{'), JSON.stringify(state));
  assert.ok(state.variablesReference > 0);
  const fields = (await request(dap, 'variables', { variablesReference: state.variablesReference })).body.variables;
  assert.ok(fields.some((f) => f.name === 'balance' && f.value === '100'), JSON.stringify(fields));
  assert.ok(fields.some((f) => f.name === 'id' && f.value === JSON.stringify(id)), JSON.stringify(fields));
  const nodeVar = vars.Process.find((v) => v.name === 'node');
  assert.ok(nodeVar && nodeVar.value.includes(owner), `Process scope has the node: ${JSON.stringify(nodeVar)}`);
  for (const key of ['registered_name', 'messages', 'status']) {
    assert.ok(vars.Process.some((v) => v.name === key), `Process scope has ${key}: ${JSON.stringify(vars.Process.map((v) => v.name))}`);
  }

  // Evaluation in the frame runs on the process's node, with its bindings.
  const sum = await request(dap, 'evaluate', { expression: 'state.balance + amount', frameId: frame.id, context: 'watch' });
  assert.equal(sum.body.result, '105');
  const where = await request(dap, 'evaluate', { expression: 'node()', frameId: frame.id, context: 'repl' });
  assert.ok(where.body.result.includes(owner), `node() in the frame is ${where.body.result}`);
  // Without a frame: the entry node; `node@host> expr` picks one.
  const entry = await request(dap, 'evaluate', { expression: 'node()', context: 'repl' });
  assert.ok(entry.body.result.includes(cluster.name(0)), entry.body.result);
  const picked = await request(dap, 'evaluate', { expression: `${cluster.name(1)}> node()`, context: 'repl' });
  assert.ok(picked.body.result.includes(cluster.name(1)), picked.body.result);

  // setVariable changes what the function computes (the interpreter); the native engine cannot write a
  // frame and says so.
  const locals = scopes.find((s) => s.name === 'Locals');
  const amountNow = native ? 5 : 10;
  if (native) {
    await assert.rejects(
      request(dap, 'setVariable', { variablesReference: locals.variablesReference, name: 'amount', value: '10' }),
      /not possible at a native breakpoint/,
    );
  } else {
    const set = await request(dap, 'setVariable', { variablesReference: locals.variablesReference, name: 'amount', value: '10' });
    assert.equal(set.body.value, '10');
  }

  const stepped = waitForStopped(dap, { reason: 'step', threadId, timeout: 20000 });
  await request(dap, 'next', { threadId });
  await stepped;
  const after = await topFrame(dap, threadId);
  assert.equal(after.frame.line, 75);
  const nb = after.vars.Locals.find((v) => v.name === 'new_balance');
  assert.equal(nb && nb.value, String(100 + amountNow), JSON.stringify(after.vars.Locals));

  await request(dap, 'continue', { threadId });
  assert.equal(await resultOf(call, 'deposit'), `{ok,${100 + amountNow}}`, 'the call completes with the amount it had then');
}));

test('conditional breakpoint stops only when the condition holds', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 1, 100);
  const { dap, attached } = await attach(0, { breakpoints: { [FILES.account]: [{ line: 74, condition: 'amount > 10' }] } });
  assert.equal(attached.breakpoints[FILES.account][0].verified, true, JSON.stringify(attached.breakpoints));
  const stopped = waitForStopped(dap, { timeout: 30000 });
  stopped.catch(() => {});
  assert.equal(await resultOf(depositFrom(cluster, 2, id, 5), 'small deposit'), '{ok,105}', 'no stop for amount 5');
  const call = depositFrom(cluster, 2, id, 20);
  const ev = await stopped;
  assert.equal(ev.body.reason, 'breakpoint');
  const { vars } = await topFrame(dap, ev.body.threadId);
  assert.equal(vars.Locals.find((v) => v.name === 'amount').value, '20');
  await request(dap, 'continue', { threadId: ev.body.threadId });
  assert.equal(await resultOf(call, 'big deposit'), '{ok,125}');
}));

test('hit-count breakpoint stops on the n-th hit', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 2, 0);
  const { dap } = await attach(0, { breakpoints: { [FILES.account]: [{ line: 74, hitCondition: '3' }] } });
  const stopped = waitForStopped(dap, { timeout: 40000 });
  stopped.catch(() => {});
  assert.equal(await resultOf(depositFrom(cluster, 0, id, 1), 'deposit 1'), '{ok,1}');
  assert.equal(await resultOf(depositFrom(cluster, 1, id, 2), 'deposit 2'), '{ok,3}');
  const call = depositFrom(cluster, 0, id, 3);
  const ev = await stopped;
  const { vars } = await topFrame(dap, ev.body.threadId);
  assert.equal(vars.Locals.find((v) => v.name === 'amount').value, '3', 'stopped on the third hit');
  await request(dap, 'continue', { threadId: ev.body.threadId });
  assert.equal(await resultOf(call, 'deposit 3'), '{ok,6}');
  const again = waitForStopped(dap, { timeout: 3000 });
  again.catch(() => {});
  assert.equal(await resultOf(depositFrom(cluster, 1, id, 4), 'deposit 4'), '{ok,10}', 'no stop after the third hit');
}));

test('node-scoped breakpoint (condition on node()) stops only on that node', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const onA = await openAccountOn(cluster, 1, 100, 'a');
  const onB = await openAccountOn(cluster, 2, 100, 'b');
  const target = cluster.name(2);
  const { dap, attached } = await attach(0, { breakpoints: { [FILES.account]: [{ line: 74, condition: `node() == :"${target}"` }] } });
  assert.equal(attached.breakpoints[FILES.account][0].verified, true, JSON.stringify(attached.breakpoints));
  const stopped = waitForStopped(dap, { timeout: 30000 });
  stopped.catch(() => {});
  assert.equal(await resultOf(depositFrom(cluster, 0, onA, 5), 'deposit on node 1'), '{ok,105}', 'no stop on another node');
  const call = depositFrom(cluster, 0, onB, 7);
  const ev = await stopped;
  assert.match(ev.body.text, new RegExp(target));
  await request(dap, 'continue', { threadId: ev.body.threadId });
  assert.equal(await resultOf(call, 'deposit on node 2'), '{ok,107}');
}));

test('log point prints the node and pid and does not stop', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 1, 100);
  const { dap, output } = await attach(0, { breakpoints: { [FILES.account]: [{ line: 74, logMessage: 'deposit of {amount} onto {state.balance}' }] } });
  let stops = 0;
  dap.on('stopped', () => stops++);
  assert.equal(await resultOf(depositFrom(cluster, 2, id, 5), 'deposit'), '{ok,105}', 'the call is not held');
  const text = await output.waitFor(/deposit of 5 onto 100/, { timeout: 15000 });
  const line = text.split('\n').find((l) => l.includes('deposit of 5 onto 100'));
  assert.ok(line.includes(cluster.name(1)), `log line names the node: ${line}`);
  assert.match(line, /#PID<0\.\d+\.\d+>/, `log line names the pid: ${line}`);
  assert.equal(text.split('deposit of 5 onto 100').length - 1, 1, `one log line per pass over the line:\n${text}`);

  // A line with nested expressions (an `if`), run three times with the same arguments by one process:
  // one log line per call.
  await request(dap, 'setBreakpoints', { source: { path: FILES.fees }, breakpoints: [{ line: 16, logMessage: 'fee line with {amount}' }] });
  const r = await cluster.eval(2, "list_to_tuple([ 'Elixir.Bank.Fees':fee_for(2500) || _ <- [1, 2, 3] ])");
  assert.equal(r.replace(/\s/g, ''), '{26,26,26}');
  const fees = await output.waitFor(/(fee line with 2500[^]*){3}/, { timeout: 15000 });
  await within(new Promise(() => {}), 1000);
  assert.equal(output.text().split('fee line with 2500').length - 1, 3, `three calls, three lines:\n${fees}`);
  assert.equal(stops, 0, 'a log point never stops');
}));

test('a condition, a log point and an evaluation that raise read as Elixir prints the exception', { timeout: TEST_TIMEOUT }, withCluster(2, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 1, 100);
  const { dap, output } = await attach(0, {
    breakpoints: { [FILES.account]: [{ line: 74, condition: 'amount / 0 > 1' }, { line: 75, logMessage: 'scaled is {scaled}' }] },
  });
  let stops = 0;
  dap.on('stopped', () => stops++);
  assert.equal(await resultOf(depositFrom(cluster, 0, id, 5), 'deposit'), '{ok,105}', 'a condition that raises does not hold');
  const text = await output.waitFor(/scaled is/, { timeout: 15000 });
  await output.waitFor(/breakpoint condition `amount \/ 0 > 1` failed: \*\* \(ArithmeticError\) bad argument in arithmetic expression/, { timeout: 15000 });
  assert.match(text, /scaled is <error: undefined variable "scaled">/);
  assert.doesNotMatch(output.text(), /__struct__|%\{|#\{/, `no exception struct as a map:\n${output.text()}`);
  assert.equal(stops, 0);

  await request(dap, 'setBreakpoints', { source: { path: FILES.account }, breakpoints: [{ line: 74 }] });
  const stopped = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const call = depositFrom(cluster, 0, id, 6);
  const ev = await stopped;
  const { frame } = await topFrame(dap, ev.body.threadId);
  await assert.rejects(request(dap, 'evaluate', { expression: 'scaled * 2', frameId: frame.id, context: 'repl' }), /^Error: undefined variable "scaled"$/);
  await assert.rejects(
    request(dap, 'evaluate', { expression: 'amount / 0', frameId: frame.id, context: 'watch' }),
    /^Error: \*\* \(ArithmeticError\) bad argument in arithmetic expression$/,
  );
  await assert.rejects(request(dap, 'evaluate', { expression: 'raise "no"', frameId: frame.id, context: 'repl' }), /^Error: \*\* \(RuntimeError\) no$/);
  await request(dap, 'continue', { threadId: ev.body.threadId });
  assert.equal(await resultOf(call, 'deposit'), '{ok,111}');
}));
