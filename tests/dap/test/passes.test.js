'use strict';
// A user's second pass, and every pass after it: a breakpoint stops once each time a process's execution
// reaches its line, no more and no fewer. Long-lived processes hit again and again (a GenServer serving
// 100 calls), a fun called by Enum.map, lines with nested expressions (with a condition, with a hit
// count, and `next` from them), recursion, and a log point in a loop.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { request, waitForStopped } = require('../lib/client');
const { FILES, withCluster, openAccountOn, resultOf, eventually, within, topFrame } = require('../lib/bank');

const TEST_TIMEOUT = 240000;
// Lines of fixtures/demo/lib/bank/fees.ex.
const FEE_IF = 16; //      fee = if amount >= 1_000, do: fee + 1, else: fee
const FEE_RESULT = 17; //  fee
const QUOTE_FUN = 47; //   fee = fee_for(amount)         (inside the fun given to Enum.map/2)
const TIER = 57; //        tier = n * 100                (tiers/1, plain recursion)
const COMPOUND = 39; //    next = balance + div(...)     (compound/3, tail recursion)

/**
 * Continues every stop of the session as it comes (after `inspect(body)`, when given); returns the list
 * of stopped event bodies, which grows as they come.
 */
function continueEveryStop(dap, inspect) {
  const stops = [];
  dap.on('stopped', async (e) => {
    stops.push(e.body);
    try {
      if (inspect) await inspect(e.body);
      await request(dap, 'continue', { threadId: e.body.threadId });
    } catch (err) {
      stops.push({ error: `${err.message}` });
    }
  });
  return stops;
}

/** The value of local variable `name` in the top frame of a stopped thread. */
async function local(dap, threadId, name) {
  const { vars, frame } = await topFrame(dap, threadId);
  const v = vars.Locals.find((x) => x.name === name);
  assert.ok(v, `${name} in ${JSON.stringify(vars.Locals.map((x) => x.name))}`);
  return { value: v.value, line: frame.line };
}

test('a GenServer serving 100 calls from one caller stops 100 times, and every call returns', { timeout: TEST_TIMEOUT }, withCluster(2, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 1, 0);
  const { dap } = await attach(0, { breakpoints: { [FILES.account]: [74] } });
  const amounts = [];
  const stops = continueEveryStop(dap, async (body) => {
    if (amounts.length < 3) amounts.push((await local(dap, body.threadId, 'amount')).value);
  });
  // One caller, one account process, 100 calls in a row with the same argument.
  const calls = cluster.evalAsync(
    0,
    `P = 'Elixir.Bank':whereis(<<"${id}">>), lists:last([gen_server:call(P, {deposit, 1}, 60000) || _ <- lists:seq(1, 100)])`,
    200,
  );
  assert.equal(await resultOf(calls, '100 deposits', 200000), '{ok,100}', 'every call returned its normal result');
  await eventually(async () => stops.length >= 100, 10000, '100 stops');
  await within(new Promise(() => {}), 500);
  assert.deepEqual(stops.filter((s) => s.error), [], 'every stop was continued');
  assert.equal(stops.length, 100, 'one stop per call');
  assert.ok(stops.every((s) => s.reason === 'breakpoint'), JSON.stringify(stops.slice(0, 3)));
  assert.equal(new Set(stops.map((s) => s.threadId)).size, 1, 'the same process, the same thread');
  assert.ok(amounts.every((a) => a === '1'), JSON.stringify(amounts));
}));

