// /practice: a fresh exam variant (GET /api/practice: dlexam.variants.practice.sheet), answered in the page and
// checked by the grader of `dlexam grade` (POST /api/practice/check: dlexam.variants.practice.check). A wrong number
// is marked with its right value, the grader's reason, and for Problem 2 the arithmetic of its right value
// (dlexam.geoff.explain, as /geoff shows it). State in the URL: seed, difficulty, solution (1: shown). The answers
// and scores are kept in this browser (localStorage "dlexam.practice"), nothing on the server.
"use strict";

const $ = (id) => document.getElementById(id);
// seq numbers the loads of a variant, checking the checks: a check never drops a variant on its way (the URL would
// name one variant and the page show another), and a variant that arrives drops the checks still on their way (their
// grades are of the variant before). saving: the timer of a pending save of the typed answers. unkept: why the
// browser keeps nothing (null while it stores).
const P = {sheet: null, seq: 0, checking: 0, checks: 0, store: "dlexam.practice", saving: null, unkept: null, pointers: 0};
// Every press of a mouse, pen or finger on the page, counted: one while a check is on its way tells where the student
// now is, also on text that takes no focus (the focus then stays where it was, or on the body, as it was on the body
// before where a clicked button takes none: Safari, Firefox on macOS).
addEventListener("pointerdown", () => { P.pointers++; }, {capture: true, passive: true});

const key = () => `${P.sheet.difficulty}:${P.sheet.seed}`;
const pts = (x) => String(Number(x.toFixed(2)));

function progress() {
  try { return JSON.parse(localStorage.getItem(P.store) || "{}"); } catch (e) { return {}; }
}

// The browser may refuse to store anything (storage disabled: reading localStorage throws) or more (its quota is
// full): the page still checks answers, and says plainly, once and for good, that they will not be kept.
function remember(entry) {
  const all = progress();
  all[key()] = Object.assign(all[key()] || {}, entry, {seed: P.sheet.seed, difficulty: P.sheet.difficulty});
  try {
    localStorage.setItem(P.store, JSON.stringify(all));
  } catch (e) {
    notKept(e);
    return;
  }
  showProgress();
}

function notKept(e) {
  const why = e && e.name === "QuotaExceededError" ? "this browser's storage for this site is full"
    : "this browser does not let the page store anything";
  P.unkept = `your answers and scores will not be kept: ${why}. Checking still works; what you type stays on the ` +
    "page until you reload or leave it";
  $("storage-note").textContent = P.unkept;
  $("storage-note").hidden = false;
  showProgress();
}

// Whether the browser stores at all, asked before the student types (a full store is found at the first save).
function probeStorage() {
  try {
    localStorage.setItem(P.store + ".probe", "1");
    localStorage.removeItem(P.store + ".probe");
  } catch (e) {
    notKept(e);
  }
}

// The typed answers are saved once the typing pauses (300 ms), and at once before the page or the variant goes.
function saveNow() {
  if (P.saving === null) return;
  clearTimeout(P.saving);
  P.saving = null;
  if (P.sheet) remember({answers: typed(true)});
}

function saveSoon() {
  clearTimeout(P.saving);
  P.saving = setTimeout(saveNow, 300);
}

function randomSeed() {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0] % 1000000;
}

// ---- the sheet -----------------------------------------------------------------------------------------------

function block(b) {
  if (b.kind === "text") return DL.el("p", {text: b.text});
  if (b.kind === "items") return DL.el("ul", {}, b.items.map((t) => DL.el("li", {class: "mono small", text: t})));
  if (b.kind === "options") return DL.el("div", {}, b.label ? DL.el("p", {text: b.label}) : null,
    DL.el("ol", {}, b.options.map((t) => DL.el("li", {text: t}))));
  const head = b.header;  // every table comes with its column labels (variants.model.Table: c1, c2, ... for a bare matrix)
  const table = DL.el("table", {class: "matrix"},
    DL.el("tr", {}, b.row_labels.length ? DL.el("td", {class: "corner"}) : null, head.map((h) => DL.el("th", {scope: "col", text: h}))),
    b.rows.map((r, i) => DL.el("tr", {}, b.row_labels.length ? DL.el("th", {scope: "row", text: b.row_labels[i]}) : null,
      r.map((v) => DL.el("td", {text: v})))));
  return DL.el("figure", {class: "mat"}, DL.el("figcaption", {text: b.caption}), DL.el("div", {class: "scroll"}, table));
}

