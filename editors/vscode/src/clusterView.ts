// The Cluster view in the Run and Debug side bar.
import * as vscode from "vscode";
import { OrbitClient } from "./client";
import { ClusterHealth, ProcessInfo, Sandbox } from "./model";
import { TreeModel, buildClusterTree } from "./tree";

// Top processes and sandboxes are fetched with the server's commands, at most this often while health
// notifications arrive. The notification goes out when a status, a node, an alert or the partition
// changes, not when the figures (processes, memory, longest queue) move: those are asked for
// (`orbit/clusterStatus`, which shows no message) this often while the cluster is connected.
const MIN_FETCH_INTERVAL_MS = 10000;

function icon(m: TreeModel): vscode.ThemeIcon {
  switch (m.kind) {
    case "node":
      return m.status === "ok" || m.status === "healthy"
        ? new vscode.ThemeIcon("vm-active", new vscode.ThemeColor("testing.iconPassed"))
        : m.status === "down" || m.status === "critical"
          ? new vscode.ThemeIcon("vm-outline", new vscode.ThemeColor("testing.iconFailed"))
          : new vscode.ThemeIcon("vm", new vscode.ThemeColor("list.warningForeground"));
    case "process":
      return new vscode.ThemeIcon("symbol-event");
    case "sandbox":
      return new vscode.ThemeIcon("package");
    case "alert":
      return new vscode.ThemeIcon("warning");
    case "group":
      return new vscode.ThemeIcon("list-tree");
    case "message":
      return new vscode.ThemeIcon("info");
    default:
      return new vscode.ThemeIcon("dash");
  }
}

export class ClusterView implements vscode.TreeDataProvider<TreeModel> {
  private readonly changed = new vscode.EventEmitter<TreeModel | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private health: ClusterHealth | undefined;
  private processes: ProcessInfo[] = [];
  private sandboxes: Sandbox[] = [];
  private lastFetch = 0;

  constructor(private readonly client: () => OrbitClient | undefined) {}

  setHealth(h: ClusterHealth) {
    this.health = h;
    this.changed.fire(undefined);
    if (Date.now() - this.lastFetch > MIN_FETCH_INTERVAL_MS) void this.fetchDetails();
  }

  refresh() {
    void this.fetchDetails();
  }

  /** Keeps the health figures fresh while connected; dispose to stop. */
  poll(): { dispose(): void } {
    const timer = setInterval(() => void this.fetchFigures(), MIN_FETCH_INTERVAL_MS);
    timer.unref(); // never what keeps a process alive
    return { dispose: () => clearInterval(timer) };
  }

  private async fetchFigures() {
    const c = this.client();
    if (c === undefined || !this.health?.connected) return;
    const h = await c.clusterStatus().catch(() => undefined);
    // A notification that came in meanwhile is newer: keep it.
    if (h === undefined || !h.connected || (h.updatedMs ?? 0) < (this.health?.updatedMs ?? 0)) return;
    this.health = h;
    this.changed.fire(undefined);
  }

  private async fetchDetails() {
    const c = this.client();
    if (c === undefined || !this.health?.connected) return;
    this.lastFetch = Date.now();
    const [procs, sbs] = await Promise.allSettled([c.processes({ sort: "memory", limit: 25 }, true), c.sandboxList(true)]);
    if (procs.status === "fulfilled") this.processes = procs.value.processes;
    if (sbs.status === "fulfilled") this.sandboxes = sbs.value;
    this.changed.fire(undefined);
  }

  getTreeItem(m: TreeModel): vscode.TreeItem {
    const item = new vscode.TreeItem(
      m.label,
      m.children.length === 0
        ? vscode.TreeItemCollapsibleState.None
        : m.kind === "node"
          ? vscode.TreeItemCollapsibleState.Expanded
          : vscode.TreeItemCollapsibleState.Collapsed,
    );
    item.id = m.id;
    item.description = m.description;
    item.tooltip = m.tooltip;
    item.iconPath = icon(m);
    item.contextValue = `orbit.${m.kind}`;
    return item;
  }

  getChildren(m?: TreeModel): TreeModel[] {
    if (m) return m.children;
    return buildClusterTree({ health: this.health, processes: this.processes, sandboxes: this.sandboxes });
  }
}
