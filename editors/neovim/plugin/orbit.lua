-- Orbit is configured with require("orbit").setup({...}); nothing is started before that.
if vim.g.loaded_orbit then
  return
end
vim.g.loaded_orbit = true
