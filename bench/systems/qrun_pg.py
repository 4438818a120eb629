"""qrun's PostgreSQL store, driven through its port: claim, then record the outcome."""

from qrun.adapters.postgres import PostgresStore

from .pg_common import fresh_database
from .qrun_common import QrunSystem

NAME = "qrun PostgresStore"


class System(QrunSystem):
    def __init__(self, db: str = "bench_qrun") -> None:
        self.db = db

    def setup(self) -> None:
        self.url = fresh_database(self.db)
        PostgresStore.migrate(self.url)

    def open(self) -> PostgresStore:
        return PostgresStore(self.url, min_size=1, max_size=1)
