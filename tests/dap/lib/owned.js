'use strict';
// Every OS process a test file starts (adapters, nodes, erl_call), owned from the moment it is spawned
// and stopped by its pid in every outcome, never by name.
//
// - `own(child, what)` records a ChildProcess right after `spawn()`, before anything can fail; it leaves
//   the registry when Node reaps it. Node only reaps its own children and clears `child.pid`'s handle
//   when it does, so `child.kill()` never reaches a recycled pid.
// - Whatever is still recorded is SIGKILLed when this process exits: normally, on an uncaught exception,
//   on SIGINT/SIGTERM/SIGHUP, and when node:test ends the file (`--test-force-exit`).
// - Processes are also started under `setpriv --pdeathsig KILL` by their spawners, so a test process that
//   is itself SIGKILLed does not leave them behind.
// - `stopProcess(child)` ends one process: SIGTERM, SIGKILL after a short grace, resolves once it is gone.
//
// `startTime(pid)` and `isRunning(pid, start)` read /proc to tell whether the very process recorded
// (pid and start time) still runs, e.g. for the harness self-test: a free pid, a zombie or a pid reused
// by another process all count as "not running".

const fs = require('node:fs');

/** pid -> { child, what } */
const owned = new Map();

function own(child, what) {
  if (!child || !child.pid) return child; // spawn failed: nothing runs
  const pid = child.pid;
  const entry = { child, what, start: startTime(pid) };
  owned.set(pid, entry);
  child.once('exit', () => {
    if (owned.get(pid) === entry) owned.delete(pid);
  });
  return child;
}

/** Owned processes still running: [{ pid, what, start }]. */
function ownedProcesses() {
  return [...owned.entries()].map(([pid, { what, start }]) => ({ pid, what, start }));
}

function hasExited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGKILLs every owned process at once (synchronous: usable in 'exit' and signal handlers). */
function killAllSync() {
  for (const { child } of owned.values()) {
    try {
      if (!hasExited(child)) child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

process.on('exit', killAllSync);
process.on('uncaughtExceptionMonitor', killAllSync);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    killAllSync();
    process.kill(process.pid, signal);
  });
}

/** Resolves when `child` has exited (at once if it has). */
function exited(child) {
  if (hasExited(child) || !child.pid) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', resolve);
    child.once('error', resolve);
  });
}

/**
 * Stops `child` by its pid: `signal` (SIGTERM), then SIGKILL when it is still there after `graceMs`.
 * Resolves once it has exited; rejects if even SIGKILL did not end it within 5 s (a process stuck in
 * the kernel), naming it.
 */
async function stopProcess(child, { signal = 'SIGTERM', graceMs = 1000, what } = {}) {
  if (!child || !child.pid || hasExited(child)) return;
  const gone = exited(child);
  try {
    child.kill(signal);
  } catch {
    // Already gone.
  }
  if (await settlesWithin(gone, graceMs)) return;
  try {
    child.kill('SIGKILL');
  } catch {
    // Already gone.
  }
  if (await settlesWithin(gone, 5000)) return;
  throw new Error(`${what || 'process'} (pid ${child.pid}) still runs 5 s after SIGKILL`);
}

async function settlesWithin(promise, ms) {
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** State and start time (clock ticks since boot) of `pid`, from /proc/<pid>/stat; null when there is none. */
function procStat(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], start: fields[19] };
  } catch {
    return null;
  }
}

/** The start time of `pid` (field 22 of /proc/<pid>/stat), or null. */
function startTime(pid) {
  const s = procStat(pid);
  return s ? s.start : null;
}

/**
 * True while the process recorded as (`pid`, `start` from startTime) runs: not when the pid is free,
 * a zombie, or now names another process.
 */
function isRunning(pid, start) {
  const now = procStat(pid);
  if (!now || now.state === 'Z' || now.state === 'X') return false;
  return !start || now.start === start;
}

module.exports = { own, ownedProcesses, killAllSync, stopProcess, exited, startTime, isRunning };
