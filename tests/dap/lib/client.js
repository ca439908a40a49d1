'use strict';
// Test client helpers for `orbit dap`, built on VS Code's own DAP test client
// (@vscode/debugadapter-testsupport).
//
// How DebugClient is started against the native orbit binary
// ----------------------------------------------------------
// DebugClient's constructor is (runtime, executable, debugType, spawnOptions, enableStderr), and
// `start()` without a port runs `child_process.spawn(runtime, [executable], spawnOptions)`, then
// speaks DAP over the child's stdin/stdout (`connect(child.stdout, child.stdin)`). `startClient` does
// exactly that itself, so that the adapter is owned from the moment it is spawned:
//
//     setpriv --pdeathsig KILL ORBIT_BIN dap          (env and cwd from the options)
//
// then `client.connect(child.stdout, child.stdin)`, with the child kept as `client._adapterProcess`
// as DebugClient keeps it. (No `node` is involved; extra flags go through environment variables.)
//
// `start(port)` instead connects to 127.0.0.1:port, for an adapter already running as
// `orbit dap --port N` (e.g. under a debugger). Set ORBIT_DAP_PORT=N to test that way. In that mode
// DebugClient disables its own event timeouts; the helpers below keep theirs.
//
// Ownership: every adapter is recorded (lib/owned.js) the moment it is spawned, before `initialize`
// or `attach`; `options.onSpawn(client)` and `options.owner` (a node:test context: `t.after` stops it)
// let a test or helper take it at that moment too. `stopClient` ends it by pid (a `disconnect` bounded
// to 3 s, then SIGTERM, SIGKILL after 1 s), and is safe to call more than once and from several hooks.
// Whatever a test file leaves running is SIGKILLed when it exits, and `--pdeathsig` ends the adapter
// if the test process itself is SIGKILLed.
//
// Caveats of DebugClient that these helpers cover:
// - `send()` has no timeout: a dead adapter would hang a test. `startClient` checks the binary first,
//   and every helper races the request against a timeout and against the adapter's exit. A step that
//   fails says what it was waiting for and ends with the adapter's stderr tail; the steps still
//   pending are in `client.pending` (see `pendingSteps`), for a test that its runner timed out.
// - `send()` rejects a failed response with `new Error(response.message)` and drops the body.
//   `rawRequest` returns the whole response, success or not, and can send malformed messages.
// - stdout of `orbit dap` must carry DAP only; its stderr is captured here (`client.stderrText()`)
//   and echoed when ORBIT_DAP_STDERR=1.
//
// Environment:
//   ORBIT_BIN          path of the orbit binary (default: <repo>/target/debug/orbit)
//   ORBIT_DAP_PORT     connect to a running `orbit dap --port N` instead of spawning
//   ORBIT_DAP_STDERR   1 to echo the adapter's stderr
//   ORBIT_DAP_TIMEOUT  default per-request timeout in ms (default 10000)
//   ORBIT_DAP_ATTACH_TIMEOUT  bound of the first contact with a cluster, in ms (default 60000): from
//                      `attach` to `initialized` and to the attach response. Orbit connects to every
//                      node and installs its agent (compiled on each node); on a fresh cluster of a
//                      busy 2-core machine that alone has taken more than 10 s.
//   ORBIT_TEST_NODE    node to attach to (e.g. app@127.0.0.1); cluster tests skip without it
//   ORBIT_TEST_COOKIE  its cookie

const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { DebugClient } = require('@vscode/debugadapter-testsupport');
const { own, stopProcess } = require('./owned');

const PROJECT_DIR = path.resolve(__dirname, '..');
const DEFAULT_TIMEOUT = Number(process.env.ORBIT_DAP_TIMEOUT) || 10000;
const ATTACH_TIMEOUT = Number(process.env.ORBIT_DAP_ATTACH_TIMEOUT) || 60000;

/** Path of the orbit binary: $ORBIT_BIN, or ../../target/debug/orbit from tests/dap. */
function orbitBin() {
  return path.resolve(PROJECT_DIR, process.env.ORBIT_BIN || '../../target/debug/orbit');
}

/**
 * Starts `orbit dap` and returns a started DebugClient, extended with:
 *   client.exited        promise of { code, signal } when the adapter process ends (never
 *                        settles in port mode)
 *   client.pid           the adapter's OS pid (undefined in port mode)
 *   client.stderrText()  everything the adapter wrote to stderr so far
 *   client.timeout       the default timeout of the helpers, in ms
 *   client.pending       the steps (guard descriptions) waiting for an answer right now
 *
 * options: { env (extra environment), cwd, timeout, port,
 *            onSpawn(client) (called as soon as the adapter is spawned),
 *            owner (a node:test context whose `after` hook stops the adapter) }
 */
async function startClient(options = {}) {
  const timeout = options.timeout || DEFAULT_TIMEOUT;
  const port = options.port ?? (process.env.ORBIT_DAP_PORT ? Number(process.env.ORBIT_DAP_PORT) : undefined);
  const bin = orbitBin();
  if (port === undefined) {
    try {
      fs.accessSync(bin, fs.constants.X_OK);
    } catch {
      throw new Error(`orbit binary not found or not executable at ${bin}: build it (cargo build -p orbit-cli) or set ORBIT_BIN`);
    }
  }
  const spawnOptions = {
    cwd: options.cwd || PROJECT_DIR,
    env: { ...process.env, ORBIT_LOG: process.env.ORBIT_LOG || 'info', ...(options.env || {}) },
  };
  const echo = process.env.ORBIT_DAP_STDERR === '1';
  const client = new DebugClient(bin, 'dap', 'orbit', spawnOptions, echo);
  client.defaultTimeout = timeout;
  client.timeout = timeout;
  client.pending = new Set();
  let stderr = '';
  client.stderrText = () => stderr;

  if (port !== undefined) {
    await client.start(port);
    client.exited = new Promise(() => {});
    return client;
  }

  // What DebugClient.start() does, with the adapter recorded before anything else can happen.
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', bin, 'dap'], { ...spawnOptions, stdio: ['pipe', 'pipe', 'pipe'] });
  own(child, 'orbit dap');
  client._adapterProcess = child;
  client.adapterChild = child; // DebugClient.stopAdapter() forgets _adapterProcess; this stays.
  client.pid = child.pid;
  client.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
  });
  if (options.onSpawn) options.onSpawn(client);
  if (options.owner) options.owner.after(() => stopClient(client));
  child.stderr.on('data', (data) => {
    stderr += data.toString();
    if (echo) process.stderr.write(data);
  });
  // Writing to a dead adapter fails with EPIPE on stdin; without a listener that error would
  // crash the test process. The exit itself is reported through client.exited.
  child.stdin.on('error', () => {});
  client.connect(child.stdout, child.stdin);
  return client;
}

/**
 * Stops the adapter: a `disconnect` request (bounded by `timeout`: 3 s by default, 1 s once a step
 * went unanswered or is still waiting, as the adapter is then likely stuck), then ends the process by
 * its pid (SIGTERM, SIGKILL after 1 s) or closes the socket. Safe to call again, also concurrently
 * (from a `finally` and an `after` hook): every call resolves when the adapter is gone.
 */
function stopClient(client, timeout) {
  if (!client) return Promise.resolve();
  if (!client.stopping) {
    client.stopping = (async () => {
      const child = client.adapterChild;
      const running = child ? child.exitCode === null && child.signalCode === null : !!client._socket;
      if (running) {
        try {
          const stuck = client.unanswered || (client.pending && client.pending.size > 0);
          await guard(client, client.disconnectRequest({ terminateDebuggee: false }), 'disconnect', timeout || (stuck ? 1000 : 3000));
        } catch {
          // The adapter may be gone or stuck; stopping it is all that matters here.
        }
      }
      if (child) {
        await stopProcess(child, { what: 'orbit dap' });
        client._adapterProcess = null;
      } else {
        client.stopAdapter();
      }
    })();
  }
  return client.stopping;
}

/**
 * Races `promise` against a timeout and against the adapter's exit, so that no test hangs on a
 * request whose answer will never come. `what` says what the step waits for; it stays in
 * `client.pending` until the step settles. Its own errors carry `step` (what) and `at` (Date.now()).
 */
function guard(client, promise, what, timeout) {
  const ms = timeout || client.timeout || DEFAULT_TIMEOUT;
  let timer;
  const step = { what, since: Date.now() };
  if (client.pending) client.pending.add(step);
  const failure = (message) => Object.assign(new Error(message), { step: what, at: Date.now() });
  const timedOut = new Promise((_, reject) => {
    timer = setTimeout(() => {
      client.unanswered = true;
      reject(failure(`${what}: no answer within ${ms} ms${stderrTail(client)}`));
    }, ms);
  });
  const died = client.exited.then(({ code, signal, error }) => {
    const how = error ? `failed to start (${error.message})` : `exited (code ${code}, signal ${signal})`;
    const why = client.stopping ? ', stopped by the test harness' : '';
    throw failure(`${what}: orbit dap ${how}${why}${stderrTail(client)}`);
  });
  return Promise.race([promise, timedOut, died]).finally(() => {
    clearTimeout(timer);
    if (client.pending) client.pending.delete(step);
  });
}

