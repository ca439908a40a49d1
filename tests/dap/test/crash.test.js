'use strict';
// Crashes: the `crashes` exception filter stops post mortem on an interpreted process that crashed (with
// its last frame), and the `crash_reports` filter prints crash reports of any process on stderr.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { request, waitForStopped, waitForEvent } = require('../lib/client');
const { FILES, withCluster, within } = require('../lib/bank');

const TEST_TIMEOUT = 180000;

// total/1 adds the amounts of the entries: an atom amount crashes it with badarith on line 49.
const CRASH = "spawn(fun() -> bank_ledger:total([#{amount => 1}, #{amount => not_a_number}]) end)";

test('crashes filter: an interpreted process that crashes stops post mortem with its frame', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const { attached, dap } = await attach(0, { args: { interpret: ['bank_ledger'] } });
  const filters = attached.capabilities.exceptionBreakpointFilters.map((f) => f.filter);
  assert.deepEqual(filters.sort(), ['crash_reports', 'crashes']);

  // Without the filter, a crash does not stop.
  let stops = 0;
  const count = () => stops++;
  dap.on('stopped', count);
  await cluster.eval(1, CRASH);
  await within(new Promise(() => {}), 2000);
  assert.equal(stops, 0, 'no stop without the crashes filter');
  dap.removeListener('stopped', count);

  await request(dap, 'setExceptionBreakpoints', { filters: ['crashes'] });
  const stopped = waitForStopped(dap, { reason: 'exception', timeout: 20000 });
  await cluster.eval(2, CRASH);
  const ev = await stopped;
  assert.match(ev.body.text, new RegExp(cluster.name(2)));
  assert.match(ev.body.text, /badarith/);
  const threadId = ev.body.threadId;
  const st = await request(dap, 'stackTrace', { threadId });
  const top = st.body.stackFrames[0];
  assert.equal(top.name, 'bank_ledger:total/1');
  assert.equal(top.line, 49);
  assert.equal(top.source.path, FILES.bankLedger);
  const scopes = (await request(dap, 'scopes', { frameId: top.id })).body.scopes;
  const locals = (await request(dap, 'variables', { variablesReference: scopes[0].variablesReference })).body.variables;
  const amount = locals.find((v) => v.name === 'Amount');
  assert.equal(amount && amount.value, 'not_a_number', JSON.stringify(locals));

  // Continue lets the dead process go: its thread exits.
  const exited = waitForEvent(dap, 'thread', 10000);
  await request(dap, 'continue', { threadId });
  const te = await exited;
  assert.deepEqual([te.body.reason, te.body.threadId], ['exited', threadId]);
  const threads = (await request(dap, 'threads', {})).body.threads;
  assert.ok(!threads.some((t) => t.id === threadId), JSON.stringify(threads));
}));

test('crash_reports filter: crash reports of any process on stderr, naming the node', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const { dap, output } = await attach(0, { exceptionFilters: ['crash_reports'] });
  let stops = 0;
  dap.on('stopped', () => stops++);
  await cluster.eval(2, 'proc_lib:spawn(fun() -> erlang:error(orbit_test_boom) end)');
  const text = await output.waitFor(/orbit_test_boom/, { category: 'stderr', timeout: 15000 });
  assert.match(text, new RegExp(`crash on ${cluster.name(2)}`));
  assert.equal(stops, 0, 'crash reports do not stop');

  // Off again: no more reports.
  await request(dap, 'setExceptionBreakpoints', { filters: [] });
  const before = output.text('stderr').length;
  await cluster.eval(1, 'proc_lib:spawn(fun() -> erlang:error(orbit_test_boom_again) end)');
  await within(new Promise(() => {}), 2000);
  assert.equal(output.text('stderr').length, before, 'no report once the filter is off');
}));
