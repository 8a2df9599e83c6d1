// /geoff: Geoff's transformer (Problem 2). State in the URL: seq, T (0 | number | sqrt), heads, grad, conv,
// lr, stepE, and any edited matrix (E, W_Q, W_K, W_V, W_O, W_O2 as "a,b;c,d"). Numbers from POST /api/geoff.
"use strict";

const G = {defaults: null, W: null, seq: 0};
const URL_NAMES = {E: "E", W_Q: "W_Q", W_K: "W_K", W_V: "W_V", W_O: "W_O", multi_W_O: "W_O2"};
const $ = (id) => document.getElementById(id);

function parseMatrix(text, shape) {
  const rows = text.split(";").map((r) => r.split(",").map(Number));
  if (rows.length !== shape[0] || rows.some((r) => r.length !== shape[1])) return null;
  return rows;
}
const formatMatrix = (m) => m.map((r) => r.map((v) => String(v)).join(",")).join(";");
const same = (a, b) => a.every((r, i) => r.every((v, j) => v === b[i][j]));

function temperature() {
  if ($("t-zero").checked) return "0";
  if ($("t-sqrt").checked) return "sqrt";
  return $("t-slider").value;
}

function readUrl() {
  $("seq").value = DL.get("seq", G.defaults.example);
  const t = DL.get("T", "0");
  if (t === "sqrt") $("t-sqrt").checked = true;
  else if (Number(t) === 0) $("t-zero").checked = true;
  else { $("t-num").checked = true; $("t-slider").value = t; }
  $("t-value").textContent = $("t-slider").value;
  $(DL.get("heads", "1") === "2" ? "heads-2" : "heads-1").checked = true;
  $("grad").checked = DL.get("grad", "0") === "1";
  $("convention").value = DL.get("conv", "teacher_forcing");
  $("lr").value = DL.get("lr", "0.1");
  $("step-e").checked = DL.get("stepE", "0") === "1";
  G.W = {};
  for (const [name, shape] of Object.entries(G.defaults.shapes)) {
    const text = DL.get(URL_NAMES[name], null);
    const m = text === null ? null : parseMatrix(text, shape);
    G.W[name] = m || G.defaults.weights[name].map((r) => r.slice());
  }
}

function writeUrl() {
  const changes = {seq: $("seq").value.trim(), T: temperature(), heads: $("heads-2").checked ? 2 : null,
    grad: $("grad").checked ? 1 : null, conv: $("convention").value === "exam" ? "exam" : null,
    lr: $("lr").value === "0.1" ? null : $("lr").value, stepE: $("step-e").checked ? 1 : null};
  for (const [name, short] of Object.entries(URL_NAMES)) {
    changes[short] = same(G.W[name], G.defaults.weights[name]) ? null : formatMatrix(G.W[name]);
  }
  DL.set(changes);
}

function edited() {
  const out = {};
  for (const name of Object.keys(URL_NAMES)) if (!same(G.W[name], G.defaults.weights[name])) out[name] = G.W[name];
  return out;
}

function buildControls() {
  const box = $("token-buttons");
  for (const tok of G.defaults.vocab) {
    box.append(DL.el("button", {text: tok, onclick: () => {
      $("seq").value = ($("seq").value.trim() + " " + tok).trim(); changed(false);
    }}));
  }
  box.append(DL.el("button", {text: "⌫", "aria-label": "remove the last token", onclick: () => {
    $("seq").value = $("seq").value.trim().split(/\s+/).slice(0, -1).join(" "); changed(false);
  }}));
  box.append(DL.el("button", {text: "example", onclick: () => { $("seq").value = G.defaults.example; changed(false); }}));
  for (const c of G.defaults.conventions) $("convention").append(DL.el("option", {value: c, text: c.replace("_", " ")}));
  const typed = DL.debounce(() => changed(false), 350);
  $("seq").addEventListener("input", typed);
  $("t-slider").addEventListener("input", () => { $("t-num").checked = true; $("t-value").textContent = $("t-slider").value; typed(); });
  for (const id of ["t-zero", "t-num", "t-sqrt", "grad", "convention", "step-e"]) {
    $(id).addEventListener("change", () => changed(false));
  }
  // two heads use W_O' (4x4) instead of W_O: the editors change
  for (const id of ["heads-1", "heads-2"]) $(id).addEventListener("change", () => changed(true));
  $("lr").addEventListener("change", writeUrl);
  $("reset").addEventListener("click", () => {
    for (const name of Object.keys(URL_NAMES)) G.W[name] = G.defaults.weights[name].map((r) => r.slice());
    $("step-result").textContent = "";
    changed();
  });
  $("step").addEventListener("click", step);
}

