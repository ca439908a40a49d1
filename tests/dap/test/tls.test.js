'use strict';
// A 3-node fixtures/demo cluster on TLS distribution (`-proto_dist inet_tls`, certificates made by the test):
// attach with the cluster's optfile and stop at a breakpoint on another node; a CA that did not sign the
// nodes' certificate and plain TCP give errors that name the node and say what failed.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { initialize, rawRequest, request, waitForStopped, stopClient } = require('../lib/client');
const { FILES, withCluster, openAccountOn, depositFrom, resultOf } = require('../lib/bank');

const TEST_TIMEOUT = 240000;

test('attach over TLS: a breakpoint stops on the node where the code runs, continue, detach', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 2, 100);
  const { dap, attached } = await attach(0, {
    breakpoints: { [FILES.account]: [74] },
    args: { sslDistOptfile: cluster.tls.optfile },
  });
  const [bp] = attached.breakpoints[FILES.account];
  assert.equal(bp.verified, true, JSON.stringify(bp));

  const stopped = waitForStopped(dap, { reason: 'breakpoint', timeout: 60000 });
  const call = depositFrom(cluster, 1, id, 5);
  const ev = await stopped;
  assert.match(ev.body.text, new RegExp(cluster.name(2)), 'the stopped text names the node');
  const st = await request(dap, 'stackTrace', { threadId: ev.body.threadId, startFrame: 0, levels: 5 });
  assert.equal(st.body.stackFrames[0].name, 'Bank.Account.handle_call/3');
  assert.equal(st.body.stackFrames[0].line, 74);

  await request(dap, 'setBreakpoints', { source: { path: FILES.account }, breakpoints: [] });
  await request(dap, 'continue', { threadId: ev.body.threadId });
  assert.match(await resultOf(call, 'deposit over TLS'), /^\{ok,105\}$/);
  await request(dap, 'disconnect', {});
}, { tls: true }));

test('over TLS: a CA that did not sign the nodes, Orbit certificate the nodes do not trust, and plain TCP: errors naming the node', { timeout: TEST_TIMEOUT }, withCluster(1, async ({ cluster, startClient }) => {
  const node = cluster.name(0);
  const { ca, cert, key, otherCa, otherCert, otherKey } = cluster.tls;
  const cases = [
    [{ tlsCert: cert, tlsKey: key, tlsCa: otherCa }, /unknown CA/],
    [{ tlsCert: otherCert, tlsKey: otherKey, tlsCa: ca }, /refused Orbit's TLS session/],
    [{ tlsCert: cert, tlsKey: key, tlsCa: ca, tlsServerName: 'db.example.com' }, /hostname mismatch/],
    [{}, /expects TLS distribution/],
  ];
  for (const [tls, pattern] of cases) {
    const dap = await startClient({ timeout: 60000 });
    try {
      await initialize(dap);
      const r = await rawRequest(dap, { command: 'attach', arguments: { node, cookie: cluster.cookie, ...tls } }, { timeout: 60000 });
      assert.equal(r.success, false, `attach with ${JSON.stringify(tls)} should fail: ${JSON.stringify(r)}`);
      assert.match(r.message, pattern);
      assert.ok(r.message.includes(node), `the error names the node: ${r.message}`);
    } finally {
      await stopClient(dap);
    }
  }
}, { tls: true }));
