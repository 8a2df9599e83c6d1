"""The JSON API of the sorters, the SVHN CNN and the answer key.

- ``GET /api/sort?seq=&vocab=&model=compiled|trained``: greedy decoding step by step,
  :func:`dlexam.sorting.inspect.attention_steps` (each step's query, attention row, output token);
- ``GET /api/sort/models``: which sorters this server has;
- ``POST /api/svhn/predict`` (the body is the image file): :func:`dlexam.svhn.inspect.read_image_bytes`
  then :func:`dlexam.svhn.inspect.feature_maps` (digit, probabilities, every stage's maps, packed
  as base64 float32);
- ``GET /api/svhn/examples`` and ``GET /api/svhn/example?set=svhn_dev&digit=3``: which development sets of real
  digits are here, and one example image file of a digit (:func:`dlexam.svhn.data.realdata.example_file`), the
  file's bytes, which the /cnn page sends back to ``POST /api/svhn/predict`` as an upload;
- ``GET /api/svhn/model``: which CNN, its input [C, H, W], and Problem 1's layer table
  (:func:`dlexam.svhn.summary.layer_summary`);
- ``GET /api/svhn/model/explain?number=conv2.output``: one number of that table and its arithmetic
  (:func:`dlexam.svhn.table_explain.explain_number`);
- ``GET /api/answers``: what ``dlexam answers --json`` prints (computed once, on first use, by a worker);
  ``GET /api/answers/links``: the page that shows each answer's evidence.
"""

from __future__ import annotations

import asyncio
import base64
import functools
from urllib.parse import quote

import anyio
from starlette.requests import Request
from starlette.responses import Response

from dlexam.serve import evidence
from dlexam.serve import params as p
from dlexam.serve.endpoint import answer, body_fields, json_response, query_fields, to_json
from dlexam.serve.guard import read_body
from dlexam.serve.params import BadRequest
from dlexam.spec import VERSION_A
from dlexam.words import counted

INPUT_H, INPUT_W = VERSION_A.cnn.input_size  # the CNN's grey input, which /cnn draws

MAX_SORT_TOKENS = 64  # input symbols; each step's attention row is shown
MAX_IMAGE_BYTES = 8 * 1024 * 1024
INLINE_PIXELS = 512 * 512  # a drawn digit is 224 x 224; an image of more pixels is read in a thread (--workers 0)
IMAGE_PIXELS_PER_S = 5_000_000  # an upload's time budget beyond --job-timeout: decoding and greying at 5 Mpixel/s
# The answer key's time budget beyond --job-timeout: 1.3 s of computing on the 2-core development machine (the first
# job of its kind in a worker, its imports included); the rest is room for a loaded machine, where the worker (at
# nice 10) gets the cores last. Past it the worker is killed as for any job: a hung computation is not kept.
ANSWER_KEY_BUDGET_S = 50.0


def upload_types() -> tuple[str, ...]:
    """The media types of the image formats an upload may be and this installation reads
    (:data:`dlexam.svhn.data.images.UPLOAD_FORMATS`, AVIF only where Pillow decodes it): what /cnn's file input
    offers (GET /api/svhn/examples says them to the page)."""
    from dlexam.svhn.data.images import MEDIA_TYPES, UPLOAD_FORMATS, readable_formats

    return tuple(MEDIA_TYPES[f] for f in readable_formats(UPLOAD_FORMATS))


def content_types() -> tuple[str, ...]:
    """The Content-Types ``POST /api/svhn/predict`` takes: every upload format's (AVIF's too where Pillow cannot
    decode it: the image's header is read whatever its Content-Type, and such a file is refused in one line naming
    it as AVIF) and ``application/octet-stream``."""
    from dlexam.svhn.data.images import MEDIA_TYPES, UPLOAD_FORMATS

    return (*(MEDIA_TYPES[f] for f in UPLOAD_FORMATS), "application/octet-stream")


def state(request: Request):
    return request.app.state.dlexam


