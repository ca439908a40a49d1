'use strict';
// Callers held while the process they wait for is paused (beam/src/debugger/int_engine/holds.rs).
// A GenServer.call with the default 5 s timeout, from node 0, into an account on node 1 that stops at a
// breakpoint and is held there for 10 s. On OTP 29+ nodes the caller is suspended meanwhile (its clock
// stops) and gets its answer; it shows as a thread held for the stopped one. On older OTP the console
// says that the caller will time out, and it does. `holdCallers: false` lets it time out on any OTP.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { request, waitForStopped } = require('../lib/client');
const { FILES, withCluster, openAccountOn } = require('../lib/bank');
const { sleep } = require('../lib/cluster');

const TEST_TIMEOUT = 180000;
const PAUSE_MS = 10000;

/** A 5 s GenServer.call (gen_server:call/2's default) into account `id`, from node `from`. */
function callWithDefaultTimeout(cluster, from, id) {
  return cluster.evalAsync(from, `catch gen_server:call('Elixir.Bank':whereis(<<"${id}">>), {deposit, 5})`, 60).result;
}

async function pausedCall(cluster, attach, args) {
  const id = await openAccountOn(cluster, 1, 100, 'held');
  const otp = Number((await cluster.eval(0, 'erlang:system_info(otp_release)')).replace(/"/g, ''));
  const { dap, output } = await attach(0, { breakpoints: { [FILES.account]: [74] }, args });
  const stopped = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const call = callWithDefaultTimeout(cluster, 0, id);
  const ev = await stopped;
  assert.match(ev.body.text, new RegExp(cluster.name(1)));
  return { dap, output, otp, ev, call };
}

test('a caller waiting on a paused GenServer: held on OTP 29+ and answered after a 10 s pause; on older OTP named as one that will time out', { timeout: TEST_TIMEOUT }, withCluster(2, async ({ cluster, attach }) => {
  const { dap, output, otp, ev, call } = await pausedCall(cluster, attach, {});
  if (otp >= 29) {
    await output.waitFor(/held while it is paused/, { timeout: 10000 });
    assert.match(output.text(), new RegExp(`${cluster.name(0)} #PID<[^>]+>.* waits for ${cluster.name(1)}`));
    const { body } = await request(dap, 'threads', {});
    const held = body.threads.filter((t) => /held for thread/.test(t.name));
    assert.equal(held.length, 1, JSON.stringify(body.threads));
    assert.ok(held[0].name.startsWith(cluster.name(0)), held[0].name);
    await sleep(PAUSE_MS);
    await request(dap, 'continue', { threadId: ev.body.threadId });
    const r = await call;
    assert.equal(r.ok && r.value.replace(/\s/g, ''), '{ok,105}', `the caller got its answer: ${JSON.stringify(r)}`);
    const after = await request(dap, 'threads', {});
    assert.ok(!after.body.threads.some((t) => /held for thread/.test(t.name)), JSON.stringify(after.body.threads));
  } else {
    await output.waitFor(/time out on their own timeout/, { timeout: 10000 });
    assert.match(output.text(), new RegExp(`paused while callers wait for it.*#PID<[^>]+> on ${cluster.name(0)} \\(a GenServer.call to it; OTP ${otp} `));
    await sleep(PAUSE_MS);
    await request(dap, 'continue', { threadId: ev.body.threadId });
    const r = await call;
    assert.match(r.value || r.text, /timeout/, `the caller timed out: ${JSON.stringify(r)}`);
  }
}));

test('holdCallers: false lets the caller time out, and says so', { timeout: TEST_TIMEOUT }, withCluster(2, async ({ cluster, attach }) => {
  const { dap, output, ev, call } = await pausedCall(cluster, attach, { holdCallers: false });
  await output.waitFor(/holding callers is off/, { timeout: 10000 });
  await sleep(PAUSE_MS);
  await request(dap, 'continue', { threadId: ev.body.threadId });
  const r = await call;
  assert.match(r.value || r.text, /timeout/, `the caller timed out: ${JSON.stringify(r)}`);
}));
