// VS Code glue: the debugger, the language client, commands, the status bar and the Cluster view.
import * as fs from "fs";
import * as os from "os";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  ShowMessageNotification,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";
import { CLUSTER_HEALTH_NOTIFICATION, OrbitClient, QuietGate, functionAt, moduleOfSource } from "./client";
import { lensCommand, profileHtml, ProfileResult } from "./profile";
import { ClusterView } from "./clusterView";
import { DebugConfig, resolveDebugConfig } from "./debugConfig";
import { PickItem, driftReport, nodePicks, processesReport, reloadSummary, sandboxPicks, statusReport } from "./format";
import { healthText } from "./health";
import { ClusterHealth, Sandbox, normalizeHealth } from "./model";
import { OrbitNotFoundError, resolveOrbit } from "./resolve";
import { SERVER_KEYS, ServerSettings, buildServerSettings } from "./settings";
import { makeNonce, traceHtml, traceToMermaid } from "./trace";

const LANGUAGES = ["elixir", "erlang"];

let client: LanguageClient | undefined;
let orbit: OrbitClient | undefined;
let lastHealth: ClusterHealth | undefined;
let currentTrace: string | undefined;

function settings(): ServerSettings {
  const cfg = vscode.workspace.getConfiguration("orbit");
  return buildServerSettings((key) => cfg.get(key));
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function orbitCommand(context: vscode.ExtensionContext): string {
  return resolveOrbit({
    configured: vscode.workspace.getConfiguration("orbit").get<string>("path"),
    extensionPath: context.extensionPath,
    pathEnv: process.env.PATH,
    platform: process.platform,
    homeDir: os.homedir(),
    workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    isExecutable,
  }).command;
}

class OrbitDebugAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  constructor(private readonly context: vscode.ExtensionContext) {}
  createDebugAdapterDescriptor(session: vscode.DebugSession): vscode.ProviderResult<vscode.DebugAdapterDescriptor> {
    if (typeof session.configuration.debugServer === "number") {
      return new vscode.DebugAdapterServer(session.configuration.debugServer);
    }
    return new vscode.DebugAdapterExecutable(orbitCommand(this.context), ["dap"]);
  }
}

class OrbitConfigurationProvider implements vscode.DebugConfigurationProvider {
  resolveDebugConfiguration(
    _folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): vscode.ProviderResult<vscode.DebugConfiguration> {
    const r = resolveDebugConfig(config as DebugConfig, settings());
    if (typeof r === "string") {
      void vscode.window.showErrorMessage(r);
      return undefined;
    }
    return r as vscode.DebugConfiguration;
  }
}

async function startClient(context: vscode.ExtensionContext, output: vscode.OutputChannel, onHealth: (h: ClusterHealth) => void) {
  if (!vscode.workspace.getConfiguration("orbit").get<boolean>("lsp.enabled", true)) return;
  let command: string;
  try {
    command = orbitCommand(context);
  } catch (e) {
    if (e instanceof OrbitNotFoundError) {
      void vscode.window.showWarningMessage(`Orbit: ${e.message}`);
      return;
    }
    throw e;
  }
  const serverOptions: ServerOptions = { command, args: ["lsp"], transport: TransportKind.stdio };
  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.map((language) => ({ scheme: "file", language })),
    initializationOptions: settings(),
    outputChannel: output,
    middleware: {
      // The profile lenses open the profile's page (the extension draws it), not a bare server command.
      provideCodeLenses: async (document, token, next) => {
        const lenses = await next(document, token);
        for (const lens of lenses ?? []) if (lens.command) lens.command = lensCommand(lens.command);
        return lenses;
      },
      workspace: {
        // The server asks for section `orbit`: answer with the flattened settings it understands.
        configuration: (params, token, next) => {
          if (params.items.every((i) => i.section === "orbit")) return params.items.map(() => settings());
          return next(params, token);
        },
      },
    },
  };
  client = new LanguageClient("orbit", "Orbit", serverOptions, clientOptions);
  client.onNotification(CLUSTER_HEALTH_NOTIFICATION, (raw: unknown) => onHealth(normalizeHealth(raw)));
  const c = client;
  const gate = new QuietGate();
  orbit = new OrbitClient({
    sendRequest: (method, params, quiet) =>
      quiet ? gate.run(() => c.sendRequest(method, params)) : c.sendRequest(method, params),
  });
  await client.start();
  // Replaces the client's default handler: background requests' success messages go to the output only.
  client.onNotification(ShowMessageNotification.type, (m) => {
    output.appendLine(`[orbit lsp] ${m.message}`);
    if (!gate.shouldShow(m.type)) return;
    if (m.type === 1) void vscode.window.showErrorMessage(m.message);
    else if (m.type === 2) void vscode.window.showWarningMessage(m.message);
    else if (m.type === 3) void vscode.window.showInformationMessage(m.message);
  });
}

