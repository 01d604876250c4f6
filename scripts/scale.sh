#!/usr/bin/env bash
# Starts, restarts, stops and reports M instances of the payments service behind HAProxy, on
# 127.0.0.1 only, sharing one PostgreSQL, one Redis and one gateway simulator. State (config,
# PIDs, ports, logs) lives in $HOTPATH_SCALE_DIR.
#
#   scripts/scale.sh start [M]    start M instances (default $HOTPATH_SCALE_INSTANCES or 2),
#                                 the gateway simulator and HAProxy; prints the balancer's URL
#   scripts/scale.sh restart      rolling restart: one instance at a time, drained in HAProxy
#                                 first, so no request is lost
#   scripts/scale.sh stop
#   scripts/scale.sh status
#   scripts/scale.sh env          prints HOTPATH_LB_URL, HOTPATH_INSTANCE_URLS, ... as exports
#   scripts/scale.sh pg start     a PostgreSQL primary and a streaming replica of it (made with
#                                 pg_basebackup -R) on free ports under $HOTPATH_SCALE_DIR;
#                                 prints DATABASE_URL and DATABASE_REPLICA_URL as exports, so
#                                 eval "$(scripts/scale.sh pg start)" && scripts/scale.sh start
#                                 runs the instances on them
#   scripts/scale.sh pg stop|env
#   scripts/scale.sh pgbouncer start|stop|env
#                                 PgBouncer (deploy/pgbouncer/pgbouncer.ini, transaction mode)
#                                 in front of DATABASE_URL's server, on a free port; prints
#                                 PGBOUNCER_URL (DATABASE_URL with PgBouncer's host and port)
#                                 and HOTPATH_PGBOUNCER_PID. PGBOUNCER_POOL_SIZE (default 20)
#                                 server connections per database; run the service on it
#                                 with PREPARED=off (docs/scale.md)
#
# Settings (environment):
#   HOTPATH_SCALE_DIR        state directory (default /tmp/hotpath-scale)
#   HOTPATH_SCALE_INSTANCES  instances for `start` without M (default 2)
#   HOTPATH_LB_PORT          the balancer's port (default: a free port)
#   DATABASE_URL, REDIS_URL  shared by every instance (default: the servers of
#                            scripts/services.sh, started if needed, database hotpath_scale)
#   Any other setting of the service (docs: npm start -- --help) is passed to every instance,
#   except PORT, which the script chooses. GATEWAY_URL unset: one shared simulator is started
#   (GATEWAY_LATENCY, GATEWAY_FAILURE_RATE, GATEWAY_DECLINE_RATE apply to it).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${HOTPATH_SCALE_DIR:-/tmp/hotpath-scale}
SOCK="$DIR/haproxy.sock"
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
NODE=${NODE:-node}
# How long one instance may take to start, and to finish its in-flight requests.
START_TIMEOUT_S=${HOTPATH_SCALE_START_TIMEOUT_S:-60}
DRAIN_TIMEOUT_S=${HOTPATH_SCALE_DRAIN_TIMEOUT_S:-45}

say() { echo "scale: $*"; }
die() { echo "scale: $*" >&2; exit 1; }

free_port() {
  "$NODE" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# Sends one command to HAProxy's runtime API (a Unix socket) and prints the answer.
hactl() {
  "$NODE" -e '
    const c = require("net").connect(process.argv[1], () => c.end(process.argv[2] + "\n"));
    let out = "";
    c.on("data", (d) => (out += d));
    c.on("end", () => process.stdout.write(out));
    c.on("error", (e) => { console.error("scale: HAProxy runtime API: " + e.message); process.exit(1); });
  ' "$SOCK" "$1"
}

# "UP", "DOWN", "DRAIN", "MAINT", ... and the sessions in flight of server s$1, from `show stat`.
server_status() { hactl "show stat" | awk -F, -v s="s$1" '$1=="payments" && $2==s {print $18}'; }
server_sessions() { hactl "show stat" | awk -F, -v s="s$1" '$1=="payments" && $2==s {print $5}'; }

http_ok() {
  "$NODE" -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(2000) })
      .then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1));
  ' "$1"
}