function buildEditors() {
  const box = $("editors");
  box.textContent = "";
  const two = $("heads-2").checked;
  for (const [name, shape] of Object.entries(G.defaults.shapes)) {
    if ((name === "multi_W_O" && !two) || (name === "W_O" && two)) continue;
    const grid = DL.el("div", {class: "editor", id: "edit-" + name});
    grid.style.gridTemplateColumns = `repeat(${shape[1]}, auto)`;
    G.W[name].forEach((row, i) => row.forEach((v, j) => {
      const input = DL.el("input", {type: "number", step: "any", value: String(v), "aria-label": `${name}[${i}][${j}]`});
      input.addEventListener("input", DL.debounce(() => {
        G.W[name][i][j] = input.value === "" ? NaN : Number(input.value);
        changed(false);  // keep the editors (and the focus) as they are
      }, 400));
      grid.append(input);
    }));
    box.append(DL.el("figure", {class: "mat"}, DL.el("figcaption", {text: `${name} (${shape[0]}x${shape[1]})`}), grid));
  }
  noteEdited();
}

function noteEdited() {
  const n = Object.keys(edited()).length;
  $("edited").textContent = n ? `${n} matrix(es) differ from the exam's` : "the exam's weights";
}

function body(extra) {
  return Object.assign({sequence: $("seq").value.trim(), temperature: temperature(),
    heads: $("heads-2").checked ? 2 : 1, convention: $("convention").value, weights: edited()}, extra || {});
}

// A control changed: the URL first (the state), then the editors (only when asked: not while one is typed in).
function changed(rebuild = true) {
  writeUrl();
  if (rebuild) buildEditors(); else noteEdited();
  compute();
}

async function compute() {
  const my = ++G.seq;
  document.body.dataset.state = "busy";
  const grad = $("grad").checked;
  const r = await DL.api("POST", "/api/geoff?exact=1",
    body({gradients: grad, gradient_of: grad ? G.defaults.steppable : undefined}));
  if (my !== G.seq) return;  // a newer query was sent meanwhile
  DL.showError($("error"), r.ok ? null : r.data);
  if (r.ok) render(r.data);
  document.body.dataset.rendered = String(my);
  document.body.dataset.state = r.ok ? "ready" : "error";
}

const perHead = (m, heads) => (heads === 1 ? [m] : m);

function render(d) {
  const x = d.exact, toks = d.tokens, V = G.defaults.vocab, H = d.heads;
  const dims = (n) => Array.from({length: n}, (_, i) => "d" + (i + 1));
  const mats = $("matrices");
  mats.textContent = "";
  const add = (box, ...figs) => box.append(DL.el("div", {class: "mats"}, figs));
  add(mats, DL.matrix("X", "X = rows of E", x.X, d.X, toks, dims(4)));
  for (let h = 0; h < H; h++) {
    const pick = (k) => [perHead(x[k], H)[h], perHead(d[k], H)[h]];
    const tag = H > 1 ? `head ${h + 1}: ` : "";
    if (H > 1) mats.append(DL.el("h3", {text: `head ${h + 1}`}));
    add(mats, ...["Q", "K", "V"].map((k) => DL.matrix(`${k}-h${h}`, `${tag}${k} = X W_${k}`, ...pick(k), toks, dims(2))));
    add(mats, DL.matrix(`scores-h${h}`, `${tag}Q K^T`, ...pick("scores"), toks, toks),
      DL.matrix(`P-h${h}`, `${tag}P (T = ${x.temperature})`, ...pick("attention"), toks, toks),
      DL.matrix(`Z-h${h}`, `${tag}Z = P V`, ...pick("Z"), toks, dims(2)));
  }
  add(mats, DL.matrix("R", H > 1 ? "R = [Z Z] W_O (W_O = I_4)" : "R = Z W_O", x.R, d.R, toks, V.slice(0, 4)),
    DL.matrix("logits", "logits = R E^T", x.logits, d.logits, toks, V));
  renderLoss(d);
  renderHeads(d);
  renderGradients(d);
}

function renderLoss(d) {
  const box = $("loss");
  box.textContent = "";
  if (!d.loss) { box.append(DL.el("p", {class: "note", text: "no loss: the sequence has no <START> (the loss scores the tokens after it)"})); return; }
  const names = {teacher_forcing: "standard teacher forcing: logit row t predicts token t+1",
    exam: "the exam's convention (Problem 2.3): each output token scored by its own row"};
  for (const conv of ["teacher_forcing", "exam"]) {
    const t = d.loss[conv], e = d.exact.loss[conv];
    const rows = t.targets.map((tok, i) => DL.el("tr", {},
      DL.el("td", {class: "mono", text: tok}), DL.el("td", {class: "mono", text: `row ${t.rows[i]} (${d.tokens[t.rows[i] - 1]})`}),
      DL.el("td", {class: "num mono", text: e.probabilities[i]})));
    box.append(DL.el("h3", {text: names[conv]}), DL.el("table", {class: "plain", id: "probs-" + conv},
      DL.el("tr", {}, DL.el("th", {text: "target"}), DL.el("th", {text: "scored by"}), DL.el("th", {class: "num", text: "P(target)"})), rows),
      DL.el("p", {}, "loss = ", DL.el("span", {class: "mono", id: "loss-" + conv, text: e.value})));
  }
}

