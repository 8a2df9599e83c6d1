// /geoff: Geoff's transformer (Problem 2). State in the URL: seq, T (0 | number | sqrt), heads, grad, conv,
// lr, stepE, any edited matrix (E, W_Q, W_K, W_V, W_O, W_O2 as "a,b;c,d"; a variant's k heads' own W_Q, W_K, W_V,
// edited or moved by a gradient step, as W_Q_h1, W_K_h1, .. W_V_h2: `multi_heads` of the API), variant and
// difficulty (a variant's transformer instead of Version A's), explain (the clicked cell: geoff_cells.js). Numbers from POST /api/geoff;
// the shapes, the vocabulary and the names of every row and column from GET /api/geoff/defaults.
// A gradient step is a new entry of the browser's history: "undo step" (or Back) returns to the weights before it.
// An input the model cannot read (an unknown token, an empty weight cell, a temperature that is none) takes every
// result off the page and shows why in its place: no number on screen belongs to another input.
"use strict";

const G = {defaults: null, W: null, H: null, seq: 0, invalid: new Map(), invalidKind: new Map(), lastT: "1", landed: false,
  stepAt: 0};
const URL_NAMES = {E: "E", W_Q: "W_Q", W_K: "W_K", W_V: "W_V", W_O: "W_O", multi_W_O: "W_O2"};
const HEAD_NAMES = ["W_Q", "W_K", "W_V"];  // each head's own matrices (G.H: the API's weights.multi_heads)
const headKey = (h, n) => `${n}_h${h + 1}`;  // their names in the URL: W_Q_h1 .. W_V_h2
const ownHeads = () => G.defaults.weights.multi_heads || null;  // the model's heads' own matrices (none: k copies)
const copyHeads = (hs) => hs.map((h) => Object.fromEntries(HEAD_NAMES.map((n) => [n, h[n].map((r) => r.slice())])));
const sameHeads = () => G.H === null || G.H.every((h, i) => HEAD_NAMES.every((n) => same(h[n], ownHeads()[i][n])));
// Every matrix a learner edits, one entry each, read by the one editor, the URL and the checks: the model's (G.W) and,
// where a variant's heads have weights of their own, each head's W_Q, W_K, W_V (G.H[h]). `name`: the page's words
// for it ("W_Q", "W_Q of head 2"); `id`: its editor's table (edit-W_Q, edit-W_Q-h1: Cells.table finds a source
// there); `url`: its URL name; `of`: the matrix whose shape and row and column names it has (a head's W_Q: W_Q's,
// from MATRIX_AXES through /api/geoff/defaults); `kind`: what `used` asks about (each head's: multi_heads).
function editables() {
  const out = Object.keys(G.defaults.shapes).map((name) => ({name, id: name, url: URL_NAMES[name], of: name,
    kind: name, rows: () => G.W[name], set: (m) => { G.W[name] = m; }, own: () => G.defaults.weights[name]}));
  (ownHeads() || []).forEach((_, h) => HEAD_NAMES.forEach((n) => out.push({name: `${n} of head ${h + 1}`,
    id: `${n}-h${h}`, url: headKey(h, n), of: n, kind: "multi_heads",
    rows: () => G.H[h][n], set: (m) => { G.H[h][n] = m; }, own: () => ownHeads()[h][n]})));
  return out;
}
const shapeOf = (e) => G.defaults.shapes[e.of];
const RESULTS = ["loss-panel", "matrices-panel", "heads-panel", "grad-panel"];
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
const $ = (id) => document.getElementById(id);
// a number that is not 0 but too small for float64 (1e-400): Number() reads it as 0 without a word, so it is refused
const underflows = (text) => Number(text) === 0 && /[1-9]/.test(text.trim().split(/e/i)[0]);

// An exact fraction a/b of two whole numbers ("1/3", "-2/5"): the page keeps it as its text, which the API reads with
// dlexam's one reader of typed numbers (dlexam.variants.typed.read_text), exactly, as the double nearest it (float64's
// 1/3, what torch has for Fraction(1, 3)); here only whether it is one, and its size against the cap, are checked.
const FRACTION = /^([-+]?\d+)\s*\/\s*([-+]?\d+)$/;
const fraction = (text) => { const m = FRACTION.exec(text.trim()); return m && {a: m[1], b: m[2]}; };
const size = (v) => (typeof v === "string" ? Math.abs(Number(fraction(v).a) / Number(fraction(v).b)) : Math.abs(v));
// A cell's weight: a number, or a fraction's text ("1/3", spaces taken out); NaN where the text is neither.
function weightOf(text) {
  const t = text.trim(), f = fraction(t);
  if (f) return Number(f.b) === 0 ? NaN : `${f.a}/${f.b}`;
  return NUMBER.test(t) && !underflows(t) ? Number(t) : NaN;
}

