// /cnn: Problem 1's CNN on a drawing (pointer events: mouse, pen or finger) or an uploaded photo.
// State in the URL: img = the 32x32 input (1,024 grey levels, base64url), so a shared link shows the same digit.
// Numbers from POST /api/svhn/predict (dlexam.svhn.inspect.feature_maps) and GET /api/svhn/model.
"use strict";

const $ = (id) => document.getElementById(id);
const C = {drawing: false, last: null, seq: 0};
const STAGES = [["conv1", "after Conv-1 (and its activation)"], ["pool1", "after Pool-1"],
  ["conv2", "after Conv-2 (and its activation)"], ["pool2", "after Pool-2"]];

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
    pad.setPointerCapture(e.pointerId);
    C.drawing = true;
    C.last = point(e);
  });
  pad.addEventListener("pointermove", (e) => {
    if (!C.drawing) return;
    const p = point(e);
    ctx.strokeStyle = "#111"; ctx.lineWidth = 18; ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.beginPath(); ctx.moveTo(...C.last); ctx.lineTo(...p); ctx.stroke();
    C.last = p;
  });
  const end = () => {
    if (!C.drawing) return;
    C.drawing = false;
    pad.toBlob((blob) => predict(blob, "image/png"), "image/png");
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  $("clear").addEventListener("click", () => { clearPad(); DL.set({img: null}); });
  $("upload").addEventListener("change", async () => {
    const f = $("upload").files[0];
    if (!f) return;
    try {
      const bmp = await createImageBitmap(f);
      const s = Math.min(pad.width / bmp.width, pad.height / bmp.height);
      clearPad();
      ctx.drawImage(bmp, (pad.width - bmp.width * s) / 2, (pad.height - bmp.height * s) / 2, bmp.width * s, bmp.height * s);
    } catch (e) { /* the browser cannot show it; the server still reads it (or says why not) */ }
    predict(f, f.type || "application/octet-stream");
  });
}

// One map: `values` holds its h x w numbers, row by row (a view into the stage's Float32Array).
function grayCanvas(values, w, h, scale, id) {
  const cv = DL.el("canvas", {class: "pix", width: w, height: h, id});
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

function render(d) {
  const input = $("input32").getContext("2d"), img = input.createImageData(32, 32);
  d.image.forEach((row, i) => row.forEach((v, j) => img.data.set([v, v, v, 255], 4 * (i * 32 + j))));
  input.putImageData(img, 0, 0);
  $("input32").style.width = "128px";
  $("input32").style.height = "128px";
  $("digit").textContent = String(d.digit);
  $("digit-p").textContent = `P = ${d.probabilities[d.digit].toFixed(4)}`;
  const probs = $("probs");
  probs.textContent = "";
  d.probabilities.forEach((p, k) => {
    const bar = DL.el("div", {class: "pbar"});
    bar.style.width = (100 * p).toFixed(1) + "%";
    const cls = k === d.digit ? "best" : "";
    probs.append(DL.el("span", {class: cls, text: String(k)}), DL.el("div", {}, bar),
      DL.el("span", {class: "mono " + cls, id: "p-" + k, text: p.toFixed(4)}));
  });
  const maps = $("maps");
  maps.textContent = "";
  for (const [stage, title] of STAGES) {
    const [n, h, w] = d.maps[stage].shape, values = unpack(d.maps[stage]);
    const scale = Math.max(2, Math.floor(56 / w));
    const canvases = Array.from({length: n}, (_, c) =>
      grayCanvas(values.subarray(c * h * w, (c + 1) * h * w), w, h, scale, `map-${stage}-${c}`));
    maps.append(DL.el("h3", {text: `${title}: ${n} maps of ${h}x${w}`}),
      DL.el("div", {class: "maps", id: "maps-" + stage}, canvases));
  }
  DL.set({img: toBase64Url(d.image.flat())});
  $("model-line").textContent = "Model: " + d.model;
}

async function predict(blob, type) {
  const my = ++C.seq;
  document.body.dataset.state = "busy";
  const r = await DL.api("POST", "/api/svhn/predict", blob, type);
  if (my !== C.seq) return;
  DL.showError($("error"), r.ok ? null : r.data);
  if (r.ok) render(r.data);
  document.body.dataset.predictions = String(my);
  document.body.dataset.state = r.ok ? "ready" : "error";
}

function fromUrl(text) {
  let bin;
  try { bin = atob(text.replace(/-/g, "+").replace(/_/g, "/")); } catch (e) { return false; }
  if (bin.length !== 1024) return false;
  const cv = DL.el("canvas", {width: 32, height: 32}), ctx = cv.getContext("2d"), img = ctx.createImageData(32, 32);
  for (let i = 0; i < 1024; i++) img.data.set([bin.charCodeAt(i), bin.charCodeAt(i), bin.charCodeAt(i), 255], 4 * i);
  ctx.putImageData(img, 0, 0);
  const pad = $("pad").getContext("2d");
  pad.imageSmoothingEnabled = false;
  pad.drawImage(cv, 0, 0, $("pad").width, $("pad").height);
  cv.toBlob((blob) => predict(blob, "image/png"), "image/png");
  return true;
}

async function layers() {
  const r = await DL.api("GET", "/api/svhn/model");
  if (!r.ok) { DL.showError($("error"), r.data); return; }
  const d = r.data;
  $("model-line").textContent = "Model: " + d.model;
  const rows = d.layers.map((l) => DL.el("tr", {}, DL.el("td", {text: l.layer}),
    DL.el("td", {class: "mono", text: l.output_shape.join("x")}), DL.el("td", {class: "num mono", text: l.params.toLocaleString("en")})));
  const total = d.layers.reduce((s, l) => s + l.params, 0);
  $("layer-table").append(DL.el("table", {class: "plain", id: "layer-rows"},
    DL.el("tr", {}, DL.el("th", {text: "layer"}), DL.el("th", {text: "output (H x W x C)"}), DL.el("th", {class: "num", text: "trainable weights"})),
    rows, DL.el("tr", {}, DL.el("th", {text: "total"}), DL.el("td", {}), DL.el("th", {class: "num mono", text: total.toLocaleString("en")}))),
  DL.el("p", {class: "note", text: "Shapes from a forward pass, counts from the modules' parameters (dlexam.svhn.model.layer_summary)."}));
}

setupPad();
layers();
if (!(DL.get("img", null) && fromUrl(DL.get("img")))) document.body.dataset.state = "ready";
