'use strict';
// Cluster membership during a session: a node that joins gets the breakpoints; a node that dies while one
// of its processes is paused takes its thread with it, and the session goes on with the others.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { request, waitForStopped } = require('../lib/client');
const { FILES, withCluster, openAccountOn, depositFrom, resultOf, topFrame, within, eventually } = require('../lib/bank');

const TEST_TIMEOUT = 180000;

test('a node that joins mid-session gets the breakpoints', { timeout: TEST_TIMEOUT }, withCluster(2, async ({ cluster, attach }) => {
  const { dap, output, attached } = await attach(0, { breakpoints: { [FILES.account]: [74] } });
  assert.equal(attached.breakpoints[FILES.account][0].verified, true);
  const added = await cluster.addNode();
  const newcomer = cluster.name(added);
  // "joined: … now hold there too", or, for a node still starting, "joined; …" and then "…: breakpoints in
  // Bank.Account now hold there too" once its keeper could interpret the module.
  await output.waitFor(new RegExp(`${newcomer}(:| joined:).* now hold there too`), { timeout: 30000 });

  const id = await openAccountOn(cluster, added, 100, 'late');
  const stopped = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const call = depositFrom(cluster, 0, id, 9);
  const ev = await stopped.catch((e) => {
    throw new Error(`${e.message}\n--- console ---\n${output.text()}`);
  });
  assert.match(ev.body.text, new RegExp(newcomer), 'stopped on the node that joined');
  const { frame, vars } = await topFrame(dap, ev.body.threadId);
  assert.equal(frame.line, 74);
  assert.equal(vars.Locals.find((v) => v.name === 'amount').value, '9');
  const where = await request(dap, 'evaluate', { expression: 'node()', frameId: frame.id, context: 'repl' });
  assert.ok(where.body.result.includes(newcomer), where.body.result);
  await request(dap, 'continue', { threadId: ev.body.threadId });
  assert.equal(await resultOf(call, 'deposit on the new node'), '{ok,109}');
}));

test('a node killed while one of its processes is paused: its thread exits, the session goes on', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const doomed = await openAccountOn(cluster, 2, 100, 'doomed');
  const survivor = await openAccountOn(cluster, 1, 100, 'survivor');
  const { dap, output } = await attach(0, { breakpoints: { [FILES.account]: [74] } });

  let stopped = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const lost = depositFrom(cluster, 1, doomed, 5);
  const ev = await stopped;
  assert.match(ev.body.text, new RegExp(cluster.name(2)));
  const threadId = ev.body.threadId;

  const exited = new Promise((resolve) => {
    const onThread = (e) => {
      if (e.body.reason === 'exited' && e.body.threadId === threadId) {
        dap.removeListener('thread', onThread);
        resolve(e);
      }
    };
    dap.on('thread', onThread);
  });
  let terminated = false;
  dap.on('terminated', () => (terminated = true));
  const gone = cluster.name(2);
  await cluster.kill(2);
  await within(exited, 20000);
  assert.equal(terminated, false, 'the session goes on');
  assert.ok(await within(exited, 1), 'the paused thread exits with its node');
  await output.waitFor(new RegExp(`${gone} left the cluster`), { timeout: 10000 });
  const threads = (await request(dap, 'threads', {})).body.threads;
  assert.ok(!threads.some((t) => t.id === threadId), JSON.stringify(threads));
  const r = await lost.result;
  assert.equal(r.ok && /^\{ok/.test(r.value), false, 'the call to the dead node does not complete normally');

  // The session goes on with the other nodes.
  stopped = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const call = depositFrom(cluster, 0, survivor, 6);
  const ev2 = await stopped;
  assert.match(ev2.body.text, new RegExp(cluster.name(1)));
  const { frame } = await topFrame(dap, ev2.body.threadId);
  const sum = await request(dap, 'evaluate', { expression: 'state.balance + amount', frameId: frame.id, context: 'watch' });
  assert.equal(sum.body.result, '106');
  await request(dap, 'continue', { threadId: ev2.body.threadId });
  assert.equal(await resultOf(call, 'deposit on a surviving node'), '{ok,106}');
}));

