'use strict';
// Native breakpoints (OTP 28+, nodes started with +D): the same debugger as with the interpreter, on
// erl_debugger. A breakpoint in a GenServer stops every pass, shows the variables by their Elixir names,
// evaluates in the frame, steps with `next`; no module is ever interpreted; `disconnect` and a SIGKILLed
// adapter leave each node with its original code (same md5), no breakpoint, no paused process, and
// erl_debugger free for another tool. In a mixed cluster (one node with +D, one without) the same
// breakpoint stops on both, and each thread's name says which engine stopped it. A node whose
// erl_debugger another tool holds falls back to the interpreter, and the console says so.
//
// Runs where the nodes' OTP has erl_debugger (ORBIT_OTP=otp29); skipped on the host's OTP 25 and otp27.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { request, guard, waitForStopped } = require('../lib/client');
const { OTP_ROOT_NAME } = require('../lib/cluster');
const { FILES, withCluster, openAccountOn, depositFrom, resultOf, leftovers, eventually, within, topFrame } = require('../lib/bank');

const TEST_TIMEOUT = 240000;
const CLEAN = '{[],[],[],[],[],[],[]}';
const DEPOSIT = 74; // new_balance = state.balance + amount   (handle_call({:deposit, amount}, …))
const FEE_IF = 16; //  fee = if amount >= 1_000, do: fee + 1, else: fee   (fees.ex: nested expressions)
const otp = Number((/^otp(\d+)$/.exec(OTP_ROOT_NAME) || [])[1] || 25);
const skip = otp < 28 ? `native breakpoints need OTP 28+ (erl_debugger); these nodes run OTP ${otp} (set ORBIT_OTP=otp29)` : false;

const MD5 = "erlang:md5(term_to_binary('Elixir.Bank.Account':module_info(md5)))";
const STATE = "{erl_debugger:whereis(), 'Elixir.Bank.Account':module_info(md5) =:= element(2, element(2, beam_lib:md5(code:which('Elixir.Bank.Account'))))}";

test('native: a GenServer stops every pass, Elixir names, evaluate, next; disconnect restores the node', { timeout: TEST_TIMEOUT, skip }, withCluster(2, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 0, 10, 'nat_');
  const before = [await cluster.eval(0, MD5), await cluster.eval(1, MD5)];
  const { dap, output } = await attach(0, { breakpoints: { [FILES.account]: [DEPOSIT] } });
  await output.waitFor(/breakpoints are native there/, { timeout: 30000 });

  // First pass.
  let hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  let call = depositFrom(cluster, 1, id, 5);
  let ev = await hit;
  const threadId = ev.body.threadId;
  const threads = (await request(dap, 'threads')).body.threads;
  assert.match(threads.find((t) => t.id === threadId).name, /\[native\]/, JSON.stringify(threads));
  const { frame, vars } = await topFrame(dap, threadId);
  assert.equal(frame.line, DEPOSIT);
  assert.match(frame.name, /handle_call\/3/);
  assert.ok(frame.source && frame.source.path.endsWith('lib/bank/account.ex'), JSON.stringify(frame.source));
  const names = vars.Locals.map((v) => v.name);
  assert.ok(names.includes('amount') && names.includes('state'), JSON.stringify(names));
  assert.equal(vars.Locals.find((v) => v.name === 'amount').value, '5');
  // Values expand as in interpreted frames: the struct's fields.
  const state = vars.Locals.find((v) => v.name === 'state');
  assert.match(state.value, /^%Bank\.Account\{/);
  assert.ok(state.variablesReference > 0, JSON.stringify(state));
  const fields = (await request(dap, 'variables', { variablesReference: state.variablesReference })).body.variables;
  assert.equal(fields.find((f) => f.name === 'balance').value, '10', JSON.stringify(fields));
  const r = await request(dap, 'evaluate', { expression: 'state.balance + amount', frameId: frame.id, context: 'watch' });
  assert.equal(r.body.result, '15');
  // Nothing is interpreted, on any node.
  for (let i = 0; i < 2; i++) {
    const held = await leftovers(cluster, i);
    assert.match(held, /^\{\[\],\[\],/, `node ${i}: no module interpreted: ${held}`);
  }
  await request(dap, 'continue', { threadId });
  assert.equal(await resultOf(call, 'first deposit'), '{ok,15}');

  // Second pass into the same long-lived process stops again; `next` goes to the next line.
  hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  call = depositFrom(cluster, 1, id, 6);
  ev = await hit;
  const second = ev.body.threadId;
  const stepped = waitForStopped(dap, { threadId: second, reason: 'step', timeout: 30000 });
  await request(dap, 'next', { threadId: second });
  await stepped;
  const after = await topFrame(dap, second);
  assert.equal(after.frame.line, DEPOSIT + 1);
  assert.equal(after.vars.Locals.find((v) => v.name === 'new_balance').value, '21');
  await request(dap, 'continue', { threadId: second });
  assert.equal(await resultOf(call, 'second deposit'), '{ok,21}');

  // Paused at disconnect: the call completes, the node is as it was.
  hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  call = depositFrom(cluster, 1, id, 1);
  await hit;
  await guard(dap, dap.disconnectRequest({ terminateDebuggee: false }), 'disconnect', 90000);
  assert.equal(await resultOf(call, 'deposit paused at disconnect'), '{ok,22}');
  for (let i = 0; i < 2; i++) {
    assert.equal(await cluster.eval(i, MD5), before[i], `node ${i} runs its original Bank.Account`);
    assert.equal((await cluster.eval(i, STATE)).replace(/\s/g, ''), '{undefined,true}', `node ${i}: erl_debugger free, code as on disk`);
    await eventually(async () => (await leftovers(cluster, i)) === CLEAN, 30000, `node ${i} clean`);
  }
}, { plusD: true }));