function parseMatrix(text, shape) {
  const rows = text.split(";").map((r) => r.split(",").map(weightOf));
  const fits = (v) => size(v) <= G.defaults.max_weight;  // false for NaN
  if (rows.length !== shape[0] || rows.some((r) => r.length !== shape[1] || !r.every(fits))) return null;
  return rows;
}
const bound = () => G.defaults.max_weight.toExponential().replace("e+", "e");  // 1e6: the model's cap on a weight
const formatMatrix = (m) => m.map((r) => r.map((v) => String(v)).join(",")).join(";");
const same = (a, b) => a.every((r, i) => r.every((v, j) => Object.is(v, b[i][j]) || v === b[i][j]));

// Rows and columns of each weight matrix (and of its gradient), as the library names them: E's rows are the
// tokens; E's, X's, R's and W_O's columns the model's dimensions (dlexam.geoff.weights.matrix_labels). Any other
// matrix's columns: its axis (dlexam.spec.transformer.MATRIX_AXES, the one table every view reads) and that axis's labels.
const labels = (name) => G.defaults.labels[name];
const axis = (name) => G.defaults.axes[name];
const cols = (name) => axis(G.defaults.matrix_axes[name][1]);
// The model the page shows: Version A's, or the variant of the URL (its seed and difficulty go with every request).
function model() {
  const v = DL.get("variant", null);
  return v === null ? {} : {variant: v, difficulty: DL.get("difficulty", "standard")};
}

function mode() {
  return $("t-zero").checked ? "zero" : $("t-sqrt").checked ? "sqrt" : "num";
}

function temperature() {
  return {zero: "0", sqrt: "sqrt", num: $("t-value").value.trim()}[mode()];
}

// The T field shows a number only while "T =" is chosen (argmax and sqrt(d_k) have no slider value).
function showMode() {
  const num = mode() === "num";
  $("t-value").value = num ? G.lastT : "";
  $("t-group").classList.toggle("argmax", !num);
}

function readUrl() {
  $("seq").value = DL.get("seq", G.defaults.example);
  const t = DL.get("T", "0").trim();
  if (t === "sqrt") $("t-sqrt").checked = true;
  // argmax for a 0 as written (0, 0.0, -0, 0e5), not for a number float64 reads as 0 (1e-400): that one stands in the
  // T field as the link wrote it, and the API refuses it there as it does typed (the page showed argmax's numbers)
  else if (NUMBER.test(t) && !/[1-9]/.test(t.replace(/e.*$/i, ""))) $("t-zero").checked = true;
  else { $("t-num").checked = true; G.lastT = t; }
  if (NUMBER.test(t) && Number(t) > 0) $("t-slider").value = t;
  showMode();
  $(DL.get("heads", "1") === String(G.defaults.heads) ? "heads-2" : "heads-1").checked = true;
  $("grad").checked = DL.get("grad", "0") === "1";
  // the URL's conv is "exam" or absent; anything else is passed over as heads=3 is (the menu, which has no such
  // option, sent "" and the page said "convention must be one of teacher_forcing, exam, got ''")
  $("convention").value = DL.get("conv", null) === "exam" ? "exam" : "teacher_forcing";
  $("lr").value = DL.get("lr", "0.1");
  $("step-e").checked = DL.get("stepE", "0") === "1";
  G.W = Object.fromEntries(Object.entries(G.defaults.shapes).map(([name]) => [name,
    G.defaults.weights[name].map((r) => r.slice())]));
  G.H = ownHeads() && copyHeads(ownHeads());  // a variant's heads with weights of their own: each head's W_Q, W_K, W_V
  G.invalid.clear();
  for (const e of editables()) {
    const text = DL.get(e.url, null), shape = shapeOf(e);
    const m = text === null ? null : parseMatrix(text, shape);
    if (m) e.set(m);
    // a link whose matrix is no matrix of the model's is refused and says so (it was silently replaced by the
    // exam's, so the page showed other numbers than the link's), until that matrix is edited or reset
    if (text !== null && m === null) {
      const whose = G.defaults.variant === null ? "the exam's" : "the variant's";
      G.invalidKind.set("url:" + e.id, e.kind);
      G.invalid.set("url:" + e.id, `the link's ${e.url} ("${text.slice(0, 60)}") is not ${shape[0]} rows of ` +
        `${shape[1]} numbers between -${bound()} and ${bound()}: its editor shows ${whose} ${e.name}; ` +
        "edit it or reset");
    }
  }
  G.stepAt = (history.state && history.state.step) || 0;  // the gradient steps this history entry is after
  $("undo").disabled = !(G.stepAt > 0);
}

// The page's inputs other than the weights, as URL parameters.
function settingChanges() {
  return {seq: $("seq").value.trim(), T: temperature(), heads: $("heads-2").checked ? G.defaults.heads : null,
    grad: $("grad").checked ? 1 : null, conv: $("convention").value === "exam" ? "exam" : null,
    lr: $("lr").value.trim() === "0.1" ? null : $("lr").value.trim(), stepE: $("step-e").checked ? 1 : null};
}

