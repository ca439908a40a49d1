-- Orbit for Neovim: the debugger (`orbit dap`, through nvim-dap when it is installed) and the
-- language server (`orbit lsp`, through Neovim's built-in client) for Elixir and Erlang buffers,
-- with :Orbit* commands over the server's workspace/executeCommand commands.
--
--   require("orbit").setup({ nodes = { "app@127.0.0.1" }, cookie_file = "~/.erlang.cookie" })
--
-- Works on Neovim 0.7 (vim.lsp.start_client) and later (vim.lsp.start).

local format = require("orbit.format")

local M = {}

local defaults = {
  -- Path of the orbit executable; nil: `orbit` on PATH.
  cmd = nil,
  -- Settings passed to `orbit lsp` (initializationOptions and workspace/configuration "orbit").
  nodes = nil, -- { "a@host", ... }
  cookie = nil,
  cookie_file = nil,
  auto_reload_on_save = nil,
  refresh_interval_ms = nil,
  thresholds = nil, -- { mailboxWarning = n, mailboxCritical = n, memoryWarning = bytes }
  trace_limit = nil,
  -- Observe only: the language server refuses reloads, sandbox operations and unlimited traces.
  read_only = nil,
  -- TLS distribution (-proto_dist inet_tls), for the language server and the attach configuration:
  -- { ssl_dist_optfile = path, cert = path, key = path, ca = path, verify = "verify_peer", server_name = name }
  -- (orbit's --ssl-dist-optfile, --tls-cert, --tls-key, --tls-ca, --tls-verify, --tls-server-name).
  tls = nil,
  lsp = {
    enabled = true,
    filetypes = { "elixir", "erlang" },
    root_markers = { "mix.exs", "rebar.config", ".orbit.toml", ".git" },
  },
  dap = {
    enabled = true,
    -- nil: stdio (`executable` adapter); a number: `orbit dap --port N` as a `server` adapter.
    port = nil,
    -- Add the default attach/launch configurations for Elixir and Erlang.
    configurations = true,
  },
}

M.config = vim.deepcopy(defaults)
M.state = {
  setup_done = false,
  dap_registered = false,
  health = nil, -- the last orbit/clusterHealth
  clients = {}, -- root_dir -> client id (Neovim 0.7)
  last_float = nil, -- { buf = n, win = n }
  last_result = nil, -- the last command's result (for tests and scripts)
}

local function notify(msg, level)
  vim.notify("Orbit: " .. msg, level or vim.log.levels.INFO)
end

--- The orbit executable: `cmd` from setup, else `orbit` on PATH (as a full path when found).
function M.executable()
  local cmd = M.config.cmd
  if cmd and cmd ~= "" then
    return vim.fn.expand(cmd)
  end
  local found = vim.fn.exepath("orbit")
  if found ~= "" then
    return found
  end
  return "orbit"
end

-- `tls` option -> settings key (the same in the server's settings and attach configurations); paths are expanded.
local tls_keys = {
  { "ssl_dist_optfile", "sslDistOptfile", true },
  { "cert", "tlsCert", true },
  { "key", "tlsKey", true },
  { "ca", "tlsCa", true },
  { "verify", "tlsVerify", false },
  { "server_name", "tlsServerName", false },
}

--- Adds the `tls` option's keys that are set to `into`.
local function add_tls(into)
  local tls = M.config.tls
  if type(tls) ~= "table" then
    return into
  end
  for _, k in ipairs(tls_keys) do
    local v = tls[k[1]]
    if type(v) == "string" and v ~= "" then
      into[k[2]] = k[3] and vim.fn.expand(v) or v
    end
  end
  return into
end

--- The settings object `orbit lsp` reads (the README, section `orbit lsp`): only keys that are set.
function M.server_settings()
  local c = M.config
  local s = {}
  if type(c.nodes) == "table" and #c.nodes > 0 then
    s.nodes = c.nodes
  end
  if c.cookie and c.cookie ~= "" then
    s.cookie = c.cookie
  end
  if c.cookie_file and c.cookie_file ~= "" then
    s.cookieFile = vim.fn.expand(c.cookie_file)
  end
  if c.auto_reload_on_save ~= nil then
    s.autoReloadOnSave = c.auto_reload_on_save
  end
  if c.refresh_interval_ms then
    s.refreshIntervalMs = c.refresh_interval_ms
  end
  if type(c.thresholds) == "table" then
    for _, k in ipairs({ "mailboxWarning", "mailboxCritical", "memoryWarning" }) do
      if c.thresholds[k] then
        s[k] = c.thresholds[k]
      end
    end
  end
  if c.trace_limit then
    s.traceLimit = c.trace_limit
  end
  if c.read_only ~= nil then
    s.readOnly = c.read_only
  end
  return add_tls(s)
end

-- nvim-dap ---------------------------------------------------------------------------------------

local function has_config(list, name)
  for _, c in ipairs(list) do
    if c.name == name then
      return true
    end
  end
  return false
end

--- The default debug configurations (the same the VS Code extension offers).
function M.dap_configurations()
  local first = type(M.config.nodes) == "table" and M.config.nodes[1] or nil
  local attach = {
    type = "orbit",
    request = "attach",
    name = "Orbit: attach to a node",
    node = first or function()
      return vim.fn.input("Node to attach to: ", "app@127.0.0.1")
    end,
    projectDir = "${workspaceFolder}",
  }
  if M.config.cookie and M.config.cookie ~= "" then
    attach.cookie = M.config.cookie
  elseif M.config.cookie_file and M.config.cookie_file ~= "" then
    attach.cookieFile = vim.fn.expand(M.config.cookie_file)
  end
  add_tls(attach)
  local launch = {
    type = "orbit",
    request = "launch",
    name = "Orbit: launch a 3-node local cluster",
    projectDir = "${workspaceFolder}",
    nodes = 3,
    command = "mix run --no-halt",
  }
  return { attach, launch }
end

--- Registers the `orbit` adapter (and configurations) with an nvim-dap module.
function M.register_dap(dap)
  local exe = M.executable()
  local port = M.config.dap.port
  if port then
    dap.adapters.orbit = {
      type = "server",
      host = "127.0.0.1",
      port = port,
      executable = { command = exe, args = { "dap", "--port", tostring(port) } },
    }
  else
    dap.adapters.orbit = { type = "executable", command = exe, args = { "dap" } }
  end
  if M.config.dap.configurations then
    dap.configurations = dap.configurations or {}
    for _, ft in ipairs({ "elixir", "erlang" }) do
      dap.configurations[ft] = dap.configurations[ft] or {}
      for _, c in ipairs(M.dap_configurations()) do
        if not has_config(dap.configurations[ft], c.name) then
          table.insert(dap.configurations[ft], c)
        end
      end
    end
  end
  M.state.dap_registered = true
end

-- Language server --------------------------------------------------------------------------------

local function find_root(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local dir = name ~= "" and vim.fn.fnamemodify(name, ":p:h") or vim.fn.getcwd()
  for _, marker in ipairs(M.config.lsp.root_markers) do
    local found = vim.fn.findfile(marker, dir .. ";")
    if found == "" then
      found = vim.fn.finddir(marker, dir .. ";")
    end
    if found ~= "" then
      return vim.fn.fnamemodify(found, ":p:h"):gsub("/%.git/?$", ""):gsub("/$", "")
    end
  end
  return vim.fn.getcwd()
end

local function on_health(_, result)
  M.state.health = result
  vim.schedule(function()
    pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "OrbitHealth", modeline = false })
  end)
end

--- The client configuration for a buffer.
function M.lsp_config(bufnr)
  local settings = M.server_settings()
  return {
    name = "orbit",
    cmd = { M.executable(), "lsp" },
    root_dir = find_root(bufnr or 0),
    init_options = settings,
    settings = { orbit = settings },
    handlers = {
      ["orbit/clusterHealth"] = on_health,
    },
  }
end

--- Starts (or reuses) the language server for a buffer.
function M.start_lsp(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local config = M.lsp_config(bufnr)
  if vim.lsp.start then
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local id = M.state.clients[config.root_dir]
  if id == nil or vim.lsp.get_client_by_id(id) == nil then
    id = vim.lsp.start_client(config)
    M.state.clients[config.root_dir] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

local function all_clients()
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ name = "orbit" })
  end
  local out = {}
  for _, c in ipairs(vim.lsp.get_active_clients()) do
    if c.name == "orbit" then
      table.insert(out, c)
    end
  end
  return out
end

--- The running orbit client (the current buffer's first), or nil.
function M.client()
  local bufnr = vim.api.nvim_get_current_buf()
  local clients = all_clients()
  for _, c in ipairs(clients) do
    if vim.lsp.buf_is_attached(bufnr, c.id) then
      return c
    end
  end
  return clients[1]
end

--- Sends a request to orbit lsp; calls `cb(result)` on success, notifies on error.
function M.request(method, params, cb)
  local client = M.client()
  if client == nil then
    notify("the language server is not running (open an Elixir or Erlang file, see :checkhealth orbit)", vim.log.levels.ERROR)
    return
  end
  local handler = function(err, result)
    if err then
      notify(method .. ": " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    M.state.last_result = result
    if cb then
      cb(result)
    end
  end
  local bufnr = vim.api.nvim_get_current_buf()
  if vim.fn.has("nvim-0.11") == 1 then
    client:request(method, params, handler, bufnr)
  else
    client.request(method, params, handler, bufnr)
  end
end

--- Runs a server command with its one object argument.
function M.execute(command, args, cb)
  local clean = {}
  for k, v in pairs(args or {}) do
    if v ~= nil then
      clean[k] = v
    end
  end
  if next(clean) == nil then
    clean = vim.empty_dict()
  end
  M.request("workspace/executeCommand", { command = command, arguments = { clean } }, cb)
end

-- UI ---------------------------------------------------------------------------------------------

--- Shows lines in a centred floating window; `q` or <Esc> closes it.
function M.float(lines, title)
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = "wipe"
  local width = 20
  for _, l in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(l))
  end
  width = math.min(width + 2, math.max(20, vim.o.columns - 4))
  local height = math.min(#lines, math.max(1, vim.o.lines - 6))
  local opts = {
    relative = "editor",
    width = width,
    height = height,
    row = math.max(0, math.floor((vim.o.lines - height) / 2) - 1),
    col = math.max(0, math.floor((vim.o.columns - width) / 2)),
    style = "minimal",
    border = "rounded",
  }
  if vim.fn.has("nvim-0.9") == 1 and title then
    opts.title = " " .. title .. " "
  end
  local win = vim.api.nvim_open_win(buf, true, opts)
  for _, key in ipairs({ "q", "<Esc>" }) do
    vim.api.nvim_buf_set_keymap(buf, "n", key, "<cmd>close<CR>", { nowait = true, noremap = true, silent = true })
  end
  M.state.last_float = { buf = buf, win = win, title = title }
  return buf, win
end

local function node_names()
  local h = M.state.health
  local out = {}
  if type(h) == "table" and type(h.nodes) == "table" then
    for _, n in ipairs(h.nodes) do
      table.insert(out, n.node)
    end
  end
  return out
end

local function complete_from(list, lead)
  return vim.tbl_filter(function(x)
    return x:sub(1, #lead) == lead
  end, list)
end

local function current_file()
  local name = vim.api.nvim_buf_get_name(0)
  if name == "" then
    notify("this buffer has no file", vim.log.levels.ERROR)
    return nil
  end
  if vim.bo.modified then
    vim.cmd("silent write")
  end
  return vim.fn.fnamemodify(name, ":p")
end

-- Commands ---------------------------------------------------------------------------------------

function M.status(cb)
  M.request("orbit/clusterStatus", nil, function(h)
    M.state.health = h
    M.float(format.status_lines(h), "Orbit cluster")
    if cb then
      cb(h)
    end
  end)
end

function M.reload(nodes, cb)
  local file = current_file()
  if not file then
    return
  end
  M.execute("orbit.reload", { file = file, nodes = (nodes and #nodes > 0) and nodes or nil }, function(r)
    notify(format.reload_summary(r))
    if cb then
      cb(r)
    end
  end)
end

function M.drift(module, cb)
  M.execute("orbit.drift", { module = module }, function(r)
    M.float(format.drift_lines(r), "Orbit drift")
    if cb then
      cb(r)
    end
  end)
end

function M.processes(args, cb)
  M.execute("orbit.processes", args, function(r)
    M.float(format.process_lines(r), "Orbit processes")
    if cb then
      cb(r)
    end
  end)
end

function M.trace_start(pattern, limit, cb)
  pattern = pattern or format.function_at(vim.api.nvim_buf_get_lines(0, 0, -1, false), vim.fn.line(".") - 1)
  if not pattern then
    notify("put the cursor in a function, or give a pattern: :OrbitTrace Mod.fun/2", vim.log.levels.ERROR)
    return
  end
  M.execute("orbit.trace.start", { pattern = pattern, limit = limit }, function(r)
    M.state.trace_pattern = pattern
    notify("tracing " .. pattern .. " (:OrbitTrace stop shows the calls)")
    if cb then
      cb(r)
    end
  end)
end

function M.trace_stop(cb)
  M.execute("orbit.trace.stop", {}, function(r)
    M.float(format.trace_lines(M.state.trace_pattern or "trace", r), "Orbit trace")
    if cb then
      cb(r)
    end
  end)
end

--- Shows lines in a scratch buffer of its own (a split), named `title`; reused by the next call.
function M.scratch(lines, title)
  local buf = M.state.scratch_buf
  if not (buf and vim.api.nvim_buf_is_valid(buf)) then
    buf = vim.api.nvim_create_buf(false, true)
    vim.bo[buf].bufhidden = "hide"
    vim.bo[buf].buftype = "nofile"
    vim.bo[buf].swapfile = false
    pcall(vim.api.nvim_buf_set_name, buf, "orbit://" .. title)
    M.state.scratch_buf = buf
  end
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  if vim.fn.bufwinid(buf) == -1 then
    vim.cmd("botright split")
    vim.api.nvim_win_set_buf(0, buf)
  end
  return buf
end

--- Profiles modules across the cluster (the buffer's own by default) for `duration` ("5s"), then shows
--- the table in a buffer; the lenses show each function's figures.
function M.profile(modules, duration, cb)
  if #modules == 0 then
    local m = format.module_of(vim.api.nvim_buf_get_lines(0, 0, -1, false))
    if not m then
      notify("no module in this buffer: :OrbitProfile Module [Module …] [5s]", vim.log.levels.ERROR)
      return
    end
    modules = { m }
  end
  local ms = nil
  if duration then
    local n, unit = duration:match("^(%d+%.?%d*)(%a*)$")
    local scale = ({ [""] = 1000, s = 1000, ms = 1, m = 60000 })[unit or ""]
    if not (n and scale) then
      notify("a duration such as 5s or 500ms, not " .. duration, vim.log.levels.ERROR)
      return
    end
    ms = math.floor(tonumber(n) * scale)
  end
  notify("profiling " .. table.concat(modules, ", ") .. " across the cluster…")
  M.execute("orbit.profile.start", { modules = modules, durationMs = ms }, function(r)
    M.state.profile_buf = M.scratch(format.profile_lines(r), "profile")
    if cb then
      cb(r)
    end
  end)
end

function M.profile_show(cb)
  M.execute("orbit.profile.result", {}, function(r)
    M.state.profile_buf = M.scratch(format.profile_lines(r), "profile")
    if cb then
      cb(r)
    end
  end)
end

local function show_json(title)
  return function(r)
    M.float(vim.split(vim.inspect(r), "\n"), title)
  end
end

M.sandbox = {
  create = function(module, node)
    module = module or format.module_of(vim.api.nvim_buf_get_lines(0, 0, -1, false))
    if not module then
      notify("no module in this buffer: :OrbitSandbox create Module [node]", vim.log.levels.ERROR)
      return
    end
    M.execute("orbit.sandbox.create", { module = module, node = node }, show_json("Orbit sandbox"))
  end,
  list = function()
    M.execute("orbit.sandbox.list", {}, function(r)
      M.float(format.sandbox_lines(r), "Orbit sandboxes")
    end)
  end,
  migrate = function(name, to)
    if not (name and to) then
      notify(":OrbitSandbox migrate NAME NODE", vim.log.levels.ERROR)
      return
    end
    M.execute("orbit.sandbox.migrate", { name = name, to = to }, show_json("Orbit sandbox migrate"))
  end,
  destroy = function(name)
    if not name then
      notify(":OrbitSandbox destroy NAME", vim.log.levels.ERROR)
      return
    end
    M.execute("orbit.sandbox.destroy", { name = name }, show_json("Orbit sandbox destroy"))
  end,
  balance = function(dry)
    M.execute("orbit.sandbox.balance", { dryRun = dry == "dry" or nil }, show_json("Orbit sandbox balance"))
  end,
}

local function define_commands()
  local cmd = vim.api.nvim_create_user_command
  cmd("OrbitReload", function(o)
    M.reload(o.fargs)
  end, {
    nargs = "*",
    desc = "Orbit: reload this buffer's module on every node (or on the nodes given)",
    complete = function(lead)
      return complete_from(node_names(), lead)
    end,
  })
  cmd("OrbitDrift", function(o)
    M.drift(o.fargs[1])
  end, { nargs = "?", desc = "Orbit: modules whose loaded version differs between nodes" })
  cmd("OrbitStatus", function()
    M.status()
  end, { nargs = 0, desc = "Orbit: cluster health in a floating window" })
  cmd("OrbitProcesses", function(o)
    local node, sort
    for _, a in ipairs(o.fargs) do
      if a == "memory" or a == "queue" or a == "reductions" then
        sort = a
      else
        node = a
      end
    end
    M.processes({ node = node, sort = sort or "memory", limit = 50 })
  end, {
    nargs = "*",
    desc = "Orbit: processes across the cluster ([node] [memory|queue|reductions])",
    complete = function(lead)
      return complete_from(vim.list_extend({ "memory", "queue", "reductions" }, node_names()), lead)
    end,
  })
  cmd("OrbitTrace", function(o)
    if o.fargs[1] == "stop" then
      M.trace_stop()
    else
      M.trace_start(o.fargs[1], tonumber(o.fargs[2]))
    end
  end, {
    nargs = "*",
    desc = "Orbit: trace calls of the function at the cursor (or PATTERN [LIMIT]); :OrbitTrace stop",
    complete = function(lead)
      return complete_from({ "stop" }, lead)
    end,
  })
  cmd("OrbitProfile", function(o)
    if o.fargs[1] == "show" then
      M.profile_show()
      return
    end
    local modules, duration = {}, nil
    for _, a in ipairs(o.fargs) do
      if a:match("^%d") then
        duration = a
      else
        table.insert(modules, a)
      end
    end
    M.profile(modules, duration)
  end, {
    nargs = "*",
    desc = "Orbit: profile this buffer's module (or MODULE …) across the cluster [DURATION, e.g. 5s]; :OrbitProfile show",
    complete = function(lead)
      return complete_from({ "show" }, lead)
    end,
  })
  cmd("OrbitSandbox", function(o)
    local sub = o.fargs[1]
    local f = M.sandbox[sub or ""]
    if not f then
      notify(":OrbitSandbox create|list|migrate|destroy|balance …", vim.log.levels.ERROR)
      return
    end
    f((table.unpack or unpack)(o.fargs, 2))
  end, {
    nargs = "+",
    desc = "Orbit: sandboxes (create [Module] [node] | list | migrate NAME NODE | destroy NAME | balance [dry])",
    complete = function(lead, line)
      local words = vim.split(line, "%s+")
      if #words <= 2 then
        return complete_from({ "create", "list", "migrate", "destroy", "balance" }, lead)
      end
      if words[2] == "balance" then
        return complete_from({ "dry" }, lead)
      end
      return complete_from(node_names(), lead)
    end,
  })
end

--- For a status line: "Orbit 3/3 up (ok)" and the worst alert, from the last orbit/clusterHealth.
function M.statusline()
  return format.health_summary(M.state.health)
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts or {})
  define_commands()
  if M.config.dap.enabled then
    local ok, dap = pcall(require, "dap")
    if ok and type(dap) == "table" then
      M.register_dap(dap)
    end
  end
  if M.config.lsp.enabled then
    local group = vim.api.nvim_create_augroup("orbit_lsp", { clear = true })
    vim.api.nvim_create_autocmd("FileType", {
      group = group,
      pattern = M.config.lsp.filetypes,
      callback = function(args)
        M.start_lsp(args.buf)
      end,
    })
  end
  M.state.setup_done = true
end

return M
