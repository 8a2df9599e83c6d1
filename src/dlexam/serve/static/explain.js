// /cnn's "where a number comes from" panel: the arithmetic of one clicked cell, as POST /api/svhn/explain returns
// it (dlexam.svhn.explain: a conv pixel's window, kernel, bias, sum and activation; a pool pixel's block; a logit's
// 144 products summarised, and the softmax that makes its probability). Every number is the server's; here they are only laid out (4 decimals).
// Uses C (the page's state: C.image, the 32x32 input as base64url) and $ from cnn.js.
"use strict";

// Said by "explain" while there is no input; taken back by the first prediction (cnn.js: it stood beside the digit
// drawn since, 2026-12-07)
const NEED_INPUT = "draw a digit or upload a photo first: the arithmetic is that of its input";
const f4 = (v) => DL.decimal(v);  // 4 decimals; a tiny probability or value as 3.024e-7, never 0.0000

function setupExplain() {
  $("explain-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const at = $("explain-at").value.split(",").map((v) => v.trim());
    if (!at.every((v) => /^\d+$/.test(v))) {
      showExplainError("at: give channel,row,column as whole numbers from 0 (such as 0,12,9), or one digit for the logits");
      return;
    }
    explain($("explain-layer").value, at.map(Number));
  });
}

function showExplainError(message) {
  DL.showError($("explain-error"), message);
  $("explain").textContent = "";
  $("explain-panel").removeAttribute("data-at");
  clearMarks();  // nothing is explained now: no cell stays outlined (the alert box says why, the status line is emptied)
  document.body.dataset.state = "error";
}

// One explanation at a time: the outlines of the last one (a map or a probability row picked, its source map) go.
function clearMarks() {
  for (const el of document.querySelectorAll(".picked, .source")) {
    if (!el.closest("#layer-rows")) el.classList.remove("picked", "source");  // the table's number has its own panel
  }
}

// `said`: the prediction this explanation follows (a link's img= with explain=, or a new drawing with a cell picked),
// which the status line says with it, or after its refusal: said first and then replaced or emptied within one
// round trip, a prediction was never heard (before 2026-12-06). False: no cell asked for, `said` left to the caller.
function fromExplainParam(text, said = null) {
  const [layer, at] = text.split(":");
  if (!(layer && at && /^\d+(,\d+)*$/.test(at))) return false;
  explain(layer, at.split(",").map(Number), said);
  return true;
}

async function explain(layer, at, said = null) {
  $("explain-layer").value = layer;
  $("explain-at").value = at.join(",");
  if (!C.image) { showExplainError(NEED_INPUT); return; }
  const my = ++C.explained;
  C.asked = `${layer}:${at.join(",")}`;
  document.body.dataset.state = "busy";
  const r = await DL.api("POST", "/api/svhn/explain", {image: C.image, layer, at});
  if (my !== C.explained) {
    if (said) Opening.say("prediction", null);  // overtaken (a cell clicked meanwhile): a link's loading ends
    return;
  }
  if (!r.ok) {
    C.asked = null;
    showExplainError(DL.message(r.data));
    if (said) Opening.say("prediction", said);  // after the error, which empties the status line: the prediction stands
    return;
  }
  DL.showError($("explain-error"), null);
  renderExplanation(r.data, said);
  const key = `${layer}:${at.join(",")}`;
  DL.set({explain: key});
  $("explain-panel").dataset.at = key;
  document.body.dataset.state = "ready";
  clearMarks();
  const picked = $(layer === "logits" ? "p-" + at[0] : `map-${layer}-${at[0]}`);
  if (picked) picked.classList.add("picked");
}

// A small grid of numbers; `pad` marks the cells where a window covers the padding.
function grid(rows, cls, pad) {
  return DL.el("table", {class: "matrix small-grid " + (cls || "")}, rows.map((r, i) => DL.el("tr", {},
    r.map((v, j) => (pad && pad[i][j] ? DL.el("td", {class: "pad", text: "pad"}) : DL.el("td", {text: f4(v)}))))));
}

function sumLine(e) {
  return DL.el("p", {class: "mono explain-sum"}, "sum of the products ", DL.el("span", {id: "explain-sum", text: f4(e.sum)}),
    " + bias ", DL.el("span", {id: "explain-bias", text: f4(e.bias)}));
}

// Where the shown terms of a sum, each rounded to 4 decimals, do not add up to its shown result (0.4144 + -0.7231
// shown "= -0.3088", the unrounded terms' sum): one line that says why, so a learner adding them by hand is not misled.
// `sums`: [[terms...], result] as the numbers behind the shown text.
function roundingNote(sums) {
  const shown = (v) => Number(f4(v));
  const off = sums.some(([terms, result]) => Math.abs(terms.reduce((a, t) => a + shown(t), 0) - shown(result)) > 5e-5 + 1e-12);
  return off ? DL.el("p", {class: "small", id: "explain-rounding", text: "Each number is shown to 4 decimals; a result " +
    "is computed from the unrounded numbers, so it can differ in its last digit from the sum of the terms as shown."}) : null;
}

// a stage as the layer table names it ("AvgPool-2"; /cnn keeps the names its prediction came with), else its key
const layerName = (stage) => (C.names && C.names[stage]) || stage;

