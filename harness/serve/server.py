"""Run the transformers server under uvicorn, with a graceful shutdown that exits 0.

On SIGINT or SIGTERM uvicorn stops accepting connections, lets in-flight requests finish for up to
`shutdown_timeout` seconds, then cancels what is left (the worker stops those generations at the
next token). uvicorn then re-raises the signal so the process dies "by" it; a server stopped on
purpose has done nothing wrong, so `_Server` drops that and the command returns 0.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from harness.errors import UserError
from harness.serve.options import ServeOptions


def run_server(app: Any, options: ServeOptions, names: list[str]) -> int:
    import uvicorn

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()  # shut down gracefully, then exit 0 instead of dying by the signal

    config = uvicorn.Config(
        app, host=options.host, port=options.port, lifespan="on", log_level="info",
        timeout_graceful_shutdown=options.shutdown_timeout, server_header=False,
    )
    server = _Server(config)
    print(f"harness serve: serving {', '.join(names)} on http://{options.host}:{options.port}/v1"
          f"{' (API key required)' if options.api_key else ''}", file=sys.stderr, flush=True)
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind
        raise UserError(f"could not listen on {options.host}:{options.port} (address in use or not available)") from None
    if not server.started:
        raise UserError(f"could not listen on {options.host}:{options.port}")
    print("harness serve: stopped", file=sys.stderr)
    return 0
