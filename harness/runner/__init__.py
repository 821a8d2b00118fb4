"""Running a suite on a model: the run configuration, the items, the methods and the one run loop."""

from harness.runner.config import METHODS, RunConfig
from harness.runner.items import Prepared, prepare
from harness.runner.loop import execute, open_backend

__all__ = ["METHODS", "Prepared", "RunConfig", "execute", "open_backend", "prepare"]
