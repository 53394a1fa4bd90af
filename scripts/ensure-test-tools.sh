#!/usr/bin/env bash
# Installs what `npm test` needs beyond npm packages, from Debian's packages: a real redis-server for the Redis state
# store's tests, and chromium for the web inbox's browser test (driven by playwright-core). Runs before `npm test`
# (the pretest script) and in CI; does nothing when both are there. Without root or apt-get it says what to install:
# a missing redis-server fails `npm test`, a missing chromium skips the browser test (which says so).
set -uo pipefail

has_redis() { command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || [ -x /usr/sbin/redis-server ]; }
has_chromium() { command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; }

missing=()
has_redis || missing+=(redis-server)
has_chromium || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (Debian packages) for the tests: redis-server for the Redis store, chromium for the web inbox" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

status=0
if ! has_redis; then
  echo "redis-server not found: install it (Debian/Ubuntu: sudo apt-get install -y redis-server) and run npm test again" >&2
  status=1
fi
if ! has_chromium; then
  echo "chromium not found: the web inbox's browser test will be skipped; install it (Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y chromium) to run it" >&2
fi
exit $status
