// Driving a VS Code workbench (code-server in Chromium, through playwright-core) by what it shows: the
// DOM's lists, rows and labels, never pixels; and reading the extension host's output channel logs.
import fs from "node:fs";
import path from "node:path";
import { execFile } from "node:child_process";

/**
 * Polls `probe` every 200 ms until it returns a truthy value; throws naming `what` after `ms`, with
 * `seen()` (what there was instead) when given.
 */
export async function eventually(probe, ms, what, seen) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      let saw = last instanceof Error ? last.message : JSON.stringify(last);
      if (seen) saw = await Promise.resolve().then(seen).then((s) => (typeof s === "string" ? s : JSON.stringify(s, null, 1)), (e) => String(e));
      throw new Error(`${what}: not within ${ms / 1000} s; saw: ${saw}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Text of every row of the lists inside `selector` (aria-label, else textContent). */
export async function rows(page, selector) {
  return page
    .locator(`${selector} .monaco-list-row`)
    .evaluateAll((els) => els.map((e) => e.getAttribute("aria-label") || e.textContent || ""));
}

/** Runs a command from the palette by its exact title. */
export async function command(page, title) {
  await page.keyboard.press("Escape");
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: 10000 });
  await input.fill(`>${title}`);
  const row = page.locator(".quick-input-widget .monaco-list-row", { hasText: title }).first();
  await row.waitFor({ timeout: 10000 });
  await page.keyboard.press("Enter");
}

/** Opens a workspace file through Quick Open; resolves with its editor. */
export async function openFile(page, relative) {
  await page.keyboard.press("Escape");
  await page.keyboard.press("Control+P");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: 10000 });
  await input.fill(relative);
  await page.locator(".quick-input-widget .monaco-list-row", { hasText: path.basename(relative) }).first().waitFor({ timeout: 10000 });
  await page.keyboard.press("Enter");
  const editor = page.locator(`.monaco-editor[data-uri$="/${relative}"]`);
  await editor.waitFor({ timeout: 15000 });
  return editor;
}

/** Moves the cursor of the focused editor to `line` (1-based) with Go to Line. */
export async function goToLine(page, line) {
  await page.keyboard.press("Control+G");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: 10000 });
  await input.fill(`:${line}`);
  await page.keyboard.press("Enter");
  await eventually(
    async () => (await page.locator("#status\\.editor\\.selection").textContent())?.includes(`Ln ${line},`),
    10000,
    `cursor on line ${line}`,
  );
}

/** Clicks the glyph margin (the gutter left of the line numbers) of `line` in `editor`. */
export async function clickGutter(page, editor, line) {
  const number = editor.locator(".margin-view-overlays .line-numbers", { hasText: new RegExp(`^${line}$`) });
  // Where the line is once nothing moves it any more (code lenses arriving push lines down).
  let n = null;
  await eventually(async () => {
    const before = await number.boundingBox({ timeout: 1000 });
    await page.waitForTimeout(400);
    n = await number.boundingBox({ timeout: 1000 });
    return before && n && before.y === n.y;
  }, 10000, `line ${line} settled on screen`);
  const glyphs = await editor.locator(".glyph-margin").boundingBox();
  if (!n || !glyphs) throw new Error(`line ${line} is not on screen`);
  const x = glyphs.x + glyphs.width / 2;
  const y = n.y + n.height / 2;
  await page.mouse.move(x, y);
  await page.waitForTimeout(200);
  await page.mouse.click(x, y);
}

/** The pane (a view of a side bar or panel) whose header reads `title`. */
export function pane(page, title) {
  return page.locator(".pane", { has: page.locator(".pane-header", { hasText: new RegExp(`^${title}`, "i") }) });
}

/** Expands (true) or collapses (false) the pane titled `title`. */
export async function expandPane(page, title, expanded) {
  const header = page.locator(".pane-header", { hasText: new RegExp(`^${title}`, "i") }).first();
  if (((await header.getAttribute("aria-expanded")) === "true") !== expanded) await header.click();
  await eventually(async () => ((await header.getAttribute("aria-expanded")) === "true") === expanded, 5000, `${title} ${expanded ? "expanded" : "collapsed"}`);
}

/** Widens the primary side bar to `width` pixels by dragging its sash. */
export async function sideBarWidth(page, width) {
  const bar = await page.locator(".part.sidebar").boundingBox();
  if (!bar) return;
  const x = bar.x + bar.width;
  const y = bar.y + bar.height / 2;
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x + (width - bar.width) / 2, y, { steps: 4 });
  await page.mouse.move(bar.x + width, y, { steps: 4 });
  await page.mouse.up();
}

/** Everything the extension host wrote to the output channel `channel` (its `N-<channel>.log` files). */
export function outputChannelLog(userDataDir, channel) {
  const logs = path.join(userDataDir, "logs");
  const found = [];
  const walk = (dir, depth) => {
    if (depth > 4 || !fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (new RegExp(`^\\d+-${channel}\\.log$`).test(e.name) && /output_logging_/.test(dir) && /exthost/.test(dir)) found.push(p);
    }
  };
  walk(logs, 0);
  return found.sort().map((f) => fs.readFileSync(f, "utf8")).join("\n");
}

/**
 * `erl_call` on a node of the cluster: evaluates Erlang `expr` there and resolves with the result as
 * erl_call prints it (the `{ok, …}` taken off). Errors name the node, never the cookie.
 */
export function erlCaller(cookie) {
  let seq = 0;
  return (node, expr, timeoutS = 10) =>
    new Promise((resolve, reject) => {
      const name = `vscode_e2e_${process.pid}_${++seq}`;
      const child = execFile(
        "erl_call",
        ["-sname", node, "-c", cookie, "-h", name, "-e", "-timeout", String(timeoutS)],
        { timeout: (timeoutS + 10) * 1000 },
        (err, stdout, stderr) => {
          if (err) {
            reject(new Error(`erl_call on ${node} failed (${err.code ?? err.signal}): ${String(stderr).trim() || String(stdout).trim()}`));
            return;
          }
          const out = String(stdout).trim();
          const m = /^\{ok,\s*([\s\S]*)\}$/.exec(out);
          if (!m) reject(new Error(`erl_call on ${node}: ${out}`));
          else resolve(m[1].trim());
        },
      );
      child.stdin.end(`${expr}\n`);
    });
}