wait_until() { # seconds, command...: runs the command every 0.2 s until it succeeds
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

instances() { local f; for f in "$DIR"/instance-*.port; do [ -e "$f" ] && basename "$f" .port | sed 's/instance-//'; done | sort -n; }

start_instance() { # index
  local i=$1 port pid
  port=$(cat "$DIR/instance-$i.port")
  ! port_listening "$port" || die "instance $i: port $port is still in use"
  # shellcheck disable=SC2046
  (cd "$ROOT"
    PORT="$port" HOST=127.0.0.1 DATABASE_URL="$DATABASE_URL" REDIS_URL="$REDIS_URL" \
    GATEWAY_URL="$GATEWAY_URL" LOG_LEVEL="${LOG_LEVEL:-warn}" \
    TRUST_PROXY="${TRUST_PROXY:-127.0.0.1}" \
    nohup "$NODE" --conditions=source --import tsx service/main.ts >>"$DIR/instance-$i.log" 2>&1 &
    echo $! >"$DIR/instance-$i.pid")
  pid=$(cat "$DIR/instance-$i.pid")
  if ! wait_until "$START_TIMEOUT_S" ready_or_dead "$i" "$pid" || ! alive "$pid"; then
    tail -20 "$DIR/instance-$i.log" >&2
    die "instance $i (pid $pid, port $port) did not become ready"
  fi
  say "instance $i: pid $pid at http://127.0.0.1:$port"
}

ready_or_dead() { ! alive "$2" || http_ok "http://127.0.0.1:$(cat "$DIR/instance-$1.port")/health/ready"; }

start_gateway() {
  if [ -n "${GATEWAY_URL:-}" ]; then return 0; fi
  local port
  port=$(free_port)
  (cd "$ROOT"
    GATEWAY_PORT="$port" GATEWAY_HOST=127.0.0.1 GATEWAY_LEDGER_FILE="$DIR/gateway-ledger.ndjson" \
    nohup "$NODE" --conditions=source --import tsx service/gateway/main.ts >>"$DIR/gateway.log" 2>&1 &
    echo $! >"$DIR/gateway.pid")
  GATEWAY_URL="http://127.0.0.1:$port"
  wait_until 30 port_listening "$port" || { tail -20 "$DIR/gateway.log" >&2; die "the gateway simulator did not start"; }
  say "gateway simulator: pid $(cat "$DIR/gateway.pid") at $GATEWAY_URL"
}

port_listening() {
  "$NODE" -e '
    const s = require("net").connect(Number(process.argv[1]), "127.0.0.1", () => { s.end(); process.exit(0); });
    s.on("error", () => process.exit(1));
  ' "$1"
}

default_backends() {
  if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ]; then
    bash "$ROOT/scripts/services.sh" start >/dev/null
    eval "$(bash "$ROOT/scripts/services.sh" env)"
  fi
  if [ -z "${DATABASE_URL:-}" ]; then
    # A database of its own on the shared server, so tests' databases are never touched.
    "$NODE" --input-type=module -e '
      import pg from "pg";
      const c = new pg.Client({ connectionString: process.argv[1] });
      await c.connect();
      const { rowCount } = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", ["hotpath_scale"]);
      if (rowCount === 0) await c.query("CREATE DATABASE hotpath_scale");
      await c.end();
    ' "$TEST_DATABASE_URL"
    DATABASE_URL="${TEST_DATABASE_URL%/*}/hotpath_scale"
  fi
  REDIS_URL=${REDIS_URL:-$TEST_REDIS_URL}
}