test('native: the adapter killed with SIGKILL, the node restores itself', { timeout: TEST_TIMEOUT, skip }, withCluster(1, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 0, 10, 'natk_');
  const before = await cluster.eval(0, MD5);
  const { dap } = await attach(0, { breakpoints: { [FILES.account]: [DEPOSIT] } });
  const hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const call = depositFrom(cluster, 0, id, 5);
  await hit;
  dap._adapterProcess.kill('SIGKILL');
  await dap.exited;
  assert.equal(await resultOf(call, 'the paused deposit'), '{ok,15}');
  await eventually(async () => (await cluster.eval(0, STATE)).replace(/\s/g, '') === '{undefined,true}', 30000, 'erl_debugger free');
  assert.equal(await cluster.eval(0, MD5), before);
  await eventually(async () => (await leftovers(cluster, 0)) === CLEAN, 30000, 'node clean');
  // The bank works on, with no debugger.
  assert.equal(await resultOf(depositFrom(cluster, 0, id, 1), 'a deposit after'), '{ok,16}');
}, { plusD: true }));

test('native: a mixed cluster (+D and not) stops at the same breakpoint on both nodes', { timeout: TEST_TIMEOUT, skip }, withCluster(2, async ({ cluster, attach }) => {
  const ids = [await openAccountOn(cluster, 0, 10, 'mix0_'), await openAccountOn(cluster, 1, 20, 'mix1_')];
  const { dap } = await attach(0, { breakpoints: { [FILES.account]: [DEPOSIT] } });
  const stops = new Map();
  dap.on('stopped', (e) => stops.set(e.body.threadId, e.body));
  const calls = [depositFrom(cluster, 1, ids[0], 5), depositFrom(cluster, 0, ids[1], 5)];
  await eventually(async () => stops.size >= 2, 30000, 'a stop on each node');
  const threads = (await request(dap, 'threads')).body.threads;
  const on = (i) => threads.find((t) => stops.has(t.id) && t.name.includes(cluster.name(i)));
  assert.ok(on(0) && /\[native\]/.test(on(0).name), `node 0 (+D) stopped natively: ${JSON.stringify(threads)}`);
  assert.ok(on(1) && !/\[native\]/.test(on(1).name), `node 1 stopped in the interpreter: ${JSON.stringify(threads)}`);
  for (const t of [on(0), on(1)]) {
    const { frame, vars } = await topFrame(dap, t.id);
    assert.equal(frame.line, DEPOSIT);
    assert.equal(vars.Locals.find((v) => v.name === 'amount').value, '5');
    await request(dap, 'continue', { threadId: t.id });
  }
  assert.equal(await resultOf(calls[0], 'deposit on node 0'), '{ok,15}');
  assert.equal(await resultOf(calls[1], 'deposit on node 1'), '{ok,25}');
  const native = await leftovers(cluster, 0);
  assert.match(native, /^\{\[\],/, `node 0 interprets nothing: ${native}`);
  await guard(dap, dap.disconnectRequest({ terminateDebuggee: false }), 'disconnect', 90000);
  for (let i = 0; i < 2; i++) await eventually(async () => (await leftovers(cluster, i)) === CLEAN, 30000, `node ${i} clean`);
  assert.equal((await cluster.eval(0, STATE)).replace(/\s/g, ''), '{undefined,true}');
}, { plusD: [true, false] }));

test('native: where another tool holds erl_debugger, the console says so and the interpreter stops there', { timeout: TEST_TIMEOUT, skip }, withCluster(1, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 0, 10, 'held_');
  const holder = await cluster.eval(0, "P = spawn(fun() -> {ok, _} = erl_debugger:register(self()), receive stop -> ok end end), register(other_debugger, P), timer:sleep(200), erl_debugger:whereis() =:= P");
  assert.equal(holder, 'true');
  const { dap, output } = await attach(0, { breakpoints: { [FILES.account]: [DEPOSIT] } });
  await output.waitFor(/another tool holds OTP's erl_debugger/, { timeout: 30000 });
  const hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const call = depositFrom(cluster, 0, id, 5);
  const ev = await hit;
  const threads = (await request(dap, 'threads')).body.threads;
  assert.doesNotMatch(threads.find((t) => t.id === ev.body.threadId).name, /\[native\]/);
  await request(dap, 'continue', { threadId: ev.body.threadId });
  assert.equal(await resultOf(call, 'deposit'), '{ok,15}');
  await guard(dap, dap.disconnectRequest({ terminateDebuggee: false }), 'disconnect', 90000);
  assert.equal(await cluster.eval(0, "erl_debugger:whereis() =:= whereis(other_debugger)"), 'true', 'the other tool keeps erl_debugger');
  await cluster.eval(0, 'other_debugger ! stop');
}, { plusD: true }));

