-- End to end: Neovim's built-in LSP client against `orbit lsp` and a real 3-node demo cluster.
-- Run by tests/lsp/run.sh (which starts and stops the cluster):
--   nvim --headless -u NONE -c 'luafile tests/lsp/e2e.lua'
-- Works with Neovim 0.7 (Debian's) and later: vim.lsp.start_client + buf_attach_client.
-- Environment: ORBIT_BIN, ORBIT_REPO, ORBIT_LSP_NODES (comma separated), ORBIT_LSP_COOKIE_FILE,
-- ORBIT_LSP_KILL_PID (OS pid of the third node), ORBIT_LSP_KILL_NODE (its name).

local WAIT = 120000
local env = function(k)
  local v = os.getenv(k)
  if not v or v == "" then
    io.stderr:write("missing " .. k .. "\n")
    vim.cmd("cquit 2")
  end
  return v
end

local bin, repo = env("ORBIT_BIN"), env("ORBIT_REPO")
local nodes = vim.split(env("ORBIT_LSP_NODES"), ",")
local cookie_file = env("ORBIT_LSP_COOKIE_FILE")
local kill_pid, kill_node = env("ORBIT_LSP_KILL_PID"), env("ORBIT_LSP_KILL_NODE")
-- The nodes' fixture: the checkout's, or an OTP root's own copy of it (ORBIT_OTP, scripts/otp-roots).
local otp = os.getenv("ORBIT_OTP")
local demo = (otp and otp ~= "" and otp ~= "host") and (repo .. "/target/otp-fixtures/" .. otp .. "/demo")
  or (repo .. "/fixtures/demo")
local cookie = vim.fn.readfile(cookie_file)[1]

local passed, failed = 0, 0
local function check(name, ok, detail)
  if ok then
    passed = passed + 1
    io.stdout:write("ok   - " .. name .. "\n")
  else
    failed = failed + 1
    io.stdout:write("FAIL - " .. name .. (detail and (": " .. vim.inspect(detail)) or "") .. "\n")
  end
end

local function erl(node, expr)
  local out = vim.fn.system({ "erl_call", "-sname", node, "-c", cookie, "-h", "nvim_e2e_" .. vim.fn.getpid() .. "_" .. math.random(1e6), "-e", "-timeout", "10" }, expr .. "\n")
  return vim.trim(out)
end

local messages, health = {}, nil
local client_id = vim.lsp.start_client({
  name = "orbit",
  cmd = { bin, "lsp" },
  root_dir = demo,
  init_options = { nodes = nodes, cookieFile = cookie_file, refreshIntervalMs = 500, mailboxWarning = 200 },
  handlers = {
    ["window/showMessage"] = function(_, result)
      table.insert(messages, result.message)
    end,
    ["orbit/clusterHealth"] = function(_, result)
      health = result
    end,
  },
})
check("client started", client_id ~= nil)
local client = vim.lsp.get_client_by_id(client_id)

local function said(pattern)
  for _, m in ipairs(messages) do
    if m:find(pattern, 1, true) then
      return m
    end
  end
end

check("connected message", vim.wait(WAIT, function() return said("connected to the cluster") ~= nil end, 100), messages)

local function open(path)
  vim.cmd("edit " .. vim.fn.fnameescape(path))
  local buf = vim.api.nvim_get_current_buf()
  vim.lsp.buf_attach_client(buf, client_id)
  return buf
end

local function orbit_diags(buf, pattern)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    if d.source == "orbit" and (not pattern or d.message:find(pattern, 1, true)) then
      table.insert(out, d)
    end
  end
  return out
end

local function execute(command, arg, buf)
  local resp = client.request_sync("workspace/executeCommand", { command = command, arguments = { arg } }, WAIT, buf)
  if not resp then
    return nil, "no response"
  end
  return resp.result, resp.err
end

-- 1. Drift: node 2 runs a different Bank.Fees; the diagnostic appears at defmodule, the quick fix clears it.
local fees = demo .. "/lib/bank/fees.ex"
local fees_buf = open(fees)
for _, n in ipairs(nodes) do
  erl(n, "code:ensure_loaded('Elixir.Bank.Fees').")
end
local lines = vim.fn.readfile(fees)
local variant = vim.fn.tempname() .. "_fees.ex"
local changed = {}
for i = 1, #lines - 1 do
  table.insert(changed, lines[i])
end
table.insert(changed, "  def orbit_nvim_variant, do: 2")
table.insert(changed, "end")
vim.fn.writefile(changed, variant)
erl(nodes[2], "'Elixir.Code':compile_file(<<\"" .. variant .. "\">>), ok.")
local got = vim.wait(WAIT, function() return #orbit_diags(fees_buf, "version drift") > 0 end, 200)
check("drift diagnostic appears", got, vim.diagnostic.get(fees_buf))
local drift = orbit_diags(fees_buf, "version drift")[1]
if drift then
  check("drift at the defmodule line, naming the node", drift.lnum == 0 and drift.message:find(nodes[2], 1, true) ~= nil, drift)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(fees_buf) },
    range = { start = { line = drift.lnum, character = drift.col }, ["end"] = { line = drift.end_lnum, character = drift.end_col } },
    context = { diagnostics = { { range = { start = { line = drift.lnum, character = drift.col }, ["end"] = { line = drift.end_lnum, character = drift.end_col } }, message = drift.message, source = "orbit", code = "drift", severity = drift.severity } } },
  }
  local resp = client.request_sync("textDocument/codeAction", params, WAIT, fees_buf)
  local fix
  for _, a in ipairs((resp and resp.result) or {}) do
    if a.isPreferred then
      fix = a
    end
  end
  check("reload quick fix offered", fix ~= nil and fix.title == "Reload Bank.Fees on all nodes", resp)
  if fix then
    local result, err = execute(fix.command.command, fix.command.arguments[1], fees_buf)
    check("reload applied on every node", result ~= nil and result.outcome == "loaded", err or result)
    check("drift clears", vim.wait(WAIT, function() return #orbit_diags(fees_buf, "version drift") == 0 end, 200), vim.diagnostic.get(fees_buf))
  end
end

-- 2. Hotspot: a flooded mailbox on node 2 shows at the handle_info clause it sits in.
local mailbox = demo .. "/lib/bank/mailbox.ex"
local mb_buf = open(mailbox)
local clause_line
for i, l in ipairs(vim.fn.readfile(mailbox)) do
  if l:find("def handle_info({:work", 1, true) then
    clause_line = i - 1
    break
  end
end
erl(nodes[2], "'Elixir.Bank.Mailbox':flood(3000).")
got = vim.wait(WAIT, function() return #orbit_diags(mb_buf, "messages queued") > 0 end, 200)
check("hotspot diagnostic appears", got, vim.diagnostic.get(mb_buf))
local hot = orbit_diags(mb_buf, "messages queued")[1]
if hot then
  check("hotspot on the handle_info clause, naming node and pid", hot.lnum == clause_line and hot.message:find(nodes[2], 1, true) ~= nil and hot.message:find("#PID<", 1, true) ~= nil, { hot = hot, want = clause_line })
end
erl(nodes[2], "'Elixir.Bank.Mailbox':drain().")

-- 3. A sandbox command.
local sb, err = execute("orbit.sandbox.create", { name = "nvim-acct", module = "Bank.Account", arg = '{"nvim-acct-1", "bob", 5}' }, mb_buf)
check("sandbox create", sb ~= nil and sb.id == "nvim-acct" and sb.status == "running", err or sb)
local list = execute("orbit.sandbox.list", {}, mb_buf)
local listed = false
for _, s in ipairs(list or {}) do
  if s.id == "nvim-acct" then
    listed = true
  end
end
check("sandbox listed", listed, list)
local destroyed = execute("orbit.sandbox.destroy", { name = "nvim-acct" }, mb_buf)
check("sandbox destroy", destroyed ~= nil and destroyed.destroyed == "nvim-acct", destroyed)
check("sandbox outcome shown", said("sandbox nvim-acct destroyed") ~= nil, messages)

-- 3b. A profile under load: the lens on Bank.Fees.fee_for/1's head, and its hover split per node.
erl(nodes[1], "[ 'Elixir.Bank':open_account(list_to_binary(\"nvim\" ++ integer_to_list(I)), <<\"o\">>, 10000000) || I <- lists:seq(1, 6)], ok.")
for _, n in ipairs(nodes) do
  erl(n, "'Elixir.Bank.LoadGen':start(200).")
end
vim.wait(2000, function() return false end, 100)
local prof, perr = execute("orbit.profile.start", { module = "Bank.Fees", durationMs = 3000 }, fees_buf)
check("profile runs", prof ~= nil and prof.functions ~= nil and prof.functions[1] ~= nil and prof.functions[1].name == "Bank.Fees.fee_for/1", perr or prof)
local fee_line
for i, l in ipairs(vim.fn.readfile(fees)) do
  if l:find("def fee_for(", 1, true) then
    fee_line = i - 1
    break
  end
end
local lens_title
vim.wait(WAIT, function()
  local lr = client.request_sync("textDocument/codeLens", { textDocument = { uri = vim.uri_from_bufnr(fees_buf) } }, WAIT, fees_buf)
  for _, l in ipairs((lr and lr.result) or {}) do
    if l.range.start.line == fee_line and l.command and l.command.title:find("of cluster time", 1, true) then
      lens_title = l.command.title
    end
  end
  return lens_title ~= nil
end, 500)
check("profile lens on fee_for's head", lens_title ~= nil and lens_title:find(" calls · ", 1, true) ~= nil and lens_title:find("hottest on ", 1, true) ~= nil, lens_title)
local col = (vim.fn.readfile(fees)[fee_line + 1]):find("fee_for", 1, true)
local hv = client.request_sync("textDocument/hover", { textDocument = { uri = vim.uri_from_bufnr(fees_buf) }, position = { line = fee_line, character = col } }, WAIT, fees_buf)
local hover_text = hv and hv.result and hv.result.contents and hv.result.contents.value or ""
local every = hover_text:find("in the last profile", 1, true) ~= nil
for _, n in ipairs(nodes) do
  every = every and hover_text:find(n, 1, true) ~= nil
end
check("profile hover names every node", every, hover_text)
for _, n in ipairs(nodes) do
  erl(n, "'Elixir.Bank.LoadGen':stop().")
end

-- 4. Bad input through the real client: unknown command, unknown method.
local _, uerr = execute("orbit.nope", {}, mb_buf)
check("unknown command is an error response", uerr ~= nil and uerr.code == -32602, uerr)
local r = client.request_sync("orbit/nope", {}, WAIT, mb_buf)
check("unknown method is an error response", r ~= nil and r.err ~= nil and r.err.code == -32601, r)

-- 5. A node killed: one health message; orbit/clusterHealth shows it.
vim.fn.system({ "kill", "-9", kill_pid })
got = vim.wait(WAIT, function() return said("node " .. kill_node .. " is down") ~= nil end, 200)
check("node down message", got, messages)
got = vim.wait(WAIT, function()
  if not health then
    return false
  end
  for _, n in ipairs(health.nodes or {}) do
    if n.node == kill_node and n.up == false then
      return true
    end
  end
  return false
end, 200)
check("clusterHealth shows the node down", got, health)
local status = client.request_sync("orbit/clusterStatus", vim.NIL, WAIT, mb_buf)
check("orbit/clusterStatus answers", status ~= nil and status.result ~= nil and status.result.connected == true, status)
local downs = 0
vim.wait(1500, function() return false end, 100)
for _, m in ipairs(messages) do
  if m:find(kill_node, 1, true) and m:find("is down", 1, true) then
    downs = downs + 1
  end
end
check("node down said once", downs == 1, messages)

client.stop()
vim.wait(5000, function() return client.is_stopped() end, 100)
io.stdout:write(string.format("%d passed, %d failed\n", passed, failed))
os.remove(variant)
if failed > 0 then
  vim.cmd("cquit 1")
else
  vim.cmd("qall!")
end
