'use strict';
// Real clusters of fixtures/demo (the Elixir bank) for the DAP end-to-end tests.
//
// Every cluster gets unique node names (`dap_<pid>_<n>_<rand>_<i>@<shorthost>`) and a random cookie.
// Nodes are started exactly as the Rust harness does (tests/harness/src/lib.rs):
//
//     elixir --sname NAME --cookie C -S mix run --no-halt --no-compile     (in fixtures/demo)
//
// with BANK_PEERS naming the other nodes, after one `mix compile` (under the same lock file as the Rust
// harness, so parallel test files and test binaries do not race on _build). Expressions are evaluated
// with `erl_call -sname NODE -c COOKIE -e`, the expression on stdin ending in a newline.
//
// Clean-up: `stop()` kills exactly the OS pids this cluster started (SIGKILL, by pid, never by name);
// every node and erl_call is owned from its spawn (lib/owned.js): killed when this process exits (also
// after an uncaught exception or on SIGINT/SIGTERM), and nodes are started under
// `setpriv --pdeathsig KILL` so that a test process that is killed outright does not leave them behind.
// A stopped cluster starts no more nodes (a test body that its runner timed out may still be running).
//
// TLS clusters (`new Cluster(n, { tls: true })`): a CA and one node certificate are generated with `openssl`
// (tlsFiles below, the same set the Rust harness makes with rcgen), and every node runs
//
//     elixir --sname NAME --cookie C --erl "-proto_dist inet_tls -ssl_dist_optfile F" -S mix run ...
//
// with verify_peer and fail_if_no_peer_cert on the server side. erl_call speaks plain TCP only, so
// expressions are evaluated from a short-lived hidden `erl` node with the same optfile (tlsCall).
//
// Environment:
//   ORBIT_OTP              otp27 | otp29: the nodes run the Erlang/OTP and Elixir of that Debian root
//                          (scripts/otp-roots), on the root's own copy of fixtures/demo (its own _build),
//                          as `chroot ROOT env -C DIR elixir …`, the same pid as a node on the host
//
// Native-breakpoint clusters (`new Cluster(n, { plusD: true })`, or `[true, false]` per node): those nodes run
// with `--erl +D` (OTP 28+).
//
//   ORBIT_TEST_PLUS_D      1: clusters that do not say otherwise run every node with +D; mixed: every
//                          other node (the first, third, …) — the suite against the native engine
//   ORBIT_TEST_JOIN_SECS   how long a node may take to start and join (default 90)
//   ORBIT_TEST_KEEP_LOGS   1 to keep the node logs (in $TMPDIR/orbit-dap-nodes/<tag>) after a pass

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');

const { own } = require('./owned');

const REPO_ROOT = path.resolve(__dirname, '../../..');
const PLUS_D = process.env.ORBIT_TEST_PLUS_D || '';
const OTP_ROOT_NAME = process.env.ORBIT_OTP && process.env.ORBIT_OTP !== 'host' ? process.env.ORBIT_OTP : '';
const OTP_ROOTS = path.join(REPO_ROOT, 'scripts/otp-roots');
const DEMO_DIR = OTP_ROOT_NAME
  ? path.join(REPO_ROOT, 'target/otp-fixtures', OTP_ROOT_NAME, 'demo')
  : path.join(REPO_ROOT, 'fixtures/demo');

