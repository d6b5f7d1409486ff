"""Bounds on what one request may take: body size, time to send the body, time to answer.

`RequestLimits` is plain ASGI middleware around the application, so a refused request is
answered before its body is read or parsed:

- a body larger than `max_body_bytes` gets 413: by its Content-Length before anything is read;
  a chunked body as soon as it passes the limit, before it is parsed;
- a body not received within `body_timeout_s` gets 408;
- a request not answered within `request_timeout_s` gets 503 with Retry-After at once: what it
  waited on (a hung database, a full pool) is cancelled, and the pool discards the connection.

Every answer is a short JSON message, `{"detail": "..."}`; none echoes the request.
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)

CLOSE = {"connection": "close"}


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than {limit} bytes", CLOSE)


class BodyTooSlow(HTTPException):
    def __init__(self, seconds: float):
        super().__init__(408, f"the request body did not arrive within {seconds:g} s", CLOSE)


async def answer(send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """Send a whole JSON response `{"detail": detail}`."""
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """ASGI middleware: see the module's docstring."""

    def __init__(
        self,
        app,
        max_body_bytes: int,
        body_timeout_s: float,
        request_timeout_s: float,
        retry_after_s: int,
    ):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.request_timeout_s = request_timeout_s
        self.retry_after_s = retry_after_s
        self._answers: set[asyncio.Task] = set()  # 503s being sent by expired requests

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await answer(send, 400, "the Content-Length header is not a number", CLOSE)
                return
            if int(length) > self.max_body_bytes:
                await answer(send, 413, BodyTooLarge(self.max_body_bytes).detail, CLOSE)
                return

        loop = asyncio.get_running_loop()
        body_deadline = loop.time() + self.body_timeout_s
        received = 0
        started = False

        async def bounded_receive():
            """The body's messages, counted and on a deadline; after the last one, a receive
            only waits for the client to go away, and has no deadline."""
            nonlocal received, body_deadline
            try:
                async with asyncio.timeout_at(body_deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlow(self.body_timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
                if not message.get("more_body", False):
                    body_deadline = None
            return message

        abandoned = False

        async def tracked_send(message) -> None:
            nonlocal started
            if abandoned:  # answered 503 already: what the cancelled request still sends
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        request = asyncio.current_task()

        def expire() -> None:
            """Answer 503 now, from a task of its own, and cancel the request: a statement on a
            hung database may take the driver seconds to give up on."""
            nonlocal abandoned
            abandoned = True
            log.warning(
                "%s %s not answered within %g s: cancelled",
                scope.get("method"),
                scope.get("path"),
                self.request_timeout_s,
            )
            if not started:
                late = asyncio.ensure_future(
                    answer(
                        send,
                        503,
                        f"no answer within {self.request_timeout_s:g} s: the database is slow "
                        "or not answering",
                        {"retry-after": str(self.retry_after_s)},
                    )
                )
                self._answers.add(late)
                late.add_done_callback(self._answers.discard)
            if request is not None:
                request.cancel()

        timer = loop.call_later(self.request_timeout_s, expire)
        try:
            await self.app(scope, bounded_receive, tracked_send)
        except asyncio.CancelledError:
            if not abandoned:
                raise
        finally:
            timer.cancel()
