// Trace results as a Mermaid sequence diagram, and the locked-down webview page that draws it.
import { TraceStopResult } from "./model";

/** Mermaid reads `;`, `#`, `<`, `>`, `:` and quotes as syntax; write them as entity codes. */
export function mermaidText(s: string): string {
  return s.replace(/[#;:<>"'{}\n\r]/g, (c) => (c === "\n" || c === "\r" ? " " : `#${c.charCodeAt(0)};`));
}

function participantId(i: number): string {
  return `P${i}`;
}

/** Splits `Mod.fun/2` or `mod:fun/2` into module and function. */
export function splitMfa(mfa: string): { module: string; fun: string } {
  const colon = mfa.lastIndexOf(":");
  if (colon > 0) return { module: mfa.slice(0, colon), fun: mfa.slice(colon + 1) };
  const slash = mfa.lastIndexOf("/");
  const head = slash >= 0 ? mfa.slice(0, slash) : mfa;
  const dot = head.lastIndexOf(".");
  if (dot > 0) return { module: mfa.slice(0, dot), fun: mfa.slice(dot + 1) };
  return { module: mfa, fun: mfa };
}

/**
 * The diagram for a stopped trace: the server's own when it sends one, else one arrow per traced
 * function from the caller to its module, labelled with the call count.
 */
export function traceToMermaid(pattern: string, r: TraceStopResult): string {
  if (r.mermaid && r.mermaid.trim().startsWith("sequenceDiagram")) return r.mermaid;
  const lines = ["sequenceDiagram", `  participant C as callers`];
  const calls = Object.entries(r.calls ?? {}).sort((a, b) => b[1] - a[1]);
  const modules = new Map<string, string>();
  for (const [mfa] of calls) {
    const { module } = splitMfa(mfa);
    if (!modules.has(module)) {
      const id = participantId(modules.size);
      modules.set(module, id);
      lines.push(`  participant ${id} as ${mermaidText(module)}`);
    }
  }
  if (calls.length === 0) {
    lines.push(`  Note over C: no calls of ${mermaidText(pattern)} were seen`);
  }
  for (const [mfa, n] of calls) {
    const { module, fun } = splitMfa(mfa);
    lines.push(`  C->>${modules.get(module)}: ${mermaidText(fun)} × ${n}`);
  }
  const why = r.reason ? `stopped: ${r.reason}` : "stopped";
  lines.push(`  Note over C: ${mermaidText(`${pattern} — ${why}`)}`);
  return lines.join("\n");
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface TraceHtmlInput {
  title: string;
  diagram: string;
  /** Webview URI of the bundled mermaid.min.js. */
  mermaidUri: string;
  /** `webview.cspSource`. */
  cspSource: string;
  nonce: string;
}

/** The page: no network, scripts only by nonce from the extension, the diagram as text. */
export function traceHtml(i: TraceHtmlInput): string {
  const csp = [
    "default-src 'none'",
    `img-src ${i.cspSource} data:`,
    `style-src ${i.cspSource} 'unsafe-inline'`,
    `font-src ${i.cspSource}`,
    `script-src 'nonce-${i.nonce}'`,
  ].join("; ");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(i.title)}</title>
</head>
<body>
<h3>${escapeHtml(i.title)}</h3>
<pre class="mermaid">${escapeHtml(i.diagram)}</pre>
<details><summary>Mermaid source</summary><pre>${escapeHtml(i.diagram)}</pre></details>
<script nonce="${i.nonce}" src="${escapeHtml(i.mermaidUri)}"></script>
<script nonce="${i.nonce}">
  const dark = document.body.classList.contains("vscode-dark") || document.body.classList.contains("vscode-high-contrast");
  mermaid.initialize({ startOnLoad: true, securityLevel: "strict", theme: dark ? "dark" : "default" });
</script>
</body>
</html>`;
}

export function makeNonce(random: () => number = Math.random): string {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let out = "";
  for (let i = 0; i < 32; i++) out += chars.charAt(Math.floor(random() * chars.length));
  return out;
}
