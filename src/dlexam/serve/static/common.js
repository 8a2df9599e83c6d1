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
    const s = q.toString();
    history.replaceState(null, "", location.pathname + (s ? "?" + s : "") + location.hash);
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
      return {ok: false, status: 0, data: {error: "the server did not answer (" + e.message + ")", field: null}};
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

  showError(box, data) {
    box.textContent = data && data.error ? (data.field ? data.field + ": " : "") + data.error : "";
  },

  // A heat colour for v in [-m, m]: blue for positive, red for negative, white for 0.
  heat(v, m) {
    if (!isFinite(v) || m <= 0) return "";
    const a = Math.min(1, Math.abs(v) / m) * 0.55;
    return v >= 0 ? `rgba(36, 87, 197, ${a.toFixed(3)})` : `rgba(179, 38, 30, ${a.toFixed(3)})`;
  },

  // A matrix as a table: `shown` are the server's strings (exact fractions), `values` colour the cells.
  matrix(id, title, shown, values, rowLabels, colLabels) {
    let m = 0;
    for (const r of values) for (const v of r) m = Math.max(m, Math.abs(v));
    const table = DL.el("table", {class: "matrix", id});
    if (colLabels) {
      table.append(DL.el("tr", {}, DL.el("th", {}), colLabels.map((c) => DL.el("th", {text: c}))));
    }
    shown.forEach((row, i) => {
      const tr = DL.el("tr", {}, rowLabels ? DL.el("th", {text: rowLabels[i]}) : null);
      row.forEach((s, j) => {
        const td = DL.el("td", {text: s});
        td.style.background = DL.heat(values[i][j], m);
        tr.append(td);
      });
      table.append(tr);
    });
    return DL.el("figure", {class: "mat"}, DL.el("figcaption", {text: title}), table);
  },

  // Run `fn` once the calls stop for `ms` (typing, dragging a slider).
  debounce(fn, ms) {
    let t = null;
    return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  },
};
