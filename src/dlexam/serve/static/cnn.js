// /cnn: Problem 1's CNN on a drawing (pointer events: mouse, pen or finger; or the keyboard, on a grid of cells of
// the same pad), an uploaded photo, or an example of a real digit (GET /api/svhn/example: the image file itself,
// sent back to the server as an upload is: one preprocessing path, the server's).
// State in the URL: img = the 32x32 input (1,024 grey levels, base64url), so a shared link shows the same digit;
// example = the example it is ("svhn_dev:3"), so the link shows that example chosen.
// Numbers from POST /api/svhn/predict (dlexam.svhn.inspect.feature_maps), GET /api/svhn/model and, for the
// arithmetic of one clicked cell, POST /api/svhn/explain (dlexam.svhn.explain); explain = "layer:c,i,j" in the URL.
// The layer table and its explanations are layer_table.js's.
// Clearing the pad (or blanking its last inked cell), or a file that is no image, takes the prediction and every map
// off the page.
// One live region, the status line (#status): what the keyboard does on the pad (the cursor line, also written under
// the pad in #pad-where, which is not live), the prediction after it, an explanation. Two polite regions changed
// within the keys' pause were spoken in no set order, or over each other.
"use strict";

const $ = (id) => document.getElementById(id);
// asked: the cell last asked to be explained ("layer:c,i,j"), explained again for each new input.
// row, col: the keyboard's cursor cell on the pad; keyTimer: a keyboard drawing waiting for the keys to pause.
// example: the example the input shown is ("svhn_dev:3"; null: a drawing or a photo); examples: those this server
// has, as the select's values (null until GET /api/svhn/examples answers); uploads: the media types of the image
// formats this server reads (GET /api/svhn/examples, from dlexam.svhn.data.images: AVIF where its Pillow decodes
// it), which the file input offers (image/* until then); a file of another type is sent as bytes, for the server to
// say what it is not.
const C = {drawing: false, last: null, seq: 0, image: null, explained: 0, asked: null, layersDone: false, predicted: false,
  row: 0, col: 0, keyTimer: null, example: null, examples: null, uploads: []};

// What a link opens with is said as one text, whatever answers first: its prediction (img=, or an example=; with its
// cell's explanation where explain= asks one, explain.js) and its layer table number (number=, layer_table.js):
// "prediction: 7, P = 0.9991; Conv-2 output = 6x6x16", or the one alone after the other's refusal (its alert box
// says why). Each part of the link's loading gives its text (null: refused, or overtaken) to Opening.say; the status
// line takes them once no part is awaited. A part not awaited (anything after the link's loading) is said at once.
// Until 2026-12-06 each part said its own text: a table number answering after the prediction replaced it (never
// heard), and one refused then emptied the status line, depending on which request answered first.
const Opening = {
  awaited: new Set(),
  texts: {},
  say(part, text) {
    if (!Opening.awaited.delete(part)) {
      if (text) DL.announce(text);
      return;
    }
    Opening.texts[part] = text;
    if (Opening.awaited.size) return;
    const all = ["prediction", "table"].map((p) => Opening.texts[p]).filter(Boolean);
    Opening.texts = {};
    if (all.length) DL.announce(all.join("; "));
  },
};
const INK = "#111";
// The keyboard's grid: GRID x GRID cells of the 224 px pad (14 px each: 2 x 2 pixels of the 32x32 input). Its drawing
// is sent once no key has changed it for KEY_PAUSE_MS (a held Shift+arrow sends one drawing, not one per cell).
const GRID = 16, KEY_PAUSE_MS = 300;

function clearPad() {
  const ctx = $("pad").getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, $("pad").width, $("pad").height);
}

function point(e) {
  const r = $("pad").getBoundingClientRect();
  return [(e.clientX - r.left) * $("pad").width / r.width, (e.clientY - r.top) * $("pad").height / r.height];
}

