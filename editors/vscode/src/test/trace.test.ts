import assert from "node:assert/strict";
import { test } from "node:test";
import { escapeHtml, makeNonce, mermaidText, splitMfa, traceHtml, traceToMermaid } from "../trace";

test("Mermaid syntax characters are written as entity codes", () => {
  assert.equal(mermaidText("a;b#c:d<e>"), "a#59;b#35;c#58;d#60;e#62;");
  assert.equal(mermaidText("x\ny"), "x y");
});

test("splitMfa handles Elixir and Erlang forms", () => {
  assert.deepEqual(splitMfa("Bank.Account.deposit/2"), { module: "Bank.Account", fun: "deposit/2" });
  assert.deepEqual(splitMfa("bank_ledger:append/3"), { module: "bank_ledger", fun: "append/3" });
});

test("a stopped trace becomes a sequence diagram with call counts", () => {
  const d = traceToMermaid("Bank.Account.deposit/_", {
    id: "trace-1",
    reason: "limit reached: 100 events",
    calls: { "Bank.Account.deposit/2": 60, "Bank.Account.deposit/3": 40, "bank_ledger:append/3": 7 },
  });
  const lines = d.split("\n");
  assert.equal(lines[0], "sequenceDiagram");
  assert.ok(lines.includes("  participant P0 as Bank.Account"));
  assert.ok(lines.includes("  participant P1 as bank_ledger"));
  assert.ok(lines.includes("  C->>P0: deposit/2 × 60"));
  assert.ok(lines.includes("  C->>P1: append/3 × 7"));
  assert.match(d, /limit reached#58; 100 events/);
});

test("no calls: a note; a server-made diagram is used as is", () => {
  assert.match(traceToMermaid("M.f/1", { calls: {} }), /no calls of M.f\/1 were seen/);
  const own = "sequenceDiagram\n  a->>b: hi";
  assert.equal(traceToMermaid("x", { mermaid: own }), own);
});

test("the webview page is locked down: no network, scripts by nonce only, diagram escaped", () => {
  const nonce = makeNonce(() => 0.5);
  assert.equal(nonce.length, 32);
  const html = traceHtml({
    title: "Trace <x>",
    diagram: "sequenceDiagram\n  A->>B: </pre><script>alert(1)</script>",
    mermaidUri: "vscode-webview://abc/media/mermaid.min.js",
    cspSource: "vscode-webview://abc",
    nonce,
  });
  const csp = /Content-Security-Policy" content="([^"]+)"/.exec(html)![1];
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, new RegExp(`script-src 'nonce-${nonce}'`));
  assert.doesNotMatch(csp, /https?:|unsafe-eval|\*/);
  assert.doesNotMatch(html, /https?:\/\//);
  assert.doesNotMatch(html, /<script>alert/);
  assert.equal((html.match(/<script /g) ?? []).length, 2);
  assert.equal((html.match(new RegExp(`<script nonce="${nonce}"`, "g")) ?? []).length, 2);
  assert.match(html, /securityLevel: "strict"/);
  assert.equal(escapeHtml(`<a href="x">&'`), "&#60;a href=&#34;x&#34;&#62;&#38;&#39;");
});
