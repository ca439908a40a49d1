# Shared by scripts/test, scripts/demo and scripts/bench: installs what is missing, once.
# Source it; it defines ensure_tools and ORBIT_REPO.

ORBIT_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export ORBIT_REPO

_apt_updated=0
_apt_install() {
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: $*" >&2; return 1; }
    sudo="sudo"
  fi
  if [[ $_apt_updated -eq 0 ]]; then
    echo "setup: apt-get update" >&2
    $sudo apt-get update -qq >&2
    _apt_updated=1
  fi
  echo "setup: installing $*" >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Erlang/OTP (with the debugger and erl_call), Elixir, and the Rust tools the build needs.
ensure_tools() {
  local missing=()
  command -v erl >/dev/null || missing+=(erlang-base)
  [[ -d /usr/lib/erlang/lib/debugger-* ]] 2>/dev/null || compgen -G "/usr/lib/erlang/lib/debugger-*" >/dev/null || missing+=(erlang-debugger)
  compgen -G "/usr/lib/erlang/lib/tools-*" >/dev/null || missing+=(erlang-tools)
  compgen -G "/usr/lib/erlang/lib/erl_interface-*" >/dev/null || missing+=(erlang-dev)
  # TLS distribution (-proto_dist inet_tls) needs the ssl application on the nodes.
  compgen -G "/usr/lib/erlang/lib/ssl-*" >/dev/null || missing+=(erlang-ssl)
  command -v elixir >/dev/null || missing+=(elixir)
  if [[ ${#missing[@]} -gt 0 ]]; then
    # erlang-dev brings erl_interface; elixir on Debian does not pull in erlang-debugger.
    _apt_install erlang-base erlang-dev erlang-debugger erlang-tools erlang-ssl elixir
  fi
  # The DAP tests' TLS clusters get their certificates from openssl (the Rust tests use rcgen).
  command -v openssl >/dev/null || _apt_install openssl
  command -v cargo >/dev/null || { echo "setup: cargo is missing: install Rust (rustup) first" >&2; return 1; }
  # The DAP end-to-end tests use a real client from npm (@vscode/debugadapter-testsupport).
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    _apt_install nodejs npm
  fi
  # The Neovim plugin's tests run in headless Neovim.
  command -v nvim >/dev/null || _apt_install neovim
  if ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add clippy >&2
  fi
  if ! cargo fmt --version >/dev/null 2>&1; then
    rustup component add rustfmt >&2
  fi
}