function input(f, label, extra) {
  return DL.el("input", Object.assign({type: "text", spellcheck: "false", autocomplete: "off", class: "mono answer-in",
    "aria-label": label, "data-field": f.id}, extra || {}));
}

function fieldInput(f, q) {
  const tag = `${f.id} (${pts(f.points)} pt)`;
  if (f.kind === "matrix") {
    const cols = f.col_labels.length ? f.col_labels : Array.from({length: f.cols}, (_, j) => `c${j + 1}`);
    const rows = f.row_labels.length ? f.row_labels : Array.from({length: f.rows}, (_, i) => String(i + 1));
    const table = DL.el("table", {class: "editor answer-matrix", id: "in-" + f.id},
      DL.el("tr", {}, DL.el("td", {class: "corner"}), cols.map((c) => DL.el("th", {scope: "col", text: c}))),
      rows.map((r, i) => DL.el("tr", {}, DL.el("th", {scope: "row", text: r}),
        cols.map((c, j) => DL.el("td", {}, input(f, `${f.id} row ${r}, column ${c}`, {"data-i": i, "data-j": j, size: 5}))))));
    return [DL.el("p", {class: "small", text: `${tag}: ${f.label}`}), DL.el("div", {class: "scroll"}, table)];
  }
  if (f.kind === "number") {
    const note = f.tolerance ? ` (to 4 decimals: within ${f.tolerance})` : "";
    return [DL.el("label", {}, `${tag}: ${f.label}${note} `, input(f, null, {size: 12, id: "in-" + f.id}))];
  }
  if (f.kind === "choice") {
    const opts = f.options.map((o, k) => DL.el("label", {class: "choice"},
      DL.el("input", {type: "radio", name: f.id, value: String(k + 1), "data-field": f.id}), ` ${k + 1}. ${o}`));
    return [DL.el("fieldset", {class: "choices", id: "in-" + f.id}, DL.el("legend", {text: `${tag}: ${f.label}`}), opts)];
  }
  return [DL.el("label", {class: "block", for: "in-" + f.id, text: `${tag}: ${f.label} (graded by a person, not checked here; the solution has a model answer)`}),
    DL.el("textarea", {id: "in-" + f.id, rows: 3, class: "essay", "data-field": f.id})];
}

function question(q) {
  const choices = q.fields.some((f) => f.kind === "choice");
  const prompt = q.prompt.filter((b) => !(choices && b.kind === "options")).map(block);  // the radios show them
  return DL.el("article", {class: "question", id: q.id},
    DL.el("h3", {text: `${q.id} ${q.title} (${q.points} points)`}), prompt,
    q.fields.map((f) => DL.el("div", {class: "field", id: "field-" + f.id}, fieldInput(f, q),
      DL.el("div", {class: "feedback", id: "fb-" + f.id}))),
    DL.el("div", {class: "solution", hidden: !solutionShown()}, DL.el("h4", {text: "worked solution"}), q.solution.map(block)));
}

function render(s) {
  const box = $("sheet");
  box.textContent = "";
  for (const part of s.parts) {
    box.append(DL.el("section", {class: "panel wide part", "aria-label": part.name},
      DL.el("h2", {text: part.name}), part.context.map(block), part.questions.map(question)));
  }
  $("seed-label").textContent = `${s.seed} (${s.difficulty})`;
  $("title").textContent = `Practice: dlexam variant ${s.seed}`;
  document.title = `Practice: variant ${s.seed} - dlexam`;
}

// ---- answers -------------------------------------------------------------------------------------------------

// What the student typed: answer id -> answer (matrices as rows of text, "" for an empty cell; numbers as text;
// choices as option numbers). With `all`, the essays too (kept in the browser; the server does not grade them).
function typed(all) {
  const out = {};
  for (const part of P.sheet.parts) for (const q of part.questions) for (const f of q.fields) {
    if (f.kind === "matrix") {
      const rows = Array.from({length: f.rows}, () => Array(f.cols).fill(""));
      for (const el of document.querySelectorAll(`#in-${CSS.escape(f.id)} input`)) rows[el.dataset.i][el.dataset.j] = el.value.trim();
      if (rows.some((r) => r.some((v) => v !== ""))) out[f.id] = rows;
    } else if (f.kind === "choice") {
      const on = document.querySelector(`input[name="${CSS.escape(f.id)}"]:checked`);
      if (on) out[f.id] = Number(on.value);
    } else {
      const v = $("in-" + f.id).value.trim();
      if (v !== "" && (all || f.kind !== "essay")) out[f.id] = v;
    }
  }
  return out;
}

