#!/usr/bin/env bash
# The scaled topology on one machine, as plain processes on loopback (see docs/scale-out.md):
#
#   PostgreSQL (one server, two databases: grantflow's and the Prefect server's)
#   a Prefect server on PostgreSQL, a process work pool and two process workers
#   two web processes (uvicorn) on their own ports behind a round-robin TCP proxy
#   one shared file store (GRANTFLOW_HOME: keys, attachments, published documents)
#
# then seeds a story, has clients submit through the proxy, runs a deadline sweep, reminders and
# a publication through the workers (the publication twice, at once, so two runs race), and checks in the
# database that every submission, reminder and published document exists exactly once.
# Exit status 0 only when every check holds. Everything it started is stopped on exit.
#
#   scripts/scale-out.sh                     # uses .venv/bin/python (make install-dev)
#   PYTHON=/path/python scripts/scale-out.sh
#   SCALE_OUT_SUBMISSIONS=60 SCALE_OUT_REMINDERS=9 scripts/scale-out.sh
#   SCALE_OUT_KEEP=1 scripts/scale-out.sh    # keep the temporary directory (logs) afterwards
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
BIN=$(dirname "$PY")
SUBMISSIONS=${SCALE_OUT_SUBMISSIONS:-36}
REMINDERS=${SCALE_OUT_REMINDERS:-6}
POOL=grantflow-scale-out
STARTED=$SECONDS
# this run configures every process itself: nothing from the caller's grantflow or Prefect settings leaks in
for var in $(compgen -e | grep -E '^(GRANTFLOW|PREFECT)_' || true); do
	[ "$var" = GRANTFLOW_PG_BINDIR ] || unset "$var"
done

say() { printf '[scale-out %3ds] %s\n' "$((SECONDS - STARTED))" "$*"; }

# --- a temporary directory and cleanup of everything started -------------------------------------
WORK=$(mktemp -d /tmp/grantflow-scale-out-XXXXXX)
chmod 755 "$WORK" # the postgres user must be able to enter it
mkdir -p "$WORK/logs"
GROUPS_STARTED=() # process group ids (each service runs in its own session via setsid)
PG_STARTED=""