function setupPad() {
  const pad = $("pad"), ctx = pad.getContext("2d");
  clearPad();
  pad.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    stopKeyTimer();  // the stroke's end sends the pad, keyboard cells and all
    pad.setPointerCapture(e.pointerId);
    C.drawing = true;
    C.last = point(e);
  });
  pad.addEventListener("pointermove", (e) => {
    if (!C.drawing) return;
    const p = point(e);
    ctx.strokeStyle = INK; ctx.lineWidth = 18; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath(); ctx.moveTo(...C.last); ctx.lineTo(...p); ctx.stroke();
    C.last = p;
  });
  const end = () => {
    if (!C.drawing) return;
    C.drawing = false;
    sendCanvas(pad);
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  pad.addEventListener("keydown", padKey);
  pad.addEventListener("focus", () => { $("pad-where").style.visibility = ""; padCursor(true); });
  // The cursor line is hidden, not emptied, when the pad loses the focus: emptied, it took its two lines from under
  // the buttons below, so a mouse press on "clear" (which takes the focus) moved the button from under the pointer
  // and the click was lost (2026-12-07)
  pad.addEventListener("blur", () => { $("pad-cursor").hidden = true; $("pad-where").style.visibility = "hidden"; });
  $("clear").addEventListener("click", () => {
    clearPad();
    emptied("cleared: draw a digit or upload a photo");
  });
  $("upload").addEventListener("change", () => {
    const f = $("upload").files[0];
    if (f) sendFile(f, f.name, ++C.seq);
  });
}

// An image file (an upload, or an example the server sent): shown on the pad as the browser can draw it, and sent
// to POST /api/svhn/predict as it is. Resolves to true where its prediction is the one shown.
async function sendFile(f, name, my, example = null) {
  const pad = $("pad"), ctx = pad.getContext("2d");
  stopKeyTimer();
  clearPad();
  try {
    const bmp = await createImageBitmap(f);
    const s = Math.min(pad.width / bmp.width, pad.height / bmp.height);
    ctx.drawImage(bmp, (pad.width - bmp.width * s) / 2, (pad.height - bmp.height * s) / 2, bmp.width * s, bmp.height * s);
  } catch (e) { /* the browser cannot show it; the server still reads it (or says why not) */ }
  // A type the API does not take (text/plain, say) is sent as bytes: the server then says what the file is not.
  return predict(f, C.uploads.includes(f.type) ? f.type : "application/octet-stream", my, name, example);
}

// The examples: one real digit of each class from the development sets in the shared folder (GET /api/svhn/examples
// says which are here). Without the shared folder the control is not shown, and the note says what it needs.
async function setupExamples() {
  const r = await DL.api("GET", "/api/svhn/examples");
  if (r.ok && Array.isArray(r.data.uploads)) {
    C.uploads = r.data.uploads;
    $("upload").accept = C.uploads.join(",");
  }
  const sets = r.ok ? r.data.sets.filter((s) => s.available) : [];
  C.examples = sets.flatMap((s) => r.data.digits.map((d) => `${s.set}:${d}`));
  if (!sets.length) {
    if (C.seq === 0) Opening.say("prediction", null);  // a link's example is not shown: no input sent yet
    $("examples-note").textContent = "Examples of real digits need the project's shared data folder " +
      "(data/svhn-real-dev, data/chars74k-digits): " + (r.ok ? r.data.needs : DL.message(r.data));
    syncExample();
    document.body.dataset.examples = "none";
    return;
  }
  $("example").append(...sets.map((s) => DL.el("optgroup", {label: s.title + "s"},
    r.data.digits.map((d) => DL.el("option", {value: `${s.set}:${d}`, text: `${d} (${s.title})`})))));
  $("example-go").addEventListener("click", showExample);
  $("examples").hidden = false;
  $("examples-note").textContent = "The first image of each digit, by file name, of the development sets " +
    "(evaluated on, never trained on)." + (sets.length < r.data.sets.length ? " " + r.data.needs : "");
  syncExample();
  document.body.dataset.examples = sets.map((s) => s.set).join(" ");
  // a link with an example and no image (or an img the page cannot read) shows that example, unless the user has
  // drawn or chosen something meanwhile
  const wanted = DL.get("example", null);
  if (C.seq === 0 && !C.predicted && C.examples.includes(wanted)) {
    $("example").value = wanted;
    showExample();
  } else if (C.seq === 0) {
    Opening.say("prediction", null);  // nothing sent: a link awaiting its example's prediction has none
  }
}