function restore(answers) {
  for (const [id, v] of Object.entries(answers || {})) {
    if (Array.isArray(v)) {
      for (const el of document.querySelectorAll(`#in-${CSS.escape(id)} input`)) el.value = (v[el.dataset.i] || [])[el.dataset.j] || "";
    } else if (typeof v === "number") {
      const r = document.querySelector(`input[name="${CSS.escape(id)}"][value="${v}"]`);
      if (r) r.checked = true;
    } else if ($("in-" + id)) {
      $("in-" + id).value = v;
    }
  }
}

function unmark() {
  for (const el of document.querySelectorAll("#sheet .wrong, #sheet .right")) el.classList.remove("wrong", "right");
  for (const el of document.querySelectorAll("#sheet [aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of document.querySelectorAll("#sheet [title^='right: ']")) el.removeAttribute("title");  // a mark's
  for (const el of document.querySelectorAll("#sheet .feedback")) el.textContent = "";
  $("result").hidden = true;  // a result is that of the marks shown
}

// One wrong cell or value: what was written, the right value, why; for Problem 2 the arithmetic of the right value.
// A wrong choice's reason is about the option chosen: each reason says which option it is about.
// Under a whole answer's mistake (`mistake`, said once above the list) a cell says only what it adds (`cell`), as
// `dlexam grade` does: each cell's `reason` begins with the mistake, and repeated it read once a cell.
function wrongItem(w, open, named) {
  const why = DL.el("div", {class: "why"});
  const reason = w.option === undefined ? (named && "cell" in w ? w.cell : w.reason) : [[w.option, w.option_why], [w.answer, w.right_why]]
    .filter(([, r]) => r).map(([k, r]) => `option ${k}: ${r}`).join("; ");
  const item = DL.el("li", {}, DL.el("span", {text: `${w.where}: you wrote ${w.given || "nothing"}; right: `}),
    DL.el("strong", {class: "mono expected", text: w.expected}), reason ? DL.el("span", {class: "small", text: ` - ${reason}`}) : null, why);
  if (w.explanation) {
    const button = DL.el("button", {class: "small", "aria-expanded": "false", text: "where it comes from"});
    button.addEventListener("click", () => {
      const shown = button.getAttribute("aria-expanded") === "true";
      why.replaceChildren(...(shown ? [] : [DL.explanation(w.explanation)]));
      button.setAttribute("aria-expanded", String(!shown));
    });
    item.insertBefore(button, why);
    if (open) button.click();
  }
  return item;
}

// A field's feedback, in its own box under the answer: the badge, the grader's notes (a right answer's too: rows
// given beyond those asked), a whole answer's mistake once, then each wrong cell or value.
function mark(g) {
  unmark();
  for (const r of g.fields) {
    const fb = $("fb-" + r.id);
    if (!fb) continue;
    $("field-" + r.id).classList.add(r.correct ? "right" : "wrong");
    const notes = (r.notes || []).map((n) => DL.el("p", {class: "note grade-note", text: `note: ${n}`}));
    if (r.correct) { fb.append(DL.el("span", {class: "badge yes", text: `right: ${pts(r.points)} of ${pts(r.max_points)} pt`}), ...notes); continue; }
    if (g.missing.includes(r.id)) { fb.append(DL.el("span", {class: "badge no", text: `not answered: 0 of ${pts(r.max_points)} pt`}), ...notes); continue; }
    for (const w of r.wrong) {
      const cell = w.at ? document.querySelector(`#in-${CSS.escape(r.id)} input[data-i="${w.at[0]}"][data-j="${w.at[1]}"]`) : $("in-" + r.id);
      if (cell) { cell.classList.add("wrong"); cell.setAttribute("aria-invalid", "true"); cell.title = `right: ${w.expected}`; }
    }
    const cells = r.wrong.filter((w) => "cell" in w).length;
    const named = r.mistake && cells ? DL.el("p", {class: "mistake", text: `${r.mistake} (` +
      (cells === r.wrong.length ? `all ${cells} wrong` : `${cells} of the ${r.wrong.length} wrong`) + ` ${cells === 1 ? "cell" : "cells"})`}) : null;
    fb.append(DL.el("span", {class: "badge no", text: `${pts(r.points)} of ${pts(r.max_points)} pt`}), ...notes, ...(named ? [named] : []),
      DL.el("ul", {class: "wrong-list"}, r.wrong.map((w, k) => wrongItem(w, k === 0, Boolean(named)))));
  }
}

async function check() {
  if (!P.sheet) return;  // no variant on the page (yet)
  const my = ++P.checking;
  const from = document.activeElement, pointers = P.pointers;  // where the student was: the result takes the focus
  // only from there, and only if the student has clicked nowhere since
  document.body.dataset.state = "busy";
  DL.showError($("error"), null);
  const answers = typed(false);
  if (!Object.keys(answers).length) {  // nothing the grader checks: said here (the API's refusal speaks of JSON)
    const why = "nothing to check: no answer filled in" + (Object.keys(typed(true)).length
      ? " but the written ones, which are graded by a person, not checked here" : "");
    unmark();
    DL.showError($("error"), why);
    document.body.dataset.state = "error";
    return;
  }
  const r = await DL.api("POST", "/api/practice/check", {seed: P.sheet.seed, difficulty: P.sheet.difficulty, answers});
  if (my !== P.checking) return;
  if (!r.ok) {
    unmark();
    DL.showError($("error"), r.data);
    document.body.dataset.state = "error";
    return;
  }
  const g = r.data;
  mark(g);
  const manual = g.manual_points ? `; ${pts(g.manual_points)} more for the written answers, graded by a person` : "";
  remember({answers: typed(true), score: g.score, max_score: g.max_score, checked: new Date().toISOString()});
  showResult(g, `score ${pts(g.score)} of ${pts(g.max_score)} (exactly ${g.score_exact})${manual}` +
    (P.unkept ? "; not kept: this browser refuses to store it" : ""), from, pointers);
  document.body.dataset.checked = String(++P.checks);
  document.body.dataset.state = "ready";
}

// The result of a check, above the sheet: the score, and how many answers were right, wrong and not answered. The
// keyboard focus moves to it (tabindex -1; its accessible name is the result itself), so a keyboard or screen reader
// user lands on it, where the focus was when "check" (or Enter) was pressed: not when the student has gone on to
// another field or control while the answer was on its way, nor clicked anywhere meanwhile (text that takes no focus
// too: the focus falls to the body, which until 2026-12-06 counted as "still there", and the page scrolled away from
// what the student had clicked to read). The focus speaks it, so the status line (aria-live) does not say it again;
// where the focus stays, the status line says it.
function showResult(g, score, from, pointers) {
  const wrong = g.fields.filter((r) => !r.correct && !g.missing.includes(r.id)).length;
  const right = g.fields.filter((r) => r.correct).length;
  $("result-score").textContent = score + ";";  // two clauses: "graded by a person 0 of 7 answers right" read as one
  $("result-count").textContent = `${right} of ${g.fields.length} answers right, ${wrong} wrong, ` +
    `${g.missing.length} not answered` + (wrong ? ": the wrong ones are marked below" : "");
  $("result").hidden = false;
  if (document.activeElement === from && P.pointers === pointers) {
    DL.announce("");
    $("result").focus();
  } else {
    DL.announce(score);
  }
}

// ---- solution, progress, loading ---------------------------------------------------------------------------------

function solutionShown() {
  return DL.get("solution", "0") === "1";
}

function showSolution(on) {
  DL.set({solution: on ? 1 : null});
  $("solution").setAttribute("aria-pressed", String(on));
  $("solution").textContent = on ? "hide solution" : "show solution";
  for (const el of document.querySelectorAll(".solution")) el.hidden = !on;
}

function showProgress() {
  const all = Object.values(progress()).sort((a, b) => (b.checked || "").localeCompare(a.checked || ""));
  const box = $("progress");
  box.textContent = "";
  if (P.unkept) { box.append(DL.el("p", {class: "note", text: P.unkept})); return; }
  if (!all.length) { box.append(DL.el("p", {class: "note", text: "nothing yet: your answers are kept here as you type"})); return; }
  box.append(DL.el("div", {class: "scroll"}, DL.el("table", {class: "plain", id: "progress-table"},
    DL.el("tr", {}, ["variant", "last score", "checked"].map((t) => DL.el("th", {scope: "col", text: t}))),
    all.map((e) => DL.el("tr", {},
      DL.el("td", {}, DL.el("a", {href: `/practice?seed=${e.seed}&difficulty=${e.difficulty}`, text: `${e.seed} (${e.difficulty})`})),
      DL.el("td", {class: "mono", text: e.max_score ? `${pts(e.score)} / ${pts(e.max_score)}` : "not checked"}),
      DL.el("td", {class: "small", text: e.checked ? e.checked.slice(0, 16).replace("T", " ") : ""}))))));
}

async function load() {
  saveNow();  // what was typed into the variant on the page last, before another one replaces it
  $("result").hidden = true;  // the last check's result is another variant's (or this one's, before a reload)
  let seed = DL.get("seed", null);
  if (seed === null) { seed = String(randomSeed()); DL.set({seed}); }
  const difficulty = DL.get("difficulty", "standard");
  $("difficulty").value = difficulty;
  const my = ++P.seq;
  document.body.dataset.state = "busy";
  DL.announce(`drawing variant ${seed}...`);
  const r = await DL.api("GET", "/api/practice?" + new URLSearchParams({seed, difficulty}));
  if (my !== P.seq) return;
  P.checking++;
  if (!r.ok) {
    P.sheet = null;  // its questions leave the page: check, clear and typing must not touch its saved answers
    $("sheet").textContent = "";
    DL.showError($("error"), r.data);
    document.body.dataset.state = "error";
    return;
  }
  DL.showError($("error"), null);
  P.sheet = r.data;
  // the seed as the URL's digits, which the server took: seeds go to 2^63 - 1 and JSON.parse rounds the sheet's
  // number past 2^53 (2^53 + 1 read as 2^53 was checked, kept and named as that other variant)
  P.sheet.seed = String(BigInt(seed.trim()));
  render(r.data);
  const saved = progress()[key()];
  restore(saved && saved.answers);
  showSolution(solutionShown());
  showProgress();
  DL.scrollables();
  DL.announce(`variant ${P.sheet.seed} (${P.sheet.difficulty}): ${P.sheet.points} points, ${pts(P.sheet.max_score)} checked here` +
    (saved && saved.max_score ? `; last checked: ${pts(saved.score)} of ${pts(saved.max_score)}` : ""));
  document.body.dataset.state = "ready";
}

function setup() {
  probeStorage();
  $("check").addEventListener("click", check);
  // Enter in a one-line answer or on a choice's radio button checks the sheet, as in a form (an essay's Enter is a
  // new line); on a radio it checks without choosing it, as a form's implicit submission does
  $("sheet").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.isComposing && e.target.matches("input[type=text], input[type=radio]")) {
      e.preventDefault();
      check();
    }
  });
  $("sheet").addEventListener("input", saveSoon);
  addEventListener("pagehide", saveNow);  // a reload or a link followed within the pause still keeps the last keys
  $("new").addEventListener("click", () => { DL.push({seed: randomSeed(), solution: null}, null); load(); });
  $("difficulty").addEventListener("change", () => { DL.push({difficulty: $("difficulty").value === "standard" ? null : $("difficulty").value}, null); load(); });
  $("solution").addEventListener("click", () => showSolution($("solution").getAttribute("aria-pressed") !== "true"));
  $("clear").addEventListener("click", () => {
    if (!P.sheet) return;  // no variant on the page: nothing of the student's to clear
    // asked first where there is something to lose: one click beside "check" (below it on a phone) wiped every answer,
    // essays too, with no way back (2026-12-07)
    const n = [...document.querySelectorAll("#sheet input[type=text], #sheet textarea")].filter((el) => el.value.trim())
      .length + document.querySelectorAll("#sheet input[type=radio]:checked").length;
    if (n && !confirm(`Clear your ${n} answer${n === 1 ? "" : "s"} to variant ${P.sheet.seed} (${P.sheet.difficulty})? ` +
      "They cannot be brought back.")) return;
    for (const el of document.querySelectorAll("#sheet input[type=text], #sheet textarea")) el.value = "";
    for (const el of document.querySelectorAll("#sheet input[type=radio]")) el.checked = false;
    unmark();
    remember({answers: {}});
    DL.announce("your answers to this variant are cleared");
  });
  addEventListener("popstate", load);
}

setup();
load();
