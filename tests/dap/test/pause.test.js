'use strict';
// Pausing: a running interpreted process (console `/pause <pid> on <node>`, then the `pause` request on
// its thread), and a process that is not interpreted (`/pause <Name> on <node>`: suspended, resumed by
// Continue), on a 3-node cluster of fixtures/demo.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { request, rawRequest, waitForStopped } = require('../lib/client');
const { withCluster, resultOf, topFrame, within, eventually } = require('../lib/bank');

const TEST_TIMEOUT = 180000;

test('pause a running interpreted process from the console, continue it, pause its thread again', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const { dap } = await attach(0, { args: { interpret: ['Bank.Fees'] } });
  // A process on node 1 that stays in interpreted code for a long time.
  const pid = (await cluster.eval(1, "pid_to_list(spawn(fun() -> 'Elixir.Bank.Fees':compound(100, 0, 50000000) end))")).replace(/"/g, '');
  const [, a, b] = /^<0\.(\d+)\.(\d+)>$/.exec(pid) || [];
  assert.ok(a, `a local pid: ${pid}`);
  const elixirPid = `#PID<0.${a}.${b}>`;
  try {
    // Pause it once it runs inside the interpreter (its first call loads the interpreter's modules).
    await eventually(async () => (await cluster.eval(1, `lists:keymember(list_to_pid("${pid}"), 1, gen_server:call({global, dbg_iserver}, snapshot))`)) === 'true', 10000, 'process known to the interpreter');
    let stopped = waitForStopped(dap, { reason: 'pause', timeout: 20000 });
    const r = await request(dap, 'evaluate', { expression: `/pause ${elixirPid} on ${cluster.name(1)}`, context: 'repl' });
    assert.match(r.body.result, /paused/);
    let ev = await stopped;
    const threadId = ev.body.threadId;
    assert.match(ev.body.text, new RegExp(`${cluster.name(1)}.*${elixirPid.replace(/[.<>#]/g, '\\$&')}`));
    let top = await topFrame(dap, threadId);
    assert.equal(top.frame.name, 'Bank.Fees.compound/3');
    assert.ok([36, 39, 40].includes(top.frame.line), `line ${top.frame.line}`);
    assert.ok(top.vars.Locals.some((v) => v.name === 'years'), JSON.stringify(top.vars.Locals.map((v) => v.name)));

    // Pausing a stopped thread is an error, not a second stop.
    const again = await rawRequest(dap, { command: 'pause', arguments: { threadId } });
    assert.equal(again.success, false);

    const continued = new Promise((resolve) => dap.once('continued', resolve));
    await request(dap, 'continue', { threadId });
    await within(continued, 5000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    stopped = waitForStopped(dap, { reason: 'pause', threadId, timeout: 20000 });
    await request(dap, 'pause', { threadId });
    ev = await stopped;
    top = await topFrame(dap, threadId);
    assert.equal(top.frame.name, 'Bank.Fees.compound/3');
    const threads = (await request(dap, 'threads', {})).body.threads;
    assert.ok(threads.some((t) => t.id === threadId), JSON.stringify(threads));
  } finally {
    await cluster.eval(1, `exit(list_to_pid("${pid}"), kill)`).catch(() => {});
  }
}));

test('pause a process that is not interpreted: suspended, its stack shown, resumed by continue', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const { dap } = await attach(0);
  const target = cluster.name(2);
  const stopped = waitForStopped(dap, { reason: 'pause', timeout: 20000 });
  const r = await request(dap, 'evaluate', { expression: `/pause Bank.Ledger on ${target}`, context: 'repl' });
  assert.match(r.body.result, /paused/);
  const ev = await stopped;
  const threadId = ev.body.threadId;
  assert.match(ev.body.text, new RegExp(target));
  const status = () => cluster.eval(2, "element(2, erlang:process_info(whereis('Elixir.Bank.Ledger'), status))");
  assert.equal(await status(), 'suspended');

  const st = await request(dap, 'stackTrace', { threadId });
  const frames = st.body.stackFrames;
  assert.ok(frames.length > 0, 'a suspended process shows its stack');
  assert.ok(frames.some((f) => /gen_server/.test(f.name)), JSON.stringify(frames.map((f) => f.name)));
  assert.ok(frames.every((f) => f.presentationHint === 'subtle'), 'frames without variables');
  const scopes = (await request(dap, 'scopes', { frameId: frames[0].id })).body.scopes;
  assert.deepEqual(scopes.map((s) => s.name), ['Process']);
  const info = (await request(dap, 'variables', { variablesReference: scopes[0].variablesReference })).body.variables;
  assert.equal(info.find((v) => v.name === 'registered_name').value, 'Bank.Ledger');

  // A call to the suspended ledger waits; Continue resumes it and the call completes.
  const call = cluster.evalAsync(0, `gen_server:call({'Elixir.Bank.Ledger', '${target}'}, total, 60000)`);
  assert.equal(await within(call.result, 1500), undefined, 'the call waits while the ledger is suspended');
  await request(dap, 'continue', { threadId });
  assert.equal(await resultOf(call, 'total'), '0');
  await eventually(async () => (await status()) !== 'suspended', 5000, 'ledger resumed');

  // Bad pause requests get error responses.
  const unknown = await rawRequest(dap, { command: 'pause', arguments: { threadId: 987654 } });
  assert.equal(unknown.success, false);
  const noName = await rawRequest(dap, { command: 'evaluate', arguments: { expression: `/pause No.Such.Name on ${target}`, context: 'repl' } });
  assert.equal(noName.success, false);
  assert.match(noName.message, /No\.Such\.Name/);
}));
