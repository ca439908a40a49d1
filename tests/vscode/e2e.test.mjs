// The Orbit extension in a real VS Code (code-server) on a real 3-node demo cluster, driven through
// Chromium: the language server connects, a drift diagnostic and its code action, a breakpoint from the
// gutter that stops processes on other nodes, the Call Stack, Variables and Watch views, continue,
// disconnect, and the Cluster view. Run by tests/vscode/run.sh, which starts code-server and the
// cluster and passes them in ORBIT_E2E_*; results are read from the DOM and from the output channel's
// log file, and a screenshot of each step is kept in ORBIT_E2E_ARTIFACTS.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import {
  clickGutter,
  command,
  erlCaller,
  eventually,
  expandPane,
  goToLine,
  openFile,
  outputChannelLog,
  pane,
  rows,
  sideBarWidth,
} from "./workbench.mjs";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run tests/vscode/run.sh)`);
  return v;
};
const URL = env("ORBIT_E2E_URL");
const DEMO = env("ORBIT_E2E_DEMO");
const USER_DATA = env("ORBIT_E2E_USER_DATA");
const NODES = env("ORBIT_E2E_NODES").split(",");
const ARTIFACTS = env("ORBIT_E2E_ARTIFACTS");
const STATE = env("ORBIT_E2E_STATE");
const erl = erlCaller(fs.readFileSync(env("ORBIT_E2E_COOKIE_FILE"), "utf8").trim());

const STEP = 120_000; // the bound of one step
const WAIT = 60_000; // the bound of one wait inside a step

let server;
let page;
// What later steps need: the workbench loaded; the language server connected; the session stopped.
const have = { workbench: false, lsp: false, stopped: false };

/** Orbit's output channel, as the extension host logged it. */
const orbitLog = () => outputChannelLog(USER_DATA, "Orbit");

async function shot(name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) }).catch(() => {});
}

/**
 * A step, skipped when what it `needs` (keys of `have`) is missing, so that a run without a language
 * server fails in seconds rather than waiting out every step; a screenshot of the page when it fails.
 */
function step(name, needs, fn) {
  test(name, { timeout: STEP }, async (t) => {
    const missing = needs.filter((k) => !have[k]);
    if (missing.length > 0) return t.skip(`no ${missing.join(", ")} (an earlier step failed)`);
    try {
      await fn(t);
    } catch (e) {
      await shot(`failed-${name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60)}`);
      throw e;
    }
  });
}

/** Moves the mouse off hovers and tooltips, lets menus finish fading in, then takes the screenshot. */
async function settledShot(name) {
  await page.mouse.move(900, 790);
  await page.waitForTimeout(400);
  await shot(name);
}

before(async () => {
  server = await chromium.launchServer({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  // run.sh stops Chromium's process group by this pid (and start time) if we cannot.
  const pid = server.process().pid;
  const start = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[19];
  fs.writeFileSync(env("ORBIT_E2E_CHROMIUM_PID_FILE"), `${pid} ${start}\n`);
  const browser = await chromium.connect(server.wsEndpoint());
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
});

after(async () => {
  await server?.close().catch(() => {});
});

// ---- the workbench and the language server ----------------------------------------------------------

step("the workbench opens fixtures/demo with the extension installed", [], async () => {
  await page.goto(URL);
  await page.locator(".monaco-workbench").waitFor({ timeout: WAIT });
  await eventually(async () => (await rows(page, ".explorer-folders-view")).some((r) => r.includes("mix.exs")), WAIT, "mix.exs in the Explorer");
  have.workbench = true;
  await shot("01-workbench");
});

step("the language server starts (orbit lsp --stdio) and connects: the status bar shows Orbit 3/3", ["workbench"], async () => {
  // vscode-languageclient starts `orbit lsp --stdio`; a server that refuses the argument exits at once.
  const item = page.locator(".statusbar-item", { hasText: /Orbit/ }).first();
  const outcome = await eventually(async () => {
    if (/Server process exited|unexpected argument/.test(orbitLog())) return "exited";
    return /Orbit 3\/3/.test((await item.textContent({ timeout: 1000 })) ?? "") && "connected";
  }, WAIT, "the Orbit status bar item", orbitLog);
  assert.equal(outcome, "connected", `the language server exited; the Orbit output channel:\n${orbitLog()}`);
  const tooltip = (await item.getAttribute("aria-label")) ?? "";
  for (const n of NODES) assert.ok(tooltip.includes(n), `status bar item names ${n}: ${tooltip}`);
  // The status bar can show 3/3 a moment before the output channel's line reaches its log file.
  const log = await eventually(
    async () => /connected to the cluster \(3 nodes up\)/.test(orbitLog()) && orbitLog(),
    WAIT,
    "the connection line in the Orbit output channel",
    orbitLog,
  );
  assert.doesNotMatch(log, /unexpected argument|Server process exited/, log);
  have.lsp = true;
  await shot("02-connected");
});

// ---- drift -----------------------------------------------------------------------------------------------

const FEES = "lib/bank/fees.ex";
const md5Hex = (mod) => `lists:flatten([io_lib:format("~2.16.0b", [B]) || <<B>> <= ${mod}:module_info(md5)])`;

step("a module changed on one node shows as drift in Problems, on its defmodule line", ["lsp"], async () => {
  const editor = await openFile(page, FEES);
  const source = fs.readFileSync(path.join(DEMO, FEES), "utf8").split("\n");
  assert.match(source[0], /^defmodule Bank\.Fees do/);
  for (const n of NODES) await erl(n, "code:ensure_loaded('Elixir.Bank.Fees').");
  // Another Bank.Fees (one more function) compiled and loaded on node 2 only, as tests/lsp/e2e.lua does.
  const variant = path.join(STATE, "variant_fees.ex");
  const body = source.slice(0, source.lastIndexOf("end"));
  fs.writeFileSync(variant, [...body, "  def orbit_vscode_variant, do: 2", "end", ""].join("\n"));
  await erl(NODES[1], `'Elixir.Code':compile_file(<<"${variant}">>), ok.`);

  await command(page, "View: Focus Problems (Errors, Warnings, Infos)");
  const drift = await eventually(
    async () => (await rows(page, ".markers-panel")).find((r) => r.includes("version drift")),
    WAIT,
    "a version drift row in Problems",
    () => rows(page, ".markers-panel"),
  );
  assert.ok(drift.includes("Bank.Fees") && drift.includes(NODES[1]), drift);
  assert.match(drift, /at line 1 and character \d+/, `on the defmodule line: ${drift}`);
  // In the editor: the lens over defmodule counts the versions, the squiggle's hover says which node runs which.
  await eventually(async () => /drift: 2 versions/.test((await editor.locator(".codelens-decoration").allTextContents()).join(" ")), WAIT,
    "the drift in the lens over defmodule", () => editor.locator(".codelens-decoration").allTextContents());
  const squiggle = await editor.locator(".squiggly-warning").first().boundingBox();
  assert.ok(squiggle, "the drift's squiggle under defmodule's line");
  await page.mouse.move(squiggle.x + squiggle.width / 2, squiggle.y + squiggle.height / 2);
  const hover = page.locator(".monaco-hover", { hasText: "version drift" });
  await hover.waitFor({ state: "visible", timeout: 10_000 });
  await page.waitForTimeout(300);
  await shot("03-drift");
  await page.mouse.move(900, 790);
});

step("the drift's code action reloads Bank.Fees on every node", ["lsp"], async () => {
  // The row's light bulb ("Show fixes") lights once VS Code has the diagnostic's code actions from the
  // server; it opens them in a menu.
  const row = page.locator(".markers-panel .monaco-list-row", { hasText: "version drift" }).first();
  const bulb = row.locator('.action-label[aria-label="Show fixes"]');
  const fix = page.locator(".context-view .monaco-menu .action-item", { hasText: "Reload Bank.Fees on all nodes" });
  await eventually(async () => {
    await row.click();
    await bulb.click({ timeout: 2000 });
    await fix.waitFor({ timeout: 2000 });
    return true;
  }, WAIT, "the drift's code action in the Problems panel", () => row.innerHTML());
  await settledShot("04-drift-code-action");
  await fix.click();
  await eventually(async () => !(await rows(page, ".markers-panel")).some((r) => r.includes("version drift")), WAIT, "the drift row goes", () => rows(page, ".markers-panel"));
  await eventually(() => /reloaded Bank\.Fees on 3 nodes \(md5 [0-9a-f]+, verified\)/.test(orbitLog()), WAIT, "the reload in the Orbit output", orbitLog);

  const beam = fs
    .readdirSync(path.join(DEMO, "_build/dev/lib"))
    .map((app) => path.join(DEMO, "_build/dev/lib", app, "ebin/Elixir.Bank.Fees.beam"))
    .find((f) => fs.existsSync(f));
  const built = await erl(NODES[0], `{ok, {_, M}} = beam_lib:md5("${beam}"), lists:flatten([io_lib:format("~2.16.0b", [B]) || <<B>> <= M]).`);
  for (const n of NODES) {
    assert.equal(await erl(n, `${md5Hex("'Elixir.Bank.Fees'")}.`), built, `Bank.Fees on ${n} is the build's`);
    assert.equal(await erl(n, "erlang:function_exported('Elixir.Bank.Fees', orbit_vscode_variant, 0)."), "false", n);
  }
  await shot("05-drift-fixed");
});