function requireOrbit(): OrbitClient {
  if (orbit === undefined) throw new Error("the Orbit language server is not running (see the Orbit output)");
  return orbit;
}

async function pick(items: PickItem[], placeHolder: string): Promise<string | undefined> {
  const chosen = await vscode.window.showQuickPick(items, { placeHolder, ignoreFocusOut: true });
  return chosen?.value;
}

async function pickNodes(title: string, many: boolean): Promise<string[] | undefined> {
  const h = await requireOrbit().clusterStatus();
  const items = nodePicks(h);
  if (items.length === 0) throw new Error("no nodes known: is orbit.nodes set and the cluster up?");
  if (many) {
    const chosen = await vscode.window.showQuickPick(items, { placeHolder: title, canPickMany: true, ignoreFocusOut: true });
    return chosen && chosen.length > 0 ? chosen.map((c) => c.value) : undefined;
  }
  const one = await pick(items, title);
  return one === undefined ? undefined : [one];
}

async function pickSandbox(title: string): Promise<Sandbox | undefined> {
  const list = await requireOrbit().sandboxList();
  if (list.length === 0) {
    void vscode.window.showInformationMessage("Orbit: there are no sandboxes");
    return undefined;
  }
  const id = await pick(sandboxPicks(list), title);
  return list.find((s) => s.id === id);
}

async function sourceDocument(): Promise<vscode.TextDocument | undefined> {
  const active = vscode.window.activeTextEditor?.document;
  if (active && LANGUAGES.includes(active.languageId)) return active;
  const open = vscode.workspace.textDocuments.filter((d) => LANGUAGES.includes(d.languageId) && d.uri.scheme === "file");
  if (open.length === 0) {
    void vscode.window.showWarningMessage("Orbit: open an Elixir or Erlang file first");
    return undefined;
  }
  const chosen = await pick(
    open.map((d) => ({ label: moduleOfSource(d.getText()) ?? vscode.workspace.asRelativePath(d.uri), description: vscode.workspace.asRelativePath(d.uri), value: d.uri.toString() })),
    "Module to use",
  );
  return open.find((d) => d.uri.toString() === chosen);
}

function show(output: vscode.OutputChannel, title: string, text: string) {
  output.appendLine(`── ${title} (${new Date().toLocaleTimeString()})`);
  output.appendLine(text);
  output.show(true);
}

function showTraceDiagram(context: vscode.ExtensionContext, title: string, diagram: string) {
  const media = vscode.Uri.joinPath(context.extensionUri, "media");
  const panel = vscode.window.createWebviewPanel("orbit.trace", title, vscode.ViewColumn.Beside, {
    enableScripts: true,
    localResourceRoots: [media],
  });
  panel.webview.html = traceHtml({
    title,
    diagram,
    mermaidUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(media, "mermaid.min.js")).toString(),
    cspSource: panel.webview.cspSource,
    nonce: makeNonce(),
  });
}

async function showProfile(r: ProfileResult) {
  if (!r || r.profile === null || typeof r.table !== "string") {
    void vscode.window.showInformationMessage("Orbit: no profile yet (Orbit: Profile Module Across the Cluster)");
    return;
  }
  const title = `Orbit profile: ${r.what ?? ""}`;
  const panel = vscode.window.createWebviewPanel("orbit.profile", title, vscode.ViewColumn.Beside, { enableScripts: false });
  let svg: string | undefined;
  if (r.flamegraph) {
    try {
      svg = new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.file(r.flamegraph)));
    } catch {
      svg = undefined;
    }
  }
  panel.webview.html = profileHtml({ title, svg, table: r.table, cspSource: panel.webview.cspSource });
}

