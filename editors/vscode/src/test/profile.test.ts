// The profile page: the server's SVG inline, the table escaped, no script anywhere.
import assert from "node:assert/strict";
import { test } from "node:test";
import { inlineSvg, lensCommand, profileHtml } from "../profile";

const svg = `<?xml version="1.0" standalone="no"?>\n<svg version="1.1" width="1200"><g><title>Bank.Fees.fee_for/1 (7 samples, 70.00%)</title></g></svg>\n`;

test("the flame graph goes in inline, the table escaped, and the page runs no script", () => {
  const html = profileHtml({ title: "Bank.Fees <3 nodes>", svg, table: "FUNCTION  CALLS\nBank.Fees.fee_for/1  <41,200>\n", cspSource: "vscode-resource:" });
  assert.ok(html.includes('<svg version="1.1" width="1200">'));
  assert.ok(!html.includes("<?xml"));
  assert.ok(html.includes("Bank.Fees &lt;3 nodes&gt;"));
  assert.ok(html.includes("Bank.Fees.fee_for/1  &lt;41,200&gt;"));
  assert.ok(html.includes("default-src 'none'"));
  assert.ok(!/script-src/.test(html));
});

test("an SVG with a script, or no SVG, is not drawn", () => {
  assert.equal(inlineSvg("<svg><script>alert(1)</script></svg>"), undefined);
  assert.equal(inlineSvg("not svg"), undefined);
  assert.ok(profileHtml({ title: "t", table: "", cspSource: "x" }).includes("No flame graph"));
});

test("a profile lens opens the profile's page (the extension's command); other lenses keep the server's", () => {
  const lens = { title: "4.1% of cluster time", command: "orbit.profile.result", arguments: [{}] };
  assert.deepEqual(lensCommand(lens), { title: "4.1% of cluster time", command: "orbit.showProfile", arguments: [] });
  const other = { title: "orbit: 3 nodes", command: "orbit.showDrift", arguments: [{ module: "Bank.Fees" }] };
  assert.deepEqual(lensCommand(other), other);
});
