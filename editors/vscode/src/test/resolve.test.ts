import assert from "node:assert/strict";
import { test } from "node:test";
import * as path from "path";
import { OrbitNotFoundError, ResolveInput, expandPath, resolveOrbit } from "../resolve";

function input(executables: string[], over: Partial<ResolveInput> = {}): ResolveInput {
  const set = new Set(executables);
  return {
    configured: "",
    extensionPath: "/ext",
    pathEnv: "/usr/local/bin:/usr/bin",
    platform: "linux",
    homeDir: "/home/me",
    isExecutable: (f) => set.has(f),
    ...over,
  };
}

test("orbit.path wins over the bundled binary and PATH", () => {
  const r = resolveOrbit(input(["/opt/orbit", "/ext/bin/orbit", "/usr/bin/orbit"], { configured: "/opt/orbit" }));
  assert.deepEqual(r, { command: "/opt/orbit", source: "setting" });
});

test("orbit.path expands ~ and ${workspaceFolder}", () => {
  assert.equal(resolveOrbit(input(["/home/me/bin/orbit"], { configured: "~/bin/orbit" })).command, "/home/me/bin/orbit");
  const r = resolveOrbit(input(["/ws/target/debug/orbit"], { configured: "${workspaceFolder}/target/debug/orbit", workspaceFolder: "/ws" }));
  assert.equal(r.command, "/ws/target/debug/orbit");
  assert.equal(expandPath("  ~  ", "/h"), "/h");
});

test("a configured orbit.path that is not executable is an error, not a silent fallback", () => {
  assert.throws(() => resolveOrbit(input(["/usr/bin/orbit"], { configured: "/nope/orbit" })), OrbitNotFoundError);
});

test("the bundled bin/orbit comes before PATH", () => {
  const r = resolveOrbit(input([path.join("/ext", "bin", "orbit"), "/usr/bin/orbit"]));
  assert.deepEqual(r, { command: "/ext/bin/orbit", source: "bundled" });
});

test("PATH is searched in order, skipping empty entries", () => {
  const r = resolveOrbit(input(["/usr/bin/orbit", "/b/orbit"], { pathEnv: "::/usr/local/bin:/usr/bin:/b" }));
  assert.deepEqual(r, { command: "/usr/bin/orbit", source: "path" });
});

test("nothing found: a clear error", () => {
  assert.throws(() => resolveOrbit(input([], { pathEnv: undefined })), /cannot find the orbit executable/);
});

test("Windows: orbit.exe and ; separated PATH", () => {
  const exe = path.join("C:\\tools", "orbit.exe");
  const r = resolveOrbit(input([exe], { platform: "win32", pathEnv: "C:\\x;C:\\tools" }));
  assert.deepEqual(r, { command: exe, source: "path" });
});
