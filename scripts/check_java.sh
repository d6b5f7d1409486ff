#!/usr/bin/env bash
# Spark 4 needs Java 17 or newer on PATH (or under JAVA_HOME).
set -euo pipefail
java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
if ! command -v "$java_bin" >/dev/null 2>&1; then
  cat >&2 <<MSG
Java was not found. Spark needs Java 17 or newer. Install it, for example:
  Debian/Ubuntu:  sudo apt-get install -y openjdk-17-jre-headless
  macOS:          brew install openjdk@17
or set JAVA_HOME to a Java 17+ installation.
MSG
  exit 1
fi
version=$("$java_bin" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
major=${version%%.*}
[ "$major" = "1" ] && major=$(echo "$version" | cut -d. -f2)
if [ "${major:-0}" -lt 17 ] 2>/dev/null; then
  echo "Java $version found; Spark needs Java 17 or newer (e.g. apt-get install openjdk-17-jre-headless)." >&2
  exit 1
fi
echo "java $version: ok"
