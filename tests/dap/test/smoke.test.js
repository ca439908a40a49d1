'use strict';
// Smoke test of `orbit dap`: capabilities from `initialize`, and error responses (not a crash) for
// malformed requests. Needs the orbit binary (ORBIT_BIN, default ../../target/debug/orbit) but no
// BEAM cluster.

const { test, beforeEach, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { startClient, stopClient, initialize, rawRequest, sendRaw } = require('../lib/client');

let client;

beforeEach(async () => {
  client = await startClient();
});

afterEach(async () => {
  await stopClient(client);
  client = undefined;
});

test('initialize returns capabilities', async () => {
  const response = await initialize(client);
  assert.equal(response.success, true);
  assert.equal(response.command, 'initialize');
  const caps = response.body;
  assert.equal(typeof caps, 'object', 'the response has a Capabilities body');
  assert.ok(caps !== null);
  for (const [key, value] of Object.entries(caps)) {
    if (/^supports?[A-Z]/.test(key)) assert.equal(typeof value, 'boolean', `${key} is a boolean`);
  }
  if ('exceptionBreakpointFilters' in caps) {
    assert.ok(Array.isArray(caps.exceptionBreakpointFilters));
    for (const filter of caps.exceptionBreakpointFilters) {
      assert.equal(typeof filter.filter, 'string');
      assert.equal(typeof filter.label, 'string');
    }
  }
});

test('malformed arguments get an error response', async () => {
  await initialize(client);
  const response = await rawRequest(client, {
    command: 'setBreakpoints',
    arguments: { source: { path: '/nowhere/x.ex' }, breakpoints: [{ line: 'ten' }] },
  });
  assert.equal(response.type, 'response');
  assert.equal(response.success, false);
  assert.equal(response.command, 'setBreakpoints');
  assert.equal(typeof response.message, 'string');
  assert.ok(response.message.length > 0, 'the error says what is wrong');
});

test('a malformed request envelope gets an error response, and the adapter lives on', async () => {
  await initialize(client);
  // `command` must be a string.
  const seq = client.sequence++;
  const bad = await rawRequest(client, JSON.stringify({ seq, type: 'request', command: 42 }), { seq });
  assert.equal(bad.success, false);
  assert.equal(bad.request_seq, seq);

  // Garbage on the wire, then an unknown command: still answered (with an error).
  sendRaw(client, 'this is not a DAP header\r\n\r\n');
  const unknown = await rawRequest(client, { command: 'noSuchCommand', arguments: {} });
  assert.equal(unknown.success, false);
  assert.equal(unknown.command, 'noSuchCommand');
});
