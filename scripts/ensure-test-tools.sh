#!/usr/bin/env bash
# Installs what `npm test` needs beyond npm packages: a real redis-server (Debian's package) for the Redis state
# store's tests. Runs before `npm test` (the pretest script) and in CI; does nothing when it is already there.
set -uo pipefail
if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || [ -x /usr/sbin/redis-server ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing redis-server (Debian package) for the Redis store's tests" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null && exit 0
fi
echo "redis-server not found: install it (Debian/Ubuntu: sudo apt-get install -y redis-server) and run npm test again" >&2
exit 1
