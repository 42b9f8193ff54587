#!/usr/bin/env bash
# Install (if needed) and start Debian's PostgreSQL server; print a URL of a role that may create
# databases, for the tests (STOPSPREAD_TEST_POSTGRES).
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version main" || pg_createcluster "$version" main >/dev/null
pg_ctlcluster "$version" main start >/dev/null 2>&1 || true
for _ in $(seq 1 50); do
    su postgres -c "psql -tAc 'SELECT 1'" >/dev/null 2>&1 && break
    sleep 0.2
done
su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='stopspread'\"" | grep -q 1 \
    || su postgres -c "psql -q -c \"CREATE ROLE stopspread LOGIN PASSWORD 'stopspread' CREATEDB\""
port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')
echo "postgresql+psycopg://stopspread:stopspread@127.0.0.1:${port}/postgres"