// ---- profiling ------------------------------------------------------------------------------------------

step("a profile of Bank.Fees puts its figures over fee_for/1, and the lens opens the flame graph", ["lsp"], async () => {
  const editor = await openFile(page, FEES);
  // Load on fee_for/1 on every node while the profile runs (4 s).
  const load = NODES.map((n) => erl(n, "[ 'Elixir.Bank.Fees':fee_for(N) || N <- lists:seq(1, 3000000) ], ok.", 60));
  await command(page, "Orbit: Profile Module Across the Cluster");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: 10_000 });
  await input.fill("4");
  await page.keyboard.press("Enter");
  // The command opens the profile's page when it is done; the lens over fee_for/1 opens another.
  const tab = page.locator(".tabs-container .tab", { hasText: "Orbit profile" });
  await tab.first().waitFor({ timeout: WAIT });
  await Promise.allSettled(load);
  assert.equal(await tab.count(), 1);
  // fees.ex stays open in its group beside the page (opening it again could open a second editor of it).
  const lens = editor.locator(".codelens-decoration a", { hasText: "of cluster time" }).first();
  await lens.waitFor({ timeout: WAIT });
  await lens.click();
  await eventually(async () => (await tab.count()) === 2, 20_000, "a second profile page, from the lens", () => tab.count());
  await settledShot("07-profile");
});

