"""Temporal's codec-server HTTP protocol over our codec, for the UI and `temporal` CLI.

`POST /encode` and `POST /decode` take and return `{"payloads": [...]}` (the proto
JSON of `temporal.api.common.v1.Payloads`); the Temporal UI calls them from the
browser (CORS for its origin, `X-Namespace` header), `temporal --codec-endpoint
URL [--codec-auth "Bearer TOKEN"]` from the shell. With a token configured, every
request must carry `Authorization: Bearer <token>`: whoever reaches the server can
read every payload, so it listens on loopback and should be guarded.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import hdrs, web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from rollway.security.codec import CodecError

DEFAULT_UI_ORIGINS = ("http://localhost:8233", "http://127.0.0.1:8233")
MAX_BODY = 16 * 1024 * 1024
Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def codec_app(
    codec: PayloadCodec,
    *,
    origins: Sequence[str] = DEFAULT_UI_ORIGINS,
    token: str | None = None,
) -> web.Application:
    """The aiohttp application serving `/encode` and `/decode` with `codec`."""
    allowed = set(origins)

    def cors(request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get(hdrs.ORIGIN)
        if origin in allowed:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = "POST, OPTIONS"
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = (
                "content-type, x-namespace, authorization"
            )
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
            response.headers[hdrs.VARY] = "Origin"

    def error(request: web.Request, status: int, message: str) -> web.Response:
        response = web.json_response({"error": message}, status=status)
        cors(request, response)
        return response

    async def preflight(request: web.Request) -> web.Response:
        response = web.Response(status=204)
        cors(request, response)
        return response

    def handler(transform: Transform) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            if token is not None:
                given = request.headers.get(hdrs.AUTHORIZATION, "")
                if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                    return error(request, 401, "missing or wrong bearer token")
            try:
                payloads = json_format.Parse(await request.read(), Payloads())
            except (json_format.ParseError, UnicodeDecodeError) as e:
                return error(request, 400, f'body is not {{"payloads": [...]}}: {e}')
            try:
                result = Payloads(payloads=await transform(payloads.payloads))
            except CodecError as e:
                return error(request, 422, str(e))
            response = web.Response(
                text=json_format.MessageToJson(result), content_type="application/json"
            )
            cors(request, response)
            return response

        return handle

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/encode", handler(codec.encode))
    app.router.add_post("/decode", handler(codec.decode))
    app.router.add_route("OPTIONS", "/encode", preflight)
    app.router.add_route("OPTIONS", "/decode", preflight)
    return app
