-- Drives Neovim's built-in LSP client against `routec lsp` (run by
-- crates/routec/tests/neovim.rs): opens a policy, waits for the server's
-- diagnostics, asks for a hover, and writes everything it received to a
-- JSON file for the Rust test to check. Only APIs that exist in Neovim 0.7
-- (Debian 12) are used: vim.lsp.start_client, vim.lsp.buf_attach_client,
-- vim.wait, vim.lsp.buf_request_sync, vim.diagnostic.get.
--
-- Environment: ROUTEC_BIN (the binary), ROUTEC_POLICY (the file to open),
-- ROUTEC_OUT (where to write the JSON), ROUTEC_HOVER_LINE and
-- ROUTEC_HOVER_CHARACTER (0-based LSP position to hover).

local out_path = os.getenv('ROUTEC_OUT')
local report = { published = {}, diagnostics = {}, steps = {} }

local function step(what)
  table.insert(report.steps, what)
end

local function write_report()
  local file = assert(io.open(out_path, 'w'))
  file:write(vim.fn.json_encode(report))
  file:close()
end

local function run()
  local bin = assert(os.getenv('ROUTEC_BIN'), 'ROUTEC_BIN is not set')
  local policy = assert(os.getenv('ROUTEC_POLICY'), 'ROUTEC_POLICY is not set')
  report.nvim_version = vim.version()

  vim.cmd('edit ' .. vim.fn.fnameescape(policy))
  local buf = vim.api.nvim_get_current_buf()
  step('opened ' .. policy)

  local client_id = vim.lsp.start_client({
    name = 'routec',
    cmd = { bin, 'lsp' },
    root_dir = vim.fn.fnamemodify(policy, ':p:h'),
    handlers = {
      -- Record every notification as sent, then let Neovim handle it.
      ['textDocument/publishDiagnostics'] = function(err, result, ctx, config)
        table.insert(report.published, result)
        return vim.lsp.handlers['textDocument/publishDiagnostics'](err, result, ctx, config)
      end,
    },
    on_exit = function(code, signal)
      report.server_exit = { code = code, signal = signal }
    end,
  })
  assert(client_id, 'vim.lsp.start_client failed')
  assert(vim.lsp.buf_attach_client(buf, client_id), 'vim.lsp.buf_attach_client failed')
  step('started routec lsp')

  local got = vim.wait(30000, function()
    return #vim.diagnostic.get(buf) > 0
  end, 20)
  step(got and 'diagnostics arrived' or 'no diagnostics within 30 s')
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(report.diagnostics, {
      lnum = d.lnum,
      col = d.col,
      end_lnum = d.end_lnum,
      end_col = d.end_col,
      severity = d.severity,
      message = d.message,
      source = d.source,
    })
  end

  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = {
      line = tonumber(os.getenv('ROUTEC_HOVER_LINE')),
      character = tonumber(os.getenv('ROUTEC_HOVER_CHARACTER')),
    },
  }
  local responses, err = vim.lsp.buf_request_sync(buf, 'textDocument/hover', params, 30000)
  if responses and responses[client_id] then
    report.hover = responses[client_id].result
    report.hover_error = responses[client_id].error
  else
    report.hover_error = err or 'no response'
  end
  step('hover answered')

  vim.lsp.stop_client(client_id)
  vim.wait(5000, function()
    return report.server_exit ~= nil
  end, 20)
  step('server stopped')
end

local ok, failure = pcall(run)
if not ok then
  report.failure = tostring(failure)
end
write_report()
vim.cmd('qall!')
