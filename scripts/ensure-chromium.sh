#!/usr/bin/env bash
# The console's browser tests drive Debian's chromium at /usr/bin/chromium (playwright-core never
# downloads a browser). On a fresh Debian machine where we are root, install the package;
# otherwise say what is missing.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found: installing Debian's chromium package for the console's browser tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "chromium is required by the console's browser tests: install it (e.g. 'sudo apt-get install chromium') and run again" >&2
exit 1