def _sorter(s, which: str, vocab: str | None):
    """The sorter a request names, of the server's state `s` (in a worker: the worker's own, with its own cache of
    compiled solvers)."""
    from dlexam.sorting.vocab import EXAM_VOCAB, Vocabulary

    if which == "trained":  # --sort-checkpoint's, else the A-D sorter shipped with dlexam: there always is one
        trained = s.trained_sorter
        if vocab is not None and vocab.strip() != trained.vocab.spec:  # the same symbols, however spelled (04 is 4)
            with p.field("vocab"):
                same = Vocabulary.from_spec(vocab.strip()).symbols == trained.vocab.symbols
            if not same:
                raise BadRequest("vocab", f"the trained model reads vocabulary {trained.vocab.spec}, not {vocab!r:.40}")
        return trained
    with p.field("vocab"):
        return s.compiled_sorter(EXAM_VOCAB if vocab is None else vocab)


def sort_answer(sorter, seq: str, temperature) -> dict:
    """`seq` decoded step by step at `temperature` (None: the model's own; a refusal writes it as typed, "temperature
    1e-9 does not apply ...", as `dlexam sort` does: Sorter.decoding_temperature)."""
    from dlexam.sorting.inspect import attention_steps
    from dlexam.sorting.vocab import START_TEXT, Vocabulary

    with p.field("temperature"):  # the compiled solver is exact at T = 0 only: refused as `dlexam sort` refuses it
        temperature = sorter.decoding_temperature(temperature)
    letters = all(s.isalpha() for s in sorter.vocab.symbols)  # "DAA" splits one way; "101" does not
    with p.tokens("seq", seq, sorter.vocab.symbols if letters else (), start=START_TEXT):
        ids = sorter.vocab.parse(seq)
    if len(ids) > MAX_SORT_TOKENS:
        raise BadRequest("seq", f"the sequence has {len(ids)} symbols; the page decodes at most {MAX_SORT_TOKENS}")
    a = attention_steps(sorter.model, sorter.vocab, ids, temperature=temperature)
    expected = [sorter.vocab.token_text(i) for i in Vocabulary.target(ids)]
    warnings = []
    if sorter.max_len is not None and len(ids) > sorter.max_len:
        warnings.append(f"{len(ids)} symbols: longer than the {counted(sorter.max_len, 'symbol')} the model was "
                        "trained on")
    if (note := sorter.unfinished_note()) is not None:
        warnings.append(note + ": its answers are those of a model still being trained")
    return {"name": sorter.name, "vocab": sorter.vocab.spec, "symbols": list(sorter.vocab.symbols[:MAX_SORT_TOKENS]),
            "input": [sorter.vocab.token_text(i) for i in ids], "tokens": a.tokens, "output": a.output,
            "expected": expected, "correct": a.output == expected, "temperature": a.temperature,
            "max_len": sorter.max_len, "finished": sorter.finished, "warnings": warnings,
            "steps": [{"query": s.query, "position": s.position, "weights": s.weights, "produced": s.produced}
                      for s in a.steps]}


def sort_job(state, which: str, vocab: str | None, seq: str, temperature) -> bytes:
    """GET /api/sort's answer as JSON bytes: the sorter (compiled on first use of its vocabulary) decoding `seq`
    step by step; up to ~0.4 s for 64 symbols of a 100-symbol vocabulary, so it is a worker's job."""
    return to_json({"model": which, **sort_answer(_sorter(state, which, vocab), seq, temperature)})


async def get_sort(request: Request) -> Response:
    query_fields(request, "seq", "vocab", "model", "temperature")
    q = request.query_params
    which = p.choice("model", q.get("model", "compiled"), ("compiled", "trained"))
    vocab = p.text("vocab", q["vocab"], max_chars=16) if "vocab" in q else None
    seq = p.text("seq", q.get("seq", ""))
    temperature = p.temperature("temperature", q["temperature"]) if q.get("temperature") else None
    return json_response(await answer(request, sort_job, which, vocab, seq, temperature, small=False))


async def get_sort_models(request: Request) -> Response:
    from dlexam.plain import dumps
    from dlexam.serve.state import MAX_WEB_SYMBOLS
    from dlexam.sorting.vocab import EXAM_VOCAB

    query_fields(request)
    t = state(request).trained_sorter
    trained = {"name": t.name, "vocab": t.vocab.spec, "max_len": t.max_len,
               "temperature": t.model.temperature()}
    return json_response(dumps({"compiled": {"vocabularies": f"{EXAM_VOCAB}, A-Z, any letter range X-Y, or N <= "
                                                             f"{MAX_WEB_SYMBOLS}", "default": EXAM_VOCAB},
                                "trained": trained, "max_tokens": MAX_SORT_TOKENS}))


