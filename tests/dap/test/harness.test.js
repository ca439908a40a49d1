'use strict';
// The test harness itself: whatever a test starts is owned from its spawn and stopped by pid when a step
// fails or times out, and the failure says what it waited for. Against a real node that never answers:
// one fixtures/demo node, SIGSTOPped by its OS pid (its epmd registration and listen socket stay, so
// Orbit finds it and connects, and then nothing comes back).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { withCluster } = require('../lib/bank');
const { own, ownedProcesses, startTime, isRunning, stopProcess } = require('../lib/owned');

const BOUND = 3000; // the attach's bound in these tests
const START_SLACK = 3000; // spawning the adapter and `initialize`, on a busy machine
const STOP_BUDGET = 3000 + 1000 + 2000; // stopClient: disconnect (1 s after a timeout, 3 s at most), SIGTERM grace, SIGKILL
const FIXTURE = path.join(__dirname, '../lib/selftest_timeout_fixture.js');

/** SIGSTOPs node i of the cluster by its OS pid (the BEAM itself: setpriv and elixir exec in place). */
function freeze(cluster, i) {
  const { pid } = cluster.nodes[i];
  const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  assert.match(comm, /^beam/, `pid ${pid} of ${cluster.name(i)} is the BEAM (it is '${comm}')`);
  process.kill(pid, 'SIGSTOP');
  return () => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // Gone.
    }
  };
}

/** Children of this process whose executable is the orbit binary (they would be ours). */
function orbitChildren() {
  const mine = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const exe = fs.readlinkSync(`/proc/${entry}/exe`);
      if (path.basename(exe).startsWith('orbit')) mine.push(Number(entry));
    } catch {
      // Gone meanwhile, or not readable.
    }
  }
  return mine;
}

test('harness: an attach to a node that never answers (SIGSTOPped) fails within its bound, and no orbit process the test started is alive', { timeout: 120000 }, withCluster(1, async ({ cluster, attach }, t) => {
  const thaw = freeze(cluster, 0);
  try {
    const spawned = [];
    const onSpawn = (c) => spawned.push({ pid: c.pid, start: startTime(c.pid), child: c.adapterChild });
    const t0 = Date.now();
    const error = await attach(0, { timeout: BOUND, clientOptions: { onSpawn } }).then(
      () => null,
      (e) => e,
    );
    const over = Date.now() - t0;
    assert.ok(error, 'the attach to a stopped node fails');
    t.diagnostic(`attach failed after ${error.at - t0} ms (bound ${BOUND} ms); the adapter was stopped ${over - (error.at - t0)} ms later`);
    assert.equal(spawned.length, 1, 'one adapter was spawned');
    assert.ok(spawned[0].start, 'its start time was read at spawn');

    // It failed within its bound, saying what it waited for.
    assert.match(error.message, new RegExp(`^(waiting for 'initialized' event after attach to ${cluster.name(0)} \\(connect, install the agent\\)|attach): no answer within ${BOUND} ms`), error.message);
    assert.ok(error.at - t0 < BOUND + START_SLACK, `the step failed ${error.at - t0} ms after the attach began (bound ${BOUND} ms)`);
    // …and the helper stopped the adapter before passing the failure on, at once.
    assert.ok(over < BOUND + START_SLACK + STOP_BUDGET, `the attach helper returned ${over} ms after it began`);

    // No orbit process started by this test is alive: by the pids recorded at spawn…
    for (const p of spawned) {
      assert.ok(!isRunning(p.pid, p.start), `orbit dap (pid ${p.pid}) is not running`);
      assert.ok(p.child.exitCode !== null || p.child.signalCode !== null, `orbit dap (pid ${p.pid}) was reaped`);
    }
    assert.deepEqual(ownedProcesses().filter((p) => p.what === 'orbit dap'), [], 'no adapter left in the registry');
    // …and among this process's children.
    assert.deepEqual(orbitChildren(), [], 'no orbit child process of the test');
  } finally {
    thaw();
  }
}));

test('harness: a test that node:test times out mid-attach has its adapter stopped, says what it waited for, and its file exits', { timeout: 120000 }, withCluster(1, async ({ cluster }, t) => {
  const thaw = freeze(cluster, 0);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orbit-dap-selftest-'));
  const pids = path.join(dir, 'pids');
  fs.writeFileSync(pids, '');
  const TEST_TIMEOUT = 2000;
  // The file must end by itself (no --test-force-exit): nothing it started may hold it open.
  // (Without NODE_TEST_CONTEXT, which node --test sets for its files, the child runs as a runner of its own.)
  const { NODE_TEST_CONTEXT, ...env } = process.env;
  const child = own(
    spawn(process.execPath, ['--test', '--test-reporter=tap', FIXTURE], {
      env: {
        ...env,
        ORBIT_SELFTEST_NODE: cluster.name(0),
        ORBIT_SELFTEST_COOKIE: cluster.cookie,
        ORBIT_SELFTEST_PIDS: pids,
        ORBIT_SELFTEST_TEST_TIMEOUT: String(TEST_TIMEOUT),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
    'self-test fixture',
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const t0 = Date.now();
  try {
    const LIMIT = 30000;
    let timer;
    const ended = await Promise.race([
      new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), LIMIT);
      }),
    ]);
    clearTimeout(timer);
    const took = Date.now() - t0;
    t.diagnostic(`the fixture's test file (test timeout ${TEST_TIMEOUT} ms) ended after ${took} ms`);
    assert.ok(ended, `the fixture's test file exits by itself (still running after ${LIMIT} ms):\n${out}`);
    assert.equal(ended.code, 1, `the fixture's test file fails:\n${out}`);
    assert.match(out, new RegExp(`test timed out after ${TEST_TIMEOUT}ms`), out);
    // The runner's timeout is reported with the step that was still waiting.
    assert.match(out, new RegExp(`still waiting for: waiting for 'initialized' event after attach to ${cluster.name(0)}`), out);
    // Ended soon after the timeout: node start-up, the timeout, stopping the adapter.
    assert.ok(took < TEST_TIMEOUT + 5000 + STOP_BUDGET, `the fixture's test file took ${took} ms`);

    const recorded = fs.readFileSync(pids, 'utf8').trim().split('\n').filter(Boolean);
    assert.equal(recorded.length, 1, `one adapter was spawned:\n${out}`);
    for (const line of recorded) {
      const [pid, start] = line.split(' ');
      assert.ok(start && start !== 'null', `start time recorded for ${pid}`);
      assert.ok(!isRunning(Number(pid), start), `orbit dap (pid ${pid}) of the timed-out test is not running`);
    }
  } finally {
    await stopProcess(child, { what: 'self-test fixture' });
    thaw();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}));