function urlChanges() {
  const changes = settingChanges();
  for (const e of editables()) changes[e.url] = same(e.rows(), e.own()) ? null : formatMatrix(e.rows());
  return changes;
}

// Whether the chosen heads' computation uses a matrix: one head uses W_O, never multi_W_O (the API refuses an edited
// one with heads = 1: it would not be used); k heads use both (W_O in the one-head model beside them, Problem 2.4).
// An edit of multi_W_O made with k heads stays in the editors' state and the URL, and comes back with them.
// The k heads' own W_Q, W_K, W_V (multi_heads) likewise: used with k heads only.
const used = (name) => (name !== "multi_W_O" && name !== "multi_heads") || $("heads-2").checked;
// The first bad cell (or link) of a matrix the model uses now (one head uses neither multi_W_O nor a head's own W_Q)
const refusal = () => [...G.invalid].find(([key]) => used(G.invalidKind.get(key)))?.[1] ?? null;

function edited() {
  const out = {};
  for (const name of Object.keys(URL_NAMES)) {
    if (used(name) && !same(G.W[name], G.defaults.weights[name])) out[name] = G.W[name];
  }
  if (used("multi_heads") && !sameHeads()) out.multi_heads = G.H;
  return out;
}

function buildControls() {
  const box = $("token-buttons");
  for (const tok of G.defaults.vocab) {
    box.append(DL.el("button", {text: tok, "aria-label": "add " + tok, onclick: () => {
      $("seq").value = ($("seq").value.trim() + " " + tok).trim(); changed(false);
    }}));
  }
  box.append(DL.el("button", {text: "⌫", "aria-label": "remove the last token", onclick: () => {
    $("seq").value = $("seq").value.trim().split(/\s+/).slice(0, -1).join(" "); changed(false);
  }}));
  box.append(DL.el("button", {text: "example", onclick: () => { $("seq").value = G.defaults.example; changed(false); }}));
  // each loss convention in the library's words (/api/geoff/defaults' convention_words), as dlexam geoff names it
  for (const c of G.defaults.conventions) $("convention").append(DL.el("option", {value: c, text: G.defaults.convention_words[c].short}));
  const typed = DL.debounce(() => changed(false), 350);
  $("seq").addEventListener("input", typed);
  $("t-slider").addEventListener("input", () => {
    $("t-num").checked = true; G.lastT = $("t-slider").value; showMode(); typed();
  });
  $("t-value").addEventListener("input", () => {
    $("t-num").checked = true; $("t-group").classList.remove("argmax");
    G.lastT = $("t-value").value.trim();
    if (NUMBER.test(G.lastT) && Number(G.lastT) > 0) $("t-slider").value = G.lastT;
    typed();
  });
  for (const id of ["t-zero", "t-num", "t-sqrt"]) $(id).addEventListener("change", () => { showMode(); changed(false); });
  for (const id of ["grad", "convention", "step-e"]) $(id).addEventListener("change", () => changed(false));
  // k heads use multi_W_O ((k d_head) x d_model) as well as W_O (the one-head model beside them): the editors change
  for (const id of ["heads-1", "heads-2"]) $(id).addEventListener("change", () => changed(true));
  $("lr").addEventListener("change", () => DL.set(urlChanges()));
  // a refused step's error is about the lr it was given: it goes once the lr is edited (it stayed, "lr must be ...",
  // beside a corrected lr until the next step, until 2026-12-07); an edit of any other input takes it too (changed)
  $("lr").addEventListener("input", () => {
    DL.showError($("step-error"), null);
    if (document.body.dataset.state === "error" && $("results-error").hidden) document.body.dataset.state = "ready";
  });
  $("reset").addEventListener("click", () => {
    for (const name of Object.keys(URL_NAMES)) G.W[name] = G.defaults.weights[name].map((r) => r.slice());
    G.H = ownHeads() && copyHeads(ownHeads());
    G.invalid.clear();
    changed();
  });
  $("step").addEventListener("click", step);
  $("undo").addEventListener("click", () => history.back());
  // Back, or "undo step": the weights before the step, from the URL (Forward: the weights after it). Only the weights:
  // every other input stays as the page has it, and so does the number explained (a T chosen after the step was
  // taken back with it, the explanation's cell kept in the panel and lost from the URL)
  addEventListener("popstate", () => {
    const from = G.stepAt, kept = settingChanges(), undoing = document.activeElement === $("undo");
    $("step-result").textContent = "";
    Cells.stepGone();
    DL.set(Object.assign(kept, {explain: Cells.cell, explainHeads: Cells.cell ? Cells.heads : null}));
    readUrl();
    if (undoing && $("undo").disabled) $("step").focus();  // the last undo disables it: the focus goes beside it
    buildEditors();
    DL.announce(G.stepAt < from ? `undone: the weights before gradient step ${G.stepAt + 1}`
      : `redone: the weights after gradient step ${G.stepAt}`);
    compute();
  });
}

