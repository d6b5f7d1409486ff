#!/usr/bin/env bash
# Tools the tests use beyond the venv, installed with apt-get when missing and allowed:
# Debian's docker-compose (v1), to validate the compose file without a Docker engine, and
# Debian's chromium, the headless browser the web page's test drives with Playwright
# (Playwright's own browser download needs the internet; the Debian package does not).
set -euo pipefail

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo -n"; fi
UPDATED=""

# ensure COMMAND PACKAGE WHY: install PACKAGE when COMMAND is missing (apt-get update once, on
# the first failure); a message naming the command to run when it cannot.
ensure() {
  local command=$1 package=$2 why=$3
  if command -v "$command" >/dev/null 2>&1; then
    return 0
  fi
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing $package (Debian package) $why"
    if $SUDO apt-get install -y -q "$package" >/dev/null 2>&1; then
      return 0
    fi
    if [[ -z $UPDATED ]] && $SUDO apt-get update -q >/dev/null 2>&1; then
      UPDATED=1
      if $SUDO apt-get install -y -q "$package" >/dev/null 2>&1; then
        return 0
      fi
    fi
  fi
  echo "$command is not installed and could not be installed: apt-get install $package" >&2
  return 1
}

status=0
ensure docker-compose docker-compose "to validate docker/compose.yaml" || status=1
ensure chromium chromium "for the web page's browser test" || status=1
exit $status
