"""The container runner (`pip install 'qrun[docker]'`)."""

from .runner import ContainerRunner
from .spec import ContainerSpec

__all__ = ["ContainerRunner", "ContainerSpec"]
