-- Driven by neovim_e2e.sh: the plugin's debugger wiring with the real `orbit dap` on a real 3-node
-- cluster. nvim-dap itself is not available to the tests (neither Debian nor npm has it), so a stand-in
-- `dap` module takes what setup() registers (dap.adapters.orbit, dap.configurations.elixir) and a small
-- DAP client here does with them what nvim-dap does: it starts the adapter as registered, substitutes
-- ${workspaceFolder}, attaches with the plugin's configuration, sets a breakpoint and configures, then
-- reads the stop on another node (threads, stack, scopes, variables), evaluates, continues, disconnects.
package.path = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h") .. "/../../editors/neovim/tests/?.lua;" .. package.path
local T = require("harness")
local uv = vim.loop
local nodes = vim.split(vim.env.ORBIT_E2E_NODES, ",")
local cookie_file = vim.env.ORBIT_E2E_COOKIE_FILE
local cookie = vim.fn.readfile(cookie_file)[1]
local demo = vim.fn.getcwd() -- neovim_e2e.sh runs us in fixtures/demo
local account_ex = demo .. "/lib/bank/account.ex"

local dap = { adapters = {}, configurations = {} }
package.loaded["dap"] = dap
local orbit = require("orbit")
orbit.setup({ cmd = vim.env.ORBIT_E2E_BIN, nodes = { nodes[1] }, cookie_file = cookie_file, lsp = { enabled = false } })

-- erl_call on a node: its printed result (`{ok, …}` taken off); errors never show the cookie.
local erl_seq = 0
local function erl_args(node)
  erl_seq = erl_seq + 1
  return { "erl_call", "-sname", node, "-c", cookie, "-h", "nvim_dap_e2e_" .. vim.fn.getpid() .. "_" .. erl_seq, "-e", "-timeout", "70" }
end
local function result_of(out)
  out = vim.trim(out)
  return out:match("^{ok,%s*(.*)}$") or ("erl_call: " .. out)
end
local function erl(node, expr)
  return result_of(vim.fn.system(erl_args(node), expr .. "\n"))
end
--- Runs `expr` on `node` in the background; returns a function that gives the result once there is one.
local function erl_async(node, expr)
  local out, done = {}, false
  local job = vim.fn.jobstart(erl_args(node), {
    stdout_buffered = true,
    on_stdout = function(_, data) out = data end,
    on_exit = function() done = true end,
  })
  vim.fn.chansend(job, expr .. "\n")
  vim.fn.chanclose(job, "stdin")
  return function()
    return done and result_of(table.concat(out, "\n")) or nil
  end
end

-- A DAP client: Content-Length framing over the adapter's stdio.
local Dap = {}
Dap.__index = Dap

function Dap.start(adapter)
  local self = setmetatable({ seq = 0, responses = {}, events = {}, buf = "", stderr = "" }, Dap)
  self.stdin, self.stdout, self.errpipe = uv.new_pipe(false), uv.new_pipe(false), uv.new_pipe(false)
  self.handle = uv.spawn(adapter.command, { args = adapter.args, stdio = { self.stdin, self.stdout, self.errpipe } }, function(code)
    self.exit_code = code
  end)
  assert(self.handle, "could not start " .. adapter.command)
  self.stdout:read_start(function(_, data)
    if not data then return end
    self.buf = self.buf .. data
    while true do
      local head_end = self.buf:find("\r\n\r\n", 1, true)
      if not head_end then break end
      local len = tonumber(self.buf:sub(1, head_end):match("Content%-Length: *(%d+)"))
      if not len or #self.buf < head_end + 3 + len then break end
      local msg = vim.json.decode(self.buf:sub(head_end + 4, head_end + 3 + len))
      self.buf = self.buf:sub(head_end + 4 + len)
      if msg.type == "response" then
        self.responses[msg.request_seq] = msg
      elseif msg.type == "event" then
        table.insert(self.events, msg)
      end
    end
  end)
  self.errpipe:read_start(function(_, data)
    if data then self.stderr = self.stderr .. data end
  end)
  return self
end

