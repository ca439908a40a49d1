// The status bar text for `orbit/clusterHealth`: nodes up/total and the worst alert.
import { Alert, ClusterHealth } from "./model";

const RANK: Record<string, number> = { info: 0, ok: 0, warning: 1, degraded: 2, critical: 3, down: 3, disconnected: 3 };

export function levelRank(level: string): number {
  return RANK[level] ?? 1;
}

export function worstAlert(alerts: Alert[]): Alert | undefined {
  let worst: Alert | undefined;
  for (const a of alerts) {
    if (worst === undefined || levelRank(a.level) > levelRank(worst.level)) worst = a;
  }
  return worst;
}

export type Severity = "ok" | "warning" | "error";

export interface HealthText {
  text: string;
  tooltip: string;
  severity: Severity;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

export function healthText(h: ClusterHealth | undefined): HealthText {
  if (h === undefined) {
    return { text: "$(circle-outline) Orbit", tooltip: "Orbit: waiting for the language server", severity: "ok" };
  }
  if (!h.connected || h.status === "disconnected") {
    return {
      text: "$(debug-disconnect) Orbit: disconnected",
      tooltip: `Orbit: ${h.message || "not connected to the cluster"}`,
      severity: "warning",
    };
  }
  const up = h.nodes.filter((n) => n.up).length;
  const total = h.nodes.length;
  const worst = worstAlert(h.alerts);
  let severity: Severity = "ok";
  if (h.status === "critical" || up < total || h.partition !== null) severity = "error";
  else if (h.status === "degraded" || (worst !== undefined && levelRank(worst.level) >= 1)) severity = "warning";
  const icon = severity === "ok" ? "$(pulse)" : severity === "warning" ? "$(warning)" : "$(error)";
  let text = `${icon} Orbit ${up}/${total}`;
  if (h.partition !== null) text += " · partition";
  else if (worst !== undefined) text += ` · ${worst.level}: ${truncate(worst.message, 40)}`;
  const lines = [`Orbit: ${h.message || `${up} of ${total} nodes up`} (${h.status})`];
  for (const n of h.nodes) lines.push(`${n.up ? "●" : "○"} ${n.node} — ${n.status}${n.reason ? ` (${n.reason})` : ""}`);
  if (h.partition !== null) lines.push(`Partition: ${h.partition.groups.map((g) => `[${g.join(", ")}]`).join(" ")}`);
  for (const a of h.alerts) lines.push(`! ${a.level}: ${a.message}`);
  return { text, tooltip: lines.join("\n"), severity };
}