cmd_start() {
  local m=${1:-${HOTPATH_SCALE_INSTANCES:-2}} i
  [[ "$m" =~ ^[1-9][0-9]?$ ]] || die "M must be an instance count in [1, 99], got \"$m\""
  [ -x "$HAPROXY" ] || die "HAProxy is not installed at $HAPROXY (apt-get install -y haproxy)"
  if [ -f "$DIR/haproxy.pid" ] && alive "$(cat "$DIR/haproxy.pid")"; then
    die "already running in $DIR (scripts/scale.sh stop first)"
  fi
  mkdir -p "$DIR"
  rm -f "$DIR"/instance-*.port "$DIR"/instance-*.pid
  default_backends
  start_gateway
  local lb_port=${HOTPATH_LB_PORT:-$(free_port)}
  for i in $(seq 1 "$m"); do free_port >"$DIR/instance-$i.port"; done
  # The first instance applies the migrations; the others then find the schema current.
  for i in $(seq 1 "$m"); do start_instance "$i"; done
  {
    cat "$ROOT/deploy/haproxy/haproxy.cfg"
    for i in $(seq 1 "$m"); do echo "    server s$i 127.0.0.1:$(cat "$DIR/instance-$i.port")"; done
    for i in $(seq 1 "$m"); do echo "    server b$i 127.0.0.1:$(cat "$DIR/instance-$i.port") backup no-check"; done
  } >"$DIR/haproxy.cfg"
  HOTPATH_LB_PORT=$lb_port HOTPATH_HAPROXY_SOCKET=$SOCK "$HAPROXY" -c -q -f "$DIR/haproxy.cfg" \
    || die "HAProxy rejected $DIR/haproxy.cfg"
  HOTPATH_LB_PORT=$lb_port HOTPATH_HAPROXY_SOCKET=$SOCK "$HAPROXY" -D -p "$DIR/haproxy.pid" -f "$DIR/haproxy.cfg" \
    >>"$DIR/haproxy.log" 2>&1 || { tail -20 "$DIR/haproxy.log" >&2; die "HAProxy did not start"; }
  echo "$lb_port" >"$DIR/lb.port"
  for i in $(seq 1 "$m"); do
    wait_until 30 server_is_up "$i" || die "HAProxy does not see instance $i up"
  done
  {
    echo "export HOTPATH_LB_URL=http://127.0.0.1:$lb_port"
    echo "export HOTPATH_INSTANCE_URLS=$(for i in $(seq 1 "$m"); do printf 'http://127.0.0.1:%s ' "$(cat "$DIR/instance-$i.port")"; done | sed 's/ $//; s/ /,/g')"
    echo "export HOTPATH_HAPROXY_PID=$(cat "$DIR/haproxy.pid")"
    echo "export HOTPATH_HAPROXY_SOCKET=$SOCK"
    echo "export HOTPATH_SCALE_DATABASE_URL=$DATABASE_URL"
    echo "export HOTPATH_SCALE_REDIS_URL=$REDIS_URL"
    echo "export HOTPATH_SCALE_GATEWAY_URL=$GATEWAY_URL"
  } >"$DIR/env"
  say "HAProxy: pid $(cat "$DIR/haproxy.pid") at http://127.0.0.1:$lb_port ($m instances)"
}

server_is_up() { [ "$(server_status "$1")" = UP ]; }
no_sessions() { [ "$(server_sessions "$1")" = 0 ]; }

load_state() {
  [ -f "$DIR/env" ] || die "nothing running in $DIR (scripts/scale.sh start)"
  DATABASE_URL=$(sed -n 's/^export HOTPATH_SCALE_DATABASE_URL=//p' "$DIR/env")
  REDIS_URL=$(sed -n 's/^export HOTPATH_SCALE_REDIS_URL=//p' "$DIR/env")
  GATEWAY_URL=$(sed -n 's/^export HOTPATH_SCALE_GATEWAY_URL=//p' "$DIR/env")
}

# One instance at a time: drain it in HAProxy (no new requests; in-flight ones finish), wait
# until it has none in flight, SIGTERM it (it drains too), start a new process on the same
# port, wait until it is ready, return it to HAProxy, and wait until HAProxy sees it UP before
# touching the next one, so M-1 instances always serve.
cmd_restart() {
  load_state
  local i pid
  for i in $(instances); do
    pid=$(cat "$DIR/instance-$i.pid")
    hactl "set server payments/s$i state drain" >/dev/null
    hactl "set server payments/b$i state drain" >/dev/null
    wait_until "$DRAIN_TIMEOUT_S" no_sessions "$i" || say "instance $i: requests still in flight after ${DRAIN_TIMEOUT_S} s; stopping it anyway (it drains on SIGTERM)"
    if alive "$pid"; then
      kill -TERM "$pid"
      wait_until "$DRAIN_TIMEOUT_S" dead "$pid" || die "instance $i (pid $pid) did not exit after SIGTERM"
    fi
    start_instance "$i"
    hactl "set server payments/s$i state ready" >/dev/null
    hactl "set server payments/b$i state ready" >/dev/null
    wait_until 30 server_is_up "$i" || die "HAProxy does not see instance $i up again"
    say "instance $i: restarted (pid $pid -> $(cat "$DIR/instance-$i.pid"))"
  done
}

dead() { ! alive "$1"; }

