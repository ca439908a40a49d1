// A profile's flame graph and table, in a webview that runs no script: the SVG (drawn by the server, which
// escapes every name in it) inline, the table as text.

export interface ProfileResult {
  id?: string;
  what?: string;
  table?: string;
  flamegraph?: string | null;
  profile?: null;
}

/**
 * Code lenses whose server command shows something the editor must draw: the extension's own command for
 * it, run with no arguments. (A lens runs its command through `workspace/executeCommand` by default, and
 * the answer, e.g. the profile for its page, would be dropped.)
 */
export const LENS_COMMANDS: Readonly<Record<string, string>> = { "orbit.profile.result": "orbit.showProfile" };

/** A lens's command as the editor runs it. */
export function lensCommand<C extends { command: string; arguments?: unknown[] }>(c: C): C {
  const local = LENS_COMMANDS[c.command];
  return local ? { ...c, command: local, arguments: [] } : c;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

/** The SVG's own markup from `<svg` on (the XML declaration left out, scripts refused). */
export function inlineSvg(svg: string): string | undefined {
  const at = svg.indexOf("<svg");
  if (at < 0 || /<script/i.test(svg)) return undefined;
  return svg.slice(at);
}

/** The page: a strict CSP (no script at all), the flame graph scaled to the panel, then the table. */
export function profileHtml(args: { title: string; svg?: string; table: string; cspSource: string }): string {
  const graph = args.svg ? inlineSvg(args.svg) : undefined;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline' ${args.cspSource}; img-src ${args.cspSource} data:;">
<title>${escapeHtml(args.title)}</title>
<style>
  body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); }
  .graph svg { width: 100%; height: auto; }
  pre { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); overflow-x: auto; }
</style>
</head>
<body>
<h3>${escapeHtml(args.title)}</h3>
<div class="graph">${graph ?? "<p>No flame graph (no stack was sampled).</p>"}</div>
<pre>${escapeHtml(args.table)}</pre>
</body>
</html>`;
}