// The example the input shown is: in the URL (`example`), chosen in the select, and body[data-example]. A value that
// is no example of this server (unknown, malformed, or its set not here) is passed over, as a malformed img is: the
// input shown is then a drawing's, and the URL loses it once the page writes its state. Until the server has said
// which examples it has, the URL keeps what it holds.
function syncExample() {
  if (C.example !== null && C.examples !== null && !C.examples.includes(C.example)) C.example = null;
  if (C.image === null || (C.example !== null && C.examples === null)) return;
  DL.set({example: C.example});
  if (C.example === null) {
    delete document.body.dataset.example;
    return;
  }
  $("example").value = C.example;
  document.body.dataset.example = C.example;
}

async function showExample() {
  const value = $("example").value, [set, digit] = value.split(":"), my = ++C.seq;
  document.body.dataset.state = "busy";
  let resp;
  try {
    resp = await fetch(`/api/svhn/example?set=${encodeURIComponent(set)}&digit=${encodeURIComponent(digit)}`);
  } catch (e) {
    resp = null;
  }
  if (my !== C.seq) return;
  if (!resp || !resp.ok) {
    let data = {error: "the server did not answer: is dlexam serve still running?", field: null};
    if (resp) try { data = await resp.json(); } catch (e) { data = {error: `not JSON (${resp.status})`, field: null}; }
    if (my !== C.seq) return;
    withdraw();
    DL.showError($("error"), "example: " + DL.message(data));
    Opening.say("prediction", null);  // after the error, which empties the status line: a link's table number
    document.body.dataset.state = "error";
    return;
  }
  const blob = await resp.blob();
  if (my !== C.seq) return;
  const name = decodeURIComponent(resp.headers.get("x-dlexam-example") || value);
  await sendFile(blob, name, my, value);
}

// The keyboard draws on the pad itself: the arrow keys move a cursor cell (Home/End: a row's ends, PageUp/PageDown:
// a column's ends), Space or Enter inks a blank cell or blanks an inked one, Shift+arrow inks the cell it leaves and
// the one it enters (a stroke), Delete or Backspace blanks the cell. A cell is inked as a filled square of the mouse's
// ink; what the pad holds then goes to the model as a mouse stroke's does (sendCanvas: one path, one preprocessing).
// Where the cursor is and whether its cell is inked is written in #pad-where and said by the status line as a key
// moves it (not as the pad takes the focus: the pad's name and description are said then), the keys in #pad-help.
function cellInked(row, col) {
  const s = $("pad").width / GRID, d = $("pad").getContext("2d").getImageData(col * s, row * s, s, s).data;
  let sum = 0;
  for (let k = 0; k < d.length; k += 4) sum += (19595 * d[k] + 38470 * d[k + 1] + 7471 * d[k + 2]) / 65536;
  return sum / (d.length / 4) < 128;  // more dark than light, whoever drew it
}

function paintCell(row, col, ink) {
  const s = $("pad").width / GRID, ctx = $("pad").getContext("2d");
  ctx.fillStyle = ink ? INK : "#fff";
  ctx.fillRect(col * s, row * s, s, s);
}

function padCursor(write) {
  const pad = $("pad"), cursor = $("pad-cursor"), scale = pad.clientWidth / GRID;
  cursor.style.left = `${pad.offsetLeft + pad.clientLeft + C.col * scale}px`;
  cursor.style.top = `${pad.offsetTop + pad.clientTop + C.row * scale}px`;
  cursor.style.width = cursor.style.height = `${scale}px`;
  cursor.hidden = document.activeElement !== pad;
  const where = `cursor: row ${C.row + 1}, column ${C.col + 1} of ${GRID}, ` + (cellInked(C.row, C.col) ? "inked" : "blank");
  if (write) $("pad-where").textContent = where;
  return where;
}

// The pad holds nothing (cleared, or its last inked cell blanked by the keyboard): nothing goes to the model, and
// the last input's numbers leave the page.
function emptied(message) {
  stopKeyTimer();
  withdraw();
  DL.showError($("error"), null);
  Opening.say("prediction", message);  // in a link's loading: in the place of its prediction
  document.body.dataset.state = "ready";
}

function padBlank() {
  const pad = $("pad");
  return pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data.every((v) => v === 255);
}

