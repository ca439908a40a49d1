-- Pure text renderings of orbit lsp results (the README, section `orbit lsp`) for floating windows.
local M = {}

local function count(n)
  if type(n) ~= "number" then
    return "?"
  end
  local s = tostring(math.floor(n))
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (out:gsub("^,", ""))
end
M.count = count

function M.bytes(n)
  if type(n) ~= "number" then
    return "?"
  end
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local i = 1
  while n >= 1024 and i < #units do
    n = n / 1024
    i = i + 1
  end
  if i == 1 then
    return string.format("%d B", n)
  end
  return string.format("%.1f %s", n, units[i])
end

local function str(v)
  if v == nil or v == vim.NIL then
    return nil
  end
  return tostring(v)
end

--- One line for the status line / notifications: "3/3 up" plus the worst alert.
function M.health_summary(h)
  if type(h) ~= "table" then
    return "Orbit: no cluster status yet"
  end
  if h.connected ~= true then
    return "Orbit: disconnected" .. (str(h.message) and (" — " .. h.message) or "")
  end
  local nodes = type(h.nodes) == "table" and h.nodes or {}
  local up = 0
  for _, n in ipairs(nodes) do
    if n.up == true then
      up = up + 1
    end
  end
  local rank = { info = 0, warning = 1, degraded = 2, critical = 3 }
  local worst
  for _, a in ipairs(type(h.alerts) == "table" and h.alerts or {}) do
    if worst == nil or (rank[a.level] or 1) > (rank[worst.level] or 1) then
      worst = a
    end
  end
  local s = string.format("Orbit %d/%d up (%s)", up, #nodes, str(h.status) or "?")
  if worst then
    s = s .. " · " .. (str(worst.level) or "alert") .. ": " .. (str(worst.message) or "")
  end
  return s
end

function M.status_lines(h)
  local lines = { M.health_summary(h) }
  if type(h) ~= "table" then
    return lines
  end
  for _, n in ipairs(type(h.nodes) == "table" and h.nodes or {}) do
    local q = ""
    if type(n.longestQueue) == "table" then
      q = string.format(", longest queue %s (%s)", count(n.longestQueue.len), str(n.longestQueue.pid) or "?")
    end
    table.insert(
      lines,
      string.format(
        "%s %s  %s%s  %s processes, %s%s",
        n.up == true and "●" or "○",
        str(n.node) or "?",
        n.up == true and (str(n.status) or "ok") or "DOWN",
        str(n.reason) and (" (" .. n.reason .. ")") or "",
        count(n.processes),
        M.bytes(n.memory),
        q
      )
    )
  end
  if type(h.partition) == "table" and type(h.partition.groups) == "table" then
    local groups = {}
    for _, g in ipairs(h.partition.groups) do
      table.insert(groups, "[" .. table.concat(g, ", ") .. "]")
    end
    table.insert(lines, "PARTITION: " .. table.concat(groups, " "))
  end
  for _, a in ipairs(type(h.alerts) == "table" and h.alerts or {}) do
    table.insert(lines, string.format("! %s %s%s", str(a.level) or "", str(a.node) and (a.node .. " ") or "", str(a.message) or ""))
  end
  return lines
end

function M.reload_summary(r)
  if type(r) ~= "table" then
    return "reload: done"
  end
  local mods = {}
  for _, m in ipairs(type(r.modules) == "table" and r.modules or {}) do
    table.insert(mods, str(m.module) or "?")
  end
  local n = type(r.nodes) == "table" and #r.nodes or 0
  local s = string.format("reload of %s: %s on %d node(s)", #mods > 0 and table.concat(mods, ", ") or "module", str(r.outcome) or "done", n)
  if r.consistent == false then
    s = s .. " — NOT consistent"
  end
  return s
end

function M.drift_lines(d)
  if type(d) ~= "table" then
    return { "no answer" }
  end
  local modules = type(d.modules) == "table" and d.modules or {}
  local nodes = type(d.nodes) == "table" and #d.nodes or 0
  if #modules == 0 then
    return { string.format("No drift: %s modules agree on %d nodes.", count(d.checked), nodes) }
  end
  local lines = { string.format("%d of %s modules drift across %d nodes:", #modules, count(d.checked), nodes) }
  for _, m in ipairs(modules) do
    local parts = {}
    local names = vim.tbl_keys(type(m.versions) == "table" and m.versions or {})
    table.sort(names)
    for _, node in ipairs(names) do
      local v = m.versions[node]
      local what = (type(v) == "table" and v.state == "loaded") and string.sub(str(v.md5) or "?", 1, 8) or "not loaded"
      table.insert(parts, node .. "=" .. what)
    end
    table.insert(lines, string.format("  %s (%s): %s", str(m.module) or "?", str(m.kind) or "?", table.concat(parts, ", ")))
  end
  for _, u in ipairs(type(d.unanswered) == "table" and d.unanswered or {}) do
    table.insert(lines, string.format("  ! %s did not answer: %s", str(u[1]) or "?", str(u[2]) or "?"))
  end
  return lines
end

function M.process_lines(r)
  if type(r) ~= "table" then
    return { "no answer" }
  end
  local procs = type(r.processes) == "table" and r.processes or {}
  local lines = { string.format("%s processes (showing %d)", count(r.total), #procs) }
  for _, p in ipairs(procs) do
    table.insert(
      lines,
      string.format(
        "%s %s%s  mem %s  queue %s  %s",
        str(p.node) or "?",
        str(p.pid) or "?",
        str(p.registered_name) and (" " .. p.registered_name) or "",
        M.bytes(p.memory),
        count(p.message_queue_len),
        str(p.current_function) or ""
      )
    )
  end
  if type(r.errors) == "table" then
    for node, why in pairs(r.errors) do
      table.insert(lines, string.format("! %s: %s", node, tostring(why)))
    end
  end
  return lines
end

function M.sandbox_lines(list)
  if type(list) ~= "table" or #list == 0 then
    return { "no sandboxes" }
  end
  local lines = {}
  for _, s in ipairs(list) do
    table.insert(lines, string.format("%s  %s on %s", str(s.id) or "?", str(s.status) or "?", str(s.node) or "?"))
  end
  return lines
end

function M.trace_lines(pattern, r)
  if type(r) ~= "table" or r.stopped == false then
    return { "no trace is running" }
  end
  local lines = { string.format("%s — %s", pattern, str(r.reason) or "stopped") }
  local calls = type(r.calls) == "table" and r.calls or {}
  local names = vim.tbl_keys(calls)
  table.sort(names, function(a, b)
    return (calls[a] or 0) > (calls[b] or 0)
  end)
  for _, k in ipairs(names) do
    table.insert(lines, string.format("  %8s  %s", count(calls[k]), k))
  end
  if #names == 0 then
    table.insert(lines, "  no calls seen")
  end
  return lines
end

--- A profile (orbit.profile.start / orbit.profile.result) as lines: what and where, the table, the files.
function M.profile_lines(r)
  if type(r) ~= "table" or r.profile == vim.NIL or r.table == nil then
    return { "no profile yet: :OrbitProfile [Module …] [5s]" }
  end
  local lines = { string.format("Orbit profile %s: %s", str(r.id) or "", str(r.what) or "") }
  for _, l in ipairs(vim.split(r.table, "\n", { trimempty = true })) do
    table.insert(lines, l)
  end
  for _, f in ipairs({ { "flame graph", r.flamegraph }, { "speedscope", r.speedscope }, { "folded stacks", r.folded } }) do
    if type(f[2]) == "string" then
      table.insert(lines, string.format("%s: %s", f[1], f[2]))
    end
  end
  return lines
end

--- The module a buffer defines (first defmodule / -module).
function M.module_of(lines)
  for _, l in ipairs(lines) do
    local ex = l:match("^%s*defmodule%s+([%u][%w_%.]*)")
    if ex then
      return ex
    end
    local erl = l:match("^%-module%(%s*'?([%l][%w_@]*)'?%s*%)")
    if erl then
      return erl
    end
  end
  return nil
end

local function count_args(s)
  if s == nil or s:match("^%s*$") then
    return 0
  end
  local depth, n = 0, 1
  for c in s:gmatch(".") do
    if c == "(" or c == "[" or c == "{" then
      depth = depth + 1
    elseif c == ")" or c == "]" or c == "}" then
      depth = depth - 1
    elseif c == "," and depth == 0 then
      n = n + 1
    end
  end
  return n
end
M.count_args = count_args

--- The trace pattern of the function at or above line `row` (0-based).
function M.function_at(lines, row)
  local mod = M.module_of(lines)
  if not mod then
    return nil
  end
  for i = math.min(row + 1, #lines), 1, -1 do
    local l = lines[i]
    local name, rest = l:match("^%s*defp?%s+([%l_][%w_?!]*)(.*)$")
    if name then
      local args = rest:match("^%s*(%b())")
      return string.format("%s.%s/%d", mod, name, args and count_args(args:sub(2, -2)) or 0)
    end
    local ename, eargs = l:match("^([%l][%w_@]*)(%b())%s*.-%->")
    if ename and mod:match("^%l") then
      return string.format("%s:%s/%d", mod, ename, count_args(eargs:sub(2, -2)))
    end
  end
  return nil
end

return M