test('a fun passed to Enum.map stops once per element, equal elements included', { timeout: TEST_TIMEOUT }, withCluster(2, async ({ cluster, attach }) => {
  const { dap } = await attach(0, { breakpoints: { [FILES.fees]: [QUOTE_FUN] } });
  const seen = [];
  const stops = continueEveryStop(dap, async (body) => seen.push((await local(dap, body.threadId, 'amount')).value));
  const r = await cluster.eval(1, "'Elixir.Bank.Fees':quotes([250, 250, 1000, 250, 2500])", 120);
  assert.equal(r.replace(/\s/g, ''), '[{250,2},{250,2},{1000,11},{250,2},{2500,26}]');
  await eventually(async () => stops.length >= 5, 10000, '5 stops');
  await within(new Promise(() => {}), 500);
  assert.equal(stops.length, 5, JSON.stringify(stops));
  assert.deepEqual(seen, ['250', '250', '1000', '250', '2500']);
}));

test('a line with nested expressions stops once per pass: plain, with a condition, with a hit count; next leaves the line', { timeout: TEST_TIMEOUT }, withCluster(2, async ({ cluster, attach }) => {
  const { dap } = await attach(0, { breakpoints: { [FILES.fees]: [FEE_IF] } });
  const lines = [];
  let stops = continueEveryStop(dap, async (body) => lines.push((await local(dap, body.threadId, 'amount')).line));
  const three = "list_to_tuple(['Elixir.Bank.Fees':fee_for(A) || A <- [2500, 2500, 300]])";
  assert.equal((await cluster.eval(1, three, 120)).replace(/\s/g, ''), '{26,26,3}');
  await eventually(async () => stops.length >= 3, 10000, '3 stops');
  await within(new Promise(() => {}), 500);
  assert.equal(stops.length, 3, `plain: one stop per call: ${JSON.stringify(stops)}`);
  assert.deepEqual(lines, [FEE_IF, FEE_IF, FEE_IF]);

  // With a condition that holds on two of the three passes.
  dap.removeAllListeners('stopped');
  stops = continueEveryStop(dap);
  await request(dap, 'setBreakpoints', { source: { path: FILES.fees }, breakpoints: [{ line: FEE_IF, condition: 'amount >= 1000' }] });
  assert.equal((await cluster.eval(1, three, 120)).replace(/\s/g, ''), '{26,26,3}');
  await within(new Promise(() => {}), 1000);
  assert.equal(stops.length, 2, `condition: ${JSON.stringify(stops)}`);

  // With a hit count: every second pass.
  dap.removeAllListeners('stopped');
  stops = continueEveryStop(dap);
  await request(dap, 'setBreakpoints', { source: { path: FILES.fees }, breakpoints: [{ line: FEE_IF, hitCondition: '%2' }] });
  const four = "list_to_tuple(['Elixir.Bank.Fees':fee_for(A) || A <- [2500, 2500, 2500, 2500]])";
  assert.equal((await cluster.eval(1, four, 120)).replace(/\s/g, ''), '{26,26,26,26}');
  await within(new Promise(() => {}), 1000);
  assert.equal(stops.length, 2, `hit count %2 over 4 passes: ${JSON.stringify(stops)}`);

  // `next` from the line lands on the next line, never on the same line again.
  dap.removeAllListeners('stopped');
  await request(dap, 'setBreakpoints', { source: { path: FILES.fees }, breakpoints: [{ line: FEE_IF }] });
  const hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const call = cluster.evalAsync(1, "'Elixir.Bank.Fees':fee_for(2500)");
  const ev = await hit;
  const threadId = ev.body.threadId;
  assert.equal((await local(dap, threadId, 'fee')).line, FEE_IF);
  const stepped = waitForStopped(dap, { threadId, timeout: 30000 });
  await request(dap, 'next', { threadId });
  const step = await stepped;
  assert.equal(step.body.reason, 'step');
  const after = await local(dap, threadId, 'fee');
  assert.equal(after.line, FEE_RESULT, 'next goes to the next line');
  assert.equal(after.value, '26', 'with the line done');
  await request(dap, 'continue', { threadId });
  assert.equal(await resultOf(call, 'fee_for(2500)'), '26');
}));

