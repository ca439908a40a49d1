-- Unit and integration tests of the plugin in headless Neovim, against a fake `orbit` (fake_orbit.js)
-- so that they need neither nvim-dap nor a cluster.
local here = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h")
package.path = here .. "/?.lua;" .. package.path
local T = require("harness")
-- run.sh passes a wrapper that runs fake_orbit.js with a node it can reach (ORBIT_FAKE_ORBIT).
local fake = vim.env.ORBIT_FAKE_ORBIT or (here .. "/fake_orbit.js")
local log_file = vim.fn.tempname()
vim.env.FAKE_ORBIT_LOG = log_file

local function fresh()
  for _, m in ipairs({ "orbit", "orbit.format", "orbit.health", "dap" }) do
    package.loaded[m] = nil
  end
  return require("orbit")
end

local function logged()
  local out = {}
  if vim.fn.filereadable(log_file) == 1 then
    for _, l in ipairs(vim.fn.readfile(log_file)) do
      table.insert(out, vim.fn.json_decode(l))
    end
  end
  return out
end

local function commands_sent(name)
  local out = {}
  for _, m in ipairs(logged()) do
    if m.method == "workspace/executeCommand" and m.params.command == name then
      table.insert(out, m.params.arguments[1])
    end
  end
  return out
end

T.test("setup works without nvim-dap and defines the commands", function()
  local orbit = fresh()
  T.ok(not pcall(require, "dap"), "this test needs nvim-dap to be absent")
  orbit.setup({ cmd = fake })
  T.eq(orbit.state.dap_registered, false, "dap_registered")
  for _, c in ipairs({ "OrbitReload", "OrbitDrift", "OrbitStatus", "OrbitProcesses", "OrbitTrace", "OrbitSandbox", "OrbitProfile" }) do
    T.eq(vim.fn.exists(":" .. c), 2, ":" .. c .. " exists")
  end
end)

