-- A tiny test runner for headless Neovim: T.test(name, fn), T.run() prints one line per test and
-- "N passed, N failed[, N skipped]", then exits Neovim with 0 or 1.
local T = { tests = {} }

-- Messages from the plugin go to stdout on their own lines (headless Neovim prints them unterminated).
vim.notify = function(msg, level)
  io.stdout:write(string.format("  [notify %s] %s\n", tostring(level or ""), tostring(msg)))
end
vim.lsp.handlers["window/showMessage"] = function(_, result)
  io.stdout:write(string.format("  [lsp %s] %s\n", tostring(result and result.type), tostring(result and result.message)))
end

function T.test(name, fn)
  table.insert(T.tests, { name = name, fn = fn })
end

function T.eq(a, b, what)
  if not vim.deep_equal(a, b) then
    error(string.format("%s: expected %s, got %s", what or "value", vim.inspect(b), vim.inspect(a)), 2)
  end
end

function T.ok(cond, what)
  if not cond then
    error(what or "assertion failed", 2)
  end
end

--- Waits up to `ms` for `cond()` to be true; fails with `what` otherwise.
function T.wait(ms, cond, what)
  if not vim.wait(ms, cond, 20) then
    error("timed out after " .. ms .. " ms waiting for " .. (what or "a condition"), 2)
  end
end

function T.skip(reason)
  error({ skip = reason })
end

function T.buffer_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end

function T.run()
  local passed, failed, skipped = 0, 0, 0
  for _, t in ipairs(T.tests) do
    local ok, err = xpcall(t.fn, function(e)
      if type(e) == "table" then
        return e
      end
      return debug.traceback(tostring(e), 2)
    end)
    if ok then
      passed = passed + 1
      io.stdout:write("ok   " .. t.name .. "\n")
    elseif type(err) == "table" and err.skip then
      skipped = skipped + 1
      io.stdout:write("skip " .. t.name .. ": " .. err.skip .. "\n")
    else
      failed = failed + 1
      io.stdout:write("FAIL " .. t.name .. "\n" .. tostring(type(err) == "table" and vim.inspect(err) or err) .. "\n")
    end
    -- close floats and extra windows between tests
    for _, w in ipairs(vim.api.nvim_list_wins()) do
      if vim.api.nvim_win_get_config(w).relative ~= "" then
        pcall(vim.api.nvim_win_close, w, true)
      end
    end
  end
  local line = string.format("%d passed, %d failed", passed, failed)
  if skipped > 0 then
    line = line .. string.format(", %d skipped", skipped)
  end
  io.stdout:write(line .. "\n")
  io.stdout:flush()
  vim.cmd(failed == 0 and "qall!" or "cquit 1")
end

return T