def packed(t) -> dict:
    """A float32 tensor as {"shape", "dtype": "float32", "data": base64 of its little-endian bytes}: 5.3
    characters a value instead of up to 8 of JSON, and microseconds to write and to read instead of milliseconds."""
    a = t.detach().cpu().contiguous().numpy().astype("<f4", copy=False)
    return {"shape": list(a.shape), "dtype": "float32", "data": base64.b64encode(a.tobytes()).decode("ascii")}


def predict_answer(state, data: bytes) -> bytes:
    """The prediction and every stage's feature maps (Version A: 7,384 values), sent packed (:func:`packed`)."""
    from dlexam.svhn.inspect import STAGES, feature_maps, read_image_bytes

    with p.field("image"):
        image = read_image_bytes(data)
    fm = feature_maps(state.cnn, image)
    return to_json({"model": state.cnn_source, **fm.to_json(maps=False),
                    "maps": {s: packed(getattr(fm, s)) for s in STAGES}, "stages": stage_titles(state.cnn.cfg)})


def stage_titles(cfg) -> list[dict]:
    """Each map's heading on /cnn, in STAGES' order: "after " and the layer table's name of the stage ("after
    AvgPool-1", "after Conv-1 + ReLU (assumed: ...)"), so the page names the layers as its table does; and `name`,
    the layer's own name ("Conv-1", "AvgPool-2"), which a cell's arithmetic calls its source by."""
    from dlexam.plain import dumps
    from dlexam.svhn.inspect import STAGES
    from dlexam.svhn.summary import layer_table

    titles = {r["module"]: r["layer"] for r in _layers(dumps(cfg.to_dict(), sort_keys=True))}
    names = {r["module"]: r["name"] for r in layer_table(cfg)}
    return [{"stage": s, "title": f"after {titles[s]}", "name": names[s]} for s in STAGES]


async def post_svhn_predict(request: Request) -> Response:
    query_fields(request)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in (taken := content_types()):
        raise BadRequest("image", f"send the image file itself as the body, with Content-Type one of "
                                  f"{', '.join(taken)} (got {kind or 'none'!r:.60})", 415)
    data = await read_body(request, MAX_IMAGE_BYTES, "image")
    from dlexam.svhn.data.images import UPLOAD_FORMATS, image_header

    with p.field("image"):  # the header alone (tens of microseconds): a refused image costs no worker's time
        header = image_header(data, formats=UPLOAD_FORMATS)
    # What the image costs is decided from its header, not its file size (125 bytes of PNG can claim 45,000 x 1
    # pixels): a drawing is read and run in a few ms; a photo of megapixels takes longer (answer()).
    return json_response(await answer(request, predict_answer, data, small=header.pixels <= INLINE_PIXELS,
                                      budget_s=header.pixels / IMAGE_PIXELS_PER_S))


async def get_svhn_examples(request: Request) -> Response:
    """The development sets /cnn offers an example of each digit from: each set's name, what one image is, and
    whether its shared folder is here (else why not, saying where dlexam looked); and the media types an upload
    may be (:func:`upload_types`), which the page's file input offers."""
    from dlexam.plain import dumps
    from dlexam.shared import how_to_get
    from dlexam.svhn.data.realdata import EXAMPLE_SETS, example_sets

    query_fields(request)
    here = example_sets()
    sets = [{"set": name, "title": title, "available": here[name] is None, "missing": here[name]}
            for name, (_, title) in EXAMPLE_SETS.items()]
    return json_response(dumps({"sets": sets, "digits": list(range(10)),
                                "needs": None if all(s["available"] for s in sets) else how_to_get(),
                                "uploads": list(upload_types())}))