// Every value whole: an editor is as wide as its longest number (the full float a gradient step gives).
function fit(input) {
  input.style.width = `calc(${Math.max(3, input.value.length) + 1}ch + 8px)`;
}

function buildEditors() {
  const box = $("editors");
  box.textContent = "";
  const two = $("heads-2").checked;
  for (const e of editables()) {
    if (!used(e.kind)) continue;
    const shape = shapeOf(e), [rows, cols] = labels(e.of);  // a head's W_Q is named as W_Q is
    const table = DL.el("table", {class: "editor", id: "edit-" + e.id},
      DL.el("tr", {}, DL.el("td", {class: "corner"}), cols.map((c) => DL.el("th", {scope: "col", text: c}))));
    e.rows().forEach((row, i) => {
      const tr = DL.el("tr", {}, DL.el("th", {scope: "row", text: rows[i]}));
      row.forEach((v, j) => {
        // named as the screen heads it, and as the server's refusals name it (dlexam.geoff.weights.cell_words):
        // "E, row <START>, column B" (it was "E row 5, column 2", counted from 1, until 2026-12-07)
        const label = `${e.name}, row ${rows[i]}, column ${cols[j]}`;
        // the full keyboard: a phone's decimal keypad (inputmode "decimal") has no '-' or '/' on an iPhone
        const input = DL.el("input", {type: "text", spellcheck: "false", autocomplete: "off",
          class: "mono", value: String(v), "aria-label": label});
        fit(input);
        input.addEventListener("input", () => fit(input));
        input.addEventListener("input", DL.debounce(() => {
          const text = input.value.trim(), key = label, w = weightOf(text), f = fraction(text);
          if (size(w) <= G.defaults.max_weight) {  // false for NaN
            G.invalid.delete(key);
            G.invalid.delete("url:" + e.id);
            input.removeAttribute("aria-invalid");
            e.rows()[i][j] = w;
          } else {
            // a number past the model's cap (1e400 is Infinity to the browser) is refused here, in the cell's own
            // words, as an empty or non-numeric cell is: it never reaches the URL
            G.invalidKind.set(key, e.kind);
            G.invalid.set(key, text === "" ? `${label} ${G.defaults.empty_cell}`  // the server's words too
              : NUMBER.test(text) && underflows(text) ? `${label}: ${text} is too small for a float64 number, which `
                + "reads it as 0: type 0, or a number of size at least 5e-324"
              : f && Number(f.b) === 0 ? `${label}: ${text} divides by 0: a fraction a/b needs b other than 0`
              : NUMBER.test(text) || f ? `${label}: ${text} is too large: a weight lies between -${bound()} and ${bound()}`
              : /^[+-]?[0-9]+,[0-9]+$/.test(text) ? `${label}: "${text}" has a decimal comma: write `
                + `${text.replace(",", ".")}, with a decimal point`
                : `${label}: "${text}" is not a number: type a number (such as 0.5, -2 or 1/3)`);
            input.setAttribute("aria-invalid", "true");
          }
          changed(false);  // keep the editors (and the focus) as they are
        }, 400));
        tr.append(DL.el("td", {}, input));
      });
      table.append(tr);
    });
    // with k heads W_O is the one-head model's (Problem 2.4's comparison); so are W_Q, W_K, W_V where each head
    // has its own
    const beside = two && (e.kind === "W_O" || (ownHeads() !== null && HEAD_NAMES.includes(e.kind)));
    const title = `${e.name} (${shape[0]}x${shape[1]})` + (beside ? ": the one-head model's, beside the heads" : "");
    box.append(DL.el("figure", {class: "mat"}, DL.el("figcaption", {text: title}), DL.el("div", {class: "scroll"}, table)));
  }
  noteEdited();
}

// How many of the matrices the run uses differ from the model's (each head's own W_Q, W_K, W_V counted as one each),
// and the edits kept for k heads while one head is chosen.
function noteEdited() {
  const differ = editables().filter((e) => !same(e.rows(), e.own()));
  const n = differ.filter((e) => used(e.kind)).length;
  const whose = G.defaults.variant === null ? "the exam's" : "the variant's";
  const kept = !used("multi_W_O") && !same(G.W.multi_W_O, G.defaults.weights.multi_W_O)
    ? `; the edited multi_W_O is kept for ${G.defaults.heads} heads (one head uses W_O)` : "";
  const heads = !used("multi_heads") && differ.some((e) => e.kind === "multi_heads") ? `; the edited heads' own ` +
    `W_Q, W_K, W_V are kept for ${G.defaults.heads} heads (one head uses W_Q, W_K, W_V)` : "";
  $("edited").textContent = (n ? `${n} matrix(es) differ from ${whose}` : `${whose} weights`) + kept + heads;
}