run_pg() { # PostgreSQL refuses to run as root: as root, run its tools as the postgres user
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_groups() { # stop_groups PGID...: SIGTERM, up to 5 s to finish cleanly, then SIGKILL
	local pgid
	for pgid in "$@"; do kill -TERM -- "-$pgid" 2>/dev/null; done
	for pgid in "$@"; do
		for _ in $(seq 1 20); do
			kill -0 -- "-$pgid" 2>/dev/null || break
			sleep 0.25 # waiting for a process to exit
		done
		kill -KILL -- "-$pgid" 2>/dev/null
	done
}

cleanup() {
	local status=$?
	set +e
	[ -n "${FLOWS_PID:-}" ] && kill "$FLOWS_PID" 2>/dev/null
	[ -n "${SEED_PID:-}" ] && kill "$SEED_PID" 2>/dev/null
	# the clients of the Prefect server first (proxy, web, workers), then the server, PostgreSQL last
	local clients=() pgid
	for pgid in "${GROUPS_STARTED[@]}"; do
		[ "$pgid" = "${PREFECT_PGID:-}" ] || clients+=("$pgid")
	done
	[ ${#clients[@]} -gt 0 ] && stop_groups "${clients[@]}"
	[ -n "${PREFECT_PGID:-}" ] && stop_groups "$PREFECT_PGID"
	if [ -n "$PG_STARTED" ]; then
		run_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m immediate -w stop >/dev/null 2>&1
	fi
	if [ "${SCALE_OUT_KEEP:-0}" = 1 ] || [ "$status" != 0 ]; then
		echo "logs kept in $WORK/logs" >&2
		if [ "$status" != 0 ]; then
			for f in "$WORK"/logs/*.log; do
				echo "--- tail of $f" >&2
				tail -n 15 "$f" >&2
			done
		fi
		[ "${SCALE_OUT_KEEP:-0}" = 1 ] || rm -rf "$WORK/pg" "$WORK/home" "$WORK"/prefect*
	else
		rm -rf "$WORK"
	fi
	say "stopped everything ($((SECONDS - STARTED)) s in all)"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() { # start NAME COMMAND...: in its own session (so one kill reaches its children), logged
	local name=$1
	shift
	# its own session (setsid), and SIGINT back to default: a script's background jobs start with SIGINT
	# ignored, and a Prefect worker stops its child process with SIGINT
	"$PY" -c 'import os, signal, sys; os.setsid(); signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
		"$@" >"$WORK/logs/$name.log" 2>&1 </dev/null &
	GROUPS_STARTED+=("$!")
	disown "$!" # stopped by cleanup, by process group; no job-status noise when it is killed
}

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_http() { # wait_http URL SECONDS WHAT: until the URL answers at all (any HTTP status)
	"$PY" - "$1" "$2" <<'EOF' || {
import sys, time, urllib.error, urllib.request
url, timeout = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(url, timeout=2).close()
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except OSError:
        time.sleep(0.5)  # waiting for another process to listen
sys.exit(1)
EOF
		say "timed out waiting for $3 ($1)"
		return 1
	}
}

# --- PostgreSQL: one throwaway server, as tests/pg.py starts it -----------------------------------
PGBIN=${GRANTFLOW_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n | tail -n 1)}
[ -x "$PGBIN/initdb" ] || {
	echo "PostgreSQL server binaries not found (scripts/system-deps.sh installs them)" >&2
	exit 2
}
PGPORT=$(free_port)
mkdir -p "$WORK/pg"
[ "$(id -u)" = 0 ] && chown postgres "$WORK/pg"
run_pg "$PGBIN/initdb" -D "$WORK/pg/data" -U grantflow -A trust -E UTF8 --no-locale --no-sync >"$WORK/logs/initdb.log"
# a throwaway server: fsync off loses nothing that matters here; locking and isolation are unchanged
run_pg "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w start \
	-o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $WORK/pg -c fsync=off -c synchronous_commit=off -c max_connections=200" \
	>/dev/null
PG_STARTED=1
run_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U grantflow grantflow
run_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U grantflow prefect
say "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT (databases grantflow, prefect)"

# --- configuration shared by every grantflow process ----------------------------------------------
PREFECT_PORT=$(free_port)
export GRANTFLOW_DATABASE_URL="postgresql+psycopg://grantflow@127.0.0.1:$PGPORT/grantflow"
export GRANTFLOW_HOME="$WORK/home" # the shared file store: keys, attachments, publications
export GRANTFLOW_SECRET_KEY
GRANTFLOW_SECRET_KEY=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')
export GRANTFLOW_PUBLISH_WORKERS=1 # two cores: one layout process per flow run is enough
export PREFECT_API_URL="http://127.0.0.1:$PREFECT_PORT/api"
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
mkdir -p "$GRANTFLOW_HOME"

# --- the Prefect server on its own PostgreSQL database --------------------------------------------
start prefect-server env -u PREFECT_API_URL \
	PREFECT_HOME="$WORK/prefect-server" \
	PREFECT_API_DATABASE_CONNECTION_URL="postgresql+asyncpg://grantflow@127.0.0.1:$PGPORT/prefect" \
	PREFECT_SERVER_API_HOST=127.0.0.1 PREFECT_SERVER_API_PORT="$PREFECT_PORT" PREFECT_UI_ENABLED=false \
	"$BIN/prefect" server start --host 127.0.0.1 --port "$PREFECT_PORT"
PREFECT_PGID=${GROUPS_STARTED[-1]}

# meanwhile: migrate and seed the demo people (once, before anything else writes: it makes the audit
# key), then, in the background, the story this run checks
say "migrating grantflow's database"
"$BIN/grantflow" init --demo >"$WORK/logs/init.log"
say "seeding the story (in the background)"
{
	"$PY" scripts/scale_out.py seed --plan "$WORK/plan.json" --submissions "$SUBMISSIONS" --reminders "$REMINDERS"
} >"$WORK/logs/seed.log" 2>&1 &
SEED_PID=$!

# --- two web processes behind the proxy -----------------------------------------------------------
WEB1=$(free_port)
WEB2=$(free_port)
PROXY=$(free_port)
for n in 1 2; do
	port_var=WEB$n
	start "web-$n" "$PY" -m uvicorn --factory grantflow.web.app:create_app --host 127.0.0.1 --port "${!port_var}"
done
start proxy "$PY" scripts/tcp_proxy.py --listen "127.0.0.1:$PROXY" \
	--backend "127.0.0.1:$WEB1" --backend "127.0.0.1:$WEB2" --stats "$WORK/proxy-stats.json"

wait_http "$PREFECT_API_URL/health" 120 "the Prefect server"
say "Prefect server on $PREFECT_API_URL (PostgreSQL database prefect)"

# --- deploy the flows to a process pool, start two workers ----------------------------------------
# --paused: the configured schedules stay off, so only the runs started below happen
PREFECT_HOME="$WORK/prefect-deploy" "$BIN/grantflow" deploy --pool "$POOL" --paused \
	--only deadlines --only reminders --only publish-establishment >"$WORK/logs/deploy.log"
say "deployed deadlines, reminders and publish-establishment to work pool $POOL"
for n in 1 2; do
	# --limit 2: a worker takes at most two runs at a time, so the burst of four below is shared
	start "worker-$n" env PREFECT_HOME="$WORK/prefect-worker-$n" PREFECT_WORKER_QUERY_SECONDS=1 \
		"$BIN/prefect" worker start --pool "$POOL" --type process --name "worker-$n" --limit 2
done

wait "$SEED_PID" || {
	say "seeding failed"
	exit 1
}
SEED_PID=""
tail -n 1 "$WORK/logs/seed.log"
wait_http "http://127.0.0.1:$WEB1/login" 60 "web process 1"
wait_http "http://127.0.0.1:$WEB2/login" 60 "web process 2"
say "web processes on :$WEB1 and :$WEB2, proxy on :$PROXY"

# --- the flows through the workers (in the background) and the clients through the proxy ----------
# the publication twice, at once: the two workers race for the same documents, which must still
# be published once
say "starting flow runs: deadlines, reminders, publish-establishment twice"
PREFECT_HOME="$WORK/prefect-client" "$PY" scripts/scale_out.py flows --plan "$WORK/flows.json" --timeout 240 \
	--deployment deadlines/grantflow --deployment reminders/grantflow \
	--deployment publish-establishment/grantflow --deployment publish-establishment/grantflow \
	>"$WORK/logs/flows.log" 2>&1 &
FLOWS_PID=$!
say "$SUBMISSIONS clients submitting proposals through the proxy"
"$PY" scripts/scale_out.py submit --plan "$WORK/plan.json" --url "http://127.0.0.1:$PROXY" --concurrency 6
FLOWS_STATUS=0
wait "$FLOWS_PID" || FLOWS_STATUS=$?
cat "$WORK/logs/flows.log"
"$PY" - "$WORK/plan.json" "$WORK/flows.json" <<'EOF' # the flow runs join the plan the checker reads
import json, sys
plan, runs = (json.loads(open(p).read()) for p in sys.argv[1:])
plan["flow_runs"] = runs.get("flow_runs", [])
open(sys.argv[1], "w").write(json.dumps(plan, indent=1))
EOF

# --- the checks -----------------------------------------------------------------------------------
"$PY" scripts/scale_out.py check --plan "$WORK/plan.json" --proxy-stats "$WORK/proxy-stats.json" \
	--web-log "$WORK/logs/web-1.log" --web-log "$WORK/logs/web-2.log" \
	--worker-log "$WORK/logs/worker-1.log" --worker-log "$WORK/logs/worker-2.log" --require-both-workers
say "all checks passed in $((SECONDS - STARTED)) s"
exit "$FLOWS_STATUS"
