#!/usr/bin/env bash
# Runs the capacity measurements of scripts/loadtest/REPORT.md on this machine:
# a local PostgreSQL, the API built from this tree on loopback, the load
# generator beside it (scripts/loadtest; scripts/loadseed seeds the data and
# scripts/workerbench measures the worker). Results go to $OUT (default
# scripts/loadtest/out).
#
#   scripts/loadtest/run-local.sh                 # every step
#   STEPS="seed rankings vote" scripts/loadtest/run-local.sh
#
# Steps: seed rankings videos gallery vote rate upload nocache web attack batch worker memtest summary
# A failed step is reported at the end; the following steps still run.
# Knobs (env): OUT, PORT (19380), DURATION (20s), CLIENTS (1,8,32,64,128),
#   API_PROCS / LOADGEN_PROCS (GOMAXPROCS of the API and of the load generator;
#   empty = all cores), MAX_LOAD (1.5: wait for the 1-minute load average to
#   drop below it before each step, at most WAIT_LOAD seconds, default 600),
#   API_BIN / LT_BIN (prebuilt API / loadtest binaries, e.g. an older build to compare),
#   LABEL (suffix of result names), DB_PREFIX (anb_capacity).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
cd "$ROOT"

OUT=${OUT:-scripts/loadtest/out}
PORT=${PORT:-19380}
DURATION=${DURATION:-20s}
CLIENTS=${CLIENTS:-1,8,32,64,128}
MAX_LOAD=${MAX_LOAD:-1.5}
WAIT_LOAD=${WAIT_LOAD:-600}
LABEL=${LABEL:-}
DB_PREFIX=${DB_PREFIX:-anb_capacity}
STEPS=${STEPS:-seed rankings videos gallery vote rate upload nocache web attack batch worker memtest summary}
JWT_SECRET=loadtest-secret-not-for-production-0123456789
BASE=http://127.0.0.1:$PORT
PG=postgres://anb:anb@127.0.0.1:5432
WORK=$(mktemp -d /tmp/anb-capacity-XXXXXX)
API_PID=

need_apt ffmpeg postgresql
start_postgres
mkdir -p "$OUT"

BIN=$WORK/bin
mkdir -p "$BIN"
if [[ -z ${API_BIN:-} ]]; then go build -o "$BIN/anb" ./app && API_BIN=$BIN/anb; fi
if [[ -z ${LT_BIN:-} ]]; then go build -o "$BIN/loadtest" ./scripts/loadtest && LT_BIN=$BIN/loadtest; fi
go build -o "$BIN/worker" ./worker
go build -o "$BIN/loadseed" ./scripts/loadseed
go build -o "$BIN/workerbench" ./scripts/workerbench

stop_api() {
  if [[ -n $API_PID ]] && kill -0 "$API_PID" 2>/dev/null; then
    kill "$API_PID"
    for _ in $(seq 100); do kill -0 "$API_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  API_PID=
}
cleanup() { stop_api; rm -rf "$WORK"; }
trap cleanup EXIT

# fresh_db NAME: drop and create a scratch database owned by the test role.
fresh_db() {
  PGPASSWORD=anb psql -q -h 127.0.0.1 -U anb -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
}

# start_api DB [ENV=VALUE...]: run the API on loopback, its JSON request log
# going to a file as under systemd/journald (not to a terminal). The load
# generator signs up all its users from one address (loopback), so the
# signup limits are raised; the attack step sets them back to the defaults.
start_api() {
  local db=$1
  shift
  stop_api
  mkdir -p "$WORK/data-$db"
  env ANB_ADDR=127.0.0.1:$PORT ANB_DATA_DIR="$WORK/data-$db" ANB_DATABASE_URL="$PG/$db?sslmode=disable" \
    ANB_JWT_SECRET=$JWT_SECRET ANB_WORKERS=0 ANB_SIGNUPS_PER_ADDRESS=1000000 ANB_SIGNUPS_TOTAL=1000000 \
    ${API_PROCS:+GOMAXPROCS=$API_PROCS} "$@" \
    "$API_BIN" >>"$WORK/api-$db.log" 2>&1 &
  API_PID=$!
  for _ in $(seq 100); do curl -sf "$BASE/health" >/dev/null && return 0; sleep 0.2; done
  echo "API did not start; see $WORK/api-$db.log" >&2
  tail -5 "$WORK/api-$db.log" >&2
  return 1
}