test('recursion stops at every level; a log point in a loop of 10 prints 10 lines', { timeout: TEST_TIMEOUT }, withCluster(2, async ({ cluster, attach }) => {
  const { dap, output } = await attach(0, { breakpoints: { [FILES.fees]: [TIER] } });
  const levels = [];
  const stops = continueEveryStop(dap, async (body) => {
    levels.push((await local(dap, body.threadId, 'n')).value);
    const st = await request(dap, 'stackTrace', { threadId: body.threadId, startFrame: 0, levels: 20 });
    levels.push(st.body.stackFrames.filter((f) => f.name === 'Bank.Fees.tiers/1').length);
  });
  assert.equal((await cluster.eval(1, "'Elixir.Bank.Fees':tiers(3)", 120)).replace(/\s/g, ''), '[300,200,100]');
  await eventually(async () => stops.length >= 3, 10000, '3 stops');
  await within(new Promise(() => {}), 500);
  assert.equal(stops.length, 3, JSON.stringify(stops));
  assert.deepEqual(levels, ['3', 1, '2', 2, '1', 3], 'one stop per level, each deeper on the stack');

  await request(dap, 'setBreakpoints', { source: { path: FILES.fees }, breakpoints: [] });
  await request(dap, 'setBreakpoints', { source: { path: FILES.fees }, breakpoints: [{ line: COMPOUND, logMessage: 'year {years}: {balance}' }] });
  const r = await cluster.eval(1, "'Elixir.Bank.Fees':compound(10000, 5, 10)", 120);
  assert.equal(r.trim(), '16284');
  const text = await output.waitFor(/year 1: /, { timeout: 15000 });
  await within(new Promise(() => {}), 1000);
  const logged = output.text().split('\n').filter((l) => /year \d+: \d+/.test(l));
  assert.equal(logged.length, 10, `one line per turn of the loop:\n${text}`);
  assert.match(logged[0], /year 10: 10000/);
  assert.match(logged[9], /year 1: \d+/);
  assert.equal(stops.length, 3, 'a log point never stops');
}));

test('a step that leaves the callback does not stay armed: the next call stops at the breakpoint, not before, and after stepOut too', { timeout: TEST_TIMEOUT }, withCluster(2, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 1, 0);
  const { dap } = await attach(0, { breakpoints: { [FILES.account]: [75] } });
  const deposit = (n) => cluster.evalAsync(0, `gen_server:call('Elixir.Bank':whereis(<<"${id}">>), {deposit, ${n}}, 60000)`);

  // Stop on line 75, `next` to 76, `next` out of the callback into gen_server (native code).
  let hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  let call = deposit(1);
  let thread = (await hit).body.threadId;
  for (const want of [76]) {
    const stepped = waitForStopped(dap, { threadId: thread, timeout: 30000 });
    await request(dap, 'next', { threadId: thread });
    await stepped;
    assert.equal((await topFrame(dap, thread)).frame.line, want);
  }
  await request(dap, 'next', { threadId: thread });
  assert.equal(await resultOf(call, 'deposit 1'), '{ok,1}');

  // The next call stops at the breakpoint (75), not at the callback's first line (74).
  hit = waitForStopped(dap, { timeout: 30000 });
  call = deposit(2);
  let ev = await hit;
  assert.equal(ev.body.reason, 'breakpoint');
  thread = ev.body.threadId;
  assert.equal((await topFrame(dap, thread)).frame.line, 75);
  // stepOut of the callback: the call returns, and a later call still stops.
  await request(dap, 'stepOut', { threadId: thread });
  assert.equal(await resultOf(call, 'deposit 2'), '{ok,3}');
  hit = waitForStopped(dap, { timeout: 30000 });
  call = deposit(3);
  ev = await hit;
  assert.equal(ev.body.reason, 'breakpoint');
  assert.equal((await topFrame(dap, ev.body.threadId)).frame.line, 75);
  await request(dap, 'continue', { threadId: ev.body.threadId });
  assert.equal(await resultOf(call, 'deposit 3'), '{ok,6}');
}));
