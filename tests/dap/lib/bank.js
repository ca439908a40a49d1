'use strict';
// Helpers shared by the cluster tests: an `orbit dap` session attached to a fixtures/demo cluster, and
// the demo bank's accounts.

const path = require('node:path');
const assert = require('node:assert/strict');
const client = require('./client');
const { Cluster, sleep, DEMO_DIR } = require('./cluster');

const FILES = {
  account: path.join(DEMO_DIR, 'lib/bank/account.ex'),
  fees: path.join(DEMO_DIR, 'lib/bank/fees.ex'),
  ledger: path.join(DEMO_DIR, 'lib/bank/ledger.ex'),
  mailbox: path.join(DEMO_DIR, 'lib/bank/mailbox.ex'),
  remote: path.join(DEMO_DIR, 'lib/bank/remote.ex'),
  accountSupervisor: path.join(DEMO_DIR, 'lib/bank/account_supervisor.ex'),
  bankLedger: path.join(DEMO_DIR, 'src/bank_ledger.erl'),
};

/**
 * Starts `orbit dap` and attaches it to node `entry` of `cluster` (the VS Code sequence), with
 * `options` as for client.attach (breakpoints, functionBreakpoints, exceptionFilters, args, timeout)
 * and `options.clientOptions` for client.startClient (its `onSpawn` takes the adapter as soon as it is
 * spawned). Resolves with { dap, attached, output } where `output` collects every output event from
 * the start. When the attach fails the adapter is stopped (by pid) before the error is passed on.
 */
async function attachSession(cluster, entry, options = {}) {
  const dap = await client.startClient(options.clientOptions);
  const output = client.collectOutput(dap);
  try {
    const attached = await client.attach(dap, {
      ...options,
      args: { node: cluster.name(entry), cookie: cluster.cookie, projectDir: DEMO_DIR, ...(options.args || {}) },
    });
    return { dap, attached, output };
  } catch (e) {
    await client.stopClient(dap).catch(() => {});
    throw e;
  }
}

/**
 * Everything one test starts (adapters; with withCluster also its cluster), owned from the moment
 * each is spawned and stopped however the test ends: by `close()` from the helper's `finally`, and by
 * a node:test `t.after` hook, which runs also when the runner times the test out or cancels it while a
 * step still waits (its `finally` would then wait with it). After `close()` the scope starts nothing.
 *
 *   scope.startClient(options)           client.startClient, the adapter owned by this test
 *   scope.attach(cluster, entry, options) attachSession, the adapter owned from its spawn
 *   scope.cluster                         set it to have the cluster stopped (by pid) on close
 *   scope.succeeded() / scope.failed(e)   how the body ended; without either, close() reports the
 *                                         steps still waiting and keeps the node logs
 */
function testScope(t) {
  const clients = new Set();
  let closing;
  let outcome;
  const scope = {
    cluster: undefined,
    clients,
    startClient(options = {}) {
      if (closing) return Promise.reject(new Error('the test is over: no new adapter is started'));
      return client.startClient({
        ...options,
        onSpawn: (c) => {
          clients.add(c);
          if (options.onSpawn) options.onSpawn(c);
        },
      });
    },
    attach(cluster, entry, options = {}) {
      if (closing) return Promise.reject(new Error('the test is over: no new adapter is started'));
      const clientOptions = options.clientOptions || {};
      const onSpawn = (c) => {
        clients.add(c);
        if (clientOptions.onSpawn) clientOptions.onSpawn(c);
      };
      return attachSession(cluster, entry, { ...options, clientOptions: { ...clientOptions, onSpawn } }).then((session) => {
        // The first contact has a bound of its own (client.ATTACH_TIMEOUT); say when it is slow.
        const ms = session.attached.firstContactMs;
        if (ms > session.dap.timeout) note(`slow first contact: 'initialized' came ${ms} ms after attach to ${cluster.name(entry)}`);
        return session;
      });
    },
    succeeded() {
      outcome = outcome || 'passed';
    },
    failed(e) {
      outcome = outcome || 'failed';
      if (scope.cluster) {
        // Keep the node logs of a failed test.
        scope.cluster.options.keepLogs = true;
        note(`node logs: ${scope.cluster.logDir}`);
      }
      return e;
    },
    close() {
      if (!closing) {
        closing = (async () => {
          if (!outcome) {
            // The body has not ended: the runner timed the test out (or cancelled it).
            outcome = 'unfinished';
            for (const dap of clients) {
              const steps = client.pendingSteps(dap);
              const tail = dap.stderrText().trim().slice(-2000);
              note(`orbit dap (pid ${dap.pid}) was still waiting for: ${steps || 'nothing (between steps)'}` + (tail ? `\n--- orbit dap stderr ---\n${tail}` : ''));
            }
            if (scope.cluster) {
              scope.cluster.options.keepLogs = true;
              note(`node logs: ${scope.cluster.logDir}`);
            }
          }
          await Promise.all([...clients].map((dap) => client.stopClient(dap).catch((e) => note(e.message))));
          if (scope.cluster) await scope.cluster.stop();
        })();
      }
      return closing;
    },
  };
  function note(text) {
    if (t && t.diagnostic) t.diagnostic(text);
    else console.error(text);
  }
  if (t && t.after) t.after(() => scope.close());
  return scope;
}