function body(extra) {
  const weights = edited();
  if (extra && extra.heads === 1) { delete weights.multi_W_O; delete weights.multi_heads; }  // the one-head model's
  return Object.assign({sequence: $("seq").value.trim(), temperature: temperature(),
    heads: $("heads-2").checked ? G.defaults.heads : 1, convention: $("convention").value, weights},
  model(), extra || {});
}

// A control changed: the URL first (the state), then the editors (only when asked: not while one is typed in).
function changed(rebuild = true) {
  $("step-result").textContent = "";
  DL.showError($("step-error"), null);  // a refused step's error was about the inputs as they were
  Cells.stepGone();  // an open explanation of the step's results leaves with them
  DL.set(urlChanges());  // an invalid weight cell keeps its last valid value in the URL: never NaN
  if (rebuild) {  // an editor the model no longer uses goes, and its bad cell with it (it comes back with its last
    // valid numbers, as the URL keeps them)
    for (const key of [...G.invalid.keys()]) if (!used(G.invalidKind.get(key))) G.invalid.delete(key);
    buildEditors();
  } else noteEdited();
  compute();
}

// No result for this input: every number of the last one leaves the page, the reason stands in its place.
function withdraw(message) {
  G.seq++;  // an answer still on its way belongs to an older input
  for (const id of RESULTS) $(id).hidden = true;
  $("results-error").hidden = false;
  $("results-message").textContent = message;
  DL.showError($("error"), message);
  document.body.dataset.state = "error";
  Cells.withdraw();
}

async function compute() {
  const refused = refusal();
  if (refused) { withdraw(refused); return; }
  const my = ++G.seq;
  document.body.dataset.state = "busy";
  const grad = $("grad").checked;
  const r = await DL.api("POST", "/api/geoff?exact=1",
    body({gradients: grad, gradient_of: grad ? G.defaults.steppable : undefined}));
  if (my !== G.seq) return;  // a newer query was sent meanwhile
  if (!r.ok) { withdraw(DL.message(r.data)); return; }
  DL.showError($("error"), null);
  $("results-error").hidden = true;
  $("loss-panel").hidden = $("matrices-panel").hidden = false;
  G.heads = r.data.heads;
  G.tokens = r.data.tokens;
  G.temperature = r.data.temperature;
  render(r.data);
  DL.scrollables();
  await Cells.refresh();  // an open explanation is of the numbers now on the page
  if (my !== G.seq) return;
  document.body.dataset.rendered = String(my);
  document.body.dataset.state = "ready";
  if (!G.landed) { G.landed = true; DL.land(); }
}

const perHead = (m, heads) => (heads === 1 ? [m] : m);

// T = sqrt(d_k): the radio button, or "sqrt" typed in the T field (the URL's T=sqrt, which a reload shows as the
// radio button: the caption reads the same before and after it, not "T = 1.4142135623730951")
const atSqrt = () => temperature() === "sqrt";

// T as the student set it: 2.35, not 47/20.
function tText(d) {
  if (atSqrt()) return `sqrt(d_k) = ${d.temperature.toFixed(4)}`;
  return d.temperature === 0 ? "0 (argmax)" : String(d.temperature);
}

function render(d) {
  const x = d.exact, toks = d.tokens, H = d.heads;
  const mats = $("matrices");
  mats.textContent = "";
  const add = (box, ...figs) => box.append(DL.el("div", {class: "mats"}, figs));
  const future = (i, j) => j > i;
  add(mats, DL.matrix("X", "X = rows of E", x.X, d.X, toks, cols("X")));
  for (let h = 0; h < H; h++) {
    const pick = (k) => [perHead(x[k], H)[h], perHead(d[k], H)[h]];
    const tag = H > 1 ? `head ${h + 1}: ` : "";
    if (H > 1) mats.append(DL.el("h3", {text: `head ${h + 1}`}));
    add(mats, ...["Q", "K", "V"].map((k) => DL.matrix(`${k}-h${h}`, `${tag}${k} = X W_${k}`, ...pick(k), toks, cols(k))));
    // "P at T = 0 (argmax)": one pair of parentheses (it read "P (T = 0 (argmax))")
    const P = DL.matrix(`P-h${h}`, `${tag}P at T = ${tText(d)}`, ...pick("attention"), toks, toks);
    if (atSqrt()) {  // T = sqrt(d_k) is a number to click too (the cell sqrt_d_k: where d_k comes from)
      P.querySelector("figcaption").replaceChildren(`${tag}P at T = `,
        DL.el("span", {class: "mono scale", "data-cell": "sqrt_d_k", text: tText(d)}));
    }
    add(mats, DL.matrix(`scores-h${h}`, `${tag}Q K^T (grey: masked, the future)`, ...pick("scores"), toks, toks, future),
      P, DL.matrix(`Z-h${h}`, `${tag}Z = P V`, ...pick("Z"), toks, cols("Z")));
  }
  add(mats, DL.matrix("R", H > 1 ? `R = ${concat(H)} multi_W_O` : "R = Z W_O", x.R, d.R, toks, cols("R")),
    DL.matrix("logits", "logits = R E^T", x.logits, d.logits, toks, cols("logits")));
  renderLoss(d);
  renderHeads(d);
  renderGradients(d);
  Cells.keys();
  const loss = d.loss ? "; loss " + G.defaults.conventions.map((c) =>
    `${d.exact.loss[c].value} (${G.defaults.convention_words[c].short})`).join(", ") : "";
  DL.announce(`computed for ${toks.join(" ")} at T = ${tText(d)}, ${H} head${H > 1 ? "s" : ""}${loss}`);
}

