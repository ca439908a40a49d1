// Shapes of what `orbit lsp` sends (the README, section `orbit lsp`), and tolerant normalisers: a field missing
// or of the wrong type becomes a neutral value instead of an exception in the UI.

export type Level = "ok" | "degraded" | "critical" | "disconnected" | "down" | string;

export interface NodeHealth {
  node: string;
  up: boolean;
  status: Level;
  reason: string | null;
  processes?: number;
  memory?: number;
  longestQueue?: { pid: string; len: number };
}

export interface Alert {
  node?: string;
  level: string;
  key?: string;
  message: string;
}

export interface ClusterHealth {
  connected: boolean;
  status: Level;
  message: string;
  nodes: NodeHealth[];
  alerts: Alert[];
  partition: { groups: string[][] } | null;
  updatedMs?: number;
}

export interface ProcessInfo {
  node: string;
  pid: string;
  registered_name?: string | null;
  memory?: number;
  reductions?: number;
  message_queue_len?: number;
  status?: string;
  current_function?: string;
  initial_call?: string;
}

export interface ProcessesResult {
  total: number;
  processes: ProcessInfo[];
  errors: Record<string, string>;
}

export interface Sandbox {
  id: string;
  node: string;
  status: string;
  children?: unknown[];
  memory?: number;
  restarts?: number;
  strategy?: string;
}

export interface TraceStopResult {
  id?: string;
  reason?: string;
  calls?: Record<string, number>;
  stopped?: boolean;
  /** A ready-made diagram, if a server version sends one. */
  mermaid?: string;
}

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {};
}
function str(v: unknown, dflt = ""): string {
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : dflt;
}
function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function normalizeHealth(raw: unknown): ClusterHealth {
  const o = obj(raw);
  const nodes: NodeHealth[] = arr(o.nodes).map((n) => {
    const no = obj(n);
    const lq = obj(no.longestQueue);
    const len = num(lq.len);
    const up = no.up === true;
    return {
      node: str(no.node, "?"),
      up,
      status: str(no.status, up ? "ok" : "down"),
      reason: typeof no.reason === "string" ? no.reason : null,
      processes: num(no.processes),
      memory: num(no.memory),
      longestQueue: len === undefined ? undefined : { pid: str(lq.pid), len },
    };
  });
  const alerts: Alert[] = arr(o.alerts).map((a) => {
    const ao = obj(a);
    return {
      node: typeof ao.node === "string" ? ao.node : undefined,
      level: str(ao.level, "warning"),
      key: typeof ao.key === "string" ? ao.key : undefined,
      message: str(ao.message),
    };
  });
  const p = obj(o.partition);
  const groups = arr(p.groups).map((g) => arr(g).map((x) => str(x)));
  return {
    connected: o.connected === true,
    status: str(o.status, o.connected === true ? "ok" : "disconnected"),
    message: str(o.message),
    nodes,
    alerts,
    partition: groups.length > 0 ? { groups } : null,
    updatedMs: num(o.updatedMs),
  };
}

export function normalizeProcesses(raw: unknown): ProcessesResult {
  const o = obj(raw);
  const processes = arr(o.processes).map((p) => {
    const po = obj(p);
    return {
      node: str(po.node, "?"),
      pid: str(po.pid, "?"),
      registered_name: typeof po.registered_name === "string" ? po.registered_name : null,
      memory: num(po.memory),
      reductions: num(po.reductions),
      message_queue_len: num(po.message_queue_len),
      status: typeof po.status === "string" ? po.status : undefined,
      current_function: typeof po.current_function === "string" ? po.current_function : undefined,
      initial_call: typeof po.initial_call === "string" ? po.initial_call : undefined,
    };
  });
  const errors: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(o.errors))) errors[k] = str(v);
  return { total: num(o.total) ?? processes.length, processes, errors };
}

export function normalizeSandboxes(raw: unknown): Sandbox[] {
  return arr(raw).map((s) => {
    const so = obj(s);
    return {
      id: str(so.id, "?"),
      node: str(so.node, "?"),
      status: str(so.status, "unknown"),
      children: Array.isArray(so.children) ? so.children : undefined,
      memory: num(so.memory),
      restarts: num(so.restarts),
      strategy: typeof so.strategy === "string" ? so.strategy : undefined,
    };
  });
}

export function normalizeTraceStop(raw: unknown): TraceStopResult {
  const o = obj(raw);
  const calls: Record<string, number> = {};
  for (const [k, v] of Object.entries(obj(o.calls))) {
    const n = num(v);
    if (n !== undefined) calls[k] = n;
  }
  return {
    id: typeof o.id === "string" ? o.id : undefined,
    reason: typeof o.reason === "string" ? o.reason : undefined,
    calls,
    stopped: typeof o.stopped === "boolean" ? o.stopped : undefined,
    mermaid: typeof o.mermaid === "string" ? o.mermaid : undefined,
  };
}

/** Nodes that are up, for quick picks (all nodes when none is marked up). */
export function upNodes(h: ClusterHealth): string[] {
  return h.nodes.filter((n) => n.up).map((n) => n.node);
}

export function formatBytes(n: number | undefined): string {
  if (n === undefined) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function formatCount(n: number | undefined): string {
  return n === undefined ? "?" : n.toLocaleString("en-US");
}
