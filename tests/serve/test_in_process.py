"""The app driven in this process (no server, no socket: an ASGI call), for answers that need no real connection:
which endpoints a worker computes, and refusals of request fields. Fast: the models load once per module."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import pickle
import struct
from urllib.parse import urlencode

import pytest

from .client import untimed

PORT = 8000


@pytest.fixture(scope="module")
def app_state():
    from dlexam.serve.state import ServeSettings, load_state

    return load_state(ServeSettings(port=PORT))


def call(state, method: str, path: str, params: dict | None = None, body: bytes = b"",
         kind: str = "application/json") -> tuple[int, bytes]:
    """One request to the app of `state`, as uvicorn would hand it over: (status, body)."""
    return asyncio.run(ask(state, method, path, params, body, kind))


async def ask(state, method: str, path: str, params: dict | None = None, body: bytes = b"",
              kind: str = "application/json") -> tuple[int, bytes]:
    """:func:`call` on the running event loop (so that several requests can be in flight at once)."""
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

    await run()
    return out["status"], out["body"]


class RecordingPool:
    """Stands in for the worker processes: records each job's name and computes it as a worker would (the job and
    its arguments through pickle, errors carried back as a worker's reply)."""

    def __init__(self, fail: int = 0) -> None:
        self.jobs: list[str] = []
        self.budgets: list[float] = []
        self.fail = fail  # the first `fail` jobs end as a worker past its budget does

    async def run(self, state, fn, *args, budget_s: float = 0.0) -> bytes:
        from dlexam.serve.workers import JobTimeout, run_job, unpack

        self.jobs.append(fn.__name__)
        self.budgets.append(budget_s)
        await asyncio.sleep(0.01)  # a job takes its time: other requests arrive meanwhile
        if len(self.jobs) <= self.fail:
            raise JobTimeout(state.settings.limits.job_timeout_s + budget_s)
        fn, args = pickle.loads(pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL))
        return unpack(pickle.loads(pickle.dumps(run_job(fn, state, args))))


SORTS = [({"vocab": "100", "seq": " ".join(str(i) for i in range(63, -1, -1))}, 200), ({"seq": "D A A C"}, 200),
         ({"seq": "D A B", "model": "trained", "temperature": "0.5"}, 200), ({"vocab": "A-Z", "seq": "Q A Q"}, 200),
         ({"vocab": "A-Z", "seq": "Q A", "temperature": "0.5"}, 400), ({"vocab": "1", "seq": "1"}, 400),
         ({"vocab": "0", "seq": "0"}, 400), ({"model": "trained", "vocab": "A-Z", "seq": "A"}, 400)]


def test_sorting_and_the_layer_table_are_computed_by_a_worker_with_the_same_answers(app_state):
    """With worker processes every computation goes to a worker (docs/serve.md). /api/sort (0.35 s for 64 symbols
    of a 100-symbol vocabulary) and /api/svhn/model ran in threads of the server instead, outside any job budget."""
    from dlexam.serve.state import ServerState

    inline = ServerState(settings=app_state.settings, trained_sorter=app_state.trained_sorter, cnn=app_state.cnn,
                         cnn_source=app_state.cnn_source)  # --workers 0
    pooled = ServerState(settings=app_state.settings, trained_sorter=app_state.trained_sorter, cnn=app_state.cnn,
                         cnn_source=app_state.cnn_source, pool=RecordingPool())
    for params, status in SORTS:
        want = call(inline, "GET", "/api/sort", params)
        assert want[0] == status and call(pooled, "GET", "/api/sort", params) == want, (params, want)
    assert call(pooled, "GET", "/api/svhn/model") == call(inline, "GET", "/api/svhn/model")
    assert pooled.pool.jobs == ["sort_job"] * len(SORTS) + ["model_job"]


def states(app_state, pool=None):
    """(--workers 0's state, a state whose workers are `pool`), both with app_state's models and nothing cached."""
    from dlexam.serve.state import ServerState

    return tuple(ServerState(settings=app_state.settings, trained_sorter=app_state.trained_sorter,
                             cnn=app_state.cnn, cnn_source=app_state.cnn_source, pool=pool)
                 for pool in (None, pool))


