// /geoff's "where a number comes from": click any number of a matrix, the loss or a gradient (or type its cell) and
// the panel shows its arithmetic from POST /api/geoff/explain (dlexam.geoff.explain), with the cells it came from
// lit up. State in the URL: explain = the cell ("P[3,0]", "Z[h2,6,:]", "loss[4]", "dW_V[0,1]": geoff.cells' names).
// An open explanation is asked again whenever the numbers change, and leaves with them when an input is refused.
// A cell is explained on the page's model, except the numbers of Problem 2.4's one-head model shown beside k heads
// (its R, its losses): those carry their head count, 1, as /practice's cells do (dlexam.variants.problem2.geoff_cell),
// and are asked of the one-head model on the same weights, T and input (URL: explainHeads=1 beside explain).
// Problem 2.5's norms are cells too (norm[W_Q,T=0]: a row of the table is explained on the model at its T), and so are
// a gradient step's results (change[W_V], step_norm[W_V], loss_before, loss_after): those are asked with the step's own
// request (the weights before it, its lr and matrices: G.stepBody), and leave when the step's table does (not in the
// URL: a reload has no step).
// Uses G (the page's state), $ and body() of geoff.js.
"use strict";

const Cells = {
  cell: null, heads: null, seq: 0,  // heads: null = the page's model; 1 = the one-head model beside k heads
  step: null,  // the step request whose result is explained (null: a number of the page's model)
  AREAS: ["matrices", "loss", "heads", "grads", "step-result"],

  setup() {
    for (const id of Cells.AREAS) {
      $(id).addEventListener("click", (e) => {
        const cell = Cells.nameOf(e.target);
        if (!cell) return;
        const td = e.target.closest("td[data-cell]");
        if (td) Cells.rove(td);  // the keyboard goes on from the number clicked
        Cells.open(cell, Cells.headsOf(e.target), e.target.closest("section"), Cells.ofStep(e.target));
      });
      $(id).addEventListener("keydown", (e) => Cells.key(e));
    }
    $("explain-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const cell = $("explain-cell").value.trim();
      if (cell) Cells.open(cell, null, null);  // a typed cell is the page's model's
    });
    Cells.cell = DL.get("explain", null);
    Cells.heads = Cells.cell && DL.get("explainHeads", null) === "1" ? 1 : null;
    if (Cells.cell) $("explain-cell").value = Cells.cell;
  },

  rows(table) {
    return [...table.rows].filter((r) => r.querySelector("td:not(.corner)"));
  },

  // The cell a click landed on: its table's id names the matrix (and head), the row and column give the indices.
  nameOf(target) {
    if (target.closest("[data-cell='sqrt_d_k']")) return "sqrt_d_k";  // T = sqrt(d_k) in P's caption
    if (target.closest("#loss-teacher_forcing, #loss-exam")) return "loss";
    if (target.closest("#loss-before")) return "loss_before";
    if (target.closest("#loss-after")) return "loss_after";
    const td = target.closest("td:not(.corner)"), table = td && td.closest("table");
    if (!table) return null;
    const i = Cells.rows(table).indexOf(td.parentElement), j = [...td.parentElement.querySelectorAll("td:not(.corner)")].indexOf(td);
    const head = (h) => (G.heads > 1 ? `h${Number(h) + 1},` : "");
    let m;
    if ((m = /^(Q|K|V|scores|P|Z)-h(\d+)$/.exec(table.id))) return `${m[1] === "scores" ? "S" : m[1]}[${head(m[2])}${i},${j}]`;
    if (["X", "R", "R-one", "R-two", "logits"].includes(table.id)) return `${table.id.startsWith("R") ? "R" : table.id}[${i},${j}]`;
    if ((m = /^grad-(E|W_Q|W_K|W_V|W_O|multi_W_O)(?:-h(\d+))?$/.exec(table.id))) {
      const name = {E: "dE", W_O: "dW_O", multi_W_O: "dW_O"}[m[1]] || "d" + m[1];
      return `${name}[${m[2] === undefined ? "" : `h${Number(m[2]) + 1},`}${i},${j}]`;
    }
    if (/^probs-/.test(table.id)) return `loss[${G.tokens.indexOf("<START>") + 1 + i}]`;
    if (table.id === "heads-losses") return "loss";  // a row per convention; the whole loss explains both
    if (table.id === "grad-norms") {  // Problem 2.5's table: a row per T (none: the page's own T)
      const t = td.parentElement.dataset.t;
      return `norm[${td.dataset.param}${t ? ",T=" + t : ""}]`;
    }
    if (table.id === "step-moved") {
      const m = td.parentElement.dataset.matrix;
      return td.classList.contains("change") ? `change[${m}]` : td.classList.contains("gnorm") ? `step_norm[${m}]` : null;
    }
    return null;
  },

  // Whether a number is a result of the last gradient step (explained with that step's request).
  ofStep(target) {
    return Boolean(target.closest("#step-result"));
  },

  // The head count of the model a number belongs to: 1 for the one-head model's R and losses beside k heads
  // (Problem 2.4), null for the page's own model.
  headsOf(target) {
    const td = target.closest("td");
    if (!td) return null;
    if (td.closest("#R-one")) return 1;
    const losses = td.closest("#heads-losses");
    return losses && [...td.parentElement.querySelectorAll("td")].indexOf(td) === 0 ? 1 : null;
  },

  // The keyboard reaches every number the mouse does. Each table of numbers is one Tab stop, an ARIA grid with a
  // roving tabindex: the arrow keys move between its numbers (Home/End: a row's ends; Ctrl+Home/End: the corners),
  // Enter or Space explains the focused one. Each number is named by its matrix, row and column ("P head 1, row 4
  // <START>, column 1 D: 1/4"); a loss is a button. Run after every render (the tables are new each time).
  keys() {
    const names = {"grad-norms": "gradient norms (Problem 2.5)", "step-moved": "the gradient step's results"};
    for (const id of Cells.AREAS) {
      for (const table of $(id).querySelectorAll("table")) {
        const probs = /^probs-/.test(table.id);
        let first = null;
        for (const td of table.querySelectorAll(probs || table.id === "step-moved" ? "td.num" : "td:not(.corner)")) {
          const cell = Cells.nameOf(td);
          if (!cell) break;  // a table that names none of its numbers
          td.dataset.cell = cell;
          td.tabIndex = first ? -1 : 0;
          td.setAttribute("aria-label", Cells.spoken(td, cell, table));
          first = first || td;
        }
        if (!first) continue;
        table.setAttribute("role", "grid");
        const caption = document.getElementById(table.id + "-caption");
        if (caption) table.setAttribute("aria-labelledby", caption.id);
        else if (probs) table.setAttribute("aria-label", "loss terms, " + G.defaults.convention_words[table.id.slice(6)].short);
        else if (names[table.id]) table.setAttribute("aria-label", names[table.id]);
      }
    }
    for (const [id, cell, words] of [["loss-before", "loss_before", "loss before the gradient step"],
      ["loss-after", "loss_after", "loss after the gradient step"]]) {
      const loss = $(id);
      if (!loss) continue;
      loss.dataset.cell = cell;
      loss.tabIndex = 0;
      loss.setAttribute("role", "button");
      loss.setAttribute("aria-label", `${words}: ${loss.textContent}`);
    }
    for (const scale of $("matrices").querySelectorAll("[data-cell='sqrt_d_k']")) {  // T = sqrt(d_k), P's caption
      scale.tabIndex = 0;
      scale.setAttribute("role", "button");
      scale.setAttribute("aria-label", `sqrt(d_k), the temperature of P: ${scale.textContent}`);
    }
    for (const conv of G.defaults.conventions) {
      const loss = $("loss-" + conv);
      if (!loss) continue;
      Object.assign(loss.dataset, {cell: "loss"});
      loss.tabIndex = 0;
      loss.setAttribute("role", "button");
      loss.setAttribute("aria-label", `loss, ${G.defaults.convention_words[conv].short}: ${loss.textContent}`);
    }
  },

  // An index of a grid in the words the library names it by (dlexam.geoff.cells, Space.label, the explanations'
  // titles): its label alone, as a weight cell is named (dlexam.geoff.weights.cell_words: "E, row <START>, column B"),
  // and where that label heads more than one row or column (a token at several positions) with its position counted
  // from 1, "A (position 3)"; without labels, its number counted from 1.
  word(labels, i) {
    if (!labels[i]) return String(i + 1);
    return labels.filter((l) => l === labels[i]).length > 1 ? `${labels[i]} (position ${i + 1})` : labels[i];
  },

  // A number's accessible name: which matrix (and head), row and column (as the weight cells and the explanations
  // name them: Cells.word), and the number as shown: "P, row <START>, column D (position 1): 1/4". It said "P, row 4
  // <START>, column 1 D" until 2026-12-07, where a weight cell said "E, row <START>, column B".
  spoken(td, cell, table) {
    const tr = td.parentElement, tds = [...tr.querySelectorAll("td:not(.corner)")];
    if (/^probs-/.test(table.id)) {
      return `${G.defaults.convention_words[table.id.slice(6)].short} loss term: target ${tds[0].textContent}, scored by ` +
        `${tds[1].textContent}, P(target) ${td.textContent}`;
    }
    const header = table.rows[0].querySelector("td:not(.corner)") ? [] : [...table.rows[0].querySelectorAll("th")];
    const rowLabel = tr.querySelector("th"), j = tds.indexOf(td), i = Cells.rows(table).indexOf(tr);
    if (table.id === "grad-norms") return `gradient norm, |d loss / d ${td.dataset.param}| at ${rowLabel.textContent}: ${td.textContent}`;
    if (table.id === "step-moved") {
      const m = tr.dataset.matrix;
      return td.classList.contains("change") ? `max |change| of ${m} in the gradient step: ${td.textContent}`
        : `|gradient| the gradient step applies to ${m}: ${td.textContent}`;
    }
    if (table.id === "heads-losses") return `loss, ${rowLabel.textContent}, ${header[j + 1].textContent}: ${td.textContent}`;
    const [, name, head] = /^(\w+)\[(?:h(\d+),)?/.exec(cell);
    const model = {"R-one": ", one head", "R-two": `, ${G.heads} heads`}[table.id] || "";  // Problem 2.4's two Rs
    const rowLabels = Cells.rows(table).map((r) => (r.querySelector("th") || {}).textContent);
    const colLabels = header.map((th) => th.textContent);
    return `${name}${head ? " of head " + head : ""}${model}, row ${Cells.word(rowLabels, i)}, ` +
      `column ${Cells.word(colLabels, j)}: ${td.textContent}` + (td.classList.contains("masked") ? " (masked: the future)" : "");
  },

  key(e) {
    const el = e.target;
    if (!el.dataset || !el.dataset.cell || e.altKey || e.metaKey) return;
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();  // Space would scroll the page
      Cells.open(el.dataset.cell, Cells.headsOf(el), el.closest("section"), Cells.ofStep(el));
      return;
    }
    if (el.tagName !== "TD") return;
    const grid = Cells.rows(el.closest("table")).map((tr) => [...tr.querySelectorAll("td[data-cell]")]).filter((r) => r.length);
    let i = grid.findIndex((r) => r.includes(el)), j = grid[i].indexOf(el);
    const last = (r) => grid[r].length - 1;
    switch (e.key) {
      case "ArrowRight": j++; break;
      case "ArrowLeft": j--; break;
      case "ArrowDown": i++; break;
      case "ArrowUp": i--; break;
      case "Home": if (e.ctrlKey) i = 0; j = 0; break;
      case "End": if (e.ctrlKey) i = grid.length - 1; j = Infinity; break;
      default: return;
    }
    e.preventDefault();
    i = Math.max(0, Math.min(grid.length - 1, i));
    Cells.rove(grid[i][Math.max(0, Math.min(last(i), j))]).focus();
  },

  // `td` becomes its grid's one Tab stop.
  rove(td) {
    for (const other of td.closest("table").querySelectorAll("td[tabindex='0']")) other.tabIndex = -1;
    td.tabIndex = 0;
    return td;
  },

  // Explain `cell` of the model with `heads` heads (null: the page's), beside `from` (the section clicked in).
  // `step`: a result of the last gradient step, asked with its request (G.stepBody), kept out of the URL.
  async open(cell, heads, from, step = false) {
    Cells.cell = cell;
    Cells.heads = heads;
    Cells.step = step ? G.stepBody : null;
    $("explain-cell").value = cell;
    DL.set(step ? {explain: null, explainHeads: null} : {explain: cell, explainHeads: heads});
    if (from && from.id !== "explain-panel") from.after($("explain-panel"));  // next to the number clicked
    await Cells.fetch(true);
  },

  async refresh() {
    if (Cells.cell) await Cells.fetch(false);
  },

  // The step's table left the page (an input changed, undo): so does an explanation of its numbers.
  stepGone() {
    if (!Cells.step) return;
    Cells.step = null;
    Cells.cell = null;
    Cells.withdraw();
  },

  async fetch(userAsked) {
    const my = ++Cells.seq;
    const r = await DL.api("POST", "/api/geoff/explain", Cells.step ? Object.assign({}, Cells.step, {cell: Cells.cell})
      : body(Cells.heads === null ? {cell: Cells.cell} : {cell: Cells.cell, heads: Cells.heads}));
    if (my !== Cells.seq) return;
    Cells.unmark();
    if (!r.ok) {
      DL.showError($("explain-error"), r.data);
      Cells.clear();
      return;
    }
    DL.showError($("explain-error"), null);
    const e = r.data, other = e.heads !== G.heads;
    const note = (text) => DL.el("p", {class: "note", id: "explain-model", text});
    $("explain").replaceChildren(...(other ? [note("explained on one head (R = Z W_O), the model Problem 2.4 " +
      `compares the ${G.heads} heads with: the same weights, T and input`)] : []),
    ...(Cells.step ? [note(`explained on the weights before the gradient step (lr ${e.lr === undefined ? Cells.step.lr : e.lr}), ` +
      "whose results these are: the page now shows the weights after it")] : []),
    DL.explanation(e));
    Object.assign($("explain-panel").dataset, {cell: e.cell, heads: e.heads});
    Cells.mark(r.data);
    DL.scrollables();
    if (userAsked) {
      DL.announce(r.data.summary);
      $("explain-panel").scrollIntoView({block: "nearest"});
    }
  },

  // Every number of the last input left the page: so does its explanation (asked again once the input is valid).
  withdraw() {
    Cells.seq++;
    Cells.unmark();
    DL.showError($("explain-error"), null);
    Cells.clear();
  },

  clear() {
    $("explain").textContent = "";
    $("explain-panel").removeAttribute("data-cell");
    $("explain-panel").removeAttribute("data-heads");
  },

  table(matrix, head) {
    const h = head === null || head === undefined ? 0 : head;
    const ids = {X: "X", Q: `Q-h${h}`, K: `K-h${h}`, V: `V-h${h}`, S: `scores-h${h}`, P: `P-h${h}`, Z: `Z-h${h}`,
      R: "R", logits: "logits"};
    if (ids[matrix]) return document.getElementById(ids[matrix]);
    // a weight: its editor; a head's own W_Q, W_K, W_V (a variant's k heads) that head's editor (edit-W_Q-h1)
    return (head !== null && head !== undefined && document.getElementById(`edit-${matrix}-h${head}`)) ||
      document.getElementById("edit-" + matrix);
  },

  at(table, i, j) {
    const row = table && Cells.rows(table)[i];
    return row ? (j === null ? [...row.querySelectorAll("td:not(.corner)")] : [row.querySelectorAll("td:not(.corner)")[j]])
      .filter(Boolean) : [];
  },

  // Column j of a table's numbers (none where the table is not on the page).
  column(table, j) {
    return table ? Cells.rows(table).map((r) => r.querySelectorAll("td:not(.corner)")[j]).filter(Boolean) : [];
  },

  // The clicked cell (red) and the cells it came from (blue). The one-head model beside k heads has only its R and
  // its losses on the page (not its Z, nor W_O's editor): only the number explained is outlined.
  mark(e) {
    if (["norm", "change", "step_norm", "step_loss"].includes(e.kind)) { Cells.markProblem25(e); return; }
    const own = e.heads === G.heads, one = !own && e.heads === 1;
    for (const s of own ? e.sources : []) {
      const t = Cells.table(s.matrix, s.head);
      for (const [i, j] of s.cells) Cells.at(t, i, j).forEach((td) => td.classList.add("source"));
    }
    let picked = [];
    if (e.kind === "scale") {  // sqrt(d_k): in every head's P caption (at T = sqrt(d_k)); its source, W_Q's editor
      picked = [...$("matrices").querySelectorAll("[data-cell='sqrt_d_k']")];
    } else if (e.kind === "loss") {  // the whole loss: the page's (and its column beside one head's), or one head's
      picked = own ? [$("loss-teacher_forcing"), $("loss-exam")].filter(Boolean) : [];
      if (own || one) picked.push(...Cells.column($("heads-losses"), own ? 1 : 0));
    } else if (!own) {
      if (one && e.matrix === "R") picked = Cells.at($("R-one"), e.row, e.col);
    } else if (e.kind === "gradient") {
      const name = {dE: "E", dW_O: G.heads > 1 ? "multi_W_O" : "W_O"}[e.matrix] || e.matrix.slice(1);
      picked = Cells.at($(`grad-${name}` + (e.head === null ? "" : `-h${e.head}`)), e.row, e.col);
    } else if (e.kind === "loss_term") {
      const k = e.row - G.tokens.indexOf("<START>") - 1;
      for (const conv of ["teacher_forcing", "exam"]) picked.push(...Cells.at($("probs-" + conv), k, null));
    } else {
      picked = Cells.at(Cells.table(e.matrix, e.head), e.row, e.col);
      if (e.matrix === "R") picked.push(...Cells.at($("R-two"), e.row, e.col));  // also beside one head's
    }
    picked.forEach((el) => el.classList.add("picked"));
  },

  // A norm or a step's result: the number clicked (found by its name, in the step's table or Problem 2.5's; a norm
  // of Problem 2.5's table also by its matrix and the T its explanation ran at, however it was typed: norm[W_Q,T=0.5]
  // is the page's own row at T = 0.5, norm[W_Q] the row T = 0 or sqrt(d_k) on a page at that T), and for a norm at
  // the page's own T (not of a step: its weights are no longer on the page) the gradient it came from.
  markProblem25(e) {
    const area = $(Cells.step ? "step-result" : "grads");
    const same = (el) => el.dataset.cell === e.cell || (!Cells.step && e.kind === "norm" &&
      el.dataset.param === e.parameter && Number(el.parentElement.dataset.tvalue) === e.temperature);
    for (const el of area.querySelectorAll("[data-cell]")) if (same(el)) el.classList.add("picked");
    if (Cells.step || e.kind !== "norm" || e.temperature !== G.temperature) return;
    for (const s of e.sources) {
      const name = {dE: "E", dW_O: G.heads > 1 ? "multi_W_O" : "W_O"}[s.matrix] || s.matrix.slice(1);
      const t = $(`grad-${name}` + (s.head === null ? "" : `-h${s.head}`));
      for (const [i, j] of s.cells) Cells.at(t, i, j).forEach((td) => td.classList.add("source"));
    }
  },

  unmark() {
    for (const el of document.querySelectorAll(".source, .picked")) {
      if (el.closest("#maps") === null) el.classList.remove("source", "picked");
    }
  },
};
