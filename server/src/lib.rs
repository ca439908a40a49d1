//! LSP server: arrives with the language-server issue.