/** Index of the node an account id is placed on. */
async function ownerIndex(cluster, id) {
  const owner = (await cluster.eval(0, `'Elixir.Bank':owner_node(<<"${id}">>)`)).replace(/'/g, '');
  const i = cluster.names.indexOf(owner);
  assert.ok(i >= 0, `owner ${owner} of ${id} is one of ${cluster.names}`);
  return i;
}

/** An account id (with `prefix`) that the bank places on node `i`. */
async function idOwnedBy(cluster, i, prefix = 'acc') {
  for (let n = 0; n < 200; n++) {
    const id = `${prefix}${n}`;
    if ((await ownerIndex(cluster, id)) === i) return id;
  }
  throw new Error(`no account id found for node ${cluster.name(i)}`);
}

/** Opens an account on node `i` with `balance`; resolves with its id. */
async function openAccountOn(cluster, i, balance = 100, prefix = 'acc') {
  const id = await idOwnedBy(cluster, i, prefix);
  const r = await cluster.eval(0, `'Elixir.Bank':open_account(<<"${id}">>, <<"ann">>, ${balance})`);
  assert.match(r, /^\{ok,/, `open_account ${id}: ${r}`);
  return id;
}

/**
 * Starts a deposit into account `id` from node `from`, as a gen_server call with a 60 s timeout (so it
 * outlives a paused server). Returns erl_call's { child, result }.
 */
function depositFrom(cluster, from, id, amount) {
  return cluster.evalAsync(from, `gen_server:call('Elixir.Bank':whereis(<<"${id}">>), {deposit, ${amount}}, 60000)`);
}

/** Resolves with the result of an evalAsync; fails the test on an erl_call error or timeout. */
async function resultOf(call, what = 'call', ms = 60000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    const r = await Promise.race([call.result, timeout]);
    assert.ok(r.ok, `${what} failed: ${r.text}`);
    return r.value.replace(/\s/g, '');
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with `promise`'s value, or with `undefined` when it takes longer than `ms` (for "it did not happen"). */
async function within(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` (async, returns truthy when done) every 250 ms for up to `ms`; returns its last value. */
async function eventually(check, ms = 20000, what = 'condition') {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(250);
  }
}

/** The top frame of a stopped thread and its Locals and Process variables. */
async function topFrame(dap, threadId) {
  const st = await client.request(dap, 'stackTrace', { threadId, startFrame: 0, levels: 20 });
  const frames = st.body.stackFrames;
  assert.ok(frames.length > 0, 'the stopped thread has frames');
  const scopes = (await client.request(dap, 'scopes', { frameId: frames[0].id })).body.scopes;
  const vars = {};
  for (const s of scopes) {
    vars[s.name] = (await client.request(dap, 'variables', { variablesReference: s.variablesReference })).body.variables;
  }
  return { frames, frame: frames[0], scopes, vars };
}

/**
 * What a node holds of the debugger, read without starting anything (int:interpreted/0 and
 * int:snapshot/0 would start an interpreter server): demo modules whose calls still go through the
 * interpreter, modules the node's interpreter server holds, breakpoints, processes of this node in the
 * server's snapshot (any status), interpreter processes alive on this node (metas, and processes waiting
 * on one), suspended processes, interpreter servers. `{[],[],[],[],[],[],[]}` once everything is undone.
 */
const LEFTOVERS = [
  "Mods = ['Elixir.Bank.Account', 'Elixir.Bank.Fees', 'Elixir.Bank.Ledger', 'Elixir.Bank.Mailbox', bank_ledger],",
  // Debug breakpoints (what makes calls interpreted) do not show in erlang:trace_info/2; the agent probes
  // each module with a call that such a breakpoint would divert.
  'Interp = orbit_dbg:interpreted_here(Mods),',
  'Servers = [S || S <- lists:usort([whereis(dbg_iserver), global:whereis_name(dbg_iserver)]), is_pid(S)],',
  'Held = lists:usort(lists:append([gen_server:call(S, all_interpreted) || S <- Servers, node(S) =:= node()])),',
  'Breaks = lists:usort(lists:append([gen_server:call(S, all_breaks) || S <- Servers])),',
  'Snap = lists:usort(lists:append([[P || {P, _, _, _} <- gen_server:call(S, snapshot), node(P) =:= node()] || S <- Servers])),',
  'Metas = [P || P <- processes(), case erlang:process_info(P, current_function) of {current_function, {M, _, _}} -> lists:member(M, [dbg_ieval, dbg_icmd, dbg_debugged]); _ -> false end],',
  'Suspended = [P || P <- processes(), erlang:process_info(P, status) =:= {status, suspended}],',
  '{Interp, Held, Breaks, Snap, Metas, Suspended, Servers}.',
].join('\n');

async function leftovers(cluster, i) {
  return (await cluster.eval(i, LEFTOVERS)).replace(/\s/g, '');
}

/**
 * A test body with a cluster of `n` nodes. The cluster and every adapter started through the context
 * (`attach(entry, options)`, `startClient(options)`) belong to the test from their spawn and are
 * stopped by pid when it ends: passed, failed, or timed out by node:test (see testScope).
 * `clusterOptions` go to the Cluster (e.g. `{ tls: true }`).
 */
function withCluster(n, body, clusterOptions = {}) {
  return async (t) => {
    const scope = testScope(t);
    const cluster = new Cluster(n, clusterOptions);
    scope.cluster = cluster;
    const ctx = {
      cluster,
      scope,
      attach: (entry, options) => scope.attach(cluster, entry, options),
      startClient: (options) => scope.startClient(options),
    };
    try {
      await cluster.start();
      await body(ctx, t);
      scope.succeeded();
    } catch (e) {
      throw scope.failed(e);
    } finally {
      await scope.close();
    }
  };
}

module.exports = {
  FILES,
  attachSession,
  testScope,
  ownerIndex,
  idOwnedBy,
  openAccountOn,
  depositFrom,
  resultOf,
  within,
  eventually,
  topFrame,
  leftovers,
  withCluster,
  DEMO_DIR,
};