/** What `client` is still waiting for, '; ' between steps ('' when nothing), for a timed-out test. */
function pendingSteps(client) {
  if (!client || !client.pending) return '';
  const now = Date.now();
  return [...client.pending].map((s) => `${s.what} (for ${now - s.since} ms)`).join('; ');
}

function stderrTail(client) {
  const text = client.stderrText ? client.stderrText().trim() : '';
  return text ? `\n--- orbit dap stderr ---\n${text.slice(-4000)}` : '';
}

/** Sends a typed request through DebugClient (rejects on an error response). */
function request(client, command, args, timeout) {
  return guard(client, client.send(command, args), command, timeout);
}

/**
 * The `initialize` request as VS Code sends it; resolves with the response (body: capabilities).
 */
function initialize(client, overrides = {}) {
  const args = {
    clientID: 'orbit-tests',
    clientName: 'Orbit DAP tests',
    adapterID: 'orbit',
    pathFormat: 'path',
    linesStartAt1: true,
    columnsStartAt1: true,
    supportsVariableType: true,
    supportsVariablePaging: true,
    supportsRunInTerminalRequest: false,
    locale: 'en',
    supportsProgressReporting: false,
    supportsInvalidatedEvent: true,
    supportsMemoryReferences: false,
    ...overrides,
  };
  return request(client, 'initialize', args).then((response) => {
    if (response.body && response.body.supportsConfigurationDoneRequest) {
      client._supportsConfigurationDoneRequest = true;
    }
    return response;
  });
}

/**
 * Writes raw bytes (a string or Buffer) to the adapter, bypassing DebugClient's framing: for
 * malformed headers and garbage.
 */
function sendRaw(client, bytes) {
  client.outputStream.write(bytes);
}

/**
 * Sends one message and resolves with the whole response to it (success or not).
 *
 * `message` is an object (its `seq` is set from the client's counter unless given) or a string
 * body sent as is, in which case `seq` must say which `request_seq` to wait for. The message is
 * framed with a correct Content-Length unless `options.raw` is true (then the string is written
 * as is).
 */
function rawRequest(client, message, options = {}) {
  let seq = options.seq;
  let body = message;
  if (typeof message !== 'string') {
    seq = message.seq ?? client.sequence++;
    body = JSON.stringify({ type: 'request', ...message, seq });
  }
  if (typeof seq !== 'number') throw new Error('rawRequest: a string message needs options.seq');
  const answered = new Promise((resolve) => client.pendingRequests.set(seq, resolve));
  sendRaw(client, options.raw ? body : `Content-Length: ${Buffer.byteLength(body, 'utf8')}\r\n\r\n${body}`);
  return guard(client, answered, `raw request seq ${seq}`, options.timeout).finally(() => client.pendingRequests.delete(seq));
}

/**
 * Cluster to attach to, from ORBIT_TEST_NODE / ORBIT_TEST_COOKIE; null when unset (use it to skip
 * cluster tests: `test('...', { skip: !clusterFromEnv() && 'no cluster' }, ...)`).
 */
function clusterFromEnv() {
  const node = process.env.ORBIT_TEST_NODE;
  if (!node) return null;
  const cluster = { node };
  if (process.env.ORBIT_TEST_COOKIE) cluster.cookie = process.env.ORBIT_TEST_COOKIE;
  return cluster;
}

/**
 * The attach sequence as VS Code runs it: initialize, attach (its response may come only after
 * configurationDone), wait for `initialized`, send the configuration, configurationDone, and wait
 * for the attach response.
 *
 * The wait for `initialized` and for the attach response is the first contact with the cluster
 * (connect to every node, install the agent): bounded by `options.timeout`, else
 * ORBIT_DAP_ATTACH_TIMEOUT (60 s), both counted from the attach request. The other requests keep the
 * client's timeout.
 *
 * options:
 *   args                 attach arguments (merged over clusterFromEnv() and VS Code's own fields)
 *   breakpoints          { '/path/to/file.ex': [12, { line: 20, condition: 'x > 1' }], ... }
 *   functionBreakpoints  [{ name: 'MyMod.fun/2' }, ...]
 *   exceptionFilters     ['...'] (setExceptionBreakpoints is sent when given)
 *   initializeArgs       overrides for initialize
 *
 * Resolves with { capabilities, attach, breakpoints: { path: [Breakpoint] }, functionBreakpoints,
 * firstContactMs (from the attach request to `initialized`) }.
 */
