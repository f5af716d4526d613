#!/usr/bin/env bash
# The Redis store tests start real redis-server processes (never skipped). On a fresh Debian
# machine where we are root, install the package; otherwise say what is missing.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "redis-server not found: installing Debian's redis-server package for the Redis store tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
  # The package may start a system service on 6379; the tests start their own servers.
  (command -v systemctl >/dev/null && systemctl stop redis-server) >/dev/null 2>&1 || true
  exit 0
fi
echo "redis-server is required by the Redis store tests: install it (e.g. 'sudo apt-get install redis-server') and run again" >&2
exit 1