function renderHeads(d) {
  $("heads-panel").hidden = !d.one_head;
  if (!d.one_head) return;
  const box = $("heads"), c = d.heads_comparison, one = d.one_head, ex = d.exact.one_head;
  box.textContent = "";
  box.append(DL.el("div", {class: "mats"},
    DL.matrix("R-one", "one head: R = Z W_O", ex.R, one.R, one.tokens, G.defaults.vocab.slice(0, 4)),
    DL.matrix("R-two", "two heads: R = [Z Z] W_O'", d.exact.R, d.R, d.tokens, G.defaults.vocab.slice(0, 4))));
  box.append(DL.el("p", {id: "same-R"}, "same R with two heads: ", DL.el("span", {class: "badge " + (c.same_R ? "yes" : "no"),
    text: c.same_R ? "yes" : "no"}), c.columns_swapped ? " (its columns are swapped: A<->B, C<->D)" : ""));
}

function renderGradients(d) {
  $("grad-panel").hidden = !d.gradients;
  if (!d.gradients) return;
  const box = $("grads");
  box.textContent = "";
  const figs = [];
  for (const [name, g] of Object.entries(d.gradients)) {
    const ex = d.exact.gradients[name];
    const three = Array.isArray(g[0][0]);
    (three ? g : [g]).forEach((m, h) => figs.push(DL.matrix(`grad-${name}${three ? "-h" + h : ""}`,
      `d loss / d ${name}${three ? " (head " + (h + 1) + ")" : ""}`, three ? ex[h] : ex, m, null, null)));
  }
  box.append(DL.el("p", {class: "note", text: `gradients of the ${d.gradient_convention.replace("_", " ")} loss`}),
    DL.el("div", {class: "mats"}, figs));
  const comp = d.gradient_comparison, params = G.defaults.parameters;
  const rows = Object.entries(comp).map(([label, c]) => DL.el("tr", {}, DL.el("td", {text: label}),
    params.map((p) => DL.el("td", {class: "num mono", text: c.vanishes[p] ? "0 (frozen)" : c.norms[p].toPrecision(4)}))));
  box.append(DL.el("h3", {text: "gradient norms at T = 0 and at T = sqrt(d_k)"}), DL.el("table", {class: "plain", id: "grad-norms"},
    DL.el("tr", {}, DL.el("th", {}), params.map((p) => DL.el("th", {class: "num", text: p}))), rows),
    DL.el("p", {class: "note", text: d.gradient_explanation}));
}

async function step() {
  const matrices = $("step-e").checked ? G.defaults.steppable : G.defaults.parameters;
  $("step").disabled = true;
  document.body.dataset.state = "busy";
  const r = await DL.api("POST", "/api/geoff/step", body({lr: Number($("lr").value), matrices, weights: G.W}));
  $("step").disabled = false;
  DL.showError($("step-error"), r.ok ? null : r.data);
  if (!r.ok) { document.body.dataset.state = "error"; return; }
  const s = r.data;
  const rows = Object.keys(s.change).map((name) => DL.el("tr", {"data-matrix": name, "data-moved": String(s.moved[name])},
    DL.el("td", {class: "mono", text: name}),
    DL.el("td", {}, DL.el("span", {class: "badge " + (s.moved[name] ? "yes" : "no"), text: s.moved[name] ? "moved" : "frozen"})),
    DL.el("td", {class: "num mono", text: s.change[name].toPrecision(3)}),
    DL.el("td", {class: "num mono", text: (s.gradient_norms[name] || 0).toPrecision(3)})));
  const box = $("step-result");
  box.textContent = "";
  box.append(DL.el("table", {class: "plain", id: "step-moved"}, DL.el("tr", {}, DL.el("th", {text: "matrix"}),
    DL.el("th", {text: "after the step"}), DL.el("th", {class: "num", text: "max |change|"}), DL.el("th", {class: "num", text: "|gradient|"})), rows),
    DL.el("p", {class: "small"}, `loss ${s.loss_before.toFixed(4)} → `, DL.el("span", {id: "loss-after", text: s.loss_after.toFixed(4)})));
  G.W = s.weights;
  changed();
}

async function init() {
  const r = await DL.api("GET", "/api/geoff/defaults");
  if (!r.ok) { DL.showError($("error"), r.data); return; }
  G.defaults = r.data;
  buildControls();
  readUrl();
  buildEditors();
  await compute();
}

init();