function renderLoss(d) {
  const box = $("loss");
  box.textContent = "";
  // whose loss: with k heads the panel's is the k-head model's, the one-head model's stands beside it (Problem 2.4)
  $("loss-model").textContent = d.heads > 1 ? `the loss of the ${d.heads}-head model (R = ${concat(d.heads)} ` +
    "multi_W_O); the one-head model's, beside it, is in the Problem 2.4 panel" : "the loss of the one-head model (R = Z W_O)";
  if (!d.loss) { box.append(DL.el("p", {class: "note", text: "no loss: the sequence has no <START> (the loss scores the tokens after it)"})); return; }
  for (const conv of G.defaults.conventions) {
    const t = d.loss[conv], e = d.exact.loss[conv];
    const rows = t.targets.map((tok, i) => DL.el("tr", {},
      DL.el("td", {class: "mono", text: tok}), DL.el("td", {class: "mono", text: `row ${t.rows[i]} (${d.tokens[t.rows[i] - 1]})`}),
      DL.el("td", {class: "num mono", text: e.probabilities[i]})));
    box.append(DL.el("h3", {text: G.defaults.convention_words[conv].name}), DL.el("div", {class: "scroll"}, DL.el("table", {class: "plain", id: "probs-" + conv},
      DL.el("tr", {}, DL.el("th", {scope: "col", text: "target"}), DL.el("th", {scope: "col", text: "scored by"}),
        DL.el("th", {scope: "col", class: "num", text: "P(target)"})), rows)),
      DL.el("p", {}, "loss = ", DL.el("span", {class: "mono", id: "loss-" + conv, text: e.value})));
  }
}

function renderHeads(d) {
  $("heads-panel").hidden = !d.one_head;
  if (!d.one_head) return;
  const box = $("heads"), c = d.heads_comparison, one = d.one_head, ex = d.exact.one_head;
  box.textContent = "";
  const k = d.heads, out = cols("R");
  box.append(DL.el("div", {class: "mats"},
    DL.matrix("R-one", "one head: R = Z W_O", ex.R, one.R, one.tokens, out),
    DL.matrix("R-two", `${k} heads: R = ${concat(k)} multi_W_O`, d.exact.R, d.R, d.tokens, out)));
  box.append(DL.el("p", {id: "same-R"}, `same R with ${k} heads: `, DL.el("span", {class: "badge " + (c.same_R ? "yes" : "no"),
    text: c.same_R ? "yes" : "no"}), c.columns_swapped ? ` (its columns are swapped: ${swaps(c.permutation, out)})` : ""));
  if (d.loss && ex.loss) {
    box.append(DL.el("div", {class: "scroll"}, DL.el("table", {class: "plain", id: "heads-losses",
      "aria-label": `the loss with one head and with ${k} heads`},
      DL.el("tr", {}, DL.el("th", {scope: "col", text: "loss"}), DL.el("th", {scope: "col", class: "num", text: "one head"}),
        DL.el("th", {scope: "col", class: "num", text: `${k} heads`})),
      ["exam", "teacher_forcing"].map((conv) => DL.el("tr", {}, DL.el("th", {scope: "row", text: G.defaults.convention_words[conv].short}),
        DL.el("td", {class: "num mono", text: ex.loss[conv].value}),
        DL.el("td", {class: "num mono", text: d.exact.loss[conv].value}))))));
  }
}

// [Z_1 Z_2] for k heads side by side.
const concat = (k) => "[" + Array.from({length: k}, (_, h) => `Z_${h + 1}`).join(" ") + "]";

// The column swaps of a permutation (R_k[:, j] = R_one[:, perm[j]]), named by the columns' labels: "A<->B, C<->D".
function swaps(perm, names) {
  const pairs = new Set();
  (perm || []).forEach((i, j) => { if (i !== j) pairs.add([Math.min(i, j), Math.max(i, j)].join(",")); });
  return [...pairs].map((p) => p.split(",").map((i) => names[Number(i)]).join("<->")).join(", ");
}

