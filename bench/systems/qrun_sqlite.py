"""qrun's SQLite store on one file, driven through its port."""

import pathlib
import tempfile

from qrun.adapters.sqlite import SqliteStore

from .qrun_common import QrunSystem

NAME = "qrun SqliteStore"


class System(QrunSystem):
    def setup(self) -> None:
        self.path = pathlib.Path(tempfile.mkdtemp(prefix="qrun-bench-")) / "qrun.db"
        SqliteStore.migrate(self.path)

    def open(self) -> SqliteStore:
        return SqliteStore(self.path)
