#!/usr/bin/env bash
# Start the API in the background on $API_HOST:$API_PORT, wait until it is ready, and print
# working requests. Its PID goes to $ALGORHYTHMS_DATA_DIR/api.pid (`make stop` stops it).
set -euo pipefail
set -m  # its own process group, so a stop reaches uvicorn and everything it started
BIN=${BIN:-.venv/bin}
HOST=${API_HOST:-127.0.0.1}
PORT=${API_PORT:-8000}
DATA=${ALGORHYTHMS_DATA_DIR:-data}
PIDFILE="$DATA/api.pid"
LOG="$DATA/api.log"

if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "stopping the API started before (pid $(cat "$PIDFILE"))"
  kill -- -"$(cat "$PIDFILE")" 2>/dev/null || kill "$(cat "$PIDFILE")"
  sleep 1
fi
nohup "$BIN/algorhythms" serve --host "$HOST" --port "$PORT" >"$LOG" 2>&1 &
echo $! >"$PIDFILE"
for _ in $(seq 1 120); do
  if curl -sf "http://$HOST:$PORT/ready" >/dev/null; then
    echo "the API is running at http://$HOST:$PORT (docs: http://$HOST:$PORT/docs; log: $LOG)"
    "$BIN/algorhythms" examples --api "http://$HOST:$PORT"
    echo "stop it with: make stop"
    exit 0
  fi
  if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "the API exited; see $LOG" >&2
    tail -20 "$LOG" >&2
    exit 1
  fi
  sleep 0.5
done
echo "the API did not become ready in 60 s; see $LOG" >&2
exit 1