function renderGradients(d) {
  $("grad-panel").hidden = !d.gradients && !d.no_gradients;
  const box = $("grads");
  box.textContent = "";
  if (!d.gradients) {  // asked for, but the sequence has no loss (no <START>): the server says why (no_gradients)
    if (d.no_gradients) box.append(DL.el("p", {class: "note", id: "no-gradients", text: `no gradients: ${d.no_gradients}`}));
    return;
  }
  const figs = [];
  for (const [name, g] of Object.entries(d.gradients)) {
    const ex = d.exact.gradients[name], [rows, cols] = labels(name);  // a gradient is named as its matrix is
    const three = Array.isArray(g[0][0]);
    (three ? g : [g]).forEach((m, h) => figs.push(DL.matrix(`grad-${name}${three ? "-h" + h : ""}`,
      `d loss / d ${name}${three ? " (head " + (h + 1) + ")" : ""}`, three ? ex[h] : ex, m, rows, cols)));
  }
  box.append(DL.el("p", {class: "note", text: `gradients of the ${G.defaults.convention_words[d.gradient_convention].short} loss at T = ${tText(d)}`}),
    DL.el("div", {class: "mats"}, figs));
  const params = G.defaults.parameters;
  const key = (p) => (p === "W_O" && d.heads > 1 ? "multi_W_O" : p);  // k heads use multi_W_O
  // each norm is explained at the T of its row: norm[W_Q,T=0], norm[W_Q,T=sqrt]; the page's own row: norm[W_Q]
  // data-tvalue: the row's T as the number the model ran at (a typed norm[W_Q,T=0.5] is outlined in the row it is)
  // each norm as the server writes it (`ex`, d.exact's), as its explanation ends: 3.9318, 5.977e-7 (the page wrote
  // 4 significant digits, 3.932 beside an explanation's "= 3.9318")
  const row = (label, c, ex, current) => DL.el("tr", {"data-temperature": current ? "current" : null, "data-t": c.T || null,
    "data-tvalue": String(c.temperature)},
    DL.el("th", {scope: "row", text: label}),
    params.map((p) => DL.el("td", {class: "num mono", "data-param": key(p),
      text: c.vanishes[key(p)] ? "0 (frozen)" : ex.norms[key(p)]})));
  const rows = Object.entries(d.gradient_comparison).map(([label, c]) => row(label, c, d.exact.gradient_comparison[label], false));
  if (d.gradient_at_temperature) {
    rows.push(row(`T=${tText(d)} (this page)`, d.gradient_at_temperature, d.exact.gradient_at_temperature, true));
  }
  box.append(DL.el("h3", {text: "gradient norms at T = 0, at T = sqrt(d_k)" + (d.gradient_at_temperature ? " and at this page's T" : "")}),
    DL.el("div", {class: "scroll"}, DL.el("table", {class: "plain", id: "grad-norms"},
      DL.el("tr", {}, DL.el("td", {class: "corner"}), params.map((p) => DL.el("th", {scope: "col", class: "num", text: p}))), rows)),
    ...headParts(d),
    DL.el("p", {class: "note", text: d.gradient_explanation}));
}

// k identical heads share W_Q, W_K, W_V: the table's norm is that of the heads' summed gradient (what a step applies);
// each head's gradient is a part of it, and the parts' own norms are listed here (library: geoff.gradient_row)
function headParts(d) {  // the norms as the server writes them (d.exact's), as the table's
  const rows = Object.entries(d.exact.gradient_comparison).map(([label, c]) => [label, c.head_parts || {}]);
  if (d.gradient_at_temperature) rows.push([`T=${tText(d)} (this page)`, d.exact.gradient_at_temperature.head_parts || {}]);
  const names = [...new Set(rows.flatMap(([, p]) => Object.keys(p)))];
  if (!names.length) return [];
  const k = rows.find(([, p]) => p[names[0]])[1][names[0]].length;
  const sum = Array.from({length: k}, (_, h) => `g${h + 1}`).join(" + ");
  const text = `The ${k} identical heads share ${names.join(", ")}: each one's norm in the table is |${sum}|, the ` +
    `norm of the heads' summed gradient, which a gradient step applies (gh: head h's part of it). The parts' own norms: ` +
    rows.map(([label, p]) => `${label}: ` + names.map((n) => `${n} ` +
      (p[n] || []).map((x, h) => `|g${h + 1}| = ${x}`).join(", ")).join("; ")).join(". ") + ".";
  return [DL.el("p", {class: "note", id: "grad-head-parts", text})];
}

