// /sort: the compiled solver and a trained sorter side by side, greedy decoding one step at a time.
// State in the URL: seq, vocab, step, T (the decoding temperature; none: each model's own). `step` counts from 1, as the
// page does ("step 2 of 4" is step=2; until 2026-12-07 the URL counted from 0, so that was step=1, and a link's step=0
// is still the first step). Numbers from GET /api/sort
// (dlexam.sorting.inspect.attention_steps). The compiled solver is exact at T = 0 only: another T is refused by the
// API in the words of `dlexam sort` (Sorter.decoding_temperature), and the refusal stands in its panel.
// A refusal is said once, by an alert box (DL.showError, which empties the status line): a model's own in its panel's
// box (#compiled-error, #trained-error), one both models give in the same words (the input's) once, in #error under
// the input. The status line says answers, and the steps taken (stepTo). Until 2026-12-06 the refusal was written into the panel's body,
// which is not live, and the status line said it ("no answer: ...").
// A panel's alert box names its model in its own text ("trained model: 'E' is not ..."): a screen reader says an
// alert's text, not the heading above it (until 2026-12-06 it said the refusal without which model gave it).
"use strict";

const S = {models: null, results: {}, step: 0, seq: 0};
const MODEL = {compiled: "compiled solver", trained: "trained model"};  // as the status line and the alerts say them
const $ = (id) => document.getElementById(id);

function maxSteps() {
  return Math.max(0, ...Object.values(S.results).filter((r) => r && r.steps).map((r) => r.steps.length));
}

function setStep(k) {
  const n = maxSteps();
  S.step = Math.max(0, Math.min(k, n - 1));  // from 0 here; the URL and the page count from 1
  DL.set({step: S.step + 1});
  $("step-label").textContent = n ? `step ${S.step + 1} of ${n}` : "";
  for (const which of ["compiled", "trained"]) renderPanel(which);
}

// A step taken with the buttons, said by the status line (the panels and the step label are not live: a learner
// stepping by keyboard heard nothing until 2026-12-07): the step, "(the first)" / "(the last)" at either end, and the
// token each model produced at it.
function stepTo(k) {
  setStep(k);
  const n = maxSteps();
  if (!n) return;
  const edge = S.step === 0 ? " (the first)" : S.step === n - 1 ? " (the last)" : "";
  const made = ["compiled", "trained"].filter((w) => S.results[w] && S.results[w].steps).map((w) => {
    const steps = S.results[w].steps;
    return S.step < steps.length ? `${MODEL[w]} produces ${steps[S.step].produced}`
      : `${MODEL[w]} stopped after step ${steps.length}`;
  });
  DL.announce(`step ${S.step + 1} of ${n}${edge}: ${made.join("; ")}`);
}

// A temperature the page did not type (a model's own) to 4 decimals (1.4142), or, too small for them, to 4
// significant digits (DL.decimal: 1.000e-9), never 0, which is argmax's T.
const tText = (x) => (Number(x.toFixed(4)) !== 0 ? String(Number(x.toFixed(4))) : DL.decimal(x));

function strip(tokens, weights, position) {
  const box = DL.el("div", {class: "strip"});
  tokens.slice(0, position + 1).forEach((t, i) => {
    const w = weights[i];
    const bar = DL.el("div", {class: "bar"});
    bar.style.height = Math.round(w * 48) + "px";
    box.append(DL.el("div", {class: "tok" + (i === position ? " query" : ""), title: `weight ${w}`},
      DL.el("span", {class: "w", text: w > 0.0005 ? w.toFixed(3) : ""}), bar, DL.el("span", {class: "t", text: t})));
  });
  return box;
}

function renderPanel(which) {
  const panel = $(which), box = panel.querySelector(".body"), r = S.results[which];
  if (!r) return;  // not decoded yet
  box.textContent = "";
  if (r.error) {  // said by an alert box (decode), not here: a step through the other model's answer says it again
    if (r.shared) box.append(DL.el("p", {class: "note", text: "no answer: the input above is refused"}));
    panel.dataset.state = "error";
    delete panel.dataset.output;
    return;
  }
  const k = Math.min(S.step, r.steps.length - 1), s = r.steps[k];
  const produced = r.steps.slice(0, k + 1).map((x) => x.produced);
  panel.dataset.state = "ready";
  panel.dataset.produced = produced.join(" ");
  panel.dataset.output = r.output.join(" ");
  // T as typed ("1e-9"), else the model's own; at 4 decimals T = 1e-9 read "T = 0", argmax's T, which it is not
  const t = r.temperature === 0 ? "0 (argmax)" : r.typedT === "sqrt" ? `sqrt(d_k) = ${tText(r.temperature)}`
    : r.typedT || tText(r.temperature);
  box.append(DL.el("p", {class: "note", text: r.name + (r.max_len ? ` (trained on up to ${r.max_len} symbol${r.max_len === 1 ? "" : "s"})` : "") +
    `; attention at T = ${t}`}));
  box.append(DL.el("p", {}, `step ${k + 1}: the query `, DL.el("span", {class: "mono", text: s.query}),
    ` (position ${s.position + 1}) attends over the prefix and produces `, DL.el("strong", {class: "mono produced", text: s.produced})));
  s.weights.forEach((row, h) => {
    if (s.weights.length > 1) box.append(DL.el("h3", {text: `attention, layer/head ${h + 1}`}));
    box.append(strip(r.tokens, row, s.position));
  });
  box.append(DL.el("p", {}, "output so far: ", DL.el("span", {class: "out", text: produced.join(" ")})));
  box.append(DL.el("p", {class: "small"}, "full answer: ", DL.el("span", {class: "mono", text: r.output.join(" ") || "(empty)"}), " ",
    DL.el("span", {class: "badge " + (r.correct ? "yes" : "no"), text: r.correct ? "= sorted(set(input))" : "wrong: expected " + r.expected.join(" ")})));
  for (const w of r.warnings) box.append(DL.el("p", {class: "note", text: w}));
}