function stopKeyTimer() {
  clearTimeout(C.keyTimer);
  C.keyTimer = null;
}

function padKey(e) {
  if (e.altKey || e.metaKey || e.ctrlKey || C.drawing) return;
  const moves = {ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1]};
  const inside = (k) => Math.max(0, Math.min(GRID - 1, k));
  let changed = false;
  if (e.key in moves) {
    const [di, dj] = moves[e.key], row = inside(C.row + di), col = inside(C.col + dj);
    if (e.shiftKey) {
      paintCell(C.row, C.col, true);
      paintCell(row, col, true);
      changed = true;
    }
    [C.row, C.col] = [row, col];
  } else if (e.key === "Home" || e.key === "End") {
    C.col = e.key === "Home" ? 0 : GRID - 1;
  } else if (e.key === "PageUp" || e.key === "PageDown") {
    C.row = e.key === "PageUp" ? 0 : GRID - 1;
  } else if (e.key === " " || e.key === "Enter") {
    paintCell(C.row, C.col, !cellInked(C.row, C.col));
    changed = true;
  } else if (e.key === "Delete" || e.key === "Backspace") {
    changed = cellInked(C.row, C.col);
    paintCell(C.row, C.col, false);
  } else {
    return;
  }
  e.preventDefault();
  const where = padCursor(true);
  // one text per key for the status line: the cursor line, or with it that the pad is now empty (two texts written
  // in one go are one change, the first of them never said)
  if (changed && padBlank()) return emptied(`${where}; the pad is empty: draw a digit or upload a photo`);
  DL.announce(where);  // the prediction, once the keys pause, follows it in the same line
  if (!changed) return;
  C.seq++;  // an answer on its way is for the drawing before this key
  document.body.dataset.state = "busy";
  stopKeyTimer();
  C.keyTimer = setTimeout(() => { C.keyTimer = null; sendCanvas($("pad")); }, KEY_PAUSE_MS);
}

// One map: `values` holds its h x w numbers, row by row (a view into the stage's Float32Array), each drawn `scale`
// CSS px a side: the width is its content box's, inside the border (style.css sizes every box by its border box, which
// drew Conv-1's 28 pixels in 54 px, some 1 px wide and some 2, until 2026-12-07).
function grayCanvas(values, w, h, scale, id, label) {
  const cv = DL.el("canvas", {class: "pix map", width: w, height: h, id, role: "application",
    "aria-roledescription": "feature map", "aria-label": label,
    title: label + ": click a pixel to see its arithmetic"});
  cv.style.boxSizing = "content-box";
  cv.style.width = w * scale + "px";
  cv.style.height = h * scale + "px";
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const img = cv.getContext("2d").createImageData(w, h);
  values.forEach((v, i) => {
    const g = hi > lo ? Math.round(255 * (v - lo) / (hi - lo)) : 0;
    img.data.set([g, g, g, 255], 4 * i);
  });
  cv.getContext("2d").putImageData(img, 0, 0);
  return cv;
}