/** The directory of the OTP root the nodes run in (mounted), or '' for the host's Erlang. */
let otpRootDir;
function otpRoot() {
  if (!OTP_ROOT_NAME) return '';
  if (otpRootDir === undefined) {
    otpRootDir = execFileSync(OTP_ROOTS, ['path', OTP_ROOT_NAME], { encoding: 'utf8' }).trim();
    execFileSync(OTP_ROOTS, ['mount', OTP_ROOT_NAME], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  return otpRootDir;
}

/** argv that runs `program args…` on the tests' Erlang (the host's, or inside the OTP root) in `cwd`. */
function beamArgv(program, args, cwd) {
  const root = otpRoot();
  if (!root) return [program, ...args];
  return ['chroot', root, '/usr/bin/env', '-C', cwd, 'HOME=/root', 'LANG=C.UTF-8', program, ...args];
}
const JOIN_SECS = Number(process.env.ORBIT_TEST_JOIN_SECS) || 90;

let counter = 0;

function shortHost() {
  return os.hostname().split('.')[0] || 'localhost';
}

function randomToken(len) {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const bytes = crypto.randomBytes(len);
  return Array.from(bytes, (b) => letters[b % 26]).join('');
}

let compiled = false;
/** `mix compile` of fixtures/demo, once per test process, under the fixture's lock file. */
function compileFixture() {
  if (compiled) return;
  if (OTP_ROOT_NAME) {
    try {
      execFileSync(OTP_ROOTS, ['fixture', OTP_ROOT_NAME], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 600000 });
    } catch (e) {
      throw new Error(`scripts/otp-roots fixture ${OTP_ROOT_NAME} failed: ${e.message}\n${e.stderr || ''}`);
    }
    compiled = true;
    return;
  }
  try {
    execFileSync('flock', [path.join(DEMO_DIR, '.build.lock'), 'mix', 'compile'], {
      cwd: DEMO_DIR,
      env: { ...process.env, MIX_ENV: 'dev' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300000,
    });
  } catch (e) {
    throw new Error(`mix compile failed in fixtures/demo: ${e.message}\n${e.stdout || ''}${e.stderr || ''}`);
  }
  compiled = true;
}

/**
 * Runs `erl_call` against `node`. Resolves with { ok, value, text } (value: what `{ok, Value}` held);
 * rejects only when erl_call cannot be started. `timeoutSec` is erl_call's own timeout; the child is
 * also killed a little after it.
 */
let calls = 0;
function erlCall(node, cookie, expr, timeoutSec = 10) {
  // erl_call's own (hidden) node is named `c17` unless told otherwise: two calls to one node at a time
  // would clash, so each gets a name of its own.
  const hidden = `dapcall_${process.pid}_${calls++}_${randomToken(3)}`;
  const child = spawn('erl_call', ['-sname', node, '-c', cookie, '-h', hidden, '-e', '-timeout', String(timeoutSec)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  own(child, `erl_call to ${node}`);
  child.stdin.on('error', () => {});
  child.stdin.end(`${expr}\n`);
  return { child, result: evalResult(child, 'erl_call', (timeoutSec + 5) * 1000) };
}

/**
 * What an evaluating child (erl_call, or a hidden erl node) printed: { ok, value, text }, `value` what
 * `{ok, Value}` held. Rejects only when `program` cannot be started; the child is SIGKILLed after `killMs`.
 */
function evalResult(child, program, killMs) {
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), killMs);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(killer);
      reject(new Error(`cannot run ${program}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      const text = out.trim();
      const m = /^\{ok,([\s\S]*)\}$/.exec(text);
      if (code === 0 && m) resolve({ ok: true, value: m[1].trim(), text });
      else resolve({ ok: false, value: undefined, text: `${text}${err ? ` ${err.trim()}` : ''} (exit ${code ?? signal})` });
    });
  });
}

/**
 * Evaluates `expr` on `node` of a TLS cluster from a hidden `erl` node started with the cluster's
 * `-ssl_dist_optfile`; same { child, result } as erlCall, `value` printed as erl_call prints it.
 */
function tlsCall(node, cookie, optfile, expr, timeoutSec = 10) {
  const hidden = `daptls_${process.pid}_${calls++}_${randomToken(3)}`;
  const script = [
    'N = list_to_atom(os:getenv("ORBIT_EVAL_NODE")),',
    'T = list_to_integer(os:getenv("ORBIT_EVAL_TIMEOUT")),',
    'R = case net_kernel:hidden_connect_node(N) of',
    '  true -> {ok, Ts, _} = erl_scan:string(os:getenv("ORBIT_EVAL")), {ok, Es} = erl_parse:parse_exprs(Ts),',
    '          rpc:call(N, erl_eval, exprs, [Es, []], T);',
    '  false -> {badrpc, noconnection}',
    'end,',
    'case R of {value, V, _} -> io:format("~p~n", [{ok, V}]), halt(0); Other -> io:format("~p~n", [Other]), halt(1) end.',
  ].join(' ');
  const args = ['-noshell', '-hidden', '-sname', hidden, '-setcookie', cookie, '-proto_dist', 'inet_tls', '-ssl_dist_optfile', optfile, '-eval', script];
  const child = spawn('erl', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ORBIT_EVAL_NODE: node, ORBIT_EVAL: expr, ORBIT_EVAL_TIMEOUT: String(timeoutSec * 1000) },
  });
  own(child, `TLS eval on ${node}`);
  // The hidden node's own start (with ssl) comes on top of the evaluation.
  return { child, result: evalResult(child, 'erl', (timeoutSec + 20) * 1000) };
}

/**
 * TLS material in `dir`, made with openssl: a CA, one node certificate it signed (for the short host
 * name, localhost and 127.0.0.1; server and client use), a second CA with a certificate of its own that
 * the nodes do not trust, and the nodes' `-ssl_dist_optfile`. Resolves the paths.
 */
function tlsFiles(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const f = (name) => path.join(dir, name);
  const openssl = (...args) => {
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 });
    } catch (e) {
      throw new Error(`openssl ${args.join(' ')} failed: ${e.message}\n${e.stderr || ''}`);
    }
  };
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = (name, cn) => {
    openssl('req', '-x509', ...key, '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`), '-days', '3', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature');
  };
  const leaf = (name, issuer) => {
    const host = shortHost();
    fs.writeFileSync(f(`${name}.ext`), [
      `subjectAltName=DNS:${host},DNS:localhost,IP:127.0.0.1`,
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      'basicConstraints=CA:FALSE',
      '',
    ].join('\n'));
    openssl('req', '-new', ...key, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${host}`);
    openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${issuer}.pem`), '-CAkey', f(`${issuer}.key`), '-CAcreateserial',
      '-days', '3', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`));
  };
  ca('ca', 'Orbit test CA');
  leaf('node', 'ca');
  ca('other_ca', 'Some other CA');
  leaf('other', 'other_ca');
  const q = (p) => JSON.stringify(p);
  const common = `{certfile, ${q(f('node.pem'))}}, {keyfile, ${q(f('node.key'))}}, {cacertfile, ${q(f('ca.pem'))}}`;
  fs.writeFileSync(f('ssl_dist.conf'), `[{server, [${common}, {verify, verify_peer}, {fail_if_no_peer_cert, true}]},\n {client, [${common}, {verify, verify_peer}]}].\n`);
  return {
    dir,
    ca: f('ca.pem'),
    cert: f('node.pem'),
    key: f('node.key'),
    otherCa: f('other_ca.pem'),
    otherCert: f('other.pem'),
    otherKey: f('other.key'),
    optfile: f('ssl_dist.conf'),
  };
}

class Cluster {
  /** Whether node `index` runs with +D (native breakpoints). */
  plusD(index) {
    return this.options.plusD === true || (Array.isArray(this.options.plusD) && Boolean(this.options.plusD[index]));
  }

  constructor(n, options = {}) {
    this.tag = `dap_${process.pid}_${counter++}_${randomToken(4)}`;
    this.cookie = randomToken(20);
    this.host = shortHost();
    this.logDir = path.join(os.tmpdir(), 'orbit-dap-nodes', this.tag);
    this.size = n;
    this.options = { ...options };
    // ORBIT_TEST_PLUS_D: every cluster that does not choose runs +D nodes (`1`), or +D on every other
    // node starting with the first (`mixed`): the suite's tests run against the native engine that way.
    if (this.options.plusD === undefined && PLUS_D === '1') this.options.plusD = true;
    if (this.options.plusD === undefined && PLUS_D === 'mixed') this.options.plusD = Array.from({ length: n }, (_, i) => i % 2 === 0);
    /** TLS files (tlsFiles) of a TLS cluster, made when it starts. */
    this.tls = undefined;
    /** [{ name, child, pid, log, exited }] */
    this.nodes = [];
  }

  nodeName(i) {
    return `${this.tag}_${i}@${this.host}`;
  }

  /** The `name@host` of node i. */
  name(i) {
    return this.nodes[i].name;
  }

  get names() {
    return this.nodes.map((n) => n.name);
  }

  spawnNode(name, peers) {
    if (this.stopped) throw new Error(`cluster ${this.tag} is stopped: not starting ${name}`);
    fs.mkdirSync(this.logDir, { recursive: true });
    const short = name.split('@')[0];
    const log = path.join(this.logDir, `${short}.log`);
    const fd = fs.openSync(log, 'w');
    const tls = this.tls ? ['--erl', `-proto_dist inet_tls -ssl_dist_optfile ${this.tls.optfile}`] : [];
    // `plusD`: true, or [bool per node index]: those nodes run with the emulator flag +D (OTP 28+'s
    // erl_debugger, native breakpoints).
    const index = Number(short.split('_').pop());
    const native = this.plusD(index) ? ['--erl', '+D'] : [];
    const elixir = ['--sname', short, '--cookie', this.cookie, ...tls, ...native, '-S', 'mix', 'run', '--no-halt', '--no-compile'];
    const args = ['--pdeathsig', 'KILL', ...beamArgv('elixir', elixir, DEMO_DIR)];
    const child = spawn('setpriv', args, {
      cwd: DEMO_DIR,
      env: { ...process.env, MIX_ENV: 'dev', BANK_PEERS: peers.filter((p) => p !== name).join(',') },
      stdio: ['ignore', fd, fd],
    });
    own(child, `node ${name}`);
    fs.closeSync(fd);
    const node = { name, child, pid: child.pid, log, alive: true };
    node.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        node.alive = false;
        resolve({ code, signal });
      });
      child.on('error', (e) => {
        node.alive = false;
        resolve({ code: null, signal: null, error: e });
      });
    });
    return node;
  }

  async start() {
    compileFixture();
    if (this.options.tls && !this.tls) this.tls = tlsFiles(path.join(this.logDir, 'tls'));
    const names = Array.from({ length: this.size }, (_, i) => this.nodeName(i));
    for (const name of names) this.nodes.push(this.spawnNode(name, names));
    try {
      await Promise.all(names.map((_, i) => this.waitJoined(i, this.size)));
    } catch (e) {
      this.options.keepLogs = true;
      await this.stop();
      throw new Error(`${e.message}\n(node logs: ${this.logDir})`);
    }
    return this;
  }

  logTail(i, chars = 3000) {
    try {
      return fs.readFileSync(this.nodes[i].log, 'utf8').slice(-chars);
    } catch {
      return '';
    }
  }

  /** Waits until node i sees `want - 1` other nodes, its Bank.Ledger runs and the bank counts `want` nodes. */
  async waitJoined(i, want) {
    const deadline = Date.now() + JOIN_SECS * 1000;
    let last = '';
    for (;;) {
      if (this.stopped) throw new Error(`cluster stopped while ${this.nodes[i].name} was joining`);
      if (!this.nodes[i].alive) {
        throw new Error(`node ${this.nodes[i].name} exited during start-up. Its log:\n${this.logTail(i)}`);
      }
      const r = await this.call(i, `{length(nodes()), is_pid(whereis('Elixir.Bank.Ledger')), (catch length('Elixir.Bank':nodes()))}.`, 5).result;
      last = r.text;
      if (r.ok && r.value.replace(/\s/g, '') === `{${want - 1},true,${want}}`) return;
      if (r.ok) {
        // A node that started before its peers registered with epmd missed its pings: ask again.
        const pings = this.nodes.map((n) => `net_adm:ping('${n.name}')`).join(', ');
        await this.call(i, `[${pings}].`, 5).result;
      }
      if (Date.now() > deadline) {
        throw new Error(`node ${this.nodes[i].name} did not join within ${JOIN_SECS} s (last answer: ${last}). Its log:\n${this.logTail(i)}`);
      }
      await sleep(250);
    }
  }

  /**
   * Evaluates Erlang expressions on node i (erl_call); resolves with what `{ok, Value}` held as text.
   * Rejects on an error (with what erl_call printed).
   */
  async eval(i, expr, timeoutSec = 10) {
    const r = await this.call(i, ensureDot(expr), timeoutSec).result;
    if (!r.ok) throw new Error(`eval on ${this.nodes[i].name} of ${expr}: ${r.text}`);
    return r.value;
  }

  /**
   * Starts evaluating `expr` on node i in a child process that may block (e.g. while a process it calls
   * is paused). Returns { child, result } where `result` resolves with { ok, value, text }.
   */
  evalAsync(i, expr, timeoutSec = 120) {
    return this.call(i, ensureDot(expr), timeoutSec);
  }

  /** erlCall on node i, or tlsCall on a TLS cluster. */
  call(i, expr, timeoutSec) {
    const name = this.nodes[i].name;
    return this.tls ? tlsCall(name, this.cookie, this.tls.optfile, expr, timeoutSec) : erlCall(name, this.cookie, expr, timeoutSec);
  }

  /** SIGKILLs node i (by its pid) and waits until it is gone. */
  async kill(i) {
    const node = this.nodes[i];
    if (node.alive) {
      try {
        node.child.kill('SIGKILL'); // by pid, while Node has not reaped it
      } catch {
        // Already gone.
      }
    }
    await node.exited;
  }

  /** Starts one more node that joins the cluster; resolves with its index. */
  async addNode() {
    const i = this.nodes.length;
    const name = this.nodeName(i);
    const peers = this.nodes.filter((n) => n.alive).map((n) => n.name);
    this.nodes.push(this.spawnNode(name, [...peers, name]));
    const want = peers.length + 1;
    await this.waitJoined(i, want);
    return i;
  }

  /** Kills every node this cluster started (by pid) and waits until they are gone; it starts no more. */
  async stop() {
    this.stopped = true;
    await Promise.all(this.nodes.map((_, i) => this.kill(i)));
    if (!this.options.keepLogs && process.env.ORBIT_TEST_KEEP_LOGS !== '1') {
      fs.rmSync(this.logDir, { recursive: true, force: true });
    }
  }
}

function ensureDot(expr) {
  const t = expr.trim();
  return t.endsWith('.') ? t : `${t}.`;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Starts n joined nodes of fixtures/demo; resolves with the Cluster. */
async function startCluster(n, options = {}) {
  return new Cluster(n, options).start();
}

module.exports = { beamArgv, OTP_ROOT_NAME, Cluster, startCluster, compileFixture, erlCall, tlsCall, tlsFiles, shortHost, randomToken, sleep, REPO_ROOT, DEMO_DIR };
