"""Create the database that DATABASE_URL names if it does not exist yet (idempotent)."""

import os
import sys
from urllib.parse import urlparse

import psycopg
from psycopg import sql

url = urlparse(os.environ["DATABASE_URL"])
name = url.path.lstrip("/")
admin = url._replace(path="/postgres").geturl().replace("postgresql://", "postgres://", 1)
try:
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"services: created database {name}")
except psycopg.Error as exc:
    print(f"services: cannot reach PostgreSQL ({exc})", file=sys.stderr)
    sys.exit(1)
