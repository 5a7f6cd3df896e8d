#!/usr/bin/env bash
# The demo as separate processes on PostgreSQL and RabbitMQ (docs/demo.md):
#   web (runserver, for the admin), relay (outbox_relay), consumer (inbox_consume),
#   Celery worker and beat; then `manage.py demo --drive-only` writes the scenarios' events,
#   waits for their outcome in the database and prints the timeline and the tally.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/demo \
#   BROKER_URL=amqp://guest:guest@127.0.0.1:5672// scripts/run_services.sh [--exit] [demo options]
#
# The services keep running afterwards (admin at http://127.0.0.1:8000/admin/, admin/admin) until
# Ctrl-C; --exit stops them as soon as the tally is printed. Logs: $DEMO_LOG_DIR (default
# /tmp/django-outbox-inbox-demo). The exit status is the demo's.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
PORT=${PORT:-8000}
LOG_DIR=${DEMO_LOG_DIR:-${TMPDIR:-/tmp}/django-outbox-inbox-demo}
KEEP_RUNNING=1
if [[ "${1:-}" == "--exit" ]]; then KEEP_RUNNING=0; shift; fi

: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL database of its own, e.g. postgres://postgres@127.0.0.1:5432/demo}"
: "${BROKER_URL:?set BROKER_URL to RabbitMQ, e.g. amqp://guest:guest@127.0.0.1:5672//}"
if [[ "$BROKER_URL" == memory://* ]]; then
  echo "separate processes cannot share memory:// (it lives in one process): use make demo, or RabbitMQ" >&2
  exit 2
fi
export DATABASE_URL BROKER_URL PYTHONUNBUFFERED=1
mkdir -p "$LOG_DIR"

names=()
pids=()

start() {  # start NAME COMMAND...: run it in the background, output to $LOG_DIR/NAME.log
  local name=$1; shift
  "$@" >"$LOG_DIR/$name.log" 2>&1 &
  names+=("$name"); pids+=("$!")
  printf '  %-14s pid %-7s %s\n' "$name" "$!" "$*"
}

stop() {  # SIGTERM to what this script started (each stops after the work in hand), then wait for them
  trap - EXIT INT TERM
  local i
  for i in "${!pids[@]}"; do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" 2>/dev/null || true; done
  if [[ -f "$LOG_DIR/consumer.log" ]]; then
    echo "consumer worker's own count: $(grep '^processed:' "$LOG_DIR/consumer.log" | tail -n 1)"
  fi
  echo "services stopped; logs in $LOG_DIR"
}

wait_for() {  # wait_for NAME PATTERN: until the service's log shows PATTERN (60 s at most)
  local name=$1 pattern=$2
  for _ in $(seq 600); do
    grep -q -- "$pattern" "$LOG_DIR/$name.log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$name did not start; see $LOG_DIR/$name.log" >&2
  return 1
}

trap stop EXIT
trap 'exit 130' INT TERM

"$PY" manage.py migrate --verbosity 0
echo "starting the services (logs in $LOG_DIR):"
start web "$PY" manage.py runserver --noreload "127.0.0.1:$PORT"
start relay "$PY" manage.py outbox_relay
start consumer "$PY" manage.py inbox_consume
start celery-worker "$VENV/bin/celery" -A demo_project worker --loglevel INFO --concurrency 2
start celery-beat "$VENV/bin/celery" -A demo_project beat --loglevel INFO \
  --schedule "$LOG_DIR/celerybeat-schedule"
wait_for consumer "consuming"
wait_for celery-worker "ready"
echo

status=0
"$PY" manage.py demo --drive-only "$@" || status=$?

if [[ $KEEP_RUNNING == 1 && $status == 0 ]]; then
  echo
  echo "The services keep running on the same data: http://127.0.0.1:$PORT/admin/ (admin/admin). Ctrl-C stops them."
  wait
fi
exit $status
