// The Cluster view's model: nodes → health figures, top processes, sandboxes. Pure data; the
// TreeDataProvider in clusterView.ts turns it into vscode.TreeItems.
import { ClusterHealth, ProcessInfo, Sandbox, formatBytes, formatCount } from "./model";

export type TreeKind = "node" | "figure" | "group" | "process" | "sandbox" | "alert" | "message";

export interface TreeModel {
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  kind: TreeKind;
  /** For icons: ok / degraded / critical / down. */
  status?: string;
  children: TreeModel[];
}

export interface ClusterSnapshot {
  health: ClusterHealth | undefined;
  /** Top processes, any nodes; grouped per node here. */
  processes: ProcessInfo[];
  sandboxes: Sandbox[];
}

const TOP_PER_NODE = 5;

function leaf(id: string, kind: TreeKind, label: string, description?: string, tooltip?: string): TreeModel {
  return { id, kind, label, description, tooltip, children: [] };
}

export function processLabel(p: ProcessInfo): string {
  return p.registered_name ? `${p.registered_name} ${p.pid}` : p.pid;
}

export function buildClusterTree(s: ClusterSnapshot): TreeModel[] {
  const h = s.health;
  if (h === undefined) return [leaf("msg:waiting", "message", "Waiting for orbit lsp…")];
  if (!h.connected) return [leaf("msg:disconnected", "message", h.message || "Not connected to the cluster")];
  const out: TreeModel[] = [];
  const nodeNames = new Set(h.nodes.map((n) => n.node));
  for (const n of h.nodes) {
    const id = `node:${n.node}`;
    const children: TreeModel[] = [
      leaf(`${id}:status`, "figure", "status", n.reason ? `${n.status} (${n.reason})` : n.status),
    ];
    if (n.processes !== undefined) children.push(leaf(`${id}:processes`, "figure", "processes", formatCount(n.processes)));
    if (n.memory !== undefined) children.push(leaf(`${id}:memory`, "figure", "memory", formatBytes(n.memory)));
    if (n.longestQueue !== undefined) {
      children.push(
        leaf(`${id}:queue`, "figure", "longest queue", `${formatCount(n.longestQueue.len)} (${n.longestQueue.pid})`),
      );
    }
    for (const a of h.alerts.filter((x) => x.node === n.node)) {
      children.push(leaf(`${id}:alert:${a.key ?? a.message}`, "alert", a.level, a.message, a.message));
    }
    const procs = s.processes
      .filter((p) => p.node === n.node)
      .sort((a, b) => (b.memory ?? 0) - (a.memory ?? 0))
      .slice(0, TOP_PER_NODE);
    if (procs.length > 0) {
      children.push({
        id: `${id}:procs`,
        kind: "group",
        label: "top processes",
        description: `${procs.length}`,
        children: procs.map((p) =>
          leaf(
            `${id}:proc:${p.pid}`,
            "process",
            processLabel(p),
            `${formatBytes(p.memory)} · queue ${formatCount(p.message_queue_len)}`,
            [p.current_function, p.initial_call && `initial call ${p.initial_call}`].filter(Boolean).join("\n"),
          ),
        ),
      });
    }
    const sbs = s.sandboxes.filter((x) => x.node === n.node);
    if (sbs.length > 0) {
      children.push({
        id: `${id}:sandboxes`,
        kind: "group",
        label: "sandboxes",
        description: `${sbs.length}`,
        children: sbs.map((x) => leaf(`sandbox:${x.id}`, "sandbox", x.id, x.status)),
      });
    }
    out.push({
      id,
      kind: "node",
      label: n.node,
      description: n.up ? n.status : "down",
      status: n.up ? n.status : "down",
      tooltip: n.reason ?? undefined,
      children,
    });
  }
  const orphans = s.sandboxes.filter((x) => !nodeNames.has(x.node));
  if (orphans.length > 0) {
    out.push({
      id: "sandboxes:other",
      kind: "group",
      label: "sandboxes on other nodes",
      children: orphans.map((x) => leaf(`sandbox:${x.id}`, "sandbox", x.id, `${x.status} on ${x.node}`)),
    });
  }
  for (const a of h.alerts.filter((x) => x.node === undefined || !nodeNames.has(x.node))) {
    out.push(leaf(`alert:${a.key ?? a.message}`, "alert", a.level, a.message, a.message));
  }
  if (h.partition !== null) {
    out.push(
      leaf("partition", "alert", "partition", h.partition.groups.map((g) => `[${g.join(", ")}]`).join(" ")),
    );
  }
  return out;
}
