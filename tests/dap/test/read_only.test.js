'use strict';
// Read-only mode through `orbit dap` (`readOnly: true` in the attach arguments) on a 2-node cluster of
// fixtures/demo: breakpoints that need the interpreter stay unverified with the reason, pause and
// setVariable are refused, evaluation runs only pure reads (`:sys.get_state`, operators, Map.get) and
// refuses a call with a side effect; a tracepoint still works; no module is interpreted on any node.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { request, rawRequest } = require('../lib/client');
const { FILES, withCluster } = require('../lib/bank');

const TEST_TIMEOUT = 180000;
const MODE = /^refused: Orbit is in read-only mode \(--read-only \/ readOnly \/ ORBIT_READ_ONLY=1\)/;
const DEPOSIT_LINE = 74; // new_balance = state.balance + amount   (fixtures/demo/lib/bank/account.ex)
const FEE_DEF_LINE = 12; // def fee_for(amount) when is_integer(amount) and amount > 0 do   (lib/bank/fees.ex)

function errorText(response) {
  return response.message || (response.body && response.body.error && response.body.error.format) || '';
}

test('readOnly: breakpoints, pause, setVariable and side effects refused; pure reads and tracepoints work', { timeout: TEST_TIMEOUT }, withCluster(2, async ({ cluster, attach }) => {
  const { dap, attached } = await attach(0, {
    args: { readOnly: true },
    breakpoints: {
      [FILES.account]: [{ line: DEPOSIT_LINE }],
      [FILES.fees]: [{ line: FEE_DEF_LINE, logMessage: 'fee for {amount}' }],
    },
  });

  // A breakpoint the interpreter would serve: unverified, saying why.
  const [bp] = attached.breakpoints[FILES.account];
  assert.equal(bp.verified, false, JSON.stringify(bp));
  assert.match(bp.message, MODE);
  assert.match(bp.message, /interpret Bank\.Account/);
  // A tracepoint interprets nothing: it holds.
  const [tp] = attached.breakpoints[FILES.fees];
  assert.equal(tp.verified, true, JSON.stringify(tp));
  const fn = (await request(dap, 'setFunctionBreakpoints', { breakpoints: [{ name: 'Bank.Account.handle_call/3' }] })).body.breakpoints;
  assert.equal(fn[0].verified, false);
  assert.match(fn[0].message, MODE);

  // Pause: the request and the console command.
  const pause = await rawRequest(dap, { command: 'pause', arguments: { threadId: 1 } });
  assert.equal(pause.success, false);
  assert.match(errorText(pause), MODE);
  const consolePause = await rawRequest(dap, { command: 'evaluate', arguments: { expression: `/pause Bank.Ledger on ${cluster.name(1)}`, context: 'repl' } });
  assert.equal(consolePause.success, false);
  assert.match(errorText(consolePause), MODE);

  // Pure reads are evaluated.
  const ev = (expression) => request(dap, 'evaluate', { expression, context: 'repl' });
  assert.equal((await ev('1 + 2')).body.result, '3');
  assert.equal((await ev('Map.get(%{a: 1}, :a) + length([1, 2])')).body.result, '3');
  const state = await ev(`${cluster.name(1)}> :sys.get_state(Bank.Ledger)`);
  assert.ok(state.body.result.length > 0, JSON.stringify(state.body));
  const map = await ev('%{a: 1, b: [1, 2]}');
  assert.ok(map.body.variablesReference > 0, JSON.stringify(map.body));

  // A call with a side effect is refused, and names the call; nothing ran.
  const put = await rawRequest(dap, { command: 'evaluate', arguments: { expression: 'Process.put(:orbit_read_only, 1)', context: 'repl' } });
  assert.equal(put.success, false);
  assert.match(errorText(put), MODE);
  assert.match(errorText(put), /Process\.put\/2/);
  const send = await rawRequest(dap, { command: 'evaluate', arguments: { expression: `${cluster.name(1)}> send(Bank.Ledger, :orbit_read_only)`, context: 'repl' } });
  assert.equal(send.success, false);
  assert.match(errorText(send), /:erlang\.send\/2/);
  const messages = await cluster.eval(1, "element(2, erlang:process_info(whereis('Elixir.Bank.Ledger'), message_queue_len))");
  assert.equal(messages, '0');

  // setVariable, whatever it names.
  const set = await rawRequest(dap, { command: 'setVariable', arguments: { variablesReference: map.body.variablesReference, name: 'a', value: '2' } });
  assert.equal(set.success, false);
  assert.match(errorText(set), MODE);

  // No module was interpreted on any node.
  for (let i = 0; i < cluster.size; i++) {
    assert.equal(await cluster.eval(i, "orbit_dbg:interpreted_here(['Elixir.Bank.Account', 'Elixir.Bank.Fees'])"), '[]', `node ${i}`);
  }
}));