// ---- the debugger --------------------------------------------------------------------------------------

const ACCOUNT = "lib/bank/account.ex";
// What a node holds of a debug session: int:interpreted() (asked only when the interpreter server runs:
// asking starts it), its breakpoints, suspended processes, and whether Bank.Account runs interpreted (the
// agent's probe, when the agent is there).
const LEFTOVERS = `
  Server = whereis(dbg_iserver),
  Interpreted = case Server of undefined -> []; _ -> int:interpreted() end,
  Breaks = case Server of undefined -> []; _ -> int:all_breaks() end,
  Suspended = [P || P <- processes(), erlang:process_info(P, status) =:= {status, suspended}],
  Probe = case erlang:function_exported(orbit_dbg, interpreted_here, 1) of
    true -> orbit_dbg:interpreted_here(['Elixir.Bank.Account']);
    false -> []
  end,
  {Interpreted, Breaks, Suspended, Probe}.`;
const CLEAN = "{[],[],[],[]}";
const leftovers = async (n) => (await erl(n, LEFTOVERS)).replace(/\s/g, "");

const session = { line: 0, accounts: [], deposits: [] };

step("a breakpoint set from the gutter", ["workbench"], async () => {
  for (const n of NODES) assert.equal(await leftovers(n), CLEAN, `${n} before the session`);
  const lines = fs.readFileSync(path.join(DEMO, ACCOUNT), "utf8").split("\n");
  session.line = lines.findIndex((l) => l.includes("new_balance = state.balance + amount")) + 1;
  assert.ok(session.line > 0, "the deposit clause's first line");
  const editor = await openFile(page, ACCOUNT);
  await goToLine(page, session.line);
  // The language server's lenses ("N processes" over each clause) come first: they move the lines.
  if (have.lsp) await eventually(async () => (await editor.locator(".codelens-decoration").count()) > 0, WAIT, "Orbit's code lenses in account.ex");
  await clickGutter(page, editor, session.line);
  await command(page, "View: Show Run and Debug");
  await expandPane(page, "Breakpoints", true);
  await eventually(
    async () => (await rows(page, ".debug-breakpoints")).some((r) => r.includes("account.ex") && r.includes(` ${session.line}`)),
    10_000,
    `account.ex:${session.line} in the Breakpoints view`,
    () => rows(page, ".debug-breakpoints"),
  );
  await shot("06-breakpoint");
});

