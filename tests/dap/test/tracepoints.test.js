'use strict';
// Tracepoints through `orbit dap` on a 3-node cluster: a log point on a function's `def` line whose
// message uses only its arguments is served by call tracing, never by the interpreter. Its lines name
// the node and the process, no module is interpreted on any node, each node keeps the session's rate
// limit (one line says how many calls were dropped), and removing it, disconnecting or killing the
// adapter leaves no trace pattern and no tracer on any node.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { request, guard } = require('../lib/client');
const { FILES, withCluster, eventually, within, leftovers } = require('../lib/bank');

const TEST_TIMEOUT = 240000;
const DEF_LINE = 12; // def fee_for(amount) when is_integer(amount) and amount > 0 do   (fixtures/demo/lib/bank/fees.ex)
const TRACED = 'traced, not interpreted';
const RATE = 20;

/**
 * On one node: {Traced, Counted, Tracer, Interpreted, Held} — whether Bank.Fees.fee_for/1 has a meta
 * trace pattern and a call_count pattern (what the rate limit counts with), whether the session's tracer runs (or a trace session of its is left), the demo modules whose calls
 * go through the interpreter, and what the interpreter servers hold (int:interpreted/0, read without
 * starting a server). Where the node has trace sessions (OTP 27+) the tracer's patterns are in a session of
 * its own (orbit_dbg_trace), read while one exists; else in the node's legacy session.
 */
const STATE = [
  "MFA = {'Elixir.Bank.Fees', fee_for, 1},",
  "Mods = ['Elixir.Bank.Account', 'Elixir.Bank.Fees', 'Elixir.Bank.Ledger', 'Elixir.Bank.Mailbox', bank_ledger],",
  'Servers = [S || S <- lists:usort([whereis(dbg_iserver), global:whereis_name(dbg_iserver)]), is_pid(S)],',
  'Held = lists:usort(lists:append([gen_server:call(S, all_interpreted) || S <- Servers])),',
  'Ss = case code:ensure_loaded(trace) of {module, trace} -> [S || {orbit_dbg_trace, _} = S <- trace:session_info(all)]; _ -> [] end,',
  'Info = fun(Item) -> case Ss of [S | _] -> trace:info(S, MFA, Item); [] -> erlang:trace_info(MFA, Item) end end,',
  '{element(2, Info(meta)) =/= false, element(2, Info(call_count)) =/= false,',
  ' is_pid(whereis(orbit_dbg_tracer)) orelse Ss =/= [], orbit_dbg:interpreted_here(Mods), Held}.',
].join('\n');
const TRACING = '{true,true,true,[],[]}';
const NO_TRACE = '{false,false,false,[],[]}';

async function state(cluster, i) {
  return (await cluster.eval(i, STATE)).replace(/\s/g, '');
}

async function assertNoTraceAnywhere(cluster, what) {
  for (let i = 0; i < cluster.size; i++) {
    await eventually(async () => (await state(cluster, i)) === NO_TRACE, 20000, `${what}: no trace pattern and no tracer on node ${i}`);
  }
}

/** Lines of `text` that a tracepoint printed on node `name`: `[name #PID<0.x.y>] fee for N`. */
function linesOf(text, name) {
  return text.split('\n').filter((l) => l.startsWith(`[${name} `) && l.includes('] fee for '));
}

/** The calls node `name` said it dropped, summed over its notes. */
function droppedOn(text, name) {
  const re = new RegExp(`^\\[${name.replace(/[.@]/g, '\\$&')}\\] tracepoints: (\\d+) calls dropped`);
  return text.split('\n').reduce((n, l) => n + Number((re.exec(l) || [0, 0])[1]), 0);
}

