// /cnn's layer table (Problems 1.2 and 1.3) and where each of its numbers comes from. The rows are GET /api/svhn/model's
// (dlexam.svhn.summary.layer_summary: the served model's layers read back); a number clicked, or reached with the
// keyboard and Enter or Space, is explained by GET /api/svhn/model/explain (dlexam.svhn.table_explain: the arithmetic
// from the exam's layer table, the function of `dlexam svhn summary --explain`). Every number is the server's; here
// they are only laid out. The table is one Tab stop, an ARIA grid with a roving tabindex (the arrow keys move between
// its numbers). URL: number = the number explained ("conv2.output", "total.params").
// Uses C (the page's state), $ and landOnce() of cnn.js.
"use strict";

const Table = {
  seq: 0,
  // [field, column title]: the numbers of a row, left to right
  COLUMNS: [["kernel", "kernel"], ["stride", "stride"], ["padding", "padding"], ["output", "output (H x W x C)"],
    ["weights", "weights"], ["biases", "biases"], ["params", "parameters"]],

  // A row's number of `field` as the table writes it, or null where the layer has none (a Flatten has no kernel).
  shown(row, field) {
    const v = row[field === "output" ? "output_shape" : field];
    if (v === undefined || v === null) return null;
    if (field === "kernel" || field === "output") return v.join("x");
    if (field === "stride" || field === "padding") return v[0] === v[1] ? String(v[0]) : v.join("x");
    return v.toLocaleString("en");
  },

  // `column`: its column's title, which a phone's stacked table writes before the number (style.css: #layer-rows)
  cell(number, text, spoken, column) {
    return DL.el("td", {class: "num mono pick", "data-number": number, tabindex: "-1", text, role: "gridcell",
      "data-column": column, "aria-label": `${spoken}: ${text}; Enter: its arithmetic`,
      title: "click: the arithmetic of this number"});
  },

  // On a phone (style.css, max-width 600px) each layer is a block and each number stands under its column's name
  // (data-column): the 8 columns scrolled sideways, 1087 px in 330 at 360 px. The roles are said explicitly, so the
  // grid stays a grid of rows and cells to a screen reader whatever the CSS display of its elements.
  render(d) {
    const head = DL.el("tr", {role: "row"}, DL.el("th", {scope: "col", role: "columnheader", text: "layer"}),
      Table.COLUMNS.map(([, title]) => DL.el("th", {scope: "col", role: "columnheader", class: "num", text: title})));
    const rows = d.layers.map((l) => DL.el("tr", {role: "row"}, DL.el("th", {scope: "row", role: "rowheader", text: l.layer}),
      Table.COLUMNS.map(([field, title]) => {
        const text = Table.shown(l, field);
        return text === null ? DL.el("td", {role: "gridcell"})
          : Table.cell(`${l.module}.${field}`, text, `${l.layer}, ${title}`, title);
      })));
    const total = DL.el("tr", {role: "row"}, DL.el("th", {scope: "row", role: "rowheader", text: "total"}),
      DL.el("td", {role: "gridcell", colspan: String(Table.COLUMNS.length - 1)}),
      Table.cell("total.params", d.total_params.toLocaleString("en"), "total, parameters", "parameters"));
    const table = DL.el("table", {class: "plain", id: "layer-rows", role: "grid", "aria-labelledby": "layers-title"},
      head, rows, total);
    table.querySelector("td[data-number]").tabIndex = 0;
    table.addEventListener("click", (e) => {
      const td = e.target.closest("td[data-number]");
      if (!td) return;
      Table.rove(td);  // the keyboard goes on from the number clicked
      Table.open(td.dataset.number);
    });
    table.addEventListener("keydown", (e) => Table.key(e));
    $("layer-table").append(DL.el("div", {class: "scroll"}, table),
      DL.el("p", {class: "note", text: "Kernels, strides and paddings from the layers themselves, shapes from a forward pass, " +
        "counts from the modules' parameters (dlexam.svhn.summary.layer_summary). Click a number, or Tab to the table, move " +
        "with the arrow keys and press Enter, to see its arithmetic from the exam's layer table (dlexam.svhn.table_explain)."}));
    const wanted = DL.get("number", null);
    if (wanted) Table.open(wanted, true);
  },

  key(e) {
    const td = e.target;
    if (!td.dataset || !td.dataset.number || e.altKey || e.metaKey) return;
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();  // Space would scroll the page
      Table.open(td.dataset.number);
      return;
    }
    const grid = [...td.closest("table").rows].map((tr) => [...tr.querySelectorAll("td[data-number]")]).filter((r) => r.length);
    let i = grid.findIndex((r) => r.includes(td)), j = grid[i].indexOf(td);
    // Up and down keep to the column: the row's number nearest to it (a Flatten row has no kernel)
    const near = (r) => grid[r].reduce((best, c, k) => (Math.abs(c.cellIndex - td.cellIndex) <
      Math.abs(grid[r][best].cellIndex - td.cellIndex) ? k : best), 0);
    switch (e.key) {
      case "ArrowRight": j++; break;
      case "ArrowLeft": j--; break;
      case "ArrowDown": i = Math.min(grid.length - 1, i + 1); j = near(i); break;
      case "ArrowUp": i = Math.max(0, i - 1); j = near(i); break;
      case "Home": if (e.ctrlKey) i = 0; j = 0; break;
      case "End": if (e.ctrlKey) i = grid.length - 1; j = Infinity; break;
      default: return;
    }
    e.preventDefault();
    Table.rove(grid[i][Math.max(0, Math.min(grid[i].length - 1, j))]).focus();
  },

  // `td` becomes the table's one Tab stop.
  rove(td) {
    for (const other of td.closest("table").querySelectorAll("td[tabindex='0']")) other.tabIndex = -1;
    td.tabIndex = 0;
    return td;
  },

  // `link`: the URL's number, said with the link's prediction, whichever answers first (Opening, cnn.js).
  async open(number, link = false) {
    const my = ++Table.seq, box = $("table-explain");
    const r = await DL.api("GET", "/api/svhn/model/explain?number=" + encodeURIComponent(number));
    if (my !== Table.seq) {
      if (link) Opening.say("table", null);  // a number clicked meanwhile says its own
      return;
    }
    for (const el of $("layer-rows").querySelectorAll(".picked")) el.classList.remove("picked");
    box.textContent = "";
    if (!r.ok) {
      box.removeAttribute("data-number");
      DL.showError($("table-explain-error"), r.data);
      DL.set({number: null});
      if (link) Opening.say("table", null);  // after the error, which empties the status line: the link's prediction
      return;
    }
    DL.showError($("table-explain-error"), null);
    const e = r.data;
    box.append(DL.el("h3", {id: "table-explain-title"}, `${e.title} = `, DL.el("strong", {id: "table-explain-value", text: e.text})),
      DL.el("p", {class: "note", id: "table-explain-source", text: e.source}),
      DL.el("ul", {class: "plain-list", id: "table-explain-steps"}, e.steps.map((s) => DL.el("li", {class: "mono table-step", "data-what": s.what},
        // a formula that is its own expression ("0") is written once: "weights: 0", not "weights: 0 = 0"
        `${s.what}: `, s.formula === s.expression ? "" : `${s.formula} = `, DL.el("span", {class: "table-expression", text: s.expression}),
        s.expression === String(s.value) ? "" : " = ", s.expression === String(s.value) ? "" : DL.el("strong", {class: "table-step-value", text: String(s.value)}),
        s.where ? DL.el("span", {class: "note table-where", text: ` (${s.where})`}) : ""))));
    box.dataset.number = e.name;
    DL.set({number: e.name});
    const td = $("layer-rows").querySelector(`td[data-number='${e.name}']`);
    if (td) td.classList.add("picked");
    if (link) Opening.say("table", `${e.title} = ${e.text}`);
    else DL.announce(`${e.title} = ${e.text}`);
  },
};