T.test("with nvim-dap: executable adapter and default configurations for Elixir and Erlang", function()
  local orbit = fresh()
  local dap = { adapters = {}, configurations = { elixir = { { name = "mine", type = "mix_task" } } } }
  package.loaded.dap = dap
  orbit.setup({ cmd = "/opt/orbit/bin/orbit", nodes = { "a@h", "b@h" }, cookie_file = "/tmp/cookie" })
  T.eq(dap.adapters.orbit, { type = "executable", command = "/opt/orbit/bin/orbit", args = { "dap" } }, "adapter")
  T.eq(#dap.configurations.elixir, 3, "elixir configurations (the user's kept)")
  T.eq(dap.configurations.elixir[1].name, "mine")
  T.eq(#dap.configurations.erlang, 2, "erlang configurations")
  local attach, launch = dap.configurations.erlang[1], dap.configurations.erlang[2]
  T.eq({ attach.type, attach.request, attach.node, attach.cookieFile, attach.projectDir }, { "orbit", "attach", "a@h", "/tmp/cookie", "${workspaceFolder}" })
  T.eq({ launch.request, launch.nodes, launch.command, launch.projectDir }, { "launch", 3, "mix run --no-halt", "${workspaceFolder}" })
  orbit.setup({ cmd = "/opt/orbit/bin/orbit" })
  T.eq(#dap.configurations.elixir, 3, "setup twice adds nothing twice")
  T.eq(orbit.state.dap_registered, true)
  package.loaded.dap = nil
end)

T.test("with nvim-dap and dap.port: a server adapter that runs orbit dap --port", function()
  local orbit = fresh()
  local dap = { adapters = {}, configurations = {} }
  package.loaded.dap = dap
  orbit.setup({ cmd = "orbit", dap = { port = 4711, configurations = false } })
  T.eq(dap.adapters.orbit, {
    type = "server",
    host = "127.0.0.1",
    port = 4711,
    executable = { command = "orbit", args = { "dap", "--port", "4711" } },
  }, "adapter")
  T.eq(dap.configurations.elixir, nil, "no configurations when configurations = false")
  T.eq(type(fresh().dap_configurations()[1].node), "function", "attach asks for the node when none is configured")
  package.loaded.dap = nil
end)

T.test("settings are flattened to the keys orbit lsp reads", function()
  local orbit = fresh()
  orbit.setup({ cmd = fake, nodes = { "a@h" }, cookie = "", auto_reload_on_save = true, thresholds = { mailboxWarning = 500, bogus = 1 }, trace_limit = 10, read_only = true })
  T.eq(orbit.server_settings(), { nodes = { "a@h" }, autoReloadOnSave = true, mailboxWarning = 500, traceLimit = 10, readOnly = true })
  local c = orbit.lsp_config(0)
  T.eq(c.cmd, { fake, "lsp" })
  T.eq(c.settings.orbit.nodes, { "a@h" })
end)

T.test("tls: the same keys for the language server and the attach configuration", function()
  local orbit = fresh()
  orbit.setup({ cmd = fake, nodes = { "a@h" }, tls = { ssl_dist_optfile = "/etc/app/ssl_dist.conf", ca = "/ca.pem", cert = "", server_name = "disable" } })
  T.eq(orbit.server_settings(), { nodes = { "a@h" }, sslDistOptfile = "/etc/app/ssl_dist.conf", tlsCa = "/ca.pem", tlsServerName = "disable" })
  local attach = orbit.dap_configurations()[1]
  T.eq({ attach.sslDistOptfile, attach.tlsCa, attach.tlsCert, attach.tlsServerName }, { "/etc/app/ssl_dist.conf", "/ca.pem", nil, "disable" })
end)

T.test("format: module and function at the cursor, summaries", function()
  local f = fresh() and require("orbit.format")
  local ex = { "defmodule Bank.Fees do", "  def charge(%{a: 1, b: 2}, amount) do", "    :ok", "  end", "  defp helper, do: 1", "end" }
  T.eq(f.module_of(ex), "Bank.Fees")
  T.eq(f.function_at(ex, 2), "Bank.Fees.charge/2")
  T.eq(f.function_at(ex, 4), "Bank.Fees.helper/0")
  local erl = { "-module(bank_ledger).", "", "append(L, {K, V}, X) when is_list(L) ->", "    ok." }
  T.eq(f.function_at(erl, 3), "bank_ledger:append/3")
  T.eq(f.count(1234567), "1,234,567")
  T.eq(f.bytes(41234432), "39.3 MiB")
  T.eq(f.health_summary({ connected = false, message = "no node reachable" }), "Orbit: disconnected — no node reachable")
  T.eq(f.health_summary({ connected = true, status = "critical", nodes = { { node = "a", up = true }, { node = "b", up = false } }, alerts = { { level = "degraded", message = "x" }, { level = "critical", message = "mem" } } }), "Orbit 1/2 up (critical) · critical: mem")
end)

T.test("against a fake orbit lsp: starts for Elixir buffers, health, diagnostics and every command", function()
  local orbit = fresh()
  orbit.setup({ cmd = fake, nodes = { "a@h" }, thresholds = { mailboxWarning = 500 } })
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir .. "/lib", "p")
  vim.fn.writefile({ "defmodule Bank.Fees do", "  def charge(account, amount) do", "    {account, amount}", "  end", "end" }, dir .. "/mix.exs")
  local file = dir .. "/lib/fees.ex"
  vim.fn.writefile({ "defmodule Bank.Fees do", "  def charge(account, amount) do", "    {account, amount}", "  end", "end" }, file)
  vim.cmd("edit " .. vim.fn.fnameescape(file))
  vim.bo.filetype = "elixir"
  T.wait(10000, function()
    return orbit.client() ~= nil and orbit.client().initialized ~= false
  end, "the orbit client")
  T.eq(orbit.client().config.root_dir, dir, "root_dir is the Mix project")
  T.wait(5000, function()
    return orbit.state.health ~= nil
  end, "orbit/clusterHealth")
  local function drift_diags()
    return vim.tbl_filter(function(d)
      return d.code == "drift" or (d.user_data and d.user_data.lsp and d.user_data.lsp.code == "drift")
    end, vim.diagnostic.get(0))
  end
  T.wait(5000, function()
    return #drift_diags() == 1
  end, "the drift diagnostic")

  local init = vim.tbl_filter(function(m)
    return m.method == "initialize"
  end, logged())[1]
  T.eq(init.params.initializationOptions, { nodes = { "a@h" }, mailboxWarning = 500 }, "initializationOptions")
  T.wait(3000, function()
    for _, m in ipairs(logged()) do
      if m.method == nil and type(m.result) == "table" and type(m.result[1]) == "table" and m.result[1].nodes then
        return true
      end
    end
    return false
  end, "the workspace/configuration answer")

  vim.cmd("OrbitStatus")
  T.wait(5000, function()
    return orbit.state.last_float ~= nil and orbit.state.last_float.title == "Orbit cluster"
  end, "the status float")
  local text = T.buffer_text(orbit.state.last_float.buf)
  for _, n in ipairs({ "a@h", "b@h", "c@h" }) do
    T.ok(text:find(n, 1, true), "status shows " .. n .. ":\n" .. text)
  end
  T.ok(text:find("Bank.Mailbox has 20,000", 1, true), "status shows the alert")
  vim.cmd("close")

  vim.cmd("OrbitReload")
  T.wait(5000, function()
    return #commands_sent("orbit.reload") == 1
  end, "orbit.reload")
  T.eq(commands_sent("orbit.reload")[1], { file = file })
  T.wait(5000, function()
    return #drift_diags() == 0
  end, "the drift diagnostic to clear")
  vim.cmd("OrbitReload b@h c@h")
  T.wait(5000, function()
    return #commands_sent("orbit.reload") == 2
  end, "orbit.reload on nodes")
  T.eq(commands_sent("orbit.reload")[2].nodes, { "b@h", "c@h" })

  vim.cmd("OrbitDrift")
  T.wait(5000, function()
    return orbit.state.last_float and orbit.state.last_float.title == "Orbit drift"
  end, "the drift float")
  T.ok(T.buffer_text(orbit.state.last_float.buf):find("No drift", 1, true), "drift cleared")
  vim.cmd("close")

  vim.cmd("OrbitProcesses b@h queue")
  T.wait(5000, function()
    return #commands_sent("orbit.processes") == 1
  end, "orbit.processes")
  T.eq(commands_sent("orbit.processes")[1], { node = "b@h", sort = "queue", limit = 50 })
  T.wait(2000, function()
    return orbit.state.last_float.title == "Orbit processes"
  end)
  T.ok(T.buffer_text(orbit.state.last_float.buf):find("Bank.Mailbox", 1, true), "processes float")
  vim.cmd("close")

  vim.api.nvim_win_set_cursor(0, { 3, 4 })
  vim.cmd("OrbitTrace")
  T.wait(5000, function()
    return #commands_sent("orbit.trace.start") == 1
  end, "orbit.trace.start")
  T.eq(commands_sent("orbit.trace.start")[1], { pattern = "Bank.Fees.charge/2" })
  vim.cmd("OrbitTrace stop")
  T.wait(5000, function()
    return orbit.state.last_float and orbit.state.last_float.title == "Orbit trace"
  end, "the trace float")
  T.ok(T.buffer_text(orbit.state.last_float.buf):find("42  Bank.Fees.charge/2", 1, true), T.buffer_text(orbit.state.last_float.buf))
  vim.cmd("close")

  vim.cmd("OrbitProfile 3s")
  T.wait(5000, function()
    return #commands_sent("orbit.profile.start") == 1 and orbit.state.profile_buf ~= nil
  end, "orbit.profile.start and its buffer")
  T.eq(commands_sent("orbit.profile.start")[1], { modules = { "Bank.Fees" }, durationMs = 3000 })
  local text = T.buffer_text(orbit.state.profile_buf)
  T.ok(text:find("Bank.Fees.fee_for/1  41,200", 1, true) and text:find("flame graph: /tmp/profile-1.svg", 1, true), text)
  vim.cmd("close")

  vim.cmd("OrbitSandbox create")
  vim.cmd("OrbitSandbox list")
  vim.cmd("OrbitSandbox migrate Bank.Fees-1 b@h")
  vim.cmd("OrbitSandbox destroy Bank.Fees-1")
  vim.cmd("OrbitSandbox balance dry")
  T.wait(5000, function()
    return #commands_sent("orbit.sandbox.balance") == 1
  end, "orbit.sandbox.*")
  T.eq(commands_sent("orbit.sandbox.create")[1], { module = "Bank.Fees" })
  T.eq(commands_sent("orbit.sandbox.list")[1], {})
  T.eq(commands_sent("orbit.sandbox.migrate")[1], { name = "Bank.Fees-1", to = "b@h" })
  T.eq(commands_sent("orbit.sandbox.destroy")[1], { name = "Bank.Fees-1" })
  T.eq(commands_sent("orbit.sandbox.balance")[1], { dryRun = true })
end)

T.test(":checkhealth orbit runs", function()
  vim.cmd("checkhealth orbit")
  local text = T.buffer_text(0)
  T.ok(text:find("orbit: executable", 1, true), text)
  T.ok(text:find("setup() was called", 1, true), text)
  T.ok(text:find("orbit lsp is running", 1, true), text)
  T.ok(text:find("nvim-dap is not installed", 1, true), text)
  T.ok(not text:find("E5108", 1, true) and not text:find("stack traceback", 1, true), text)
end)

T.run()
