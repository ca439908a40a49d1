// Where the `orbit` executable comes from: the `orbit.path` setting, then a binary bundled in the
// extension (`bin/orbit`), then `PATH`. Pure: the file system is passed in, so it can be tested.
import * as path from "path";

export type OrbitSource = "setting" | "bundled" | "path";

export interface ResolveInput {
  /** The `orbit.path` setting (may be empty, may start with `~`). */
  configured: string | undefined;
  /** The extension's install directory. */
  extensionPath: string;
  /** `process.env.PATH`. */
  pathEnv: string | undefined;
  platform: NodeJS.Platform;
  homeDir: string;
  /** The first workspace folder, for `${workspaceFolder}` in `orbit.path`. */
  workspaceFolder?: string;
  /** True if `file` exists and is executable. */
  isExecutable: (file: string) => boolean;
}

export interface Resolved {
  command: string;
  source: OrbitSource;
}

export class OrbitNotFoundError extends Error {}

function exeName(platform: NodeJS.Platform): string {
  return platform === "win32" ? "orbit.exe" : "orbit";
}

/** Expands a leading `~` and `${workspaceFolder}`/`${userHome}` in a configured path. */
export function expandPath(p: string, homeDir: string, workspaceFolder?: string): string {
  let out = p.trim();
  if (out === "~") out = homeDir;
  else if (out.startsWith("~/") || out.startsWith("~\\")) out = path.join(homeDir, out.slice(2));
  out = out.replace(/\$\{userHome\}/g, homeDir);
  if (workspaceFolder !== undefined) out = out.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  return out;
}

export function resolveOrbit(input: ResolveInput): Resolved {
  const configured = input.configured?.trim();
  if (configured) {
    const command = expandPath(configured, input.homeDir, input.workspaceFolder);
    if (!input.isExecutable(command)) {
      throw new OrbitNotFoundError(`orbit.path is set to ${command}, which is not an executable file`);
    }
    return { command, source: "setting" };
  }
  const bundled = path.join(input.extensionPath, "bin", exeName(input.platform));
  if (input.isExecutable(bundled)) return { command: bundled, source: "bundled" };
  const sep = input.platform === "win32" ? ";" : ":";
  for (const dir of (input.pathEnv ?? "").split(sep)) {
    if (!dir) continue;
    const candidate = path.join(dir, exeName(input.platform));
    if (input.isExecutable(candidate)) return { command: candidate, source: "path" };
  }
  throw new OrbitNotFoundError(
    "cannot find the orbit executable: set orbit.path, or put orbit on PATH (it is not bundled in this package)",
  );
}