function guarded(output: vscode.OutputChannel, f: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await f();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      output.appendLine(`error: ${msg}`);
      void vscode.window.showErrorMessage(`Orbit: ${msg}`);
    }
  };
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("Orbit");
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  status.command = "orbit.showClusterStatus";
  const view = new ClusterView(() => orbit);
  context.subscriptions.push(
    output,
    status,
    vscode.window.registerTreeDataProvider("orbit.cluster", view),
    view.poll(),
    vscode.debug.registerDebugAdapterDescriptorFactory("orbit", new OrbitDebugAdapterFactory(context)),
    vscode.debug.registerDebugConfigurationProvider("orbit", new OrbitConfigurationProvider()),
  );
  const updateStatus = () => {
    const t = healthText(lastHealth);
    status.text = t.text;
    status.tooltip = t.tooltip;
    status.backgroundColor =
      t.severity === "error"
        ? new vscode.ThemeColor("statusBarItem.errorBackground")
        : t.severity === "warning"
          ? new vscode.ThemeColor("statusBarItem.warningBackground")
          : undefined;
    status.show();
  };
  updateStatus();
  const onHealth = (h: ClusterHealth) => {
    lastHealth = h;
    updateStatus();
    view.setHealth(h);
  };

  const reg = (id: string, f: () => Promise<void>) => context.subscriptions.push(vscode.commands.registerCommand(id, guarded(output, f)));

  const reload = async (onNodes: boolean) => {
    const doc = await sourceDocument();
    if (!doc) return;
    if (doc.isDirty) await doc.save();
    const nodes = onNodes ? await pickNodes("Reload on which nodes?", true) : undefined;
    if (onNodes && nodes === undefined) return;
    const r = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Orbit: reloading ${moduleOfSource(doc.getText()) ?? "module"}` },
      () => requireOrbit().reload(doc.uri.fsPath, nodes),
    );
    show(output, "reload", JSON.stringify(r, null, 2));
    void vscode.window.showInformationMessage(`Orbit: ${reloadSummary(r)}`);
  };
  reg("orbit.reloadModule", () => reload(false));
  reg("orbit.reloadModuleOnNode", () => reload(true));

  reg("orbit.showDrift", async () => {
    const doc = vscode.window.activeTextEditor?.document;
    const mod = doc && LANGUAGES.includes(doc.languageId) ? moduleOfSource(doc.getText()) : undefined;
    const items: PickItem[] = [{ label: "All modules", value: "" }];
    if (mod) items.unshift({ label: mod, description: "this file's module", value: mod });
    const scope = await pick(items, "Check drift of");
    if (scope === undefined) return;
    const d = await requireOrbit().drift(scope ? { module: scope } : {});
    show(output, "drift", driftReport(d));
  });

  reg("orbit.sandboxCreate", async () => {
    const doc = await sourceDocument();
    const module = doc && moduleOfSource(doc.getText());
    if (!module) throw new Error("no module found in this file");
    const h = await requireOrbit().clusterStatus();
    const node = await pick([{ label: "Any node", description: "let Orbit choose", value: "" }, ...nodePicks(h)], `Start ${module} on`);
    if (node === undefined) return;
    const strategy = await pick(
      ["one_for_one", "one_for_all", "rest_for_one"].map((s) => ({ label: s, value: s })),
      "Supervision strategy",
    );
    if (strategy === undefined) return;
    const name = await vscode.window.showInputBox({ prompt: "Sandbox name (empty: <module>-<n>)", ignoreFocusOut: true });
    if (name === undefined) return;
    const r = await requireOrbit().sandboxCreate({ module, node: node || undefined, strategy, name: name || undefined });
    show(output, "sandbox create", JSON.stringify(r, null, 2));
    view.refresh();
  });

  reg("orbit.sandboxMigrate", async () => {
    const sb = await pickSandbox("Sandbox to migrate");
    if (!sb) return;
    const h = await requireOrbit().clusterStatus();
    const to = await pick(nodePicks(h).filter((n) => n.value !== sb.node), `Move ${sb.id} from ${sb.node} to`);
    if (to === undefined) return;
    const handoff = await pick(
      [
        { label: "Hand off state", description: "move the processes' state and queued messages", value: "yes" },
        { label: "Restart fresh", value: "no" },
      ],
      "State",
    );
    if (handoff === undefined) return;
    const r = await requireOrbit().sandboxMigrate(sb.id, to, handoff === "yes");
    show(output, "sandbox migrate", JSON.stringify(r, null, 2));
    view.refresh();
  });

  reg("orbit.sandboxDestroy", async () => {
    const sb = await pickSandbox("Sandbox to destroy");
    if (!sb) return;
    const ok = await vscode.window.showWarningMessage(`Destroy sandbox ${sb.id} on ${sb.node}?`, { modal: true }, "Destroy");
    if (ok !== "Destroy") return;
    show(output, "sandbox destroy", JSON.stringify(await requireOrbit().sandboxDestroy(sb.id), null, 2));
    view.refresh();
  });

  reg("orbit.sandboxBalance", async () => {
    const mode = await pick(
      [
        { label: "Balance", description: "move sandboxes to even out the nodes", value: "run" },
        { label: "Dry run", description: "only show the moves", value: "dry" },
      ],
      "Balance sandboxes",
    );
    if (mode === undefined) return;
    show(output, "sandbox balance", JSON.stringify(await requireOrbit().sandboxBalance({ dryRun: mode === "dry" }), null, 2));
    view.refresh();
  });

  reg("orbit.profileModule", async () => {
    const doc = await sourceDocument();
    if (!doc) return;
    const mod = moduleOfSource(doc.getText());
    if (!mod) throw new Error("no module in this file");
    const secs = await vscode.window.showInputBox({ prompt: `Profile ${mod} on every node for (seconds)`, value: "10" });
    if (secs === undefined) return;
    const ms = Math.round(Number(secs) * 1000);
    if (!(ms > 0 && ms <= 120000)) throw new Error("a duration from 0 to 120 seconds");
    const r = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Orbit: profiling ${mod} for ${secs} s` },
      () => requireOrbit().profileStart(mod, ms),
    );
    await showProfile(r as ProfileResult);
  });

  reg("orbit.showProfile", async () => {
    await showProfile((await requireOrbit().profileResult()) as ProfileResult);
  });

  reg("orbit.traceCalls", async () => {
    const editor = vscode.window.activeTextEditor;
    const doc = await sourceDocument();
    if (!doc) return;
    const text = doc.getText();
    const here = editor?.document === doc ? functionAt(text, editor.selection.active.line) : undefined;
    const fns = new Set<string>();
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const f = functionAt(text, i);
      if (f) fns.add(f);
    }
    const mod = moduleOfSource(text);
    const items: PickItem[] = [...fns].map((f) => ({ label: f, description: f === here ? "at the cursor" : undefined, value: f }));
    items.sort((a, b) => (a.value === here ? -1 : b.value === here ? 1 : 0));
    if (mod) items.push({ label: mod, description: "every function of the module", value: mod });
    const pattern = await pick(items, "Trace calls of");
    if (pattern === undefined) return;
    const h = await requireOrbit().clusterStatus();
    const where = await pick([{ label: "All nodes", value: "" }, ...nodePicks(h)], "On");
    if (where === undefined) return;
    const limit = vscode.workspace.getConfiguration("orbit").get<number>("traceLimit");
    await requireOrbit().traceStart(pattern, limit, where ? [where] : undefined);
    currentTrace = pattern;
    const action = await vscode.window.showInformationMessage(`Orbit: tracing ${pattern}`, "Stop and show");
    if (action === "Stop and show") await vscode.commands.executeCommand("orbit.stopTrace");
  });

  reg("orbit.stopTrace", async () => {
    const r = await requireOrbit().traceStop();
    if (r.stopped === false) {
      void vscode.window.showInformationMessage("Orbit: no trace is running");
      return;
    }
    const pattern = currentTrace ?? r.id ?? "trace";
    currentTrace = undefined;
    show(output, "trace", JSON.stringify(r, null, 2));
    showTraceDiagram(context, `Trace: ${pattern}`, traceToMermaid(pattern, r));
  });

  reg("orbit.showClusterStatus", async () => {
    const h = await requireOrbit().clusterStatus();
    onHealth(h);
    show(output, "cluster status", statusReport(h));
  });

  reg("orbit.showProcesses", async () => {
    const h = await requireOrbit().clusterStatus();
    const node = await pick([{ label: "All nodes", value: "" }, ...nodePicks(h)], "Processes on");
    if (node === undefined) return;
    const sort = await pick(
      ["memory", "queue", "reductions"].map((s) => ({ label: `by ${s}`, value: s })),
      "Sort",
    );
    if (sort === undefined) return;
    const doc = vscode.window.activeTextEditor?.document;
    const mod = doc && LANGUAGES.includes(doc.languageId) ? moduleOfSource(doc.getText()) : undefined;
    let module: string | undefined;
    if (mod) {
      const only = await pick(
        [
          { label: "All processes", value: "" },
          { label: `Running ${mod}`, value: mod },
        ],
        "Which processes",
      );
      if (only === undefined) return;
      module = only || undefined;
    }
    const r = await requireOrbit().processes({ node: node || undefined, sort, module, limit: 50 });
    show(output, "processes", processesReport(r));
  });

  reg("orbit.refreshCluster", async () => {
    if (orbit) onHealth(await orbit.clusterStatus());
    view.refresh();
  });

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("orbit.path") || e.affectsConfiguration("orbit.lsp.enabled")) {
        void vscode.window
          .showInformationMessage("Orbit: restart the language server to use the new setting?", "Restart")
          .then(async (a) => {
            if (a !== "Restart") return;
            await client?.stop();
            client = undefined;
            orbit = undefined;
            await startClient(context, output, onHealth);
          });
      } else if (SERVER_KEYS.some((k) => e.affectsConfiguration(`orbit.${k}`))) {
        // Push the flattened settings (the raw `orbit` section has keys and empty strings the server
        // would misread, e.g. cookie "").
        void client?.sendNotification(DidChangeConfigurationNotification.type, { settings: { orbit: settings() } });
      }
    }),
  );

  try {
    await startClient(context, output, onHealth);
  } catch (e) {
    output.appendLine(`orbit lsp failed to start: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