async def get_svhn_example(request: Request) -> Response:
    """One example image of a digit (``?set=svhn_dev&digit=3``): the file itself, the first of the digit's folder by
    sorted name (:func:`dlexam.svhn.data.realdata.example_file`); its name in ``X-Dlexam-Example``. Without the
    shared folder: 503, saying where dlexam looked."""
    from dlexam.shared import SharedDataMissing
    from dlexam.svhn.data.images import MEDIA_TYPES, UPLOAD_FORMATS, image_header
    from dlexam.svhn.data.realdata import EXAMPLE_SETS, example_file

    query_fields(request, "set", "digit")
    q = request.query_params
    name = p.choice("set", q.get("set"), tuple(EXAMPLE_SETS))
    digit = p.whole("digit", q.get("digit"), tuple(range(10)))
    try:
        path = example_file(name, digit)
        with open(path, "rb") as f:  # a crop of a few kB; read whole, up to the upload's limit
            data = f.read(MAX_IMAGE_BYTES + 1)
    except SharedDataMissing as exc:
        raise BadRequest(None, f"the examples need the shared data folder: {exc}", 503) from None
    from dlexam.errors import UserError

    try:  # the shared file is the server's, not the request's: one it cannot send is a 503, not the asker's fault
        if len(data) > MAX_IMAGE_BYTES:
            raise UserError(f"larger than an upload may be ({MAX_IMAGE_BYTES:,} bytes)")
        kind = MEDIA_TYPES.get(image_header(data, formats=UPLOAD_FORMATS).format, "application/octet-stream")
    except UserError as exc:
        raise BadRequest(None, f"the example {name}/{digit}/{path.name} cannot be sent: {exc}", 503) from None
    return Response(data, media_type=kind, headers={"cache-control": "no-cache",
                                                     "x-dlexam-example": quote(f"{name}/{digit}/{path.name}")})


@functools.lru_cache(maxsize=4)
def _layers(cfg_json: str) -> list[dict]:
    """The layer table of the network a config (as JSON text: hashable) builds, as the exam writes it."""
    import json

    from dlexam.svhn.model import CNNConfig
    from dlexam.svhn.summary import layer_summary

    return layer_summary(CNNConfig.from_dict(json.loads(cfg_json)))


def model_job(s) -> bytes:
    """GET /api/svhn/model's answer as JSON bytes (the layer table: ~0.1 s the first time in a process, then kept)."""
    from dlexam.plain import dumps
    from dlexam.svhn.model import count_parameters

    cfg = s.cnn.cfg.to_dict()
    return to_json({"model": s.cnn_source, "config": cfg, "layers": _layers(dumps(cfg, sort_keys=True)),
                    "input": [s.cnn.cfg.cnn.input_channels, *s.cnn.cfg.cnn.input_size],
                    "total_params": count_parameters(s.cnn)})


async def get_svhn_model(request: Request) -> Response:
    query_fields(request)
    return json_response(await answer(request, model_job, small=False))


async def get_svhn_model_explain(request: Request) -> Response:
    """One number of the layer table and its arithmetic (:func:`dlexam.svhn.table_explain.explain_number`, what
    ``dlexam svhn summary --explain NAME --json`` prints): ``?number=conv2.output`` (LAYER.FIELD, or total)."""
    from dlexam.plain import dumps

    query_fields(request, "number")
    name = p.text("number", request.query_params.get("number", ""), max_chars=40)
    if not name.strip():
        raise BadRequest("number", "number must name one number of the layer table as LAYER.FIELD (conv2.output, "
                                   "fc.weights, total)")
    from dlexam.svhn.table_explain import explain_number

    with p.field("number"):  # integer arithmetic on the table: microseconds, on the event loop
        return json_response(dumps(explain_number(name, state(request).cnn.cfg).to_json()))


MAX_EXPLAIN_BODY = 4096  # bytes: a 32x32 image in base64url (1,366 characters), a layer and a place


BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
IMAGE_CHARS = -(-INPUT_H * INPUT_W * 4 // 3)  # 1,366: base64url of the 1,024 grey levels, without its padding
IMAGE_PAD = "=" * (-IMAGE_CHARS % 4)  # "==": what base64 adds to make that a multiple of 4


def grey_levels(text: str) -> bytes:
    """The 32x32 input's grey levels from base64url as the /cnn page writes it (``toBase64Url`` in cnn.js: the
    URL-safe alphabet, no padding; with its padding ``==`` it is taken too), strictly: any other character, length
    or padding is refused naming the field. (``base64.urlsafe_b64decode`` dropped characters outside the alphabet
    without a word: 1,366 good ones with ``!!!`` among them were read as an image.)"""
    what = (f"image must be the {INPUT_H}x{INPUT_W} input as {INPUT_H * INPUT_W:,} grey levels in base64url, "
            f"{IMAGE_CHARS:,} characters of A-Z, a-z, 0-9, - and _ (the /cnn page's img)")
    body = text[:IMAGE_CHARS] if IMAGE_PAD and text == text[:IMAGE_CHARS] + IMAGE_PAD else text
    bad = next((i for i, c in enumerate(body) if c not in BASE64URL), None)
    if bad is not None:
        raise BadRequest("image", f"{what}: character {bad + 1:,} is {body[bad]!r}")
    if len(body) != IMAGE_CHARS:
        raise BadRequest("image", f"{what}: got {len(text):,} characters")
    raw = base64.urlsafe_b64decode(body + IMAGE_PAD)
    if base64.urlsafe_b64encode(raw).decode("ascii")[:IMAGE_CHARS] != body:  # unused bits set in the last one
        raise BadRequest("image", f"{what}: its last character {body[-1]!r} is not one base64url ends with")
    return raw


def explain_answer(state, image, layer: str, at: tuple[int, ...]) -> bytes:
    from dlexam.svhn.explain import explain

    with p.field("at"):
        return to_json(explain(state.cnn, image, layer, at).to_json())


async def post_svhn_explain(request: Request) -> Response:
    """One cell's arithmetic (:func:`dlexam.svhn.explain.explain`): {"image": the 32x32 input as 1,024 grey levels
    in base64url (the /cnn page's img), "layer": conv1 | pool1 | conv2 | pool2 | logits, "at": [channel, row,
    column] or [digit]}."""
    import torch

    from dlexam.svhn.explain import LAYERS

    query_fields(request)
    body = p.json_body(await read_body(request, MAX_EXPLAIN_BODY))
    body_fields(request, body, "image", "layer", "at")
    raw = grey_levels(p.text("image", body.get("image"), max_chars=MAX_EXPLAIN_BODY))
    layer = p.choice("layer", body.get("layer"), LAYERS)
    at = body.get("at")
    if not isinstance(at, list) or not 1 <= len(at) <= 3 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 10_000 for v in at):
        raise BadRequest("at", "at must be [channel, row, column] (or [digit] for the logits), whole numbers from 0")
    image = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(INPUT_H, INPUT_W)
    return json_response(await answer(request, explain_answer, image, layer, tuple(at)))


def answers_job(s) -> bytes:
    """GET /api/answers's answer as JSON bytes: what ``dlexam answers --json`` prints (1.3 s of computing on the
    2-core development machine), each answer with `exam_answer_text` beside it, the exam's answer with its LaTeX
    read (`mathtext.exam_plain`: "temp-softmax_T(z)", not "temp-softmax $_T(z)$"), which the page shows. Not kept
    here: the server keeps the bytes (:func:`answer_key_bytes`)."""
    from dlexam.answers import answer_key
    from dlexam.mathtext import exam_plain

    return to_json([{**a.to_dict(), "exam_answer_text": exam_plain(a.exam_answer)} for a in answer_key()],
                   ensure_ascii=False)


async def compute_answer_key(s) -> bytes:
    """The answer key's bytes, computed once: by the next idle worker within ``--job-timeout`` plus
    :data:`ANSWER_KEY_BUDGET_S`, or with ``--workers 0`` in a thread of its own (not one of the two compute slots,
    which the other requests share). Kept in `s` once computed; a failure (the exam text missing, a worker lost or
    past its budget) is not kept, and the next request computes again."""
    try:
        if s.pool is not None:
            out = await s.pool.run(s, answers_job, budget_s=ANSWER_KEY_BUDGET_S)
        else:
            out = await anyio.to_thread.run_sync(answers_job, s)
        s.answer_key = out
        return out
    finally:
        s.answer_key_job = None


async def answer_key_bytes(s) -> bytes:
    """The answer key's bytes: kept, or being computed (requests that arrive meanwhile wait for that one computation,
    not one each), or computed now. On the event loop only, so it needs no lock; the computation is a task of its
    own, so a client that leaves cancels its wait, not the computation the others wait for."""
    if s.answer_key is not None:
        return s.answer_key
    if s.answer_key_job is None:
        s.answer_key_job = asyncio.ensure_future(compute_answer_key(s))
    return await asyncio.shield(s.answer_key_job)


async def get_answers(request: Request) -> Response:
    from dlexam.errors import UserError

    query_fields(request)
    try:
        return json_response(await answer_key_bytes(state(request)))
    except UserError as exc:  # the exam text is missing (dlexam.shared): nothing to answer from
        raise BadRequest(None, str(exc), 503) from None


async def get_answer_links(request: Request) -> Response:
    from dlexam.plain import dumps

    query_fields(request)
    return json_response(dumps(evidence.links()))
