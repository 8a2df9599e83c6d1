// /answers: the answer key (GET /api/answers = `dlexam answers --json`, plus exam_answer_text), each answer linked to the page state that
// shows its evidence (GET /api/answers/links). State in the URL: verdict (a filter) and the #question anchor.
"use strict";

const $ = (id) => document.getElementById(id);
const A = {key: null, links: {}};

function show(a) {
  const link = A.links[a.id];
  const parts = [
    DL.el("div", {class: "head"}, DL.el("span", {class: "qid", text: a.id}),
      DL.el("span", {class: "badge " + a.verdict, text: a.verdict}), DL.el("strong", {text: a.question})),
    DL.el("p", {}, DL.el("span", {class: "muted", text: "exam: "}), a.exam_answer_text),
    DL.el("p", {}, DL.el("span", {class: "muted", text: "computed: "}), a.computed),
  ];
  if (a.explanation) parts.push(DL.el("p", {class: "small", text: a.explanation}));
  for (const n of a.notes || []) parts.push(DL.el("p", {class: "note", text: "note: " + n}));
  parts.push(DL.el("p", {class: "small"}, link
    ? [DL.el("a", {href: link.url, class: "evidence", text: `see ${a.id} live`}), " - " + link.shows]
    : DL.el("span", {class: "muted", text: "evidence below (no page draws it)"}),
  a.experiment ? ` · measured at scale by: dlexam experiment ${a.experiment}` : ""));
  parts.push(DL.el("details", {}, DL.el("summary", {text: "evidence (JSON)"}),
    DL.el("pre", {text: JSON.stringify(a.evidence, null, 1)})));
  return DL.el("div", {class: "answer", id: a.id, "data-verdict": a.verdict}, parts);
}

function render() {
  const want = DL.get("verdict", "all");
  const box = $("answers");
  box.textContent = "";
  for (const a of A.key) if (want === "all" || a.verdict === want) box.append(show(a));
  const count = (v) => A.key.filter((a) => a.verdict === v).length;
  // the verdicts in the key (an exam text given with DLEXAM_EXAM may leave answers "unread"), in the command line's
  // order; the usual three always, "partly agrees" where an answer has it
  const usual = ["agrees", "disagrees", "conceptual"];
  const order = ["agrees", "partly agrees", "disagrees", "conceptual"];
  const verdicts = [...new Set([...order, ...A.key.map((a) => a.verdict)])].filter((v) => usual.includes(v) || count(v));
  const words = {agrees: "agree", "partly agrees": "partly agree", disagrees: "disagree",
    unread: "unread (not in the exam text given)"};
  $("status").textContent = `${A.key.length} questions: ` + verdicts.map((v) => `${count(v)} ${words[v] || v}`).join(", ");
  const filters = $("filters");
  filters.textContent = "";
  for (const v of ["all", ...verdicts]) {
    filters.append(DL.el("button", {text: v, class: v === want ? "primary" : "", "aria-pressed": String(v === want), onclick: () => {
      DL.set({verdict: v === "all" ? null : v}); render();
    }}));
  }
  if (location.hash) { const target = document.getElementById(location.hash.slice(1)); if (target) target.scrollIntoView(); }
}

async function init() {
  $("status").textContent = "computing the answer key (a second or two, the first time the server is asked)...";
  const [key, links] = await Promise.all([DL.api("GET", "/api/answers"), DL.api("GET", "/api/answers/links")]);
  if (!key.ok) { $("status").textContent = ""; DL.showError($("error"), key.data); return; }
  A.key = key.data;
  A.links = links.ok ? links.data : {};
  render();
  document.body.dataset.state = "ready";
}

init();