# quiet: wait (bounded) until the machine's 1-minute load average is low.
quiet() {
  local waited=0
  while awk -v max="$MAX_LOAD" '{exit !($1 >= max)}' /proc/loadavg; do
    if ((waited >= WAIT_LOAD)); then
      echo "==> load average still $(cut -d' ' -f1-3 /proc/loadavg) after ${WAIT_LOAD}s; measuring anyway (the results record it)"
      return 0
    fi
    ((waited % 60 == 0)) && echo "==> waiting for a quiet machine: load $(cut -d' ' -f1-3 /proc/loadavg)"
    sleep 10
    waited=$((waited + 10))
  done
  echo "==> load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

FAILED=()
# lt runs the load generator; a failure is recorded, not fatal.
lt() {
  env ${LOADGEN_PROCS:+GOMAXPROCS=$LOADGEN_PROCS} "$LT_BIN" -out "$OUT" "$@" || FAILED+=("$*")
}
label() { echo "${1}${LABEL:+-$LABEL}"; }

LOAD_DB=${DB_PREFIX}_load
has() { [[ " $STEPS " == *" $1 "* ]]; }

if has seed; then
  echo "==> seeding $LOAD_DB: 10,000 players, 100,000 votes"
  fresh_db "$LOAD_DB"
  "$BIN/loadseed" -db "$PG/$LOAD_DB?sslmode=disable"
fi
if has rankings || has videos || has gallery || has vote || has rate || has upload; then
  start_api "$LOAD_DB"
fi
if has rankings; then
  quiet
  lt -mode rankings ${LABEL:+-label "$LABEL"} -base "$BASE" -api-pid "$API_PID" -clients "$CLIENTS" -duration "$DURATION" \
    -target-rps 3000 -target-p99 50ms
fi
if has videos; then
  quiet
  lt -mode videos ${LABEL:+-label "$LABEL"} -base "$BASE" -api-pid "$API_PID" -clients "$CLIENTS" -duration "$DURATION" -target-rps 2000
fi
if has gallery; then
  quiet
  # The gallery as logged-in players page through it (has_voted, pages 1-5).
  lt -mode videos -label "$(label gallery)" -pages 5 -auth -base "$BASE" -api-pid "$API_PID" -clients "$CLIENTS" \
    -duration "$DURATION" -target-rps 2000
fi
if has vote; then
  quiet
  # Closed loop: the most the endpoint takes.
  lt -mode vote ${LABEL:+-label "$LABEL"} -base "$BASE" -api-pid "$API_PID" -clients "$CLIENTS" -duration "$DURATION" -target-rps 1000 \
    -db "$PG/$LOAD_DB?sslmode=disable" -jwt-secret "$JWT_SECRET"
fi
if has rate; then
  quiet
  # Open loop: the latency at the target rate, 1000 votes/s.
  lt -mode vote -label "$(label rate1000)" -base "$BASE" -api-pid "$API_PID" -clients 64 -rate 1000 -duration "$DURATION" \
    -target-rps 990 -target-p99 100ms -db "$PG/$LOAD_DB?sslmode=disable" -jwt-secret "$JWT_SECRET"
fi
if has upload; then
  quiet
  lt -mode upload ${LABEL:+-label "$LABEL"} -base "$BASE" -api-pid "$API_PID" -uploads 10 -upload-concurrency 10 -upload-mb 50
fi
if has nocache; then
  start_api "$LOAD_DB" ANB_RANKINGS_CACHE_TTL=0
  quiet
  lt -label "$(label nocache)" -mode rankings -base "$BASE" -api-pid "$API_PID" -clients "$CLIENTS" \
    -duration "$DURATION" -target-rps 500
fi
if has web; then
  start_api "$LOAD_DB"
  quiet
  lt -mode web ${LABEL:+-label "$LABEL"} -base "$BASE" -api-pid "$API_PID" -stages 1,2,4,8,16,32,64 -stage-duration "$DURATION"
fi
if has attack; then
  # Ballot stuffing from one address among normal users, on a freshly seeded
  # database (the web step's users all come from loopback and would blur
  # the audit's precision), with the default signup limits.
  # One fresh database per counting rule: the signup counts of the first
  # run would still hold the script's address in the second.
  ATTACK_DB=${DB_PREFIX}_attack
  for rule in all verified; do
    stop_api
    fresh_db "$ATTACK_DB"
    "$BIN/loadseed" -db "$PG/$ATTACK_DB?sslmode=disable" >/dev/null
    start_api "$ATTACK_DB" ANB_SIGNUPS_PER_ADDRESS=10 ANB_SIGNUPS_TOTAL=1000 ANB_VOTE_COUNTING=$rule
    quiet
    lt -mode attack -label "$(label "$rule")" -base "$BASE" -duration "$DURATION" -think 1s -normal-users 24 -attackers 8 \
      -db "$PG/$ATTACK_DB?sslmode=disable"
  done
fi
if has batch; then
  BATCH_DB=${DB_PREFIX}_batch
  fresh_db "$BATCH_DB"
  # One in-process worker, as a worker instance runs one job at a time.
  start_api "$BATCH_DB" ANB_WORKERS=1
  quiet
  lt -mode batch ${LABEL:+-label "$LABEL"} -base "$BASE" -api-pid "$API_PID" -uploads 10 -upload-concurrency 10 -clip-seconds 30
fi
stop_api
if has worker; then
  WORKER_DB=${DB_PREFIX}_worker
  fresh_db "$WORKER_DB"
  quiet
  env ${LOADGEN_PROCS:+GOMAXPROCS=$LOADGEN_PROCS} "$BIN/workerbench" -out "$OUT" ${LABEL:+-label "$LABEL"} -clip-seconds 60 -reps 3 -worker-bin "$BIN/worker" \
    -db "$PG/$WORKER_DB?sslmode=disable" || FAILED+=(worker)
fi
if has memtest; then
  quiet
  echo "==> app/httpapi TestLargeUploadKeepsTheHeapSmall"
  go test -count=1 -run 'TestLargeUploadKeepsTheHeapSmall$' -v ./app/httpapi >"$OUT/memory-test.txt" 2>&1 || FAILED+=(memtest)
  grep -E 'heap|^ok|FAIL' "$OUT/memory-test.txt"
fi
if has summary; then
  "$LT_BIN" -mode summary -out "$OUT" >/dev/null && echo "==> summary: $OUT/summary.md"
fi
if ((${#FAILED[@]})); then
  printf '==> failed: %s\n' "${FAILED[@]}"
  exit 1
fi
