"""The container runner (`pip install 'qrun[docker]'`)."""

from .runner import ContainerRunner, ContainerSpec

__all__ = ["ContainerRunner", "ContainerSpec"]
