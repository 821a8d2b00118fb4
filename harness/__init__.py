"""harness: an evaluation harness for Chinese large language models.

Importing the package is cheap: torch, transformers and vLLM are imported only by the
modules that need them, so `harness models` and `harness --help` start instantly.
"""

__version__ = "0.1.0"
