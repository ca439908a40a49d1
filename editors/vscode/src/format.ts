// Text renderings of command results (for the Orbit output channel) and quick pick items.
import { DriftResult } from "./client";
import { ClusterHealth, ProcessesResult, Sandbox, formatBytes, formatCount } from "./model";

export interface PickItem {
  label: string;
  description?: string;
  detail?: string;
  value: string;
}

export function nodePicks(h: ClusterHealth): PickItem[] {
  return h.nodes.map((n) => ({
    label: n.node,
    description: n.up ? n.status : "down",
    detail: n.processes !== undefined ? `${formatCount(n.processes)} processes · ${formatBytes(n.memory)}` : undefined,
    value: n.node,
  }));
}

export function sandboxPicks(list: Sandbox[]): PickItem[] {
  return list.map((s) => ({ label: s.id, description: `${s.status} on ${s.node}`, value: s.id }));
}

export function statusReport(h: ClusterHealth): string {
  const up = h.nodes.filter((n) => n.up).length;
  const lines = [`Cluster: ${h.status} — ${h.message || `${up} of ${h.nodes.length} nodes up`}`];
  for (const n of h.nodes) {
    const q = n.longestQueue ? `, longest queue ${formatCount(n.longestQueue.len)} (${n.longestQueue.pid})` : "";
    lines.push(
      `  ${n.node}  ${n.up ? n.status : "DOWN"}${n.reason ? ` (${n.reason})` : ""}  ` +
        `${formatCount(n.processes)} processes, ${formatBytes(n.memory)}${q}`,
    );
  }
  if (h.partition) lines.push(`  PARTITION: ${h.partition.groups.map((g) => `[${g.join(", ")}]`).join(" ")}`);
  for (const a of h.alerts) lines.push(`  ! ${a.level} ${a.node ?? ""} ${a.message}`.replace(/\s+/g, " "));
  return lines.join("\n");
}

export function processesReport(r: ProcessesResult): string {
  const lines = [`${formatCount(r.total)} processes (showing ${r.processes.length})`];
  for (const p of r.processes) {
    const name = p.registered_name ? ` ${p.registered_name}` : "";
    lines.push(
      `  ${p.node} ${p.pid}${name}  mem ${formatBytes(p.memory)}  queue ${formatCount(p.message_queue_len)}  ` +
        `reds ${formatCount(p.reductions)}  ${p.current_function ?? ""}`.trimEnd(),
    );
  }
  for (const [node, why] of Object.entries(r.errors)) lines.push(`  ! ${node}: ${why}`);
  return lines.join("\n");
}

export function driftReport(d: DriftResult): string {
  if (d.modules.length === 0) {
    return `No drift: ${d.checked} modules agree on ${d.nodes.length} nodes.`;
  }
  const lines = [`${d.modules.length} of ${d.checked} modules drift across ${d.nodes.length} nodes:`];
  for (const m of d.modules) {
    const versions = Object.entries(m.versions)
      .map(([node, v]) => `${node}=${v.state === "loaded" ? (v.md5 ?? "?").slice(0, 8) : "not loaded"}`)
      .join(", ");
    lines.push(`  ${m.module} (${m.kind}): ${versions}`);
  }
  for (const [node, why] of d.unanswered) lines.push(`  ! ${node} did not answer: ${why}`);
  return lines.join("\n");
}

/** The first line of a reload report, for a notification. */
export function reloadSummary(r: unknown): string {
  const o = (r ?? {}) as { outcome?: string; modules?: { module?: string }[]; nodes?: unknown[]; consistent?: boolean };
  const mods = (o.modules ?? []).map((m) => m.module).filter(Boolean).join(", ") || "module";
  const n = Array.isArray(o.nodes) ? o.nodes.length : 0;
  return `Reload of ${mods}: ${o.outcome ?? "done"} on ${n} node(s)${o.consistent === false ? " — NOT consistent" : ""}`;
}
