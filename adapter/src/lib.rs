//! DAP server: arrives with the debugger issue.