stop_pidfile() { # file
  local pid
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  if alive "$pid"; then
    kill -TERM "$pid"
    wait_until 30 dead "$pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

cmd_stop() {
  local f
  stop_pidfile "$DIR/haproxy.pid"
  for f in "$DIR"/instance-*.pid; do [ -e "$f" ] && stop_pidfile "$f"; done
  stop_pidfile "$DIR/gateway.pid"
  rm -f "$DIR/env" "$SOCK"
  say "stopped"
}

cmd_status() {
  local i pid
  if [ -f "$DIR/haproxy.pid" ] && alive "$(cat "$DIR/haproxy.pid")"; then
    say "HAProxy: up (pid $(cat "$DIR/haproxy.pid")) at http://127.0.0.1:$(cat "$DIR/lb.port")"
  else
    say "HAProxy: down"
  fi
  for i in $(instances); do
    pid=$(cat "$DIR/instance-$i.pid" 2>/dev/null || true)
    if alive "$pid"; then
      say "instance $i: up (pid $pid) at http://127.0.0.1:$(cat "$DIR/instance-$i.port"), HAProxy sees $( [ -S "$SOCK" ] && server_status "$i" || echo nothing)"
    else
      say "instance $i: down"
    fi
  done
}

# --- a PostgreSQL primary and a streaming replica -------------------------------------------

pg_bin() {
  local found
  for found in /usr/lib/postgresql/*/bin; do
    if [ -x "$found/pg_ctl" ]; then echo "$found"; return 0; fi
  done
  return 1
}

# PostgreSQL refuses to run as root: as root, run it as the postgres user (scripts/services.sh).
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_own() { if [ "$(id -u)" = 0 ]; then chown -R postgres "$@"; fi; }

pg_start_cluster() { # name port
  local bin=$1 name=$2 port=$3
  # Test settings as in scripts/services.sh; pg_stat_statements counts each server's queries.
  as_pg "$bin/pg_ctl" -D "$DIR/pg-$name" -l "$DIR/pg-run/$name.log" -w -t 60 start -o \
    "-h 127.0.0.1 -p $port -k $DIR/pg-run -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=128MB -c shared_preload_libraries=pg_stat_statements -c max_wal_senders=5 -c hot_standby=on" \
    >/dev/null || { tail -20 "$DIR/pg-run/$name.log" >&2; die "PostgreSQL $name did not start"; }
}

cmd_pg_start() {
  local bin primary_port replica_port
  bin=$(pg_bin) || die "PostgreSQL is not installed (apt-get install -y postgresql)"
  mkdir -p "$DIR"
  # The postgres user must reach its directories inside the state directory.
  chmod 755 "$DIR"
  if [ -f "$DIR/pg.env" ]; then cat "$DIR/pg.env"; return 0; fi
  mkdir -p "$DIR/pg-primary" "$DIR/pg-replica" "$DIR/pg-run"
  chmod 700 "$DIR/pg-primary" "$DIR/pg-replica"
  pg_own "$DIR/pg-primary" "$DIR/pg-replica" "$DIR/pg-run"
  primary_port=$(free_port)
  replica_port=$(free_port)
  as_pg "$bin/initdb" -D "$DIR/pg-primary" -U postgres --auth=trust --encoding=UTF8 --locale=C \
    >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
  pg_start_cluster "$bin" primary "$primary_port"
  # In template1 too, so every database created later has the view.
  for db in postgres template1; do
    as_pg "$bin/psql" -q -h 127.0.0.1 -p "$primary_port" -U postgres -d "$db" \
      -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null
  done
  # The replica: a base backup that streams the WAL it needs, and -R writes standby.signal
  # and primary_conninfo, so it starts as a hot standby streaming from the primary.
  as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$DIR/pg-replica" \
    -R -X stream -c fast >>"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; die "pg_basebackup failed"; }
  pg_start_cluster "$bin" replica "$replica_port"
  {
    echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$primary_port/postgres"
    echo "export DATABASE_REPLICA_URL=postgres://postgres@127.0.0.1:$replica_port/postgres"
    echo "export HOTPATH_PRIMARY_PID=$(head -1 "$DIR/pg-primary/postmaster.pid")"
    echo "export HOTPATH_REPLICA_PID=$(head -1 "$DIR/pg-replica/postmaster.pid")"
  } >"$DIR/pg.env"
  cat "$DIR/pg.env"
}

cmd_pg_stop() {
  local bin name pid
  bin=$(pg_bin) || return 0
  for name in replica primary; do
    [ -f "$DIR/pg-$name/postmaster.pid" ] || continue
    pid=$(head -1 "$DIR/pg-$name/postmaster.pid")
    as_pg "$bin/pg_ctl" -D "$DIR/pg-$name" -m fast -w -t 30 stop >/dev/null 2>&1 || kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$DIR/pg.env"
  echo "scale: PostgreSQL primary and replica stopped" >&2
}

# --- PgBouncer ------------------------------------------------------------------------------

cmd_pgbouncer_start() {
  local bouncer=${PGBOUNCER:-/usr/sbin/pgbouncer} port target
  [ -x "$bouncer" ] || die "PgBouncer is not installed at $bouncer (apt-get install -y pgbouncer)"
  if [ -f "$DIR/pgbouncer.env" ]; then cat "$DIR/pgbouncer.env"; return 0; fi
  if [ -z "${DATABASE_URL:-}" ]; then
    bash "$ROOT/scripts/services.sh" start postgres >/dev/null
    eval "$(bash "$ROOT/scripts/services.sh" env)"
    DATABASE_URL=$TEST_DATABASE_URL
  fi
  target=$("$NODE" -e 'const u = new URL(process.argv[1]); console.log(`${u.hostname} ${u.port || 5432}`)' "$DATABASE_URL")
  port=$(free_port)
  mkdir -p "$DIR/pgbouncer"
  chmod 755 "$DIR"
  sed -e "s|@PG_HOST@|${target% *}|; s|@PG_PORT@|${target#* }|; s|@LISTEN_PORT@|$port|; s|@DIR@|$DIR/pgbouncer|g; s|@POOL_SIZE@|${PGBOUNCER_POOL_SIZE:-20}|" \
    "$ROOT/deploy/pgbouncer/pgbouncer.ini" >"$DIR/pgbouncer/pgbouncer.ini"
  echo '"postgres" ""' >"$DIR/pgbouncer/userlist.txt"
  pg_own "$DIR/pgbouncer"
  # PgBouncer refuses to run as root: as root, it runs as the postgres user.
  as_pg "$bouncer" -d -q "$DIR/pgbouncer/pgbouncer.ini" || die "PgBouncer did not start ($DIR/pgbouncer/pgbouncer.log)"
  wait_until 10 port_listening "$port" || { tail -20 "$DIR/pgbouncer/pgbouncer.log" >&2; die "PgBouncer does not listen on $port"; }
  {
    echo "export PGBOUNCER_URL=$("$NODE" -e 'const u = new URL(process.argv[1]); u.hostname = "127.0.0.1"; u.port = process.argv[2]; console.log(u.toString())' "$DATABASE_URL" "$port")"
    echo "export HOTPATH_PGBOUNCER_PID=$(cat "$DIR/pgbouncer/pgbouncer.pid")"
  } >"$DIR/pgbouncer.env"
  cat "$DIR/pgbouncer.env"
}

cmd_pgbouncer_stop() {
  stop_pidfile "$DIR/pgbouncer/pgbouncer.pid"
  rm -f "$DIR/pgbouncer.env"
  echo "scale: PgBouncer stopped" >&2
}

case "${1:-status}" in
  start) cmd_start "${2:-}" ;;
  restart) cmd_restart ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) [ -f "$DIR/env" ] && cat "$DIR/env" || die "nothing running in $DIR" ;;
  pgbouncer)
    case "${2:-}" in
      start) cmd_pgbouncer_start ;;
      stop) cmd_pgbouncer_stop ;;
      env) [ -f "$DIR/pgbouncer.env" ] && cat "$DIR/pgbouncer.env" || die "no PgBouncer in $DIR" ;;
      *) echo "usage: scripts/scale.sh pgbouncer start|stop|env" >&2; exit 2 ;;
    esac
    ;;
  pg)
    case "${2:-}" in
      start) cmd_pg_start ;;
      stop) cmd_pg_stop ;;
      env) [ -f "$DIR/pg.env" ] && cat "$DIR/pg.env" || die "no PostgreSQL pair in $DIR" ;;
      *) echo "usage: scripts/scale.sh pg start|stop|env" >&2; exit 2 ;;
    esac
    ;;
  *)
    echo "usage: scripts/scale.sh start [M] | restart | stop | status | env | pg start|stop|env | pgbouncer start|stop|env" >&2
    exit 2
    ;;
esac
