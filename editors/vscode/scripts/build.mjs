// Bundles the extension (with vscode-languageclient) into dist/extension.js and copies Mermaid's
// browser build into media/, so that the .vsix needs no node_modules and the webview no network.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));

await build({
  entryPoints: [join(root, "src/extension.ts")],
  bundle: true,
  outfile: join(root, "dist/extension.js"),
  external: ["vscode"],
  format: "cjs",
  platform: "node",
  target: "node18",
  sourcemap: false,
  minify: process.argv.includes("--minify"),
  logLevel: "warning",
});

const mermaidDir = dirname(require.resolve("mermaid/package.json"));
mkdirSync(join(root, "media"), { recursive: true });
copyFileSync(join(mermaidDir, "dist/mermaid.min.js"), join(root, "media/mermaid.min.js"));
console.log("built dist/extension.js and media/mermaid.min.js");
