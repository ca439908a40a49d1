'use strict';
// `launch` of a 2-node cluster of fixtures/demo: Orbit starts the nodes, joins them, breakpoints hold on
// both, and `disconnect` stops them.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { stopClient, initialize, request, waitForEvent, waitForStopped, collectOutput, guard } = require('../lib/client');
const { compileFixture, erlCall, randomToken, sleep } = require('../lib/cluster');
const { FILES, DEMO_DIR, resultOf, eventually, topFrame, testScope } = require('../lib/bank');

test('launch starts a 2-node cluster of the project, debugs it, and disconnect stops it', { timeout: 240000 }, async (t) => {
  compileFixture(); // So that Orbit's own `mix compile` finds nothing to do.
  const cookie = randomToken(20);
  const osPids = [];
  // Should the adapter not have stopped them, stop the launched nodes (by their OS pids), also when
  // the runner times the test out. (Nodes whose pids are not known yet die with the adapter.)
  t.after(() => killLaunched(osPids));
  const scope = testScope(t);
  const dap = await scope.startClient({ timeout: 20000 });
  const output = collectOutput(dap);
  let names = [];
  try {
    await initialize(dap);
    const initialized = waitForEvent(dap, 'initialized', 200000);
    const launched = request(dap, 'launch', { type: 'orbit', request: 'launch', name: 'demo', projectDir: DEMO_DIR, nodes: 2, cookie }, 200000);
    await Promise.race([initialized, launched.then(() => initialized)]);
    const text = await output.waitFor(/Orbit launched and attached to (.*)\n/, { timeout: 5000 });
    names = /Orbit launched and attached to (.*)\n/.exec(text)[1].split(', ').map((s) => s.trim());
    assert.equal(names.length, 2, text);
    const bps = await request(dap, 'setBreakpoints', { source: { path: FILES.account }, breakpoints: [{ line: 74 }] });
    await request(dap, 'configurationDone', {});
    await launched;

    const evalOn = async (i, expr, secs = 10) => {
      const r = await erlCall(names[i], cookie, `${expr}.\n`, secs).result;
      if (!r.ok) throw new Error(`${names[i]}: ${r.text}`);
      return r.value.replace(/\s/g, '');
    };
    for (let i = 0; i < 2; i++) osPids.push(Number((await eventually(() => evalOn(i, 'os:getpid()'), 60000, 'node answers')).replace(/"/g, '')));
    // Both run the bank and see each other.
    await eventually(async () => (await evalOn(0, "length('Elixir.Bank':nodes())")) === '2', 60000, 'bank on both nodes');
    await eventually(async () => (await evalOn(1, "length('Elixir.Bank':nodes())")) === '2', 60000, 'bank on both nodes');
    // The breakpoint may wait for the application's modules to be on the code path.
    if (!bps.body.breakpoints[0].verified) {
      await waitForEvent(dap, 'breakpoint', 20000).catch((e) => {
        throw new Error(`${e.message}: ${JSON.stringify(bps.body.breakpoints[0])}\n--- console ---\n${output.text()}`);
      });
    }

    // An account on the second node, deposited into from the first.
    let id;
    for (let n = 0; n < 100 && !id; n++) if ((await evalOn(0, `'Elixir.Bank':owner_node(<<"l${n}">>)`)).replace(/'/g, '') === names[1]) id = `l${n}`;
    assert.ok(id, 'an account id owned by the second node');
    assert.match(await evalOn(0, `'Elixir.Bank':open_account(<<"${id}">>, <<"ann">>, 10)`), /^\{ok,/);
    const stopped = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
    const call = erlCall(names[0], cookie, `gen_server:call('Elixir.Bank':whereis(<<"${id}">>), {deposit, 4}, 60000).\n`, 90);
    const ev = await stopped;
    assert.match(ev.body.text, new RegExp(names[1]));
    const { vars } = await topFrame(dap, ev.body.threadId);
    assert.equal(vars.Locals.find((v) => v.name === 'amount').value, '4');
    await request(dap, 'continue', { threadId: ev.body.threadId });
    assert.equal(await resultOf(call, 'deposit'), '{ok,14}');

    await guard(dap, dap.disconnectRequest({}), 'disconnect', 60000);
    // Launched nodes are stopped on disconnect.
    for (let i = 0; i < 2; i++) {
      await eventually(async () => !(await erlCall(names[i], cookie, 'ok.\n', 3).result).ok, 20000, `${names[i]} stopped`);
    }
    scope.succeeded();
  } catch (e) {
    throw scope.failed(e);
  } finally {
    await stopClient(dap);
    await killLaunched(osPids);
  }
});

/** SIGKILLs the nodes Orbit launched (OS pids learnt from the nodes themselves) that still run. */
async function killLaunched(osPids) {
  for (const pid of osPids.splice(0)) {
    try {
      process.kill(pid, 0);
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone, as it should be.
    }
  }
  await sleep(10);
}
