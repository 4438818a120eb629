"""Fresh PostgreSQL databases for each system, on the same server in the same run."""

import psycopg

SERVER = "postgresql://postgres@127.0.0.1:5432"


def fresh_database(name: str) -> str:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"{SERVER}/{name}"