async def together(*requests):
    return await asyncio.gather(*requests)


def test_the_answer_key_is_computed_once_by_a_worker_for_every_client_that_asks_meanwhile(app_state, need_shared):
    """/api/answers is a worker's job like every other computation (docs/serve.md): it ran in a thread of the server,
    outside any job budget, and each client waiting for the first computation held a thread of the server's pool.
    Five clients asking at once get one computation; the bytes are --workers 0's (the measured times aside)."""
    need_shared("exam")
    inline, pooled = states(app_state, RecordingPool())
    want = call(inline, "GET", "/api/answers")
    assert want[0] == 200 and json.loads(want[1])[0]["id"] == "P1.1"
    got = asyncio.run(together(*[ask(pooled, "GET", "/api/answers") for _ in range(5)]))
    assert len(set(got)) == 1 and got[0][0] == 200 and untimed(got[0][1]) == untimed(want[1])
    assert untimed(want[1]) != want[1]  # the times were there to leave out
    assert call(pooled, "GET", "/api/answers") == got[0]  # kept: the same bytes, no second job
    assert pooled.pool.jobs == ["answers_job"]

    from dlexam.serve.api_models import ANSWER_KEY_BUDGET_S

    assert pooled.pool.budgets == [ANSWER_KEY_BUDGET_S]
    assert json.loads(got[0][1]) == json.loads(got[0][1].decode())  # utf-8, as ensure_ascii=False wrote it


def test_an_answer_key_that_failed_is_computed_again_and_a_client_that_left_stops_nobody(app_state, monkeypatch):
    """A worker past the key's budget fails every request waiting for it (503), and the next request computes it
    again (a failure is not kept); a client that leaves during the computation does not cancel it for the others."""
    import dlexam.answers

    monkeypatch.setattr(dlexam.answers, "answer_key", lambda: [])  # the key's content is the other test's
    inline, pooled = states(app_state, RecordingPool(fail=1))
    first = asyncio.run(together(*[ask(pooled, "GET", "/api/answers") for _ in range(3)]))
    assert [s for s, _ in first] == [503] * 3 and b"budget" in first[0][1]
    assert pooled.answer_key is None and call(pooled, "GET", "/api/answers") == (200, b"[]")
    assert pooled.pool.jobs == ["answers_job"] * 2

    from dlexam.serve.api_models import answer_key_bytes

    async def leave_early():
        left = asyncio.ensure_future(answer_key_bytes(inline))
        stays = asyncio.ensure_future(answer_key_bytes(inline))
        await asyncio.sleep(0)
        left.cancel()
        return await asyncio.gather(left, stays, return_exceptions=True)

    left, stays = asyncio.run(leave_early())
    assert isinstance(left, asyncio.CancelledError) and stays == b"[]" and inline.answer_key == b"[]"


def test_a_numbered_vocabulary_is_named_in_words(app_state):
    """Before: "unknown token '1': vocabulary 1 is 0", and for vocab=0 the command line's bounds (1 .. 2000)."""
    import json

    status, body = call(app_state, "GET", "/api/sort", {"vocab": "1", "seq": "1"})
    assert status == 400 and json.loads(body) == {"error": "unknown token '1': vocabulary 1 has one symbol, 0",
                                                  "field": "seq"}
    status, body = call(app_state, "GET", "/api/sort", {"vocab": "12", "seq": "3 12"})
    assert status == 400 and json.loads(body)["error"] == "unknown token '12': vocabulary 12 has 12 symbols, 0 1 ... 11"
    status, body = call(app_state, "GET", "/api/sort", {"vocab": "0", "seq": "0"})
    assert status == 400 and json.loads(body) == {
        "error": "vocabulary '0' has no symbols: the page compiles a solver for 1 to 100 symbols (or a letter range "
                 "such as A-D)", "field": "vocab"}
    status, body = call(app_state, "GET", "/api/sort", {"vocab": "5000", "seq": "0"})
    assert status == 400 and "has 5,000 symbols; the page compiles at most 100" in json.loads(body)["error"]


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


