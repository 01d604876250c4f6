#!/usr/bin/env bash
# Starts, stops and reports the PostgreSQL and Redis servers that tests, benches and
# developers use, on 127.0.0.1 only, with their data under $HOTPATH_SERVICES_DIR.
#
#   scripts/services.sh start [postgres|redis]   start (idempotent); prints the URLs
#   scripts/services.sh stop  [postgres|redis]
#   scripts/services.sh status
#   scripts/services.sh env                      prints TEST_DATABASE_URL / TEST_REDIS_URL exports
#   scripts/services.sh env --service            prints DATABASE_URL / REDIS_URL exports for `npm start`
#                                                (database "hotpath", created when PostgreSQL is up)
#
# Ports: HOTPATH_PG_PORT (default 54329), HOTPATH_REDIS_PORT (default 63799), chosen away from
# the defaults so a system server already on 5432/6379 is never touched.
set -euo pipefail

DIR=${HOTPATH_SERVICES_DIR:-/tmp/hotpath-services}
PG_PORT=${HOTPATH_PG_PORT:-54329}
REDIS_PORT=${HOTPATH_REDIS_PORT:-63799}
PG_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres"
REDIS_URL="redis://127.0.0.1:${REDIS_PORT}"
# The service's own database, apart from the tests' (they create and drop tables in "postgres").
SERVICE_DB=${HOTPATH_SERVICE_DB:-hotpath}
SERVICE_PG_URL="postgres://postgres@127.0.0.1:${PG_PORT}/${SERVICE_DB}"

pg_bin() {
  local found
  for found in /usr/lib/postgresql/*/bin; do
    if [ -x "$found/pg_ctl" ]; then echo "$found"; return 0; fi
  done
  if command -v pg_ctl >/dev/null 2>&1; then dirname "$(command -v pg_ctl)"; return 0; fi
  return 1
}

# PostgreSQL refuses to run as root; run it as the postgres user when we are root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$DIR" postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_ready() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; }

start_postgres() {
  local bin
  bin=$(pg_bin) || { echo "services: PostgreSQL is not installed (apt-get install -y postgresql)" >&2; return 1; }
  if pg_ready; then echo "postgres: already running at $PG_URL"; return 0; fi
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  if [ "$(id -u)" = 0 ]; then id postgres >/dev/null 2>&1 || useradd --system --home-dir "$DIR" postgres; fi
  if [ ! -f "$DIR/pg/PG_VERSION" ]; then
    mkdir -p "$DIR/pg"
    if [ "$(id -u)" = 0 ]; then chown postgres "$DIR/pg"; fi
    as_pg "$bin/initdb" -D "$DIR/pg" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$DIR/initdb.log" 2>&1 \
      || { cat "$DIR/initdb.log" >&2; return 1; }
  fi
  mkdir -p "$DIR/pg-run"
  if [ "$(id -u)" = 0 ]; then chown postgres "$DIR/pg-run"; fi
  # Settings for a test server: durable enough for crash-free runs, fast to write.
  as_pg "$bin/pg_ctl" -D "$DIR/pg" -l "$DIR/pg-run/postgres.log" -w -t 60 start -o \
    "-h 127.0.0.1 -p $PG_PORT -k $DIR/pg-run -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB" \
    >/dev/null || { tail -20 "$DIR/pg-run/postgres.log" >&2; return 1; }
  echo "postgres: started at $PG_URL"
}

stop_postgres() {
  local bin
  bin=$(pg_bin) || return 0
  if [ -f "$DIR/pg/postmaster.pid" ]; then as_pg "$bin/pg_ctl" -D "$DIR/pg" -m fast -w stop >/dev/null || true; fi
  echo "postgres: stopped"
}

redis_ready() { command -v redis-cli >/dev/null 2>&1 && redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

start_redis() {
  command -v redis-server >/dev/null 2>&1 || { echo "services: Redis is not installed (apt-get install -y redis-server)" >&2; return 1; }
  if redis_ready; then echo "redis: already running at $REDIS_URL"; return 0; fi
  mkdir -p "$DIR/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --dir "$DIR/redis" \
    --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" --save '' --appendonly no --protected-mode yes
  for _ in $(seq 1 100); do redis_ready && break; sleep 0.1; done
  redis_ready || { tail -20 "$DIR/redis.log" >&2; return 1; }
  echo "redis: started at $REDIS_URL"
}

stop_redis() {
  if [ -f "$DIR/redis.pid" ]; then kill "$(cat "$DIR/redis.pid")" 2>/dev/null || true; rm -f "$DIR/redis.pid"; fi
  echo "redis: stopped"
}

cmd=${1:-status}
what=${2:-all}
case "$cmd" in
  start)
    if [ "$what" = all ] || [ "$what" = postgres ]; then start_postgres; fi
    if [ "$what" = all ] || [ "$what" = redis ]; then start_redis; fi
    ;;
  stop)
    if [ "$what" = all ] || [ "$what" = postgres ]; then stop_postgres; fi
    if [ "$what" = all ] || [ "$what" = redis ]; then stop_redis; fi
    ;;
  status)
    if pg_bin >/dev/null && pg_ready; then echo "postgres: up at $PG_URL"; else echo "postgres: down"; fi
    if redis_ready; then echo "redis: up at $REDIS_URL"; else echo "redis: down"; fi
    ;;
  env)
    if [ "$what" = --service ]; then
      # Create the service's database when the server is up, so `npm start` can use it at once.
      if pg_bin >/dev/null && pg_ready; then
        "$(pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
          "SELECT 1 FROM pg_database WHERE datname = '$SERVICE_DB'" | grep -q 1 \
          || "$(pg_bin)/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$SERVICE_DB" >&2
      fi
      echo "export DATABASE_URL=$SERVICE_PG_URL"
      echo "export REDIS_URL=$REDIS_URL"
    else
      echo "export TEST_DATABASE_URL=$PG_URL"
      echo "export TEST_REDIS_URL=$REDIS_URL"
    fi
    ;;
  *)
    echo "usage: scripts/services.sh start|stop [postgres|redis] | status | env [--service]" >&2
    exit 2
    ;;
esac
