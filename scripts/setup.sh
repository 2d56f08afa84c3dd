#!/usr/bin/env bash
# Installs what Saker needs to build, run and test, idempotently: Deno (pinned, from the npm
# registry, into .tools/ of this checkout) and Debian packages (clang and libbpf for the probe;
# podman, sysdig, stress-ng and friends for the tests and benchmarks). Safe to run again: it only
# installs what is missing. Source it to get `deno` on PATH.
set -euo pipefail
SAKER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DENO_VERSION="2.9.6"
TOOLS="$SAKER_ROOT/.tools"

log() { echo "setup: $*" >&2; }

install_deno() {
  local bin="$TOOLS/bin/deno"
  if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "^deno $DENO_VERSION "; then return; fi
  log "installing deno $DENO_VERSION from the npm registry into $TOOLS"
  mkdir -p "$TOOLS/npm" "$TOOLS/bin"
  (cd "$TOOLS/npm" && npm install --no-audit --no-fund --loglevel=error "deno@$DENO_VERSION" >&2)
  local real
  real="$(find "$TOOLS/npm/node_modules/@deno" -maxdepth 2 -type f -name deno | head -n 1)"
  [ -n "$real" ] || { log "deno binary not found after npm install"; exit 1; }
  ln -sf "$real" "$bin"
}

# Debian packages: name -> command or file that shows it is present.
need_pkgs=()
want() { # want PACKAGE PROBE_PATH
  if [ ! -e "$2" ]; then need_pkgs+=("$1"); fi
}
want_runtime() {
  want libbpf1 /usr/lib/x86_64-linux-gnu/libbpf.so.1
}
want_build() {
  want clang-16 /usr/bin/clang-16
  want llvm-16 /usr/bin/llvm-strip-16
  want libbpf-dev /usr/include/bpf/bpf_helpers.h
  want bpftool /usr/sbin/bpftool
}
want_test() {
  want podman /usr/bin/podman
  want runc /usr/sbin/runc
  want busybox-static /bin/busybox
  want sysdig /usr/bin/sysdig
  want stress-ng /usr/bin/stress-ng
  want rsyslog /usr/sbin/rsyslogd
  want iproute2 /usr/sbin/ip
  want util-linux /usr/bin/unshare
  want python3 /usr/bin/python3 # live tests make their system calls with python3's stdlib and ctypes
  want openssl /usr/bin/openssl # the TLS output tests make their certificates
  want time /usr/bin/time # the replay benchmark times each run (GNU time's %e and %M)
  want gcc /usr/bin/gcc # saker simulate builds its syscall helper
  want strace /usr/bin/strace # simulate tests check the helper's system calls
  want systemd /usr/bin/systemd-analyze # the systemd unit test runs systemd-analyze verify
  want libcap2-bin /usr/sbin/capsh # the unit test checks capability names
  want redis-server /usr/bin/redis-server # workload benchmark (redis-benchmark GET/SET)
  want prometheus /usr/bin/prometheus # scrapes the agent in the metrics test
  want nats-server /usr/sbin/nats-server # JetStream for the nats output and the collector
  want rsyslog-gnutls /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so # syslog over TLS
  want chromium /usr/bin/chromium # the dashboard's browser tests (driven by npm playwright-core)
  # the benign workload test: builds, git, Python's own regression tests, ssh-keygen, script
  want make /usr/bin/make
  want git /usr/bin/git
  want openssh-client /usr/bin/ssh-keygen
  want bsdutils /usr/bin/script
  want libpython3.11-testsuite /usr/lib/python3.11/test/test_json
  want procps /usr/bin/ps # its admin commands (ps aux)
}

apt_install() {
  [ "${#need_pkgs[@]}" -eq 0 ] && return
  if [ "$(id -u)" -ne 0 ]; then
    log "missing packages (${need_pkgs[*]}); run as root or install them yourself"
    exit 1
  fi
  log "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
}

mode="${1:-run}"
want_runtime
want_build
if [ "$mode" = "test" ]; then want_test; fi
apt_install
install_deno
export PATH="$TOOLS/bin:$PATH"