test('a node stopped with SIGSTOP during a session does not hold up a breakpoint hit on another node', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 1, 100, 'awake');
  // The session's interpreter server runs on the node it attaches through (0); node 2 is stopped.
  const { dap } = await attach(0, { breakpoints: { [FILES.account]: [74] } });
  const frozen = cluster.nodes[2].pid;
  process.kill(frozen, 'SIGSTOP');
  try {
    // The signal is delivered asynchronously: wait until the VM is in state T.
    const stat = () => require('node:fs').readFileSync(`/proc/${frozen}/stat`, 'utf8');
    await eventually(async () => /^\d+ \(beam[^)]*\) T /.test(stat()), 5000, `node 2's VM stopped: ${stat().slice(0, 40)}`);
    const started = Date.now();
    const stopped = waitForStopped(dap, { reason: 'breakpoint', timeout: 20000 });
    const call = depositFrom(cluster, 0, id, 4);
    const ev = await stopped;
    // The RPC timeout of one request (15 s) is the most a stopped node may cost; here it costs nothing.
    assert.ok(Date.now() - started < 16000, `the stop came after ${Date.now() - started} ms`);
    assert.match(ev.body.text, new RegExp(cluster.name(1)));
    const { frame, vars } = await topFrame(dap, ev.body.threadId);
    assert.equal(frame.line, 74);
    assert.equal(vars.Locals.find((v) => v.name === 'amount').value, '4');
    await request(dap, 'continue', { threadId: ev.body.threadId });
    assert.equal(await resultOf(call, 'deposit on an awake node'), '{ok,104}');
  } finally {
    try {
      process.kill(frozen, 'SIGCONT');
    } catch {
      // Already gone.
    }
  }
}));

test('setBreakpoints with a frozen node: answered after one short per-node wait, the node named, the breakpoint following it when it wakes', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  for (let i = 0; i < 3; i++) assert.equal(await cluster.eval(i, "'Elixir.Bank.Fees':fee_for(500)"), '5'); // loaded everywhere
  const { dap, output } = await attach(0, {});
  const frozen = cluster.nodes[2].pid;
  process.kill(frozen, 'SIGSTOP');
  try {
    const started = Date.now();
    const set = request(dap, 'setBreakpoints', { source: { path: FILES.fees }, breakpoints: [{ line: 13 }] }, 60000);
    // The session answers other requests meanwhile.
    const threads = await request(dap, 'threads', {}, 10000);
    assert.ok(Array.isArray(threads.body.threads));
    const answer = await set;
    const took = Date.now() - started;
    assert.equal(answer.body.breakpoints[0].verified, true, JSON.stringify(answer.body));
    // At most one short per-node wait (5 s), not OTP's interpreter server waiting on the frozen node.
    assert.ok(took < 12000, `setBreakpoints answered after ${took} ms`);
    await output.waitFor(new RegExp(`${cluster.name(2)}.*(does not answer|not answering)`), { timeout: 10000 });
    // A stop on a healthy node meanwhile.
    let stopped = waitForStopped(dap, { reason: 'breakpoint', timeout: 20000 });
    let call = cluster.evalAsync(1, "'Elixir.Bank.Fees':fee_for(700)", 60);
    let ev = await stopped;
    assert.match(ev.body.text, new RegExp(cluster.name(1)));
    await request(dap, 'continue', { threadId: ev.body.threadId });
    assert.equal(await resultOf(call, 'fee on node 1'), '7');
    // Awake again: the breakpoint holds there too.
    process.kill(frozen, 'SIGCONT');
    await output.waitFor(new RegExp(`${cluster.name(2)}.*now hold`), { timeout: 30000 });
    stopped = waitForStopped(dap, { reason: 'breakpoint', timeout: 20000 });
    call = cluster.evalAsync(2, "'Elixir.Bank.Fees':fee_for(900)", 60);
    ev = await stopped;
    assert.match(ev.body.text, new RegExp(cluster.name(2)));
    await request(dap, 'continue', { threadId: ev.body.threadId });
    assert.equal(await resultOf(call, 'fee on node 2'), '9');
  } finally {
    try {
      process.kill(frozen, 'SIGCONT');
    } catch {
      // Already gone.
    }
  }
}));
