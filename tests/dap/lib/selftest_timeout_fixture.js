'use strict';
// Not a test of its own (node --test does not pick files in lib/): test/harness.test.js runs this file
// in a child `node --test`, without --test-force-exit, to see what happens when node:test itself times
// out a test whose attach is still waiting on a node that never answers.
//
// Environment (set by test/harness.test.js):
//   ORBIT_SELFTEST_NODE, ORBIT_SELFTEST_COOKIE  the (SIGSTOPped) node and its cookie
//   ORBIT_SELFTEST_PIDS                         file that gets "pid start-time" of each adapter spawned
//   ORBIT_SELFTEST_TEST_TIMEOUT                 node:test timeout of the test, ms

const fs = require('node:fs');
const { test } = require('node:test');
const { testScope } = require('./bank');
const { startTime } = require('./owned');

const node = process.env.ORBIT_SELFTEST_NODE;
const cluster = { name: () => node, cookie: process.env.ORBIT_SELFTEST_COOKIE };

test('an attach that outlives its test', { timeout: Number(process.env.ORBIT_SELFTEST_TEST_TIMEOUT) || 2000 }, async (t) => {
  const scope = testScope(t);
  const onSpawn = (c) => fs.appendFileSync(process.env.ORBIT_SELFTEST_PIDS, `${c.pid} ${startTime(c.pid)}\n`);
  // The attach's own bound (60 s) is far beyond the test's: the runner's timeout comes first.
  await scope.attach(cluster, 0, { timeout: 60000, clientOptions: { onSpawn } });
  scope.succeeded();
});