/** Continues every stop as it comes; returns the list of stopped bodies (it grows). */
function continueEveryStop(dap) {
  const stops = [];
  dap.on('stopped', async (e) => {
    stops.push(e.body);
    await request(dap, 'continue', { threadId: e.body.threadId }).catch((err) => stops.push({ error: err.message }));
  });
  return stops;
}

test('native: one stop per pass on a line with nested expressions; conditions, hit counts and log points', { timeout: TEST_TIMEOUT, skip }, withCluster(1, async ({ cluster, attach }) => {
  const { dap, output } = await attach(0, { breakpoints: { [FILES.fees]: [FEE_IF] } });
  let stops = continueEveryStop(dap);
  const three = "list_to_tuple(['Elixir.Bank.Fees':fee_for(A) || A <- [2500, 2500, 300]])";
  assert.equal((await cluster.eval(0, three, 120)).replace(/\s/g, ''), '{26,26,3}');
  await eventually(async () => stops.length >= 3, 10000, '3 stops');
  await within(new Promise(() => {}), 500);
  assert.equal(stops.length, 3, `plain: one stop per call: ${JSON.stringify(stops)}`);
  assert.ok(stops.every((s) => /native/.test(s.description)), JSON.stringify(stops[0]));

  dap.removeAllListeners('stopped');
  stops = continueEveryStop(dap);
  await request(dap, 'setBreakpoints', { source: { path: FILES.fees }, breakpoints: [{ line: FEE_IF, condition: 'amount >= 1000' }] });
  assert.equal((await cluster.eval(0, three, 120)).replace(/\s/g, ''), '{26,26,3}');
  await within(new Promise(() => {}), 1000);
  assert.equal(stops.length, 2, `condition: ${JSON.stringify(stops)}`);

  dap.removeAllListeners('stopped');
  stops = continueEveryStop(dap);
  await request(dap, 'setBreakpoints', { source: { path: FILES.fees }, breakpoints: [{ line: FEE_IF, hitCondition: '%2' }] });
  const four = "list_to_tuple(['Elixir.Bank.Fees':fee_for(A) || A <- [2500, 2500, 2500, 2500]])";
  assert.equal((await cluster.eval(0, four, 120)).replace(/\s/g, ''), '{26,26,26,26}');
  await within(new Promise(() => {}), 1000);
  assert.equal(stops.length, 2, `hit count %2 over 4 passes: ${JSON.stringify(stops)}`);

  await request(dap, 'setBreakpoints', { source: { path: FILES.fees }, breakpoints: [] });
  const id = await openAccountOn(cluster, 0, 100, 'natlog_');
  await request(dap, 'setBreakpoints', { source: { path: FILES.account }, breakpoints: [{ line: DEPOSIT, logMessage: 'deposit of {amount} onto {state.balance}' }] });
  const before = stops.length;
  assert.equal(await resultOf(depositFrom(cluster, 0, id, 5), 'deposit'), '{ok,105}', 'a log point does not hold the call');
  await output.waitFor(/deposit of 5 onto 100/, { timeout: 15000 });
  assert.equal(stops.length, before, 'a log point never stops');
  const held = await leftovers(cluster, 0);
  assert.match(held, /^\{\[\],\[\],/, `no module interpreted: ${held}`);
}, { plusD: true }));

test('native: stepOut returns to the caller; a +D node that joins mid-session takes the breakpoints', { timeout: TEST_TIMEOUT, skip }, withCluster(1, async ({ cluster, attach }) => {
  const RECORD = 99; // Enum.take([{kind, amount, DateTime.utc_now()} | history], @history_max)   (record/3)
  const id = await openAccountOn(cluster, 0, 10, 'natout_');
  const { dap, output } = await attach(0, { breakpoints: { [FILES.account]: [RECORD] } });
  let hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  let call = depositFrom(cluster, 0, id, 5);
  const ev = await hit;
  const threadId = ev.body.threadId;
  assert.match((await topFrame(dap, threadId)).frame.name, /record\/3/);
  const out = waitForStopped(dap, { threadId, reason: 'step', timeout: 30000 });
  await request(dap, 'stepOut', { threadId });
  await out;
  const caller = await topFrame(dap, threadId);
  assert.match(caller.frame.name, /handle_call\/3/);
  assert.ok(caller.frame.line > DEPOSIT, `back in the caller after the call: line ${caller.frame.line}`);
  await request(dap, 'continue', { threadId });
  assert.equal(await resultOf(call, 'deposit'), '{ok,15}');

  // A node that joins (also with +D) gets the breakpoint, natively.
  const added = await cluster.addNode();
  await output.waitFor(new RegExp(`${cluster.name(added)}: breakpoints are native there`), { timeout: 30000 });
  const id2 = await openAccountOn(cluster, added, 10, 'natjoin_');
  hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  call = depositFrom(cluster, added, id2, 7);
  const ev2 = await hit;
  assert.match(ev2.body.text, new RegExp(`${cluster.name(added)}.*\\[native\\]`));
  await request(dap, 'continue', { threadId: ev2.body.threadId });
  assert.equal(await resultOf(call, 'deposit on the new node'), '{ok,17}');
  await guard(dap, dap.disconnectRequest({ terminateDebuggee: false }), 'disconnect', 90000);
  for (let i = 0; i <= added; i++) {
    assert.equal((await cluster.eval(i, STATE)).replace(/\s/g, ''), '{undefined,true}', `node ${i}`);
  }
}, { plusD: true }));

test('native: a step that leaves the callback does not stay armed: the next call stops at the breakpoint, not before', { timeout: TEST_TIMEOUT, skip }, withCluster(1, async ({ cluster, attach }) => {
  const REPLY = DEPOSIT + 2; // {:reply, {:ok, new_balance}, state}
  const id = await openAccountOn(cluster, 0, 10, 'natleave_');
  const { dap } = await attach(0, { breakpoints: { [FILES.account]: [REPLY] } });
  const stops = [];
  dap.on('stopped', (e) => stops.push(e.body));
  let expected = 10;
  for (const how of ['next', 'stepOut']) {
    const hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
    expected += 5;
    const call = depositFrom(cluster, 0, id, 5);
    const ev = await hit;
    assert.equal((await topFrame(dap, ev.body.threadId)).frame.line, REPLY);
    await request(dap, how, { threadId: ev.body.threadId });
    // The callback returns into gen_server (no breakpoint lines there): the call completes.
    assert.equal(await resultOf(call, `deposit after ${how}`), `{ok,${expected}}`);
    if (how === 'stepOut') {
      // Nothing above the callback takes a step: the process runs on, and is no thread any more.
      const threads = (await request(dap, 'threads')).body.threads;
      assert.ok(!threads.some((t) => t.id === ev.body.threadId), JSON.stringify(threads));
    }
  }
  const before = stops.length;
  const hit = waitForStopped(dap, { timeout: 30000 });
  const call = depositFrom(cluster, 0, id, 5);
  const ev = await hit;
  assert.equal(ev.body.reason, 'breakpoint', `the next call stops at the breakpoint: ${JSON.stringify(stops.slice(before))}`);
  assert.equal((await topFrame(dap, ev.body.threadId)).frame.line, REPLY);
  await request(dap, 'continue', { threadId: ev.body.threadId });
  assert.equal(await resultOf(call, 'last deposit'), `{ok,${expected + 5}}`);
}, { plusD: true }));

test('native: a second Orbit session on a +D node uses the interpreter there, and says why', { timeout: TEST_TIMEOUT, skip }, withCluster(1, async ({ cluster, attach }) => {
  const first = await attach(0, { breakpoints: {} });
  await first.output.waitFor(/breakpoints are native there/, { timeout: 30000 });
  const second = await attach(0, { breakpoints: {} });
  await second.output.waitFor(/another Orbit session holds OTP's erl_debugger/, { timeout: 30000 });
  await guard(second.dap, second.dap.disconnectRequest({ terminateDebuggee: false }), 'disconnect', 90000);
  assert.notEqual((await cluster.eval(0, 'erl_debugger:whereis()')).trim(), 'undefined', 'the first session keeps it');
  await guard(first.dap, first.dap.disconnectRequest({ terminateDebuggee: false }), 'disconnect', 90000);
  assert.equal((await cluster.eval(0, 'erl_debugger:whereis()')).trim(), 'undefined');
}, { plusD: true }));

test('native: a caller waiting on a GenServer paused natively is held (OTP 29) and gets its answer after a 7 s pause', { timeout: TEST_TIMEOUT, skip: skip || (otp < 29 && 'holding callers needs OTP 29') }, withCluster(2, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 1, 100, 'natheld_');
  const { dap, output } = await attach(0, { breakpoints: { [FILES.account]: [DEPOSIT] } });
  const stopped = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  // gen_server:call/2: the default 5 s timeout.
  const call = cluster.evalAsync(0, `catch gen_server:call('Elixir.Bank':whereis(<<"${id}">>), {deposit, 5})`, 60).result;
  const ev = await stopped;
  await output.waitFor(/held while it is paused/, { timeout: 10000 });
  assert.match(output.text(), new RegExp(`${cluster.name(0)} #PID<[^>]+>.* waits for ${cluster.name(1)} #PID<[^>]+>.*\\[native\\]`));
  const held = (await request(dap, 'threads')).body.threads.filter((t) => /held for thread/.test(t.name));
  assert.equal(held.length, 1);
  await new Promise((r) => setTimeout(r, 7000));
  await request(dap, 'continue', { threadId: ev.body.threadId });
  const r = await call;
  assert.equal(r.ok && r.value.replace(/\s/g, ''), '{ok,105}', `the caller got its answer: ${JSON.stringify(r)}`);
  const after = (await request(dap, 'threads')).body.threads;
  assert.ok(!after.some((t) => /held for thread/.test(t.name)), JSON.stringify(after));
}, { plusD: true }));