async function step() {
  const refused = refusal();
  if (refused) { withdraw(refused); return; }
  const matrices = $("step-e").checked ? G.defaults.steppable : G.defaults.parameters;
  // disabled while the step is on its way, which drops the keyboard focus to the body: it comes back after
  const focused = document.activeElement === $("step");
  $("step").disabled = true;
  document.body.dataset.state = "busy";
  // every matrix the run uses, edited or not (the step's answer has them all); never multi_W_O with one head
  const sent = Object.fromEntries(Object.keys(URL_NAMES).filter(used).map((name) => [name, G.W[name]]));
  if (used("multi_heads") && G.H) sent.multi_heads = G.H;  // each head's own W_Q, W_K, W_V: the step moves them
  const asked = body({lr: $("lr").value.trim(), matrices, weights: JSON.parse(JSON.stringify(sent))});
  const r = await DL.api("POST", "/api/geoff/step", asked);
  $("step").disabled = false;
  if (focused && document.activeElement === document.body) $("step").focus();
  DL.showError($("step-error"), r.ok ? null : r.data);
  if (!r.ok) { document.body.dataset.state = "error"; return; }
  const s = r.data;
  G.stepBody = asked;  // the step's results are explained on the weights before it, with its lr and matrices
  for (const name of Object.keys(sent)) {
    if (name === "multi_heads") G.H = copyHeads(s.weights.multi_heads);  // kept, in the URL too: the page's loss is loss_after
    else G.W[name] = s.weights[name];  // an unused multi_W_O keeps its edit
  }
  const n = ((history.state && history.state.step) || 0) + 1;
  DL.push(urlChanges(), {step: n});  // a new history entry: undo (or Back) returns to the weights before
  G.stepAt = n;
  $("undo").disabled = false;
  buildEditors();
  const rows = Object.keys(s.change).map((name) => DL.el("tr", {"data-matrix": name, "data-moved": String(s.moved[name])},
    DL.el("th", {scope: "row", class: "mono", text: name}),
    DL.el("td", {}, DL.el("span", {class: "badge " + (s.moved[name] ? "yes" : "no"), text: s.moved[name] ? "moved" : "frozen"})),
    DL.el("td", {class: "num mono change", text: stepNumber(s.change[name])}),
    DL.el("td", {class: "num mono gnorm", text: stepNumber(s.gradient_norms[name] || 0)})));
  const box = $("step-result");
  box.textContent = "";
  box.append(DL.el("div", {class: "scroll"}, DL.el("table", {class: "plain", id: "step-moved"}, DL.el("tr", {},
    DL.el("th", {scope: "col", text: "matrix"}), DL.el("th", {scope: "col", text: "after step " + n}),
    DL.el("th", {scope: "col", class: "num", text: "max |change|"}), DL.el("th", {scope: "col", class: "num", text: "|gradient|"})), rows)),
  DL.el("p", {class: "small"}, "loss ", DL.el("span", {class: "mono", id: "loss-before", text: s.loss_before.toFixed(4)}),
    " → ", DL.el("span", {class: "mono", id: "loss-after", text: s.loss_after.toFixed(4)})));
  compute();
}

// A step's number as its explanation ends: 4 decimals (DL.decimal, a tiny one in significant digits), 0 as "0"; it
// was 3 significant digits, W_V's |gradient| "1.46" beside its explanation's "= 1.4570"
const stepNumber = (v) => (v === 0 ? "0" : DL.decimal(v));

// Version A's model, or the variant of the URL: the page says which, the heads' choice says k.
function describeModel() {
  const d = G.defaults;
  $("t-note").textContent = `T takes ${d.temperatures} (sqrt: sqrt(d_k)); 0 is argmax, ties shared`;
  $("heads-k").textContent = `${d.heads} (Problem 2.4)`;
  $("heads-2").value = String(d.heads);
  if (d.variant !== null) {
    $("model-line").textContent = `The transformer of dlexam variant ${d.variant} (${d.difficulty}): its vocabulary ` +
      `${d.vocab.join(", ")}, its weights and its example (dlexam variant --seed ${d.variant}` +
      (d.difficulty === "standard" ? "" : ` --difficulty ${d.difficulty}`) + ").";
    $("reset").textContent = "reset to the variant's values";
    if (d.weights.multi_heads) {
      $("model-line").textContent += ` With ${d.heads} heads each head has weights of its own (Problem 2.4 of this ` +
        "variant): the matrices show them, and with " + d.heads + " heads each head's W_Q, W_K, W_V has an editor of " +
        "its own beside the one-head model's (a gradient step moves them too; the link keeps them).";
    }
  }
}

async function init() {
  const r = await DL.api("GET", "/api/geoff/defaults?" + new URLSearchParams(model()));
  if (!r.ok) { DL.showError($("error"), r.data); return; }
  G.defaults = r.data;
  describeModel();
  buildControls();
  Cells.setup();
  readUrl();
  buildEditors();
  await compute();
}

init();
