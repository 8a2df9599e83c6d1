"""The app driven in this process (no server, no socket: an ASGI call), for answers that need no real connection:
refusals of request fields. Fast: the models load once per module."""

from __future__ import annotations

import asyncio
import base64
from urllib.parse import urlencode

import pytest

PORT = 8000


@pytest.fixture(scope="module")
def app_state():
    from dlexam.serve.state import ServeSettings, load_state

    return load_state(ServeSettings(port=PORT))


def call(state, method: str, path: str, params: dict | None = None, body: bytes = b"",
         kind: str = "application/json") -> tuple[int, bytes]:
    """One request to the app of `state`, as uvicorn would hand it over: (status, body)."""
    from dlexam.serve.app import create_app

    app = create_app(state, port=PORT)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": urlencode(params or {}).encode(),
             "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", PORT),
             "headers": [(b"host", f"127.0.0.1:{PORT}".encode()), (b"content-type", kind.encode()),
                         (b"content-length", str(len(body)).encode())]}
    out = {"status": None, "body": b""}

    async def run():
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive():
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # nothing more comes: the client waits for the answer

        async def send(message):
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
            elif message["type"] == "http.response.body":
                out["body"] += message.get("body", b"")

        await app(scope, receive, send)

    asyncio.run(run())
    return out["status"], out["body"]


RAW = bytes((i * 7 + (i // 32) * 13) % 256 for i in range(1024))
IMG = base64.urlsafe_b64encode(RAW).decode().rstrip("=")  # as cnn.js's toBase64Url writes it: 1,366 characters


@pytest.mark.parametrize("image, shown", [
    ("A" * 1000 + "!!!" + "A" * 366, "character 1,001 is '!'"),  # base64 dropped the three without a word
    (IMG[:700] + "\n" + IMG[700:], "character 701 is '\\n'"),
    (IMG[:5] + "+/" + IMG[7:], "character 6 is '+'"),  # standard base64's alphabet, not base64url's
    (IMG[:-1] + "B", "its last character 'B'"),  # the last 4 bits, which no byte uses, set
    (IMG + "=", "character 1,367 is '='"), (IMG + "===", "character 1,367 is '='"),
    (IMG[:-1], "got 1,365 characters"), (IMG + "AAAA", "got 1,370 characters"), ("", "got 0 characters"),
])
def test_the_explained_image_is_read_strictly(app_state, image, shown):
    import json

    status, body = call(app_state, "POST", "/api/svhn/explain",
                        body=json.dumps({"image": image, "layer": "conv1", "at": [0, 0, 0]}).encode())
    d = json.loads(body)
    assert status == 400 and d["field"] == "image" and shown in d["error"], d
    assert d["error"].startswith("image must be the 32x32 input as 1,024 grey levels in base64url"), d


def test_the_explained_image_as_the_page_writes_it_with_or_without_padding(app_state):
    import json

    import torch

    from dlexam.plain import plain
    from dlexam.svhn.explain import explain

    want = plain(explain(app_state.cnn, torch.tensor(list(RAW), dtype=torch.uint8).reshape(32, 32), "conv1",
                         (1, 2, 3)).to_json())
    for image in (IMG, IMG + "=="):
        status, body = call(app_state, "POST", "/api/svhn/explain",
                            body=json.dumps({"image": image, "layer": "conv1", "at": [1, 2, 3]}).encode())
        assert status == 200 and json.loads(body) == want