function Dap:send(command, arguments)
  self.seq = self.seq + 1
  local body = vim.json.encode({ seq = self.seq, type = "request", command = command, arguments = arguments or vim.empty_dict() })
  self.stdin:write("Content-Length: " .. #body .. "\r\n\r\n" .. body)
  return self.seq
end

function Dap:response(seq, ms, what)
  T.wait(ms or 30000, function() return self.responses[seq] ~= nil end, (what or "a response") .. " (adapter stderr: " .. self.stderr .. ")")
  local r = self.responses[seq]
  T.ok(r.success, (what or "request") .. " failed: " .. vim.inspect(r))
  return r.body or {}
end

function Dap:request(command, arguments, ms)
  return self:response(self:send(command, arguments), ms, command)
end

function Dap:event(name, ms, pred)
  local found
  T.wait(ms or 30000, function()
    for _, e in ipairs(self.events) do
      if e.event == name and (pred == nil or pred(e.body or {})) then
        found = e
        return true
      end
    end
    return false
  end, "the " .. name .. " event (adapter stderr: " .. self.stderr .. ")")
  return found.body or {}
end

-- What nvim-dap does to a configuration before it sends it: ${workspaceFolder} and function values.
local function resolve(config)
  local out = {}
  for k, v in pairs(config) do
    if type(v) == "function" then v = v() end
    if type(v) == "string" then v = v:gsub("%${workspaceFolder}", demo) end
    out[k] = v
  end
  return out
end

local LEFTOVERS = [[
  Server = whereis(dbg_iserver),
  Interpreted = case Server of undefined -> []; _ -> int:interpreted() end,
  Breaks = case Server of undefined -> []; _ -> int:all_breaks() end,
  Suspended = [P || P <- processes(), erlang:process_info(P, status) =:= {status, suspended}],
  {Interpreted, Breaks, Suspended}.]]

T.test("dap: the plugin's adapter and attach configuration stop a process on another node; scopes, evaluate, continue, disconnect", function()
  local adapter = dap.adapters.orbit
  T.eq({ adapter.type, adapter.args }, { "executable", { "dap" } }, "the adapter setup() registered")
  local config
  for _, c in ipairs(dap.configurations.elixir or {}) do
    if c.type == "orbit" and c.request == "attach" then config = resolve(c) end
  end
  T.ok(config, "an orbit attach configuration for elixir")
  T.eq({ config.node, config.cookieFile, config.projectDir }, { nodes[1], cookie_file, demo }, "the attach configuration")
  for _, n in ipairs(nodes) do
    T.eq((erl(n, LEFTOVERS):gsub("%s", "")), "{[],[],[]}", n .. " before the session")
  end

  local line
  for i, l in ipairs(vim.fn.readfile(account_ex)) do
    if not line and l:find("new_balance = state.balance + amount", 1, true) then line = i end
  end
  T.ok(line, "the deposit clause's first line")

  local s = Dap.start(adapter)
  local caps = s:request("initialize", { clientID = "neovim", adapterID = "orbit", linesStartAt1 = true, columnsStartAt1 = true, pathFormat = "path" })
  T.ok(caps.supportsConfigurationDoneRequest, "configurationDone is supported")
  local attach = s:send("attach", config)
  s:event("initialized", 60000)
  local bps = s:request("setBreakpoints", { source = { path = account_ex }, breakpoints = { { line = line } } })
  T.ok(bps.breakpoints[1].verified, "the breakpoint is verified: " .. vim.inspect(bps))
  s:request("configurationDone")
  s:response(attach, 60000, "attach")

  -- An account on node 2, and a deposit into it from node 1 that waits while its process is stopped.
  local id
  for k = 0, 63 do
    if not id and erl(nodes[1], ("'Elixir.Bank':owner_node(<<\"nvim-%d\">>)."):format(k)) == nodes[2] then id = "nvim-" .. k end
  end
  T.ok(id, "an account id placed on " .. nodes[2])
  T.ok(erl(nodes[1], ("'Elixir.Bank':open_account(<<\"%s\">>, <<\"nvim\">>, 100)."):format(id)):find("^{ok,"), "account opened")
  local reply = erl_async(nodes[1], ("gen_server:call('Elixir.Bank':whereis(<<\"%s\">>), {deposit, 25}, 60000)."):format(id))

  local stopped = s:event("stopped", 30000)
  local thread
  for _, t in ipairs(s:request("threads").threads) do
    if t.id == stopped.threadId then thread = t end
  end
  T.ok(thread and thread.name:find(nodes[2] .. " #PID<", 1, true) and thread.name:find("Bank.Account.handle_call/3", 1, true), "the stopped thread is named by its node: " .. vim.inspect(thread))
  local frame = s:request("stackTrace", { threadId = stopped.threadId }).stackFrames[1]
  T.eq({ frame.line, frame.source and frame.source.path }, { line, account_ex }, "the top frame")
  local scopes = s:request("scopes", { frameId = frame.id }).scopes
  T.ok(#scopes > 0 and scopes[1].variablesReference > 0, "scopes: " .. vim.inspect(scopes))
  local vars = {}
  for _, v in ipairs(s:request("variables", { variablesReference = scopes[1].variablesReference }).variables) do
    vars[v.name] = v.value
  end
  T.eq(vars.amount, "25", "amount")
  T.eq(vars.state, ('%%Bank.Account{id: "%s", owner: "nvim", balance: 100, history: []}'):format(id), "state, in Elixir syntax")
  T.eq(s:request("evaluate", { expression = "state.balance + amount", frameId = frame.id, context = "watch" }).result, "125", "evaluate")

  s:request("continue", { threadId = stopped.threadId })
  T.wait(30000, function() return reply() ~= nil end, "the deposit's reply")
  T.eq((reply():gsub("%s", "")), "{ok,125}", "the caller on node 1 gets its reply")

  s:request("disconnect", { terminateDebuggee = false }, 60000)
  T.wait(15000, function() return s.exit_code ~= nil end, "orbit dap to exit after disconnect")
  for _, n in ipairs(nodes) do
    T.wait(30000, function() return (erl(n, LEFTOVERS):gsub("%s", "")) == "{[],[],[]}" end, n .. " left as it was: " .. erl(n, LEFTOVERS))
  end
end)

T.run()
