#!/bin/sh
# Runs once, when the primary's data directory is first created (docker-entrypoint-initdb.d):
# lets the streaming replica (service `postgres-replica`) connect for replication, with a
# password. The image's own `host all all all scram-sha-256` line does not cover replication
# connections. An existing volume never runs this: see deploy/README.md.
set -e
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
