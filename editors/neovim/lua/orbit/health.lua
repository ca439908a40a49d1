-- :checkhealth orbit
local M = {}

-- vim.health (0.9+) or the older require("health") reporters (0.7/0.8).
local function reporter()
  local h = vim.health
  if h and h.start then
    return { start = h.start, ok = h.ok, warn = h.warn, error = h.error, info = h.info }
  end
  local old = require("health")
  return { start = old.report_start, ok = old.report_ok, warn = old.report_warn, error = old.report_error, info = old.report_info }
end

function M.check()
  local r = reporter()
  local orbit = require("orbit")
  local format = require("orbit.format")

  r.start("orbit: set-up")
  if orbit.state.setup_done then
    r.ok('require("orbit").setup() was called')
  else
    r.warn('require("orbit").setup() was not called', { 'Add require("orbit").setup({ nodes = { "app@host" } }) to your config' })
  end
  if vim.lsp.start then
    r.ok("vim.lsp.start is available (Neovim 0.8+)")
  else
    r.ok("Neovim 0.7: vim.lsp.start_client")
  end

  r.start("orbit: executable")
  local exe = orbit.executable()
  if vim.fn.executable(exe) == 1 then
    r.ok("orbit: " .. exe)
    local version = vim.fn.system({ exe, "--version" })
    if vim.v.shell_error == 0 then
      r.info(vim.trim(version))
    end
    vim.fn.system({ exe, "lsp", "--help" })
    if vim.v.shell_error == 0 then
      r.ok("`orbit lsp` is available")
    else
      r.error("`orbit lsp --help` failed: this orbit has no language server", { "Update orbit" })
    end
    vim.fn.system({ exe, "dap", "--help" })
    if vim.v.shell_error == 0 then
      r.ok("`orbit dap` is available")
    else
      r.error("`orbit dap --help` failed")
    end
  else
    r.error("orbit not found (" .. exe .. ")", { 'Put orbit on PATH or pass setup({ cmd = "/path/to/orbit" })' })
  end

  r.start("orbit: debugger (nvim-dap)")
  local has_dap, dap = pcall(require, "dap")
  if not has_dap then
    r.warn("nvim-dap is not installed: debugging is off (the language server features still work)", { "Install mfussenegger/nvim-dap" })
  elseif orbit.state.dap_registered and type(dap.adapters) == "table" and dap.adapters.orbit then
    r.ok("adapter `orbit` registered (" .. tostring(dap.adapters.orbit.type) .. ")")
  else
    r.warn("nvim-dap is installed but the orbit adapter is not registered", { "Call setup() after nvim-dap is on the runtimepath" })
  end

  r.start("orbit: language server")
  local settings = orbit.server_settings()
  if settings.nodes then
    r.ok("nodes: " .. table.concat(settings.nodes, ", "))
  else
    r.info("no nodes in setup(): the server uses .orbit.toml or $ORBIT_NODE")
  end
  local client = orbit.client()
  if client then
    r.ok("orbit lsp is running (client " .. client.id .. ")")
    r.info(format.health_summary(orbit.state.health))
  else
    r.info("orbit lsp is not running: it starts with the first Elixir or Erlang buffer")
  end
end

return M