test('a tracepoint on a hot function: lines name node and pid, nothing is interpreted, the rate limit holds, removing it leaves no trace', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const { dap, output, attached } = await attach(0, {
    args: { logPointRate: RATE },
    breakpoints: { [FILES.fees]: [{ line: DEF_LINE, logMessage: 'fee for {amount}' }] },
  });
  const [bp] = attached.breakpoints[FILES.fees];
  assert.ok(bp.verified, JSON.stringify(bp));
  assert.equal(bp.line, DEF_LINE, 'it stays on the def line');
  assert.equal(bp.message, TRACED);
  for (let i = 0; i < 3; i++) assert.equal(await state(cluster, i), TRACING, `node ${i}: traced, nothing interpreted`);

  // One call on each node: one line each, naming that node and the calling process.
  for (let i = 0; i < 3; i++) assert.equal(await cluster.eval(i, `'Elixir.Bank.Fees':fee_for(${1001 + i})`), '11');
  // Each node's tracer sends its line over that node's own connection: they need not arrive in the order
  // of the calls (the patterns were in place on every node before the first call: checked above).
  for (let i = 0; i < 3; i++) await output.waitFor(new RegExp(`fee for ${1001 + i}$`, 'm'), { timeout: 15000 });
  for (let i = 0; i < 3; i++) {
    const lines = linesOf(output.text(), cluster.name(i));
    assert.equal(lines.length, 1, `node ${i}: ${output.text()}`);
    assert.match(lines[0], new RegExp(`^\\[${cluster.name(i)} #PID<0\\.\\d+\\.\\d+>\\] fee for ${1001 + i}$`));
  }
  // The other clause (`fee_for(_amount)`, line 20) is not this tracepoint's.
  assert.equal(await cluster.eval(1, "'Elixir.Bank.Fees':fee_for(-5)"), '0');

  // A hot loop on two nodes at once: each prints at most RATE lines per second and says what it dropped.
  const N = 20000;
  const loop = `lists:foreach(fun(X) -> 'Elixir.Bank.Fees':fee_for(X) end, lists:seq(1, ${N}))`;
  // What the loops print, after what came before (the single calls, in an earlier second).
  const before = output.text().length;
  const since = () => output.text().slice(before);
  const loops = await Promise.all([cluster.eval(1, loop, 60), cluster.eval(2, loop, 60)]);
  assert.deepEqual(loops, ['ok', 'ok']);
  const accounted = (name) => linesOf(since(), name).length + droppedOn(since(), name);
  await eventually(async () => [1, 2].every((i) => accounted(cluster.name(i)) >= N - N / 100), 30000, 'every call shown or counted').catch((e) => {
    const counts = [1, 2].map((i) => `node ${i}: ${linesOf(since(), cluster.name(i)).length} shown, ${droppedOn(since(), cluster.name(i))} dropped`);
    throw new Error(`${e.message}; ${counts.join('; ')}:\n${since().slice(-3000)}`);
  });
  await within(new Promise(() => {}), 1500);
  const text = since();
  assert.ok(!output.text().includes('fee for -5'), output.text().slice(-2000));
  assert.equal(linesOf(text, cluster.name(0)).length, 0, 'node 0 ran no loop');
  for (const i of [1, 2]) {
    const name = cluster.name(i);
    const shown = linesOf(text, name).length;
    const dropped = droppedOn(text, name);
    assert.ok(dropped > 0, `node ${i} dropped calls`);
    assert.ok(shown + dropped <= N && shown + dropped >= N - N / 100, `node ${i}: ${shown} shown and ${dropped} dropped of ${N} calls`);
    // Between two of its notes (one per second at most), a node prints at most RATE lines.
    const notes = text.split('\n').filter((l) => l.startsWith(`[${name}] tracepoints: `));
    for (const note of notes) assert.match(note, new RegExp(`calls dropped in the last second \\(Bank\\.Fees\\.fee_for/1\\); the rate limit is ${RATE} lines per second per node$`));
    let inWindow = 0;
    for (const l of text.split('\n')) {
      if (l.startsWith(`[${name}] tracepoints: `)) inWindow = 0;
      else if (l.startsWith(`[${name} `) && l.includes('] fee for ')) {
        inWindow += 1;
        assert.ok(inWindow <= RATE, `node ${i}: more than ${RATE} lines in one second:\n${text.slice(-3000)}`);
      }
    }
  }
  for (let i = 0; i < 3; i++) assert.equal(await state(cluster, i), TRACING, `node ${i}: still nothing interpreted after the loop`);

  // Removed: no trace pattern and no tracer on any node.
  const removed = await request(dap, 'setBreakpoints', { source: { path: FILES.fees }, breakpoints: [] });
  assert.deepEqual(removed.body.breakpoints, []);
  await assertNoTraceAnywhere(cluster, 'removed');
  assert.equal(await cluster.eval(1, "'Elixir.Bank.Fees':fee_for(7777)"), '51');
  await within(new Promise(() => {}), 500);
  assert.ok(!output.text().includes('fee for 7777'), 'no line once removed');

  // A function breakpoint marked as a log point: every clause, with the return value; then disconnect.
  const fbp = await request(dap, 'setFunctionBreakpoints', { breakpoints: [{ name: 'Bank.Fees.fee_for/1 log "fee_for -> {return}"' }] });
  assert.equal(fbp.body.breakpoints[0].message, TRACED, JSON.stringify(fbp.body.breakpoints));
  assert.equal(await cluster.eval(2, "'Elixir.Bank.Fees':fee_for(-5)"), '0');
  await output.waitFor(new RegExp(`\\[${cluster.name(2)} #PID<0\\.\\d+\\.\\d+>\\] fee_for -> 0`), { timeout: 15000 });
  for (let i = 0; i < 3; i++) assert.equal(await state(cluster, i), TRACING, `node ${i}: function log point traced`);
  await guard(dap, dap.disconnectRequest({ terminateDebuggee: false }), 'disconnect', 60000);
  await assertNoTraceAnywhere(cluster, 'after disconnect');
  for (let i = 0; i < 3; i++) {
    await eventually(async () => (await leftovers(cluster, i)) === '{[],[],[],[],[],[],[]}', 20000, `node ${i}: nothing of the debugger left`);
  }
}));

test('the adapter killed with SIGKILL while tracepoints run: every node removes its trace patterns by itself', { timeout: TEST_TIMEOUT }, withCluster(3, async ({ cluster, attach }) => {
  const { dap, output, attached } = await attach(0, {
    breakpoints: { [FILES.fees]: [{ line: DEF_LINE, logMessage: 'fee for {amount}' }] },
  });
  assert.equal(attached.breakpoints[FILES.fees][0].message, TRACED);
  // Calls keep coming while the adapter dies.
  const loop = "lists:foreach(fun(X) -> 'Elixir.Bank.Fees':fee_for(X), timer:sleep(1) end, lists:seq(1, 3000))";
  const running = [1, 2].map((i) => cluster.evalAsync(i, loop, 120));
  await output.waitFor(new RegExp(`\\[${cluster.name(2)} #PID<`), { timeout: 15000 });
  for (let i = 0; i < 3; i++) assert.equal(await state(cluster, i), TRACING, `node ${i}: traced, nothing interpreted`);
  dap._adapterProcess.kill('SIGKILL');
  await dap.exited;
  await assertNoTraceAnywhere(cluster, 'after SIGKILL');
  for (const r of running) {
    const done = await r.result;
    assert.ok(done.ok && done.value === 'ok', `the loop completes normally: ${done.text}`);
  }
}));
