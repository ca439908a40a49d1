'use strict';
// Bad input gets error responses, never a hang or a crash: unknown thread, frame and variables ids,
// malformed arguments, unknown nodes, a wrong cookie, a projectDir that is not a mix project.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const os = require('node:os');
const fs = require('node:fs');
const { stopClient, initialize, rawRequest, request, waitForStopped } = require('../lib/client');
const { shortHost } = require('../lib/cluster');
const { FILES, withCluster, openAccountOn, depositFrom, resultOf } = require('../lib/bank');

/** Sends a request and asserts an error response with a message; resolves with the message. */
async function fails(dap, command, args, pattern) {
  const r = await rawRequest(dap, { command, arguments: args }, { timeout: 30000 });
  assert.equal(r.success, false, `${command} ${JSON.stringify(args)} should fail: ${JSON.stringify(r)}`);
  assert.equal(r.command, command);
  assert.ok(typeof r.message === 'string' && r.message.length > 0, `${command}: an error message`);
  if (pattern) assert.match(r.message, pattern);
  return r.message;
}

test('unknown ids, malformed arguments and unknown nodes in a session: error responses, and the session goes on', { timeout: 180000 }, withCluster(1, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 0, 100);
  const { dap } = await attach(0, { breakpoints: { [FILES.account]: [74] } });

  await fails(dap, 'attach', { node: cluster.name(0), cookie: cluster.cookie }, /already/);
  for (const command of ['stackTrace', 'continue', 'next', 'stepIn', 'stepOut', 'pause']) {
    await fails(dap, command, { threadId: 4242 });
  }
  await fails(dap, 'scopes', { frameId: 4242 });
  await fails(dap, 'evaluate', { expression: '1 + 1', frameId: 4242, context: 'watch' }, /frame/);
  await fails(dap, 'variables', { variablesReference: 4242 });
  await fails(dap, 'setVariable', { variablesReference: 4242, name: 'x', value: '1' });
  // Malformed arguments.
  await fails(dap, 'stackTrace', { threadId: 'one' });
  await fails(dap, 'stackTrace', {});
  await fails(dap, 'evaluate', { context: 'repl' });
  await fails(dap, 'setBreakpoints', { source: { name: 'account.ex' }, breakpoints: [{ line: 74 }] });
  await fails(dap, 'setExceptionBreakpoints', { filters: ['no_such_filter'] }, /no_such_filter/);
  await fails(dap, 'setBreakpoints', { source: { path: FILES.account }, breakpoints: 'all of them' });
  // Unknown nodes and bad expressions.
  const nobody = `nobody_${process.pid}@${shortHost()}`;
  await fails(dap, 'evaluate', { expression: `${nobody}> node()`, context: 'repl' }, /nobody/);
  await fails(dap, 'evaluate', { expression: `/pause Bank.Ledger on ${nobody}`, context: 'repl' });
  await fails(dap, 'evaluate', { expression: '/pause', context: 'repl' }, /usage/);
  await fails(dap, 'evaluate', { expression: '1 +', context: 'repl' });
  await fails(dap, 'evaluate', { expression: 'raise "boom"', context: 'repl' }, /boom/);
  // A breakpoint in a file no node knows, and a bad condition: unverified, with a reason.
  const nowhere = await request(dap, 'setBreakpoints', { source: { path: '/nowhere/x.ex' }, breakpoints: [{ line: 3 }] });
  assert.equal(nowhere.body.breakpoints[0].verified, false);
  assert.ok(nowhere.body.breakpoints[0].message);
  const badCond = await request(dap, 'setBreakpoints', { source: { path: FILES.fees }, breakpoints: [{ line: 13, condition: 'amount >' }, { line: 14, hitCondition: 'often' }] });
  for (const b of badCond.body.breakpoints) {
    assert.equal(b.verified, false, JSON.stringify(b));
    assert.ok(b.message, JSON.stringify(b));
  }

  // Stale ids of a thread that has moved on.
  const stopped = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const call = depositFrom(cluster, 0, id, 1);
  const ev = await stopped;
  const st = await request(dap, 'stackTrace', { threadId: ev.body.threadId });
  const frameId = st.body.stackFrames[0].id;
  const scopes = (await request(dap, 'scopes', { frameId })).body.scopes;
  await request(dap, 'continue', { threadId: ev.body.threadId });
  assert.equal(await resultOf(call, 'deposit'), '{ok,101}');
  await fails(dap, 'scopes', { frameId });
  await fails(dap, 'variables', { variablesReference: scopes[0].variablesReference });
  await fails(dap, 'evaluate', { expression: 'amount', frameId, context: 'watch' });
  await fails(dap, 'continue', { threadId: ev.body.threadId });

  // Still alive and well.
  const r = await request(dap, 'evaluate', { expression: '1 + 1', context: 'repl' });
  assert.equal(r.body.result, '2');
}));

test('attach to an unknown node, with a wrong cookie, or launch a directory that is no mix project: error responses', { timeout: 120000 }, withCluster(1, async ({ cluster, startClient }) => {
  const cases = [
    ['attach', { node: `nobody_${process.pid}@${shortHost()}`, cookie: 'whatever' }],
    ['attach', { node: cluster.name(0), cookie: 'not-the-cookie' }],
    ['attach', { node: 'no-at-sign', cookie: 'x' }],
    ['attach', { node: cluster.name(0), cookie: cluster.cookie, projectDir: '/no/such/dir' }],
    ['attach', { cookie: 'x' }],
  ];
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'orbit-not-mix-'));
  cases.push(['launch', { projectDir: empty, nodes: 2 }]);
  cases.push(['launch', { projectDir: FILES.account.replace(/\/lib\/.*/, ''), nodes: 0 }]);
  cases.push(['launch', {}]);
  try {
    for (const [command, args] of cases) {
      const dap = await startClient({ timeout: 30000 });
      try {
        await initialize(dap);
        const t0 = Date.now();
        const message = await fails(dap, command, args);
        assert.ok(Date.now() - t0 < 30000, `${command} answered in time`);
        if (args.cookie === 'not-the-cookie') assert.match(message, /cookie|refused|not_allowed|handshake|denied/i);
        // The adapter is still there and answers.
        const threads = await request(dap, 'threads', {});
        assert.deepEqual(threads.body.threads, []);
      } finally {
        await stopClient(dap);
      }
    }
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
}));