// A packed tensor of the API ({shape, dtype: "float32", data: base64 of little-endian float32}) -> Float32Array.
function unpack(t) {
  const bin = atob(t.data), view = new DataView(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) view.setUint8(i, bin.charCodeAt(i));
  const out = new Float32Array(bin.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

function toBase64Url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// Every number of the last input leaves the page (the pad was cleared, or the new file is no image).
function withdraw() {
  C.seq++;  // an answer still on its way belongs to the old input
  C.explained++;  // so does an explanation
  C.asked = null;
  C.image = null;
  const input = $("input32").getContext("2d");
  input.clearRect(0, 0, 32, 32);
  $("digit").textContent = "?";
  $("digit-p").textContent = "";
  $("probs").textContent = "";
  $("maps").textContent = "";
  $("explain").textContent = "";
  $("explain-panel").removeAttribute("data-at");
  C.example = null;
  delete document.body.dataset.example;
  DL.set({img: null, explain: null, example: null});
}

function render(d) {
  const input = $("input32").getContext("2d"), img = input.createImageData(32, 32);
  d.image.forEach((row, i) => row.forEach((v, j) => img.data.set([v, v, v, 255], 4 * (i * 32 + j))));
  input.putImageData(img, 0, 0);
  $("input32").style.width = "128px";
  $("input32").style.height = "128px";
  $("digit").textContent = String(d.digit);
  // the prediction's probability is a number to click like the ten below it (it was plain text)
  const best = DL.decimal(d.probabilities[d.digit]);
  $("digit-p").replaceChildren(DL.el("button", {type: "button", class: "mono pick", id: "p-best", text: `P = ${best}`,
    title: `the arithmetic of logit ${d.digit}`, "aria-label": `probability of digit ${d.digit}, the prediction: P = ${best}`,
    onclick: () => explain("logits", [d.digit])}));
  // a one-colour image is all zeros once standardised: its digit is the network's bias, the same for every blank image
  const blank = d.blank_note || "";  // the library's words, as `svhn predict` says them
  if (blank) $("digit-p").append(" ", DL.el("span", {id: "digit-blank", text: blank}));
  const probs = $("probs");
  probs.textContent = "";
  d.probabilities.forEach((p, k) => {
    const bar = DL.el("div", {class: "pbar"});
    bar.style.width = (100 * p).toFixed(1) + "%";
    const cls = k === d.digit ? "best" : "";
    const why = () => explain("logits", [k]);
    probs.append(DL.el("span", {class: cls, text: String(k)}), DL.el("div", {class: "pick", onclick: why}, bar),
      DL.el("button", {type: "button", class: "mono pick " + cls, id: "p-" + k, text: DL.decimal(p),
        title: `the arithmetic of logit ${k}`, "aria-label": `probability of digit ${k}: ${DL.decimal(p)}`, onclick: why}));
  });
  const maps = $("maps");
  maps.textContent = "";
  C.names = Object.fromEntries(d.stages.map((s) => [s.stage, s.name]));  // "AvgPool-2": a cell's arithmetic names its source
  for (const {stage, title} of d.stages) {  // the layer table's names (api_models.stage_titles)
    const [n, h, w] = d.maps[stage].shape, values = unpack(d.maps[stage]);
    const scale = Math.max(2, Math.floor(56 / w));
    const canvases = Array.from({length: n}, (_, c) => {
      const cv = grayCanvas(values.subarray(c * h * w, (c + 1) * h * w), w, h, scale, `map-${stage}-${c}`,
        `${stage} map ${c}`);
      Object.assign(cv, {stage, channel: c, values: values.subarray(c * h * w, (c + 1) * h * w), tabIndex: c ? -1 : 0});
      cv.addEventListener("click", (e) => {
        // the pixel drawn under the pointer: the canvas's pixels fill its content box, inside the border (the border
        // box, getBoundingClientRect, took a click at the right of a pixel for the next one until 2026-12-07), painted
        // from its corner rounded to a whole device pixel (laid out at y = 907.41, it is painted from 907: measured
        // from 907.41, a click on a pixel's top device row explained the pixel above, also until 2026-12-07)
        const d = window.devicePixelRatio, painted = (v) => Math.round(v * d) / d, r = cv.getBoundingClientRect();
        const x = e.clientX - painted(r.left) - cv.clientLeft, y = e.clientY - painted(r.top) - cv.clientTop;
        const i = Math.max(0, Math.min(h - 1, Math.floor(y * h / cv.clientHeight)));
        const j = Math.max(0, Math.min(w - 1, Math.floor(x * w / cv.clientWidth)));
        pixel(cv, i, j, false);  // the keyboard goes on from the pixel clicked
        explain(stage, [c, i, j]);
      });
      cv.addEventListener("keydown", (e) => mapKey(e, cv));
      cv.addEventListener("focus", () => pixel(cv, Number(cv.dataset.i), Number(cv.dataset.j), false));
      cv.addEventListener("blur", () => { $("map-cursor").hidden = true; });
      return cv;
    });
    canvases.forEach((cv) => pixel(cv, 0, 0, false));
    maps.append(DL.el("h3", {id: `maps-${stage}-title`, text: `${title}: ${n} maps of ${h}x${w}`}),
      DL.el("div", {class: "maps", id: "maps-" + stage}, canvases));
  }
  maps.append(DL.el("div", {id: "map-cursor", hidden: true}));
  C.image = toBase64Url(d.image.flat());
  DL.set({img: C.image});
  $("model-line").textContent = "Model: " + d.model;
  return `prediction: ${d.digit}, P = ${best}` + (blank ? `; ${blank}` : "");  // for the status line (predict says it)
}

// The keyboard reaches every pixel of every map. A stage's maps are one Tab stop (a roving tabindex) and one strip
// of pixels: the arrow keys move a cursor (yellow) through a map and on into the next map beside it, Home/End go to
// a row's ends, Enter or Space explains the pixel. The map's accessible name says which pixel it is and its value.
function pixel(cv, i, j, focus) {
  const w = cv.width;
  Object.assign(cv.dataset, {i, j});
  const v = cv.values[i * w + j], at = `${cv.stage}[${cv.channel},${i},${j}]`;
  cv.setAttribute("aria-label", `${cv.stage} map ${cv.channel}, row ${i}, column ${j} (${at}, from 0) = ${DL.decimal(v)}; ` +
    "arrow keys: another pixel, Enter: its arithmetic");
  if (focus) {
    for (const other of cv.parentElement.querySelectorAll("canvas[tabindex='0']")) other.tabIndex = -1;
    cv.tabIndex = 0;
    cv.focus();
  }
  if (document.activeElement !== cv) return;
  const cursor = $("map-cursor"), scale = cv.clientWidth / w, border = (cv.offsetWidth - cv.clientWidth) / 2;
  const r = cv.getBoundingClientRect(), top = $("maps").getBoundingClientRect();
  cursor.style.left = `${r.left - top.left + border + j * scale}px`;
  cursor.style.top = `${r.top - top.top + border + i * scale}px`;
  cursor.style.width = cursor.style.height = `${scale}px`;
  cursor.hidden = false;
}

function mapKey(e, cv) {
  if (e.altKey || e.metaKey) return;
  const [h, w] = [cv.height, cv.width], maps = [...cv.parentElement.children];
  let i = Number(cv.dataset.i), j = Number(cv.dataset.j), at = maps.indexOf(cv);
  switch (e.key) {
    case "Enter": case " ": e.preventDefault(); explain(cv.stage, [cv.channel, i, j]); return;
    case "ArrowRight": if (++j === w) { if (at < maps.length - 1) { at++; j = 0; } else j = w - 1; } break;
    case "ArrowLeft": if (--j < 0) { if (at > 0) { at--; j = w - 1; } else j = 0; } break;
    case "ArrowDown": i = Math.min(h - 1, i + 1); break;
    case "ArrowUp": i = Math.max(0, i - 1); break;
    case "Home": j = 0; break;
    case "End": j = w - 1; break;
    default: return;
  }
  e.preventDefault();
  pixel(maps[at], i, j, true);
}

// The drawing is sent as an 8-bit grayscale PNG: the grey levels are what the server makes of the canvas's RGBA
// PNG (Pillow's RGB -> L: (19595 R + 38470 G + 7471 B + 32768) >> 16), so the answer is the same, and the server
// decodes a quarter of the bytes (a 224x224 RGBA PNG took 1 ms to decode and 0.8 ms to convert, docs/serve.md).
// A canvas with any transparent pixel, or a browser without CompressionStream, sends the canvas's own PNG.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function pngChunk(type, data) {
  const out = new Uint8Array(12 + data.length), view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  let c = 0xffffffff;
  for (let i = 4; i < 8 + data.length; i++) c = CRC_TABLE[(c ^ out[i]) & 0xff] ^ (c >>> 8);
  view.setUint32(8 + data.length, (c ^ 0xffffffff) >>> 0);
  return out;
}

async function grayPng(canvas) {
  const {width: w, height: h} = canvas;
  const rgba = canvas.getContext("2d").getImageData(0, 0, w, h).data;
  const rows = new Uint8Array(h * (w + 1));  // each row: filter type 0, then its w grey levels
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = 4 * (y * w + x);
      if (rgba[i + 3] !== 255) return null;
      rows[y * (w + 1) + 1 + x] = (19595 * rgba[i] + 38470 * rgba[i + 1] + 7471 * rgba[i + 2] + 32768) >>> 16;
    }
  }
  const zlib = new Uint8Array(await new Response(new Blob([rows]).stream()
    .pipeThrough(new CompressionStream("deflate"))).arrayBuffer());
  const ihdr = new Uint8Array(13), view = new DataView(ihdr.buffer);
  view.setUint32(0, w); view.setUint32(4, h);
  ihdr.set([8, 0, 0, 0, 0], 8);  // 8 bits, grayscale, deflate, adaptive filtering, no interlace
  const signature = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);
  return new Blob([signature, pngChunk("IHDR", ihdr), pngChunk("IDAT", zlib), pngChunk("IEND", new Uint8Array(0))],
    {type: "image/png"});
}

