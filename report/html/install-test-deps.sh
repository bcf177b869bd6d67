#!/usr/bin/env bash
# Installs what the HTML report's browser tests need: headless Chromium
# from Debian (/usr/bin/chromium). The tests render the pages in it and
# check the DOM; in CI (CI set) they fail when it is missing.
#
# Rerunnable: does nothing when a Chromium is already installed.
#
# Usage: report/html/install-test-deps.sh        (as root, from anywhere)
# Env:   BUILDSTATS_SKIP_BROWSER_DEPS=1 skips the install (in CI the browser
#        tests then fail, saying how to install it)
set -euo pipefail

if [ "${BUILDSTATS_SKIP_BROWSER_DEPS:-}" = 1 ]; then
  echo "install-test-deps (browser): BUILDSTATS_SKIP_BROWSER_DEPS=1, skipping"
  exit 0
fi
if [ -n "${BUILDSTATS_CHROMIUM:-}" ] && [ -x "$BUILDSTATS_CHROMIUM" ]; then
  echo "install-test-deps (browser): using BUILDSTATS_CHROMIUM=$BUILDSTATS_CHROMIUM"
  exit 0
fi
for b in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$b" >/dev/null 2>&1; then
    echo "install-test-deps (browser): $(command -v "$b") already installed"
    exit 0
  fi
done
if [ "$(id -u)" != 0 ]; then
  echo "install-test-deps (browser): need root to apt-get install chromium" >&2
  exit 1
fi
echo "install-test-deps (browser): apt-get install chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The fonts Debian pulls in with chromium are enough for the pages: they ask
# for system fonts only.
apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium
