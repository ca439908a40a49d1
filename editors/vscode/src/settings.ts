// The settings object passed to `orbit lsp` (initializationOptions and workspace/configuration,
// section `orbit`), built from the user's `orbit.*` settings. Keys follow the README, section `orbit lsp`; keys
// that are unset or empty are left out so the server's own defaults (and .orbit.toml) apply.

export interface Thresholds {
  mailboxWarning?: number;
  mailboxCritical?: number;
  memoryWarning?: number;
}

export interface ServerSettings {
  nodes?: string[];
  cookie?: string;
  cookieFile?: string;
  autoReloadOnSave?: boolean;
  refreshIntervalMs?: number;
  mailboxWarning?: number;
  mailboxCritical?: number;
  memoryWarning?: number;
  traceLimit?: number;
  readOnly?: boolean;
  sslDistOptfile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsVerify?: string;
  tlsServerName?: string;
}

/** The TLS distribution keys: the same in `orbit.*`, the server's settings and attach configurations. */
export const TLS_KEYS = ["sslDistOptfile", "tlsCert", "tlsKey", "tlsCa", "tlsVerify", "tlsServerName"] as const;

/** Reads one setting under `orbit.` (e.g. `get("cookieFile")`). */
export type SettingGetter = (key: string) => unknown;

function posInt(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.floor(v) : undefined;
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === "string" && v.trim() !== "" ? v.trim() : undefined;
}

export function buildServerSettings(get: SettingGetter): ServerSettings {
  const out: ServerSettings = {};
  const nodes = get("nodes");
  if (Array.isArray(nodes)) {
    const list = nodes.filter((n): n is string => typeof n === "string" && n.trim() !== "").map((n) => n.trim());
    if (list.length > 0) out.nodes = list;
  }
  const cookie = nonEmpty(get("cookie"));
  if (cookie !== undefined) out.cookie = cookie;
  const cookieFile = nonEmpty(get("cookieFile"));
  if (cookieFile !== undefined) out.cookieFile = cookieFile;
  const autoReload = get("autoReloadOnSave");
  if (typeof autoReload === "boolean") out.autoReloadOnSave = autoReload;
  const refresh = posInt(get("refreshIntervalMs"));
  if (refresh !== undefined) out.refreshIntervalMs = refresh;
  const thresholds = get("thresholds");
  if (thresholds !== null && typeof thresholds === "object") {
    const t = thresholds as Record<string, unknown>;
    for (const key of ["mailboxWarning", "mailboxCritical", "memoryWarning"] as const) {
      const v = posInt(t[key]);
      if (v !== undefined) out[key] = v;
    }
  }
  const traceLimit = posInt(get("traceLimit"));
  if (traceLimit !== undefined) out.traceLimit = traceLimit;
  const readOnly = get("readOnly");
  if (typeof readOnly === "boolean") out.readOnly = readOnly;
  for (const key of TLS_KEYS) {
    const v = nonEmpty(get(key));
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** The `orbit.*` keys whose change means the server must be told (or, for `path`, restarted). */
export const SERVER_KEYS = [
  "nodes",
  "cookie",
  "cookieFile",
  "autoReloadOnSave",
  "refreshIntervalMs",
  "thresholds",
  "traceLimit",
  "readOnly",
  ...TLS_KEYS,
];
