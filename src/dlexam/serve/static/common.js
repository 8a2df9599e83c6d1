// dlexam serve: helpers every page uses. Plain JS, no library, nothing fetched from elsewhere.
// A page's state lives in its URL (DL.get / DL.set), its numbers come from the JSON API (DL.api),
// and a matrix is drawn from the server's exact strings (DL.matrix), never re-formatted here.
"use strict";

const DL = {
  get(name, fallback) {
    const v = new URLSearchParams(location.search).get(name);
    return v === null ? fallback : v;
  },

  // Set URL parameters (null/undefined/"" removes one) without reloading: the view can be shared.
  set(changes) {
    const q = new URLSearchParams(location.search);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === undefined || v === "") q.delete(k); else q.set(k, String(v));
    }
    history.replaceState(history.state, "", DL.url(q));
  },

  // The same, as a new entry of the browser's history (Back returns to the state before); `state` is kept with it.
  push(changes, state) {
    const q = new URLSearchParams(location.search);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === undefined || v === "") q.delete(k); else q.set(k, String(v));
    }
    history.pushState(state, "", DL.url(q));
  },

  url(q) {
    const s = q.toString();
    return location.pathname + (s ? "?" + s : "") + location.hash;
  },

  // fetch -> {ok, status, data}; data is the JSON answer ({error, field} when refused).
  async api(method, url, body, contentType) {
    const opts = {method, headers: {}};
    if (body !== undefined) {
      opts.body = contentType ? body : JSON.stringify(body);
      opts.headers["Content-Type"] = contentType || "application/json";
    }
    let resp;
    try {
      resp = await fetch(url, opts);
    } catch (e) {
      return {ok: false, status: 0, data: {error: "the server did not answer: is dlexam serve still running? Start it " +
        "again and retry (" + e.message + ")", field: null}};
    }
    let data;
    try { data = await resp.json(); } catch (e) { data = {error: "not JSON (" + resp.status + ")", field: null}; }
    return {ok: resp.ok, status: resp.status, data};
  },

  el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  },

  // A refusal in the user's words: the field as the page names it (not the API's key), then the server's message.
  FIELDS: {seq: "sequence", sequence: "sequence", T: "temperature", temperature: "temperature", heads: "heads",
    vocab: "vocabulary", image: "image", lr: "learning rate", matrices: "matrices to step", convention: "loss",
    cell: "cell", variant: "variant", difficulty: "difficulty", seed: "seed"},
  message(data) {
    if (!data || !data.error) return "";
    let label = data.field ? (DL.FIELDS[data.field] || data.field.replace(/^weights\./, "")) : null;
    if (data.field === "body") label = null;
    return label && !data.error.startsWith(label) ? `${label}: ${data.error}` : data.error;
  },

  // An error is said once, by its alert box (role="alert"): showing one empties the status line (#status), which
  // would otherwise still say the last result, or be set to the same words by the page (a screen reader then said
  // the error twice). So a page shows an error with this and never announces it; the status line says results and
  // progress. `data` null or "" takes the error away and leaves the status line as it is.
  showError(box, data) {
    const text = typeof data === "string" ? data : DL.message(data);
    box.textContent = text;
    if (text) DL.announce("");
  },

  // Say what just happened to screen readers (the page's aria-live region #status) and on the page; never an error
  // (DL.showError says it).
  announce(text) {
    const s = document.getElementById("status");
    if (s) s.textContent = text;
  },

  // Scroll the element the URL's #anchor names into view once the page has drawn it (the browser's own jump
  // happens before the page has its content); not once the user has scrolled.
  land() {
    if (!location.hash || DL.scrolledByUser) return;
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && !target.closest("[hidden]")) target.scrollIntoView({block: "start"});
  },

  // A float to 4 decimals ("0.9991"), or, non-zero and too small for them, to 4 significant digits ("3.024e-7"):
  // never "0.0000" for what is not 0 (the rule of dlexam.spec.numbers.decimal_text, which the server's numbers follow);
  // of size 1e15 and more, whose units float64 no longer holds, to 4 significant digits too ("9.000e300").
  decimal(x) {
    if (x === 0) return "0.0000";  // -0 too
    const rounded = x.toFixed(4);
    if (!isFinite(x) || (Number(rounded) !== 0 && Math.abs(x) < 1e15)) return rounded;
    const [mantissa, exponent] = x.toExponential(3).split("e");
    return `${mantissa}e${Number(exponent)}`;
  },

  // A heat colour for v in [-m, m]: blue for positive, red for negative, white for 0.
  heat(v, m) {
    if (!isFinite(v) || m <= 0) return "";
    const a = Math.min(1, Math.abs(v) / m) * 0.55;
    return v >= 0 ? `rgba(36, 87, 197, ${a.toFixed(3)})` : `rgba(179, 38, 30, ${a.toFixed(3)})`;
  },

  // A matrix as a table: `shown` are the server's strings (exact fractions), `values` colour the cells.
  // `masked(i, j)` true: the cell is greyed out and not coloured (a causal mask's future).
  matrix(id, title, shown, values, rowLabels, colLabels, masked) {
    let m = 0;
    values.forEach((r, i) => r.forEach((v, j) => { if (!(masked && masked(i, j))) m = Math.max(m, Math.abs(v)); }));
    const table = DL.el("table", {class: "matrix", id});
    if (colLabels) {
      table.append(DL.el("tr", {}, rowLabels ? DL.el("td", {class: "corner"}) : null,
        colLabels.map((c) => DL.el("th", {scope: "col", text: c}))));
    }
    shown.forEach((row, i) => {
      const tr = DL.el("tr", {}, rowLabels ? DL.el("th", {scope: "row", text: rowLabels[i]}) : null);
      row.forEach((s, j) => {
        const hidden = masked && masked(i, j);
        const td = DL.el("td", {text: s, class: hidden ? "masked" : null,
          title: hidden ? "masked: a token does not attend to the tokens after it" : null});
        if (!hidden) td.style.background = DL.heat(values[i][j], m);
        tr.append(td);
      });
      table.append(tr);
    });
    // each number on one line (never "1.52" over "3e-8"): a matrix wider than the screen scrolls in its own box
    return DL.el("figure", {class: "mat"}, DL.el("figcaption", {id: id + "-caption", text: title}),
      DL.el("div", {class: "scroll"}, table));
  },

  scrolledByUser: false,

  // A box that scrolls sideways (a wide table at 500 px) takes the keyboard focus, so it can be scrolled without a
  // mouse; one that fits does not (no useless Tab stop).
  // Each such box is a region whose name says what scrolls, and no two share a name (a table without an id, such as
  // those of /practice's worked solutions, named every box "scrollable: ": axe's landmark-unique at 360 px).
  scrollables() {
    const taken = new Map();
    for (const box of document.querySelectorAll(".scroll")) {
      if (box.scrollWidth > box.clientWidth + 1) {
        box.tabIndex = 0;
        box.setAttribute("role", "region");
        const table = box.querySelector("table"), figure = box.closest("figure"), article = box.closest("article[id]");
        const caption = figure && figure.querySelector("figcaption");
        let name = [(table && table.id) || (caption && caption.textContent.trim()) || "table",
          article ? "in " + article.id : ""].filter(Boolean).join(" ");
        const n = (taken.get(name) || 0) + 1;
        taken.set(name, n);
        if (n > 1) name += ` (${n})`;
        box.setAttribute("aria-label", "scrollable: " + name);
        box.dataset.scrolls = "";  // style.css writes "scroll sideways" above it: the right-hand columns are off-screen
        // its row names stay at its left (style.css: sticky): a cell the keyboard reaches scrolls into view beside them
        const names = box.querySelector("th[scope=row]");
        box.style.scrollPaddingLeft = names ? `${names.getBoundingClientRect().width}px` : "";
      } else {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
        delete box.dataset.scrolls;
        box.style.scrollPaddingLeft = "";
      }
    }
  },

  // Run `fn` once the calls stop for `ms` (typing, dragging a slider).
  debounce(fn, ms) {
    let t = null;
    return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  },
};

addEventListener("resize", DL.debounce(() => DL.scrollables(), 200));
for (const ev of ["wheel", "touchmove", "keydown"]) {
  addEventListener(ev, () => { DL.scrolledByUser = true; }, {once: true, passive: true});
}