step("an attach session stops processes on other nodes; the Call Stack names threads by node", ["workbench"], async () => {
  await command(page, "Debug: Select and Start Debugging");
  await page.locator(".quick-input-widget .monaco-list-row", { hasText: "Orbit: attach to the demo cluster" }).first().click();
  await page.locator(".debug-toolbar").waitFor({ state: "visible", timeout: WAIT });
  await eventually(async () => (await rows(page, ".repl")).some((r) => /attached to 3 node/.test(r)), WAIT, "the session attached (Debug Console)", () => rows(page, ".repl"));
  // VS Code sends the breakpoints once the session is attached: a call before they hold on its node would
  // not stop. Wait until Bank.Account is interpreted everywhere (what the breakpoint on it needs).
  for (const n of NODES) {
    await eventually(
      async () => (await erl(n, "orbit_dbg:interpreted_here(['Elixir.Bank.Account']).")) !== "[]",
      WAIT,
      `the breakpoint in Bank.Account holds on ${n}`,
      () => erl(n, "orbit_dbg:interpreted_here(['Elixir.Bank.Account'])."),
    );
  }

  // An account on node 2 and one on node 3; a deposit into each from node 1, which waits (60 s) while
  // the account's process is stopped.
  for (const [i, initial, amount] of [[1, 100, 25], [2, 200, 30]]) {
    let id;
    for (let k = 0; k < 64 && !id; k++) {
      if ((await erl(NODES[0], `'Elixir.Bank':owner_node(<<"vscode-${k}">>).`)) === NODES[i]) id = `vscode-${k}`;
    }
    assert.ok(id, `an account id placed on ${NODES[i]}`);
    assert.match(await erl(NODES[0], `'Elixir.Bank':open_account(<<"${id}">>, <<"vscode">>, ${initial}).`), /^\{ok,/);
    const reply = erl(NODES[0], `gen_server:call('Elixir.Bank':whereis(<<"${id}">>), {deposit, ${amount}}, 60000).`, 70);
    reply.catch(() => {}); // awaited in a later step
    session.accounts.push({ id, node: NODES[i], initial, amount });
    session.deposits.push(reply);
  }
  const threads = await eventually(async () => {
    const r = (await rows(page, ".debug-call-stack")).filter((x) => x.startsWith("Thread "));
    return session.accounts.every((a) => r.some((x) => x.includes(`${a.node} #PID<`))) && r;
  }, WAIT, "a thread per stopped process, named by its node", () => rows(page, ".debug-call-stack"));
  for (const a of session.accounts) {
    const t = threads.find((x) => x.includes(`${a.node} #PID<`));
    assert.match(t, /Bank\.Account\.handle_call\/3/, t);
    assert.match(t, /breakpoint/, t);
  }
  assert.ok(!threads.some((x) => x.includes(`${NODES[0]} #PID<`)), `nothing stopped on the attached node: ${threads}`);
  have.stopped = true;
  await sideBarWidth(page, 520);
  await settledShot("07-stopped");
});

step("the Variables view shows Elixir values and a watch expression evaluates", ["stopped"], async () => {
  const a = session.accounts[0];
  await page.locator(".debug-call-stack .monaco-list-row", { hasText: `${a.node} #PID<` }).first().click();
  // The thread's top frame: the row after its thread row.
  const frame = page
    .locator(".debug-call-stack .monaco-list-row", { hasText: `${a.node} #PID<` })
    .first()
    .locator("xpath=following-sibling::div[1]");
  await eventually(async () => /handle_call\/3/.test((await frame.getAttribute("aria-label", { timeout: 1000 })) ?? ""), 10_000, "the thread's top frame", () => rows(page, ".debug-call-stack"));
  await frame.click();
  await expandPane(page, "Variables", true);
  const vars = await eventually(async () => {
    const r = await rows(page, ".debug-variables");
    return r.some((x) => x.includes(`%Bank.Account{id: "${a.id}"`)) && r;
  }, WAIT, `the Variables of ${a.node}'s process`, () => rows(page, ".debug-variables"));
  const state = vars.find((x) => x.startsWith("state"));
  assert.match(state, new RegExp(`%Bank\\.Account\\{id: "${a.id}", owner: "vscode", balance: ${a.initial}, history: \\[\\]\\}`), state);
  assert.ok(vars.some((x) => new RegExp(`^amount, value ${a.amount}$`).test(x)), vars.join("\n"));
  assert.ok(vars.some((x) => /^_from, value \{#PID<.*\[:alias \| #Reference</.test(x)), `Elixir pids, atoms and references: ${vars}`);

  await expandPane(page, "Watch", true);
  const header = page.locator(".pane-header", { hasText: /^Watch/i }).first();
  await header.hover();
  await header.locator('.action-label[aria-label="Add Expression"]').click();
  await page.keyboard.type("state.balance + amount");
  await page.keyboard.press("Enter");
  const watch = await eventually(
    async () => (await rows(page, ".debug-watch")).find((x) => x.startsWith("state.balance + amount, value") && !/not available/.test(x)),
    WAIT,
    "the watch expression's value",
    () => rows(page, ".debug-watch"),
  );
  assert.equal(watch, `state.balance + amount, value ${a.initial + a.amount}`);
  await settledShot("08-variables-watch");
});

step("continue: the process runs on and its caller on another node gets the reply", ["stopped"], async () => {
  const a = session.accounts[0];
  await page.locator(".debug-call-stack .monaco-list-row", { hasText: `${a.node} #PID<` }).first().click();
  await page.locator(".debug-toolbar .action-label[aria-label^='Continue']").click();
  const reply = await Promise.race([session.deposits[0], new Promise((_, rej) => setTimeout(() => rej(new Error("no reply within 30 s")), 30_000))]);
  assert.equal(reply.replace(/\s/g, ""), `{ok,${a.initial + a.amount}}`);
  await eventually(async () => !(await rows(page, ".debug-call-stack")).some((x) => x.includes(`${a.node} #PID<`)), 10_000, "its thread leaves the Call Stack", () => rows(page, ".debug-call-stack"));
  await shot("09-continued");
});

step("disconnect: the other paused process completes and every node is left as it was", ["stopped"], async () => {
  const b = session.accounts[1];
  await page.locator(".debug-toolbar .action-label[aria-label^='Disconnect']").click();
  await page.locator(".debug-toolbar").waitFor({ state: "hidden", timeout: WAIT });
  const reply = await Promise.race([session.deposits[1], new Promise((_, rej) => setTimeout(() => rej(new Error("no reply within 30 s")), 30_000))]);
  assert.equal(reply.replace(/\s/g, ""), `{ok,${b.initial + b.amount}}`);
  for (const n of NODES) {
    await eventually(async () => (await leftovers(n)) === CLEAN, 30_000, `${n}: nothing interpreted, no breakpoint, nothing suspended`, () => leftovers(n));
    assert.equal(await erl(n, "case whereis(dbg_iserver) of undefined -> []; _ -> int:interpreted() end."), "[]", n);
  }
  await shot("10-disconnected");
});

// ---- the Cluster view -------------------------------------------------------------------------------

step("the Cluster view lists every node", ["lsp"], async () => {
  await command(page, "View: Show Run and Debug");
  for (const p of ["Variables", "Watch", "Call Stack", "Breakpoints"]) await expandPane(page, p, false);
  await expandPane(page, "Cluster", true);
  const view = pane(page, "Cluster");
  const labels = () => view.locator(".monaco-list-row").evaluateAll((els) => els.map((e) => e.getAttribute("aria-label") || e.textContent || ""));
  // Each node with its figures (from orbit/clusterStatus: processes, memory) and its top processes.
  const listed = await eventually(async () => {
    const r = await labels();
    return NODES.every((n) => r.some((x) => x.startsWith(n))) && r.filter((x) => /^processes \d/.test(x)).length === NODES.length && r;
  }, WAIT, "every node in the Cluster view, with its figures", labels);
  for (const n of NODES) assert.match(listed.find((x) => x.startsWith(n)), /healthy/, n);
  assert.equal(listed.filter((x) => /^memory \d/.test(x)).length, NODES.length, listed.join("\n"));
  await view.locator(".monaco-list-row", { hasText: "top processes" }).first().click();
  await eventually(async () => (await labels()).some((x) => /#PID<|<\d+\.\d+\.\d+>/.test(x)), 10_000, "a node's top processes", labels);
  await settledShot("11-cluster");
});
