#!/usr/bin/env bash
# Tools the tests use beyond the venv: Debian's docker-compose (v1), to validate the compose
# file without a Docker engine. Installed with apt-get when missing and allowed.
set -euo pipefail
if command -v docker-compose >/dev/null 2>&1; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo -n"; fi
  echo "installing docker-compose (Debian package) to validate docker/compose.yaml"
  if $SUDO apt-get install -y -q docker-compose >/dev/null 2>&1 \
     || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q docker-compose >/dev/null 2>&1; }; then
    exit 0
  fi
fi
echo "docker-compose is not installed and could not be installed: apt-get install docker-compose" >&2
exit 1
