#!/bin/sh
# Starts or stops the benchmark nginx. Pin it by starting under taskset; nginx's worker
# inherits the master's CPU affinity.
#
#   nginx.sh start <port> <dir>   serve index.html on 127.0.0.1:<port>, state in <dir>
#                                 (started by root, the worker runs as nobody: every
#                                 directory above <dir> must be searchable by others)
#   nginx.sh stop <dir>           stop it and wait until it has exited
set -eu
here=$(cd "$(dirname "$0")" && pwd)

case "${1:-}" in
start)
    port=$2 dir=$3
    mkdir -p "$dir/html"
    # The worker drops root privileges (to nobody) and must still read the file.
    chmod 755 "$dir" "$dir/html"
    cp "$here/index.html" "$dir/html/index.html"
    chmod 644 "$dir/html/index.html"
    sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" "$here/nginx.conf.in" >"$dir/nginx.conf"
    nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
    # The daemon writes its pid file after the parent returns; wait for it and the port.
    for _ in $(seq 50); do
        if [ -s "$dir/nginx.pid" ] && curl -sf -o /dev/null "http://127.0.0.1:$port/"; then
            exit 0
        fi
        sleep 0.1
    done
    echo "nginx did not come up on 127.0.0.1:$port; see $dir/error.log" >&2
    exit 1
    ;;
stop)
    dir=$2
    [ -s "$dir/nginx.pid" ] || exit 0
    pid=$(cat "$dir/nginx.pid")
    kill -QUIT "$pid" 2>/dev/null || exit 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || exit 0
        sleep 0.1
    done
    kill -TERM "$pid" 2>/dev/null || true
    ;;
*)
    echo "usage: $0 start <port> <dir> | stop <dir>" >&2
    exit 2
    ;;
esac
