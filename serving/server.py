"""Running the API under uvicorn with the connection limits of the settings.

uvicorn closes an idle keep-alive connection, but a connection that never finishes sending a
request's headers (a slow or stalled client) is held for ever. `HeaderTimeoutProtocol` closes
one whose headers are not complete `header_timeout_s` after it opened or after its previous
response. `limit_concurrency` (`max_connections`) answers 503 to connections beyond it.

`python -m serving.server --host H --port P [--workers N]` runs it (the container's command);
`algorhythms serve` too.
"""

from __future__ import annotations

import argparse
import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from serving.settings import Settings


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, closing connections that do not send complete headers in time."""

    header_timeout_s: float | None = None  # from the settings, read once per process

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        cls = type(self)
        if cls.header_timeout_s is None:
            cls.header_timeout_s = Settings().header_timeout_s
        self._header_timer = self.loop.call_later(cls.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.cycle is None or self.cycle.response_complete:
            if not self.transport.is_closing():
                self.transport.close()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def run(host: str, port: int, workers: int = 1, log_level: str = "warning", access_log=False):
    """Serve `serving.main:create_app` (settings from the environment) until stopped."""
    import uvicorn

    settings = Settings()
    uvicorn.run(
        "serving.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=HeaderTimeoutProtocol,
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.keep_alive_s,
        log_level=log_level,
        access_log=access_log,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the recommendation API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    run(args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