test('native: an Erlang module stops natively too, with Erlang names and Erlang evaluation', { timeout: TEST_TIMEOUT, skip }, withCluster(1, async ({ cluster, attach }) => {
  const FEE1 = 71; // Fee1 = max(Fee0, 1),
  const { dap } = await attach(0, { breakpoints: { [FILES.bankLedger]: [FEE1] } });
  const hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const call = cluster.evalAsync(0, 'bank_ledger:fee(500)');
  const ev = await hit;
  const { frame, vars } = await topFrame(dap, ev.body.threadId);
  assert.equal(frame.line, FEE1);
  assert.match(frame.name, /bank_ledger:fee\/1/);
  const names = vars.Locals.map((v) => v.name);
  assert.ok(names.includes('Amount') && names.includes('Fee0'), JSON.stringify(names));
  assert.equal(vars.Locals.find((v) => v.name === 'Fee0').value, '5');
  const r = await request(dap, 'evaluate', { expression: 'Amount * 2 + Fee0', frameId: frame.id, context: 'watch' });
  assert.equal(r.body.result, '1005');
  await request(dap, 'continue', { threadId: ev.body.threadId });
  assert.equal(await resultOf(call, 'fee'), '6');
  const held = await leftovers(cluster, 0);
  assert.match(held, /^\{\[\],\[\],/, `no module interpreted: ${held}`);
}, { plusD: true }));

test('native: a function breakpoint stops natively at the function\'s first line, in every clause', { timeout: TEST_TIMEOUT, skip }, withCluster(1, async ({ cluster, attach }) => {
  const { dap } = await attach(0, { breakpoints: {} });
  const fn = (await request(dap, 'setFunctionBreakpoints', { breakpoints: [{ name: 'Bank.Fees.fee_for/1' }] })).body.breakpoints;
  assert.ok(fn[0].verified, JSON.stringify(fn));
  for (const [amount, line, result] of [[500, 13, '5'], [0, 20, '0']]) {
    const hit = waitForStopped(dap, { timeout: 30000 });
    const call = cluster.evalAsync(0, `'Elixir.Bank.Fees':fee_for(${amount})`);
    const ev = await hit;
    assert.match(ev.body.description, /native/);
    assert.equal(ev.body.reason, 'function breakpoint');
    assert.equal((await topFrame(dap, ev.body.threadId)).frame.line, line);
    await request(dap, 'continue', { threadId: ev.body.threadId });
    assert.equal(await resultOf(call, `fee_for(${amount})`), result);
  }
  const held = await leftovers(cluster, 0);
  assert.match(held, /^\{\[\],\[\],/, `no module interpreted: ${held}`);
}, { plusD: true }));

test('native: pause a thread that runs a step (a 10 s sleep), see where it is, continue it', { timeout: TEST_TIMEOUT, skip }, withCluster(1, async ({ cluster, attach }) => {
  // Bank.Mailbox sleeps state.delay_ms on each message (line 75): 10 s here.
  await cluster.eval(0, "sys:replace_state('Elixir.Bank.Mailbox', fun(S) -> S#{delay_ms => 10000} end), ok");
  const { dap } = await attach(0, { breakpoints: { [FILES.mailbox]: [74] } });
  let hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  await cluster.eval(0, "'Elixir.Bank.Mailbox':flood(1)");
  const threadId = (await hit).body.threadId;
  hit = waitForStopped(dap, { reason: 'step', threadId, timeout: 20000 });
  await request(dap, 'next', { threadId });
  await hit;
  assert.equal((await topFrame(dap, threadId)).frame.line, 75);
  // Over the sleep: the thread runs (its step has not ended) until paused.
  await request(dap, 'next', { threadId });
  const paused = waitForStopped(dap, { reason: 'pause', threadId, timeout: 20000 });
  await request(dap, 'pause', { threadId });
  const ev = await paused;
  assert.match(ev.body.description, /paused on .* \(native\)/);
  // Where it is: in Process.sleep/1, called from the callback's line 75.
  const { frames, vars } = await topFrame(dap, threadId);
  const callback = frames.find((f) => /Bank\.Mailbox\.handle_info\/2/.test(f.name));
  assert.ok(callback, JSON.stringify(frames.map((f) => f.name)));
  assert.equal(callback.line, 75, 'in the callback, on the line that sleeps');
  assert.match(frames[0].name, /Process\.sleep\/1|handle_info/, JSON.stringify(frames.map((f) => f.name)));
  assert.ok(vars.Process.some((v) => v.name === 'registered_name' && v.value === 'Bank.Mailbox'), JSON.stringify(vars.Process));
  assert.match(await cluster.eval(0, "erlang:process_info(whereis('Elixir.Bank.Mailbox'), status)"), /suspended/);
  // A second pause of a stopped thread is refused.
  await assert.rejects(request(dap, 'pause', { threadId }), /already stopped/);
  await request(dap, 'continue', { threadId });
  await eventually(async () => !/suspended/.test(await cluster.eval(0, "erlang:process_info(whereis('Elixir.Bank.Mailbox'), status)")), 10000, 'the mailbox runs again');
  await eventually(async () => /processed => 1/.test(await cluster.eval(0, "'Elixir.Bank.Mailbox':stats()")), 20000, 'the message handled once the sleep ends');
}, { plusD: true }));

// Lines of fixtures/demo/lib/bank/remote.ex (see step_into.test.js).
const CALL_PID = 10; //  reply = GenServer.call(pid, {:deposit, amount})
const ERPC = 22; //      reply = :erpc.call(node, Bank.AccountSupervisor, :start_account, [...])

/** stepIn on `caller` and the two stops that follow (any order): the callee's, on node `callee`. */
async function stepInto(dap, caller, calleeNode) {
  const stopped = [];
  const into = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no stop on ${calleeNode}: ${JSON.stringify(stopped)}`)), 30000);
    const on = (e) => {
      stopped.push(e.body);
      if (e.body.threadId !== caller && e.body.text && e.body.text.startsWith(calleeNode)) {
        clearTimeout(timer);
        dap.removeListener('stopped', on);
        resolve(e.body);
      }
    };
    dap.on('stopped', on);
  });
  await request(dap, 'stepIn', { threadId: caller });
  return into;
}

test('native: stepIn on a GenServer.call and an :erpc.call stops in the process that takes it, on the other +D node', { timeout: TEST_TIMEOUT, skip }, withCluster(2, async ({ cluster, attach }) => {
  const id = await openAccountOn(cluster, 1, 100, 'xn_');
  const { dap, output } = await attach(0, { breakpoints: { [FILES.remote]: [CALL_PID, ERPC] } });
  await output.waitFor(/breakpoints are native there/, { timeout: 30000 });

  // GenServer.call(pid, …) to the account on node 1: its handle_call/3 there, natively.
  let hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const call = cluster.evalAsync(0, `'Elixir.Bank.Remote':deposit_via_pid('Elixir.Bank':whereis(<<"${id}">>), 5)`);
  const caller = (await hit).body.threadId;
  const into = await stepInto(dap, caller, cluster.name(1));
  assert.equal(into.reason, 'step');
  assert.match(into.description, /native/);
  let top = await topFrame(dap, into.threadId);
  assert.equal(top.frame.name, 'Bank.Account.handle_call/3');
  assert.equal(top.frame.line, 74);
  assert.equal(top.vars.Locals.find((v) => v.name === 'amount').value, '5');
  await output.waitFor(/stepped into .*Bank\.Account\.handle_call\/3/, { timeout: 10000 });
  // The callee goes on: the caller's step ends on its next line, with the answer.
  let back = waitForStopped(dap, { threadId: caller, reason: 'step', timeout: 30000 });
  await request(dap, 'continue', { threadId: into.threadId });
  await back;
  top = await topFrame(dap, caller);
  assert.equal(top.frame.line, CALL_PID + 1);
  assert.equal(top.vars.Locals.find((v) => v.name === 'reply').value, '{:ok, 105}');
  await request(dap, 'continue', { threadId: caller });
  assert.equal(await resultOf(call, 'deposit_via_pid'), '{deposited,{ok,105},5}');

  // :erpc.call(node 1, …): the function it runs there.
  hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  const open = cluster.evalAsync(0, `'Elixir.Bank.Remote':open_on('${cluster.name(1)}', <<"xn_stepped">>)`);
  const caller2 = (await hit).body.threadId;
  const into2 = await stepInto(dap, caller2, cluster.name(1));
  top = await topFrame(dap, into2.threadId);
  assert.equal(top.frame.name, 'Bank.AccountSupervisor.start_account/3');
  assert.equal(top.vars.Locals.find((v) => v.name === 'id').value, '"xn_stepped"');
  back = waitForStopped(dap, { threadId: caller2, timeout: 30000 });
  await request(dap, 'continue', { threadId: into2.threadId });
  await back;
  assert.equal((await topFrame(dap, caller2)).frame.line, ERPC + 1);
  await request(dap, 'continue', { threadId: caller2 });
  assert.match(await resultOf(open, 'open_on'), /^\{opened,\{ok,<[^>]+>\},/);
  for (let i = 0; i < 2; i++) {
    const held = await leftovers(cluster, i);
    assert.match(held, /^\{\[\],\[\],/, `node ${i}: no module interpreted: ${held}`);
  }
}, { plusD: true }));

test('native: stepIn across a mixed cluster, from a native thread into the interpreter and back the other way', { timeout: TEST_TIMEOUT, skip }, withCluster(2, async ({ cluster, attach }) => {
  // Node 0 runs +D, node 1 does not. An account on each.
  const onNative = await openAccountOn(cluster, 0, 100, 'mx0_');
  const onInt = await openAccountOn(cluster, 1, 100, 'mx1_');
  const { dap } = await attach(0, { breakpoints: { [FILES.remote]: [CALL_PID] } });

  // Native caller (node 0) → the interpreted account on node 1.
  let hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  let call = cluster.evalAsync(0, `'Elixir.Bank.Remote':deposit_via_pid('Elixir.Bank':whereis(<<"${onInt}">>), 5)`);
  let caller = (await hit).body.threadId;
  let into = await stepInto(dap, caller, cluster.name(1));
  assert.doesNotMatch(into.description, /native/);
  assert.equal((await topFrame(dap, into.threadId)).frame.name, 'Bank.Account.handle_call/3');
  let back = waitForStopped(dap, { threadId: caller, reason: 'step', timeout: 30000 });
  await request(dap, 'continue', { threadId: into.threadId });
  await back;
  assert.equal((await topFrame(dap, caller)).frame.line, CALL_PID + 1);
  await request(dap, 'continue', { threadId: caller });
  assert.equal(await resultOf(call, 'native to interpreted'), '{deposited,{ok,105},5}');

  // Interpreted caller (node 1) → the account on +D node 0, trapped natively.
  hit = waitForStopped(dap, { reason: 'breakpoint', timeout: 30000 });
  call = cluster.evalAsync(1, `'Elixir.Bank.Remote':deposit_via_pid('Elixir.Bank':whereis(<<"${onNative}">>), 7)`);
  caller = (await hit).body.threadId;
  into = await stepInto(dap, caller, cluster.name(0));
  assert.match(into.description, /native/);
  const top = await topFrame(dap, into.threadId);
  assert.equal(top.frame.name, 'Bank.Account.handle_call/3');
  assert.equal(top.vars.Locals.find((v) => v.name === 'amount').value, '7');
  back = waitForStopped(dap, { threadId: caller, timeout: 30000 });
  await request(dap, 'continue', { threadId: into.threadId });
  await back;
  assert.equal((await topFrame(dap, caller)).frame.line, CALL_PID + 1);
  await request(dap, 'continue', { threadId: caller });
  assert.equal(await resultOf(call, 'interpreted to native'), '{deposited,{ok,107},7}');
  const held = await leftovers(cluster, 0);
  assert.match(held, /^\{\[\],/, `nothing interpreted on the +D node: ${held}`);
}, { plusD: [true, false] }));

test('native: a stop in a clause that needs no stack frame (`do: balance`) shows that function on top, with its variables', { timeout: TEST_TIMEOUT, skip }, withCluster(1, async ({ cluster, attach }) => {
  // fees.ex line 36, Bank.Fees.compound/3's first clause, `def compound(balance, _rate_percent, 0), do:
  // balance`: a clause that needs no stack frame of its own (where the VM keeps none, the agent makes the
  // top frame from where the process stopped: orbit_native's user_frames/2).
  const { dap, attached } = await attach(0, { breakpoints: { [FILES.fees]: [36] } });
  assert.equal(attached.breakpoints[FILES.fees][0].line, 36, JSON.stringify(attached.breakpoints));
  const hit = waitForStopped(dap, { timeout: 30000 });
  const call = cluster.evalAsync(0, "'Elixir.Bank.Fees':compound(1000, 10, 2)");
  const threadId = (await hit).body.threadId;
  const { frame, frames, vars } = await topFrame(dap, threadId);
  assert.equal(frame.name, 'Bank.Fees.compound/3', JSON.stringify(frames.map((f) => `${f.name}:${f.line}`)));
  assert.equal(frame.line, 36);
  const balance = vars.Locals.find((v) => v.name === 'balance');
  assert.ok(balance && ['1000', '1210'].includes(balance.value), JSON.stringify(vars.Locals));
  const r = await request(dap, 'evaluate', { expression: 'balance + 1', frameId: frame.id, context: 'watch' });
  assert.equal(r.body.result, String(Number(balance.value) + 1));
  await request(dap, 'setBreakpoints', { source: { path: FILES.fees }, breakpoints: [] });
  await request(dap, 'continue', { threadId });
  assert.equal(await resultOf(call, 'compound'), '1210');
}, { plusD: true }));
