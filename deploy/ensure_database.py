"""Create the PostgreSQL database named in DATABASE_URL if it does not exist yet.

`make serve` and `make scale-out-check` run this so that a fresh clone needs
nothing but a running PostgreSQL and a role allowed to create databases. Any
other URL (SQLite) is left alone: Django creates the file itself.
"""

import os
import sys
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql


def main():
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        return
    name = unquote(parts.path.lstrip("/"))
    maintenance = parts._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"Created the database {name}.", file=sys.stderr)


if __name__ == "__main__":
    main()