def test_a_bmp_of_negative_width_is_an_impossible_size_not_too_many_pixels(app_state):
    import json

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 3), "white").save(buf, format="BMP")
    data = bytearray(buf.getvalue())
    struct.pack_into("<i", data, 18, -4)  # BITMAPINFOHEADER's width, a signed number
    status, body = call(app_state, "POST", "/api/svhn/predict", body=bytes(data), kind="image/bmp")
    d = json.loads(body)
    assert status == 400 and d["field"] == "image" and "impossible size" in d["error"], d
    assert "more pixels" not in d["error"], d


def test_a_jpeg_cut_short_then_closed_with_its_end_marker_is_a_400(app_state):
    """Cut inside its compressed data and given an end-of-image marker, a JPEG upload got a prediction (Pillow
    decodes its missing blocks grey, dropping libjpeg's warning); it is refused as a file cut short without the
    marker is, inline and in a worker."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:120, 0:160]
    buf = io.BytesIO()
    Image.fromarray((128 + 100 * np.sin(x / 9) * np.cos(y / 13)).astype(np.uint8)).save(buf, "JPEG", quality=90)
    whole = buf.getvalue()
    inline, pooled = states(app_state, RecordingPool())
    for st in (inline, pooled):
        assert call(st, "POST", "/api/svhn/predict", body=whole, kind="image/jpeg")[0] == 200
        for cut in (whole[: len(whole) // 2], whole[: len(whole) // 2] + b"\xff\xd9"):
            status, body = call(st, "POST", "/api/svhn/predict", body=cut, kind="image/jpeg")
            assert status == 400 and "damaged or cut short" in json.loads(body)["error"], (status, body[:200])


def test_an_avif_upload_is_read_where_pillow_decodes_avif_and_named_where_not(app_state, monkeypatch):
    """A photo saved as AVIF (a phone's, a browser's "save as") was refused by `dlexam serve` ("choose a PNG, JPEG,
    GIF, BMP or WEBP file", or a 415 for its Content-Type) though `svhn predict` reads it, and /cnn's file input did
    not offer it. Now its prediction is that of the same pixels (Pillow's own decode) sent as a PNG, whatever its
    Content-Type; GET /api/svhn/examples names image/avif for the page. Where Pillow has no AVIF decoder, the page is
    not offered it and an upload is one line naming it as AVIF."""
    import json

    import numpy as np
    from PIL import Image

    from dlexam.svhn.data import images

    y, x = np.mgrid[0:48, 0:40]
    ring = (np.abs(np.hypot(x - 20, y - 24) - 14) < 4).astype(np.uint8) * 200 + 30  # a 0
    avif, png = io.BytesIO(), io.BytesIO()
    Image.fromarray(ring).convert("RGB").save(avif, "AVIF", quality=90)
    with Image.open(io.BytesIO(avif.getvalue())) as im:  # the oracle's pixels: Pillow's decode, as a PNG
        im.convert("RGB").save(png, "PNG")
    status, want = call(app_state, "POST", "/api/svhn/predict", body=png.getvalue(), kind="image/png")
    assert status == 200, want[:200]
    for kind in ("image/avif", "application/octet-stream"):
        status, body = call(app_state, "POST", "/api/svhn/predict", body=avif.getvalue(), kind=kind)
        assert status == 200 and json.loads(body) == json.loads(want), (kind, status, body[:200])
    status, body = call(app_state, "GET", "/api/svhn/examples")
    assert status == 200 and json.loads(body)["uploads"] == ["image/png", "image/jpeg", "image/gif", "image/bmp",
                                                               "image/webp", "image/avif"], body[:300]

    monkeypatch.setattr(images, "avif_readable", lambda: False)  # a Pillow without libavif
    assert "image/avif" not in json.loads(call(app_state, "GET", "/api/svhn/examples")[1])["uploads"]
    for kind in ("image/avif", "application/octet-stream"):
        status, body = call(app_state, "POST", "/api/svhn/predict", body=avif.getvalue(), kind=kind)
        d = json.loads(body)
        assert status == 400 and d["field"] == "image" and "is an AVIF image" in d["error"], (kind, status, d)
        assert "\n" not in d["error"] and "choose a PNG, JPEG, GIF, BMP or WEBP file" not in d["error"], d
