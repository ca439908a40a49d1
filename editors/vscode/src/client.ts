// The thin client layer over `orbit lsp`: every request the extension makes goes through here, typed
// after the README, section `orbit lsp`. The transport is an interface so that this is testable without VS Code.
import {
  ClusterHealth,
  ProcessesResult,
  Sandbox,
  TraceStopResult,
  normalizeHealth,
  normalizeProcesses,
  normalizeSandboxes,
  normalizeTraceStop,
} from "./model";

export interface Transport {
  /** `quiet`: a background request whose success message the user should not see (see QuietGate). */
  sendRequest(method: string, params?: unknown, quiet?: boolean): Promise<unknown>;
}

/**
 * orbit lsp reports every command's outcome with `window/showMessage` (info on success). The Cluster
 * view's own background requests must not pop a notification each time: while one is in flight,
 * info messages go to the output channel only. Warnings and errors are always shown.
 */
export class QuietGate {
  private inFlight = 0;

  async run<T>(f: () => Promise<T>): Promise<T> {
    this.inFlight++;
    try {
      return await f();
    } finally {
      this.inFlight--;
    }
  }

  /** LSP MessageType: 1 error, 2 warning, 3 info, 4 log. */
  shouldShow(type: number): boolean {
    return type <= 2 || (this.inFlight === 0 && type === 3);
  }
}

export const COMMANDS = {
  reload: "orbit.reload",
  drift: "orbit.drift",
  sandboxCreate: "orbit.sandbox.create",
  sandboxList: "orbit.sandbox.list",
  sandboxMigrate: "orbit.sandbox.migrate",
  sandboxDestroy: "orbit.sandbox.destroy",
  sandboxBalance: "orbit.sandbox.balance",
  traceStart: "orbit.trace.start",
  traceStop: "orbit.trace.stop",
  status: "orbit.status",
  processes: "orbit.processes",
  profileStart: "orbit.profile.start",
  profileResult: "orbit.profile.result",
} as const;

export const CLUSTER_HEALTH_NOTIFICATION = "orbit/clusterHealth";
export const CLUSTER_STATUS_REQUEST = "orbit/clusterStatus";

export interface DriftEntry {
  module: string;
  kind: string;
  versions: Record<string, { state: string; md5?: string; on_disk?: unknown }>;
}
export interface DriftResult {
  nodes: string[];
  checked: number;
  modules: DriftEntry[];
  unanswered: [string, string][];
}

export class OrbitClient {
  constructor(private readonly transport: Transport) {}

  /** `workspace/executeCommand` with the one-object argument every Orbit command takes. */
  async execute(command: string, args: Record<string, unknown> = {}, quiet = false): Promise<unknown> {
    const clean: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(args)) if (v !== undefined) clean[k] = v;
    return this.transport.sendRequest("workspace/executeCommand", { command, arguments: [clean] }, quiet);
  }

  async clusterStatus(): Promise<ClusterHealth> {
    return normalizeHealth(await this.transport.sendRequest(CLUSTER_STATUS_REQUEST));
  }

  reload(file: string, nodes?: string[]): Promise<unknown> {
    return this.execute(COMMANDS.reload, { file, nodes });
  }

  async drift(args: { module?: string; prefix?: string; app?: string } = {}): Promise<DriftResult> {
    const r = (await this.execute(COMMANDS.drift, args)) as Partial<DriftResult> | null;
    return {
      nodes: r?.nodes ?? [],
      checked: r?.checked ?? 0,
      modules: r?.modules ?? [],
      unanswered: r?.unanswered ?? [],
    };
  }

  sandboxCreate(args: { module: string; name?: string; arg?: string; node?: string; strategy?: string }) {
    return this.execute(COMMANDS.sandboxCreate, args);
  }

  async sandboxList(quiet = false): Promise<Sandbox[]> {
    return normalizeSandboxes(await this.execute(COMMANDS.sandboxList, {}, quiet));
  }

  sandboxMigrate(name: string, to: string, handoff?: boolean) {
    return this.execute(COMMANDS.sandboxMigrate, { name, to, handoff });
  }

  sandboxDestroy(name: string) {
    return this.execute(COMMANDS.sandboxDestroy, { name });
  }

  sandboxBalance(args: { handoff?: boolean; dryRun?: boolean } = {}) {
    return this.execute(COMMANDS.sandboxBalance, args);
  }

  profileStart(module: string, durationMs?: number) {
    return this.execute(COMMANDS.profileStart, { module, durationMs });
  }

  profileResult() {
    return this.execute(COMMANDS.profileResult);
  }

  traceStart(pattern: string, limit?: number, nodes?: string[]) {
    return this.execute(COMMANDS.traceStart, { pattern, limit, nodes });
  }

  async traceStop(): Promise<TraceStopResult> {
    return normalizeTraceStop(await this.execute(COMMANDS.traceStop));
  }

  async status(): Promise<ClusterHealth> {
    return normalizeHealth(await this.execute(COMMANDS.status));
  }

  async processes(
    args: { module?: string; node?: string; limit?: number; sort?: string } = {},
    quiet = false,
  ): Promise<ProcessesResult> {
    return normalizeProcesses(await this.execute(COMMANDS.processes, args, quiet));
  }
}

/** The module a source file defines, from its text (first `defmodule` or `-module`). */
export function moduleOfSource(text: string): string | undefined {
  const ex = /^\s*defmodule\s+([A-Z][\w.]*)/m.exec(text);
  if (ex) return ex[1];
  const erl = /^-module\(\s*'?([a-z][\w@]*)'?\s*\)/m.exec(text);
  return erl ? erl[1] : undefined;
}

/** Elixir `def`/`defp` or Erlang function at or above `line` (0-based), as a trace pattern. */
export function functionAt(text: string, line: number): string | undefined {
  const mod = moduleOfSource(text);
  if (mod === undefined) return undefined;
  const lines = text.split(/\r?\n/);
  for (let i = Math.min(line, lines.length - 1); i >= 0; i--) {
    const ex = /^\s*defp?\s+([a-z_][\w?!]*)\s*(\(([^)]*)\))?/.exec(lines[i]);
    if (ex) {
      return `${mod}.${ex[1]}/${countArgs(ex[3] ?? "")}`;
    }
    const erl = /^([a-z][\w@]*)\((.*?)\)\s*(when\b.*)?->/.exec(lines[i]);
    if (erl && /^[a-z]/.test(mod)) {
      return `${mod}:${erl[1]}/${countArgs(erl[2])}`;
    }
  }
  return undefined;
}

/** Top-level comma-separated arguments, ignoring commas inside brackets and strings. */
export function countArgs(args: string): number {
  if (args.trim() === "") return 0;
  let depth = 0;
  let n = 1;
  let quote: string | undefined;
  for (const c of args) {
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) depth--;
    else if (c === "," && depth === 0) n++;
  }
  return n;
}