function renderExplanation(e, said = null) {
  const box = $("explain");
  box.textContent = "";
  const w = e.window, at = e.at.join(", ");
  if (e.kind === "conv") {
    const source = e.source === "image" ? "the standardised image" : layerName(e.source);
    const none = e.activation === "none";  // no activation: the plain sum (the label says it was chosen)
    box.append(DL.el("p", {}, `${e.layer}[${at}] = `, none ? `sum of patch × kernel + bias, with ${e.activation_label}: its `
      : `${e.activation}(sum of patch × kernel + bias), ${e.activation} being ${e.activation_label}: its `,
      `${w.height}x${w.width} window of ${source}, rows ${w.top} to ${w.top + w.height - 1}, columns ${w.left} to `,
      `${w.left + w.width - 1} (stride ${w.stride[0]}, padding ${w.padding[0]}; "pad" = the zero padding).`));
    // Each label once: the headings say "input patch" and "kernel N"; with several input channels a caption names
    // only the channel (the same one under both headings: its patch and its kernel go together).
    const patches = DL.el("div", {class: "mats", id: "explain-patch"}), kernels = DL.el("div", {class: "mats", id: "explain-kernel"});
    const several = e.patch.length > 1;
    e.patch.forEach((p, c) => {
      const caption = (text) => (several ? DL.el("figcaption", {text}) : null);
      patches.append(DL.el("figure", {class: "mat"}, caption(`${source} map ${c}: products sum to ${f4(e.channel_sums[c])}`),
        grid(p, "", e.padded)));
      kernels.append(DL.el("figure", {class: "mat"}, caption(`for ${source} map ${c}`), grid(e.kernel[c])));
    });
    box.append(DL.el("h3", {text: "input patch"}), patches, DL.el("h3", {text: `kernel ${e.at[0]}`}), kernels, sumLine(e),
      DL.el("p", {class: "mono"}, none ? "= " : `= ${f4(e.pre_activation)}; ${e.activation} → `,
        DL.el("strong", {id: "explain-value", text: f4(e.value)}), ` (the model's own: ${f4(e.model_value)})`));
    const note = roundingNote([[[e.sum, e.bias], e.pre_activation ?? e.value]]);
    if (note) box.append(note);
  } else if (e.kind === "pool") {
    const how = e.mode === "avg" ? "average" : "maximum";
    box.append(DL.el("p", {}, `${e.layer}[${at}] = the ${how} of its ${w.height}x${w.width} block of ${layerName(e.source)} map `,
      `${e.at[0]}, rows ${w.top} to ${w.top + w.height - 1}, columns ${w.left} to ${w.left + w.width - 1} (stride ${w.stride[0]}).`),
    DL.el("div", {id: "explain-block"}, grid(e.block)),
    DL.el("p", {class: "mono"}, e.mode === "avg" ? `sum ${f4(e.sum)} / ${e.count} = ` : "max = ",
      DL.el("strong", {id: "explain-value", text: f4(e.value)}), ` (the model's own: ${f4(e.model_value)})`));
    const source = $(`map-${e.source}-${e.at[0]}`);
    if (source) source.classList.add("source");
  } else {
    const item = (p) => DL.el("li", {class: "mono", text: `pool2[${p.at.join(",")}]: ${f4(p.input)} × ${f4(p.weight)} = ${f4(p.product)}`});
    box.append(DL.el("p", {}, `logit ${e.digit} = bias + the ${e.count} products of ${layerName(e.source)}'s values with `,
      `${e.weights_words} for digit ${e.digit} (P = ${f4(e.probability)}).`),  // a global-average head's: its 1x1 conv's / 9
    DL.el("p", {class: "mono"}, `${f4(e.positive_sum)} (positive) − ${f4(-e.negative_sum)} (negative: each product below 0) = `,
      DL.el("span", {id: "explain-sum", text: f4(e.sum)}), "; + bias ", DL.el("span", {id: "explain-bias", text: f4(e.bias)}),
      " = ", DL.el("strong", {id: "explain-value", text: f4(e.value)}), ` (the model's own: ${f4(e.model_value)})`),
    DL.el("p", {class: "mono", id: "explain-softmax"}, `P = softmax: e^(logit ${e.digit}) / the sum over the `,
      `${e.logits.length} digits of e^(logit) = `, DL.el("span", {id: "explain-softmax-terms",
        text: `e^(${f4(e.logits[e.digit])}) / (${e.logits.map((z) => `e^(${f4(z)})`).join(" + ")})`}),
      " = ", DL.el("strong", {id: "explain-probability", text: f4(e.probability)})),
    DL.el("h3", {text: `the products summed per ${layerName(e.source)} channel`}),
    DL.el("div", {class: "scroll"}, DL.el("table", {class: "matrix", id: "explain-channels"},
      DL.el("tr", {}, e.channel_sums.map((_, c) => DL.el("th", {scope: "col", text: String(c)}))),
      DL.el("tr", {}, e.channel_sums.map((v) => DL.el("td", {text: f4(v)}))))),
    DL.el("div", {class: "mats"},
      DL.el("div", {}, DL.el("h3", {text: "largest positive products"}), DL.el("ul", {class: "plain-list"}, e.largest_positive.map(item))),
      DL.el("div", {}, DL.el("h3", {text: "largest negative products"}), DL.el("ul", {class: "plain-list"}, e.largest_negative.map(item)))));
    const note = roundingNote([[[e.positive_sum, e.negative_sum], e.sum], [[e.sum, e.bias], e.value]]);
    if (note) box.querySelector("#explain-softmax").before(note);
  }
  // a one-colour image is all zeros once standardised: every number above follows from the biases (the library's words)
  if (e.blank_note) box.prepend(DL.el("p", {id: "explain-blank", text: `${e.blank_note}.`}));
  DL.scrollables();
  // a probability clicked is announced as the probability it is, then the logit it comes from
  const text = e.kind === "logit" ? `probability of digit ${e.digit} = ${f4(e.probability)}: logit ${e.digit} = ${f4(e.value)}`
    : `${e.layer}[${at}] = ${f4(e.value)}`;
  if (said) Opening.say("prediction", `${said}; ${text}`);  // with a link's table number, if it has one (cnn.js)
  else DL.announce(text);
}