async function sendCanvas(canvas, example = null) {
  const my = ++C.seq;  // numbered now: a later drawing whose PNG is ready first still wins
  const gray = typeof CompressionStream === "function" ? await grayPng(canvas) : null;
  if (gray) predict(gray, "image/png", my, null, example);
  else canvas.toBlob((blob) => predict(blob, "image/png", my, null, example), "image/png");
}

// `example`: the example this input is (an example shown, or the URL's beside its img), else null.
async function predict(blob, type, my = ++C.seq, name = null, example = null) {
  document.body.dataset.state = "busy";
  delete document.body.dataset.example;  // set again by syncExample where this input is an example
  const r = await DL.api("POST", "/api/svhn/predict", blob, type);
  if (my !== C.seq) return false;
  if (!r.ok) {
    withdraw();
    const message = (name ? name + ": " : "") + DL.message(r.data).replace(/^image: /, "");
    DL.showError($("error"), message);
    Opening.say("prediction", null);  // after the error, which empties the status line: a link's table number
    document.body.dataset.state = "error";
    return false;
  }
  DL.showError($("error"), null);
  if ($("explain-error").textContent === NEED_INPUT) DL.showError($("explain-error"), null);  // there is one now
  const said = render(r.data);
  C.example = example;
  syncExample();
  document.body.dataset.predictions = String(my);
  document.body.dataset.state = "ready";
  C.predicted = true;
  // The cell explained (or on its way) is explained again for this input: the arithmetic of the last one would not
  // be that of the maps now shown.
  // The status line says the prediction with that explanation, or after its refusal (explain.js), not before it.
  const wanted = C.asked || DL.get("explain", null);
  if (!(wanted && fromExplainParam(wanted, said))) Opening.say("prediction", said);
  landOnce();
  return true;
}

