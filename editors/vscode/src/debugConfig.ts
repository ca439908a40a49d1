// Filling in debug configurations: F5 with no launch.json, and attach configurations that leave the
// node or cookie to the `orbit.*` settings.
import { ServerSettings, TLS_KEYS } from "./settings";

export type DebugConfig = Record<string, unknown> & { type?: string; request?: string; name?: string };

export const ATTACH_EXAMPLE: DebugConfig = {
  type: "orbit",
  request: "attach",
  name: "Orbit: attach to a node",
  node: "app@127.0.0.1",
  projectDir: "${workspaceFolder}",
};

export const LAUNCH_3_NODES: DebugConfig = {
  type: "orbit",
  request: "launch",
  name: "Orbit: launch a 3-node local cluster",
  projectDir: "${workspaceFolder}",
  nodes: 3,
  command: "mix run --no-halt",
};

/**
 * Returns the configuration to start, or an error message. An empty configuration (no launch.json)
 * attaches to the first `orbit.nodes` node when there is one, else launches a 3-node cluster of the
 * workspace. An attach without `node` takes the first `orbit.nodes` node; one without a cookie takes
 * `orbit.cookie` / `orbit.cookieFile`; one without TLS keys takes the `orbit.tls*` / `orbit.sslDistOptfile`
 * settings (the cluster the language server reaches over TLS is reached the same way).
 */
export function resolveDebugConfig(config: DebugConfig, settings: ServerSettings): DebugConfig | string {
  let c: DebugConfig = { ...config };
  if (!c.type && !c.request && !c.name) {
    c = settings.nodes?.length
      ? { ...ATTACH_EXAMPLE, name: `Orbit: attach to ${settings.nodes[0]}`, node: settings.nodes[0] }
      : { ...LAUNCH_3_NODES };
  }
  if (c.type === undefined) c.type = "orbit";
  if (c.request === "attach") {
    if (typeof c.node !== "string" || c.node === "") {
      const [first, ...rest] = settings.nodes ?? [];
      if (first === undefined) return "Orbit: an attach configuration needs \"node\" (or set orbit.nodes)";
      c.node = first;
      if (c.nodes === undefined && rest.length > 0) c.nodes = rest;
    }
    if (c.cookie === undefined && c.cookieFile === undefined) {
      if (settings.cookie !== undefined) c.cookie = settings.cookie;
      else if (settings.cookieFile !== undefined) c.cookieFile = settings.cookieFile;
    }
    if (TLS_KEYS.every((k) => c[k] === undefined)) {
      for (const k of TLS_KEYS) if (settings[k] !== undefined) c[k] = settings[k];
    }
    if (c.projectDir === undefined) c.projectDir = "${workspaceFolder}";
  } else if (c.request === "launch") {
    if (c.projectDir === undefined) c.projectDir = "${workspaceFolder}";
  } else {
    return `Orbit: unknown request ${JSON.stringify(c.request)} (use "attach" or "launch")`;
  }
  return c;
}