async function attach(client, options = {}) {
  const init = await initialize(client, options.initializeArgs);
  const args = {
    type: 'orbit',
    request: 'attach',
    name: 'Orbit DAP test',
    ...(clusterFromEnv() || {}),
    ...(options.args || {}),
  };
  if (!args.node) throw new Error('attach: no node (set ORBIT_TEST_NODE or pass args.node)');
  const bound = options.timeout || ATTACH_TIMEOUT;
  const t0 = Date.now();
  const initialized = waitForEvent(client, 'initialized', bound, `waiting for 'initialized' event after attach to ${args.node} (connect, install the agent)`);
  const attached = request(client, 'attach', args, bound);
  // If attach fails before `initialized`, report that failure rather than a missing event.
  await Promise.race([initialized, attached.then(() => initialized)]);

  const result = { capabilities: init.body || {}, breakpoints: {}, functionBreakpoints: [], firstContactMs: Date.now() - t0 };
  for (const [file, lines] of Object.entries(options.breakpoints || {})) {
    const breakpoints = lines.map((l) => (typeof l === 'number' ? { line: l } : l));
    const response = await request(client, 'setBreakpoints', { source: { path: file, name: path.basename(file) }, breakpoints });
    result.breakpoints[file] = response.body.breakpoints;
  }
  if (options.functionBreakpoints) {
    const response = await request(client, 'setFunctionBreakpoints', { breakpoints: options.functionBreakpoints });
    result.functionBreakpoints = response.body.breakpoints;
  }
  if (options.exceptionFilters) {
    await request(client, 'setExceptionBreakpoints', { filters: options.exceptionFilters });
  }
  if (result.capabilities.supportsConfigurationDoneRequest) {
    await request(client, 'configurationDone', {});
  }
  result.attach = await attached;
  return result;
}

/**
 * Resolves with the next event of type `event` (rejects on timeout or adapter exit). Like
 * DebugClient.waitForEvent, but with guard()'s timeout only: no timer outlives the wait.
 */
function waitForEvent(client, event, timeout, what) {
  const ms = timeout || client.timeout;
  let listener;
  const got = new Promise((resolve) => {
    listener = resolve;
    client.once(event, listener);
  });
  return guard(client, got, what || `waiting for '${event}' event`, ms).finally(() => client.removeListener(event, listener));
}

/**
 * Resolves with the next `stopped` event that matches `expect` ({ reason, threadId }), skipping
 * others. With `expect.stackTrace` also fetches the stack of the stopped thread:
 * resolves with { event, frames }.
 */
function waitForStopped(client, expect = {}) {
  const ms = expect.timeout || client.timeout;
  let listener;
  const matching = new Promise((resolve) => {
    listener = (event) => {
      const body = event.body || {};
      if (expect.reason && body.reason !== expect.reason) return;
      if (expect.threadId !== undefined && body.threadId !== expect.threadId) return;
      resolve(event);
    };
    client.on('stopped', listener);
  });
  const stopped = guard(client, matching, `waiting for a stopped event ${JSON.stringify(expect)}`, ms).finally(() =>
    client.removeListener('stopped', listener),
  );
  if (!expect.stackTrace) return stopped;
  return stopped.then(async (event) => {
    const response = await request(client, 'stackTrace', { threadId: event.body.threadId, startFrame: 0, levels: 20 });
    return { event, frames: response.body.stackFrames };
  });
}

/**
 * Collects `output` events from now on. Returns
 *   { events, text(category?), waitFor(pattern, { category, timeout }), dispose() }
 * where `pattern` is a string or RegExp matched against the concatenated output.
 */
function collectOutput(client) {
  const events = [];
  const waiters = new Set();
  const text = (category) =>
    events
      .filter((e) => !category || (e.body.category || 'console') === category)
      .map((e) => e.body.output)
      .join('');
  const matches = (pattern, category) => {
    const all = text(category);
    return pattern instanceof RegExp ? pattern.test(all) : all.includes(pattern);
  };
  const listener = (event) => {
    events.push(event);
    for (const w of [...waiters]) {
      if (matches(w.pattern, w.category)) {
        waiters.delete(w);
        w.resolve(text(w.category));
      }
    }
  };
  client.on('output', listener);
  return {
    events,
    text,
    waitFor(pattern, { category, timeout } = {}) {
      if (matches(pattern, category)) return Promise.resolve(text(category));
      const found = new Promise((resolve) => waiters.add({ pattern, category, resolve }));
      return guard(client, found, `waiting for output matching ${pattern}`, timeout).catch((e) => {
        throw new Error(`${e.message}\n--- output so far ---\n${text(category)}`);
      });
    },
    dispose() {
      client.removeListener('output', listener);
      waiters.clear();
    },
  };
}

module.exports = {
  ATTACH_TIMEOUT,
  attach,
  clusterFromEnv,
  collectOutput,
  guard,
  initialize,
  orbitBin,
  pendingSteps,
  rawRequest,
  request,
  sendRaw,
  startClient,
  stopClient,
  waitForEvent,
  waitForStopped,
};