function landOnce() {
  if (C.layersDone && (C.predicted || !DL.get("img", null))) DL.land();
}

function fromUrl(text, example) {
  let bin;
  try { bin = atob(text.replace(/-/g, "+").replace(/_/g, "/")); } catch (e) { return false; }
  if (bin.length !== 1024) return false;
  const cv = DL.el("canvas", {width: 32, height: 32}), ctx = cv.getContext("2d"), img = ctx.createImageData(32, 32);
  for (let i = 0; i < 1024; i++) img.data.set([bin.charCodeAt(i), bin.charCodeAt(i), bin.charCodeAt(i), 255], 4 * i);
  ctx.putImageData(img, 0, 0);
  const pad = $("pad").getContext("2d");
  pad.imageSmoothingEnabled = false;
  pad.drawImage(cv, 0, 0, $("pad").width, $("pad").height);
  sendCanvas(cv, example);
  return true;
}

async function layers() {
  const r = await DL.api("GET", "/api/svhn/model");
  if (!r.ok) {
    DL.showError($("error"), r.data);
    Opening.say("table", null);  // no table: a link's number has no explanation
    return;
  }
  const d = r.data;
  $("model-line").textContent = "Model: " + d.model;
  Table.render(d);  // layer_table.js
  C.layersDone = true;
  DL.scrollables();
  landOnce();
}

setupPad();
setupExamples();
setupExplain();
if (DL.get("number", null)) Opening.awaited.add("table");
if (DL.get("img", null) || DL.get("example", null)) Opening.awaited.add("prediction");  // else none is to come
layers();
if (!(DL.get("img", null) && fromUrl(DL.get("img"), DL.get("example", null)))) {
  document.body.dataset.state = "ready";
  if (!DL.get("example", null)) Opening.say("prediction", null);  // an img it cannot read and no example
}