async function decode() {
  const my = ++S.seq;
  document.body.dataset.state = "busy";
  const seq = $("seq").value.trim(), vocab = $("vocab").value.trim() || "A-D", T = $("temp").value.trim();
  DL.set({seq, vocab: vocab === "A-D" ? null : vocab, T: T || null});
  const q = (model, v) => "/api/sort?" + new URLSearchParams(Object.assign({seq, model}, v ? {vocab: v} : {},
    T ? {temperature: T} : {}));
  const [c, t] = await Promise.all([DL.api("GET", q("compiled", vocab)), DL.api("GET", q("trained", null))]);
  if (my !== S.seq) return;
  S.results.compiled = c.ok ? Object.assign(c.data, {typedT: T}) : {error: DL.message(c.data)};
  S.results.trained = t.ok ? Object.assign(t.data, {typedT: T}) : {error: DL.message(t.data)};
  const both = !c.ok && !t.ok && S.results.compiled.error === S.results.trained.error;
  if (both) S.results.compiled.shared = S.results.trained.shared = true;
  // the URL's step counts from 1, as the page does (step=0, a first step from before 2026-12-07, is the first step);
  // one that is not a whole number in digits (step=abc, 1.5) is passed over: the first step (it read "step NaN of 3"
  // over empty panels, and "step 2.5 of 3")
  const step = DL.get("step", "1").trim();
  setStep(/^[0-9]+$/.test(step) ? Number(step) - 1 : 0);
  document.body.dataset.state = "ready";
  // an error that stands as it was (typing on at T = 0.5) is not written again: an alert box written is said again
  const show = (box, text) => { if (box.textContent !== (text || "")) DL.showError(box, text); };
  show($("error"), both ? S.results.compiled.error : null);
  for (const which of ["compiled", "trained"]) {
    const error = both ? null : S.results[which].error;
    show($(which + "-error"), error && `${MODEL[which]}: ${error}`);
  }
  // after the errors, which empty the status line: the answer each model gave, the compiled solver's first
  const said = (which, d) => `${MODEL[which]}: ${d.output.join(" ") || "(empty)"}`;
  if (c.ok) DL.announce(said("compiled", c.data));
  else if (t.ok) DL.announce(said("trained", t.data));
}

async function init() {
  const m = await DL.api("GET", "/api/sort/models");
  if (!m.ok) { DL.showError($("error"), m.data); return; }
  S.models = m.data;
  $("temp").placeholder = "each model's own";
  $("temp-help").textContent += ` (blank: each model's own, the compiled solver's 0 and the trained model's ` +
    `${tText(S.models.trained.temperature)})`;
  $("vocab").value = DL.get("vocab", "A-D");
  $("temp").value = DL.get("T", "");
  $("seq").value = DL.get("seq", "D A A C B A");
  $("decode").addEventListener("click", () => { DL.set({step: 1}); decode(); });
  $("seq").addEventListener("keydown", (e) => { if (e.key === "Enter") { DL.set({step: 1}); decode(); } });
  // The panels and the URL follow typing, as /geoff does: a reload keeps what was typed.
  const typed = DL.debounce(() => { DL.set({step: 1}); decode(); }, 350);
  for (const id of ["seq", "vocab", "temp"]) {
    $(id).addEventListener("input", () => {
      DL.set({seq: $("seq").value.trim(), vocab: $("vocab").value.trim() === "A-D" ? null : $("vocab").value.trim(),
        T: $("temp").value.trim() || null});
      typed();
    });
  }
  $("first").addEventListener("click", () => stepTo(0));
  $("prev").addEventListener("click", () => stepTo(S.step - 1));
  $("next").addEventListener("click", () => stepTo(S.step + 1));
  $("last").addEventListener("click", () => stepTo(maxSteps() - 1));
  await decode();
}

init();
