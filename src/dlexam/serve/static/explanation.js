// Where a number of Geoff's transformer comes from, laid out: an explanation as POST /api/geoff/explain returns it
// (dlexam.geoff.explain: a one-line summary, the arithmetic line by line, the value its arithmetic gives beside the
// model's own). Every number is the server's; here they are only placed. Used by /geoff and /practice.
"use strict";

DL.explanation = function (e) {
  const many = Array.isArray(e.exact);
  const exact = many ? "(" + e.exact.join(", ") + ")" : e.exact;
  const own = many ? "(" + e.value.map(String).join(", ") + ")" : String(e.value);
  return DL.el("div", {class: "explanation", "data-kind": e.kind},
    DL.el("h3", {text: e.title}),
    DL.el("p", {class: "mono explain-summary", text: e.summary}),
    e.lines.length ? DL.el("ul", {class: "plain-list"}, e.lines.map((l) => DL.el("li", {class: "mono", text: l}))) : null,
    DL.el("p", {class: "note"}, "its arithmetic gives ", DL.el("strong", {class: "mono explain-exact", text: exact}),
      e.closed_form ? ` = ${e.closed_form}` : "", "; the model's own float64 value: ",
      DL.el("span", {class: "mono explain-value", text: own})));
};
