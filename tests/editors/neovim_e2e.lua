-- Driven by neovim_e2e.sh: the plugin with the real orbit lsp against a real 3-node cluster in
-- which Bank.Fees differs on one node.
package.path = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h") .. "/../../editors/neovim/tests/?.lua;" .. package.path
local T = require("harness")
local nodes = vim.split(vim.env.ORBIT_E2E_NODES, ",")

local orbit = require("orbit")
orbit.setup({ cmd = vim.env.ORBIT_E2E_BIN, nodes = { nodes[1] }, cookie_file = vim.env.ORBIT_E2E_COOKIE_FILE })

local function drift_diags()
  return vim.tbl_filter(function(d)
    local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)
    return code == "drift" and d.source == "orbit"
  end, vim.diagnostic.get(0))
end

T.test("e2e: diagnostics arrive for a module that drifts", function()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.env.ORBIT_E2E_FILE))
  vim.bo.filetype = "elixir"
  T.wait(30000, function()
    local c = orbit.client()
    return c ~= nil and c.initialized ~= false and c.server_capabilities ~= nil
      or c ~= nil and c.resolved_capabilities ~= nil and next(c.resolved_capabilities) ~= nil
  end, "orbit lsp to start and initialize")
  T.wait(90000, function()
    return #drift_diags() > 0
  end, "the drift diagnostic on Bank.Fees")
  T.ok(drift_diags()[1].message:find("Bank.Fees", 1, true), drift_diags()[1].message)
end)

local function require_client()
  T.ok(orbit.client() ~= nil, "orbit lsp is not running (it failed to start or to initialize: see the messages above)")
end

T.test("e2e: :OrbitReload reloads and the drift diagnostic clears", function()
  require_client()
  orbit.state.last_result = nil
  vim.cmd("OrbitReload")
  T.wait(120000, function()
    return type(orbit.state.last_result) == "table" and orbit.state.last_result.outcome ~= nil
  end, ":OrbitReload to be answered")
  local result = orbit.state.last_result
  T.eq(result.consistent, true, "consistent after reload: " .. vim.inspect(result))
  T.wait(60000, function()
    return #drift_diags() == 0
  end, "the drift diagnostic to clear")
end)

T.test("e2e: :OrbitStatus shows every node", function()
  require_client()
  orbit.state.last_float = nil
  vim.cmd("OrbitStatus")
  T.wait(30000, function()
    return orbit.state.last_float ~= nil
  end, "the status float")
  local text = T.buffer_text(orbit.state.last_float.buf)
  for _, n in ipairs(nodes) do
    T.ok(text:find(n, 1, true), n .. " missing from:\n" .. text)
  end
end)

T.run()
