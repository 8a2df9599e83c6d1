"""`dlexam svhn evaluate | predict | explain`: the commands that use a trained CNN (a checkpoint or the shipped
model). Thin: parse, call dlexam.svhn.inference / dlexam.svhn.explain, print."""

from __future__ import annotations

import sys

from dlexam.commands.options import existing, path
from dlexam.plain import dumps, printable
from dlexam.svhn.data import SPLITS

TTA_HELP = ("test-time augmentation: the mean of the image's and a narrowed copy's probabilities "
            "(2x the compute; docs/svhn.md)")


def _print_json(obj) -> None:
    print(dumps(obj, indent=1))


def load_model_given(args):
    """The --checkpoint given, or the shipped model, read once -> (model, name, note, payload). `note` is the line
    that says the shipped model was used (None for a checkpoint given): a command says it once its work is done, so
    that a refusal is the one line it says (say_model). `payload`: the checkpoint as read (its training record:
    dlexam.svhn.inference.training_record)."""
    from dlexam.checkpoint import resolve
    from dlexam.svhn.inference import describe, load_model

    model, payload = load_model(args.checkpoint)
    if args.checkpoint is None:
        from dlexam.svhn.shipped import shipped_path

        return model, str(shipped_path()), f"dlexam: using {describe(None, payload)}", payload
    return model, str(resolve(args.checkpoint)), None, payload


def training_lines(t: dict) -> list[str]:
    """What a checkpoint says of its training (dlexam.svhn.inference.training_record), as `svhn evaluate` prints it:
    `trained with:` and `made by:` as `sort evaluate` words them (dlexam.commands.provenance.made_lines), the seed
    and epochs, and a fine-tuned model's start with what that start was trained with."""
    from dlexam.commands.provenance import made_lines
    from dlexam.words import counted

    def run(r: dict, indent: str = "") -> list[str]:
        lines = made_lines(r["provenance"], r["command"], indent=indent,
                           trained="which was trained" if indent else "trained")
        said = ([] if r["seed"] is None else [f"seed {r['seed']}"]) + (
            [] if r["epochs"] is None else [counted(r["epochs"], "epoch")])
        if said:
            lines.append(f"{indent}training: {', '.join(said)}")
        return lines

    lines = run(t)
    if (init := t["init"]) is not None:
        lines.append(f"fine-tuned from: {printable(init['name'])}" +
                     (f" (SHA-256 {printable(init['sha256'])})" if init["sha256"] else ""))
        parent = init["from"]
        lines += run(parent, "  ") if parent else ["  its own training: not recorded (a run fine-tuned before "
                                                    "2026-12-07)"]
        if parent and parent["init"]:
            lines.append(f"  itself fine-tuned from: {printable(parent['init'])}")
    return lines


def say_model(note: str | None) -> None:
    """load_model_given's note on stderr, where there is one: before the results, after every check passed."""
    if note is not None:
        print(note, file=sys.stderr)


def note_linked_cache(data, split: str) -> None:
    """One line on stderr where the cache of DATA's {split}_32x32.mat is a symbolic link: the data is read
    without it (dlexam.svhn.data.official.linked_cache)."""
    from dlexam.svhn.data.official import linked_cache

    if (link := linked_cache(data, split)) is not None:
        print(f"dlexam: note: {printable(str(link))} is a symbolic link; reading the data without that cache (dlexam "
              "never reads, writes or removes a cache through a link)", file=sys.stderr)


def cmd_evaluate(args) -> int:
    from pathlib import Path

    from dlexam.errors import UserError
    from dlexam.svhn.data.image_folder import is_image_folder
    from dlexam.svhn.data.official import filename
    from dlexam.svhn.inference import default_confusion_png, evaluate_checkpoint, training_record
    from dlexam.words import counted

    split = args.split or "test"
    if args.split is not None and not (Path(args.data) / filename(split)).is_file() and is_image_folder(args.data):
        raise UserError(f"--split goes with an SVHN folder of .mat files; {args.data} is an image folder, read whole")
    png = args.png
    if png is None:  # beside the user's checkpoint, named for the split or folder; never inside the installed package
        png = default_confusion_png(args.checkpoint, args.data, split, tta=args.tta)
    if args.force and png is None:
        raise UserError("--force goes with a confusion PNG that would replace a file (--png FILE, or beside "
                        "--checkpoint); the shipped model writes none")
    model, name, note, payload = load_model_given(args)
    r = evaluate_checkpoint(model, args.data, split, png=png, force=args.force, name=name, tta=args.tta,
                            png_optional=args.png is None,  # the default place: skipped, with a note, if taken
                            training=training_record(payload))
    say_model(note)
    if (Path(args.data) / filename(split)).is_file():
        note_linked_cache(args.data, split)
    if r.confusion_png_skipped:
        print(f"dlexam: note: no confusion PNG: {r.confusion_png_skipped}; --png FILE names another place",
              file=sys.stderr)
    if args.json:
        _print_json(r.to_json())
        return 0
    if r.training is not None:  # as `sort evaluate` says it: before the results
        print("\n".join(training_lines(r.training)))
    print(f"{r.split}: accuracy {r.accuracy:.4f} on {counted(r.n, 'image')} ({printable(str(r.checkpoint))}"
          + (", test-time augmentation)" if r.tta else ")"))
    print("per-class accuracy: " + "  ".join(f"{d}:{'-' if a is None else f'{a:.3f}'}"  # -: no image of d
                                             for d, a in enumerate(r.per_class)))
    if r.blank_note:
        print(f"[{r.blank_note}]")
    print("confusion matrix (rows: true digit, columns: predicted):")
    print("      " + "".join(f"{d:>6}" for d in range(10)))
    for d, row in enumerate(r.confusion):
        print(f"{d:>6}" + "".join(f"{v:>6}" for v in row))
    if r.confusion_png:
        print(f"confusion PNG: {printable(str(r.confusion_png))}")
    return 0


def cmd_predict(args) -> int:
    from dlexam.svhn.inference import predict_images

    model, _, note, _ = load_model_given(args)
    preds = predict_images(model, args.images, tta=args.tta)
    say_model(note)
    if args.json:
        _print_json([p.to_json() for p in preds])
        return 0
    for p in preds:
        probs = " ".join(f"{d}:{v:.3f}" for d, v in enumerate(p.probabilities))
        note = f"  [{p.blank_note}]" if p.blank_note else ""
        print(f"{printable(p.image)}: {p.digit}  ({probs}){note}")  # one line per image, whatever its name
    return 0


def cmd_explain(args) -> int:
    from dlexam.svhn.data.images import read_image
    from dlexam.svhn.explain import explain, parse_at

    at = parse_at(args.at)
    model, _, note, _ = load_model_given(args)
    cell = explain(model, read_image(args.image), args.layer, at)
    say_model(note)
    if args.json:
        _print_json(cell.to_json())
        return 0
    print("\n".join(explanation_lines(cell.to_json())))
    return 0


def _grid(rows: list, padded: list | None = None) -> list[str]:
    cells = [[("pad" if padded and padded[i][j] else f"{v:.4f}") for j, v in enumerate(r)] for i, r in enumerate(rows)]
    width = max(len(c) for r in cells for c in r)
    return ["  " + " ".join(c.rjust(width) for c in r) for r in cells]


def explanation_lines(e: dict) -> list[str]:
    """The text of `dlexam svhn explain`: one cell's arithmetic (dlexam.svhn.explain's JSON) as readable lines,
    then the note of a blank image (one colour: nothing to read) where it is one."""
    lines = _arithmetic_lines(e)
    return [*lines, f"[{e['blank_note']}]"] if e.get("blank_note") else lines


def _arithmetic_lines(e: dict) -> list[str]:
    where = ",".join(map(str, e["at"]))
    if e["kind"] == "logit":
        lines = [f"logit of digit {e['digit']} = bias + {e['count']} products of Pool-2's values and "
                 f"{e['weights_words']}",
                 f"  = {e['bias']:.4f} + ({e['positive_sum']:.4f} positive {e['negative_sum']:+.4f} negative)"
                 f" = {e['value']:.4f}   (the model: {e['model_value']:.4f}; P = {e['probability']:.4f})",
                 f"P = softmax: e^(logit {e['digit']}) / (the sum of e^(logit) over the {len(e['logits'])} digits)"
                 f" = {e['probability']:.4f}",
                 "sum of the products per Pool-2 channel:",
                 "  " + "  ".join(f"{c}:{v:+.3f}" for c, v in enumerate(e["channel_sums"]))]
        for title, key in (("largest positive products", "largest_positive"),
                           ("largest negative products", "largest_negative")):
            lines.append(f"{title} (channel,row,column: input x weight):")
            lines += [f"  pool2[{','.join(map(str, p['at']))}]: {p['input']:.4f} x {p['weight']:+.4f} = "
                      f"{p['product']:+.4f}" for p in e[key]]
        return lines
    w = e["window"]
    span = (f"rows {w['top']}..{w['top'] + w['height'] - 1}, columns {w['left']}..{w['left'] + w['width'] - 1} "
            f"(stride {w['stride'][0]}, padding {w['padding'][0]})")
    source = "the standardised image" if e["source"] == "image" else e["source"]
    if e["kind"] == "pool":
        how = "average" if e["mode"] == "avg" else "maximum"
        tail = (f"sum {e['sum']:.4f} / {e['count']} = {e['value']:.4f}" if e["mode"] == "avg"
                else f"max = {e['value']:.4f}")
        return [f"{e['layer']}[{where}] = the {how} of its {w['height']}x{w['width']} block of {source}[{e['at'][0]}], "
                f"{span}", *_grid(e["block"]), f"{tail}   (the model: {e['model_value']:.4f})"]
    act = e["activation"]
    formula = (f"sum of patch x kernel + bias, with {e['activation_label']}" if act == "none" else
               f"{act}(sum of patch x kernel + bias), {act} being {e['activation_label']}")
    lines = [f"{e['layer']}[{where}] = {formula}; the window of {source}: {span}"]
    for c, (patch, kernel) in enumerate(zip(e["patch"], e["kernel"], strict=True)):
        label = f"input channel {c}: " if len(e["patch"]) > 1 else ""
        lines += [f"{label}patch", *_grid(patch, e["padded"]), f"{label}kernel", *_grid(kernel),
                  f"{label}sum of the products = {e['channel_sums'][c]:.4f}"]
    lines.append(f"sum {e['sum']:.4f} + bias {e['bias']:.4f} = {e['pre_activation']:.4f}"
                 + ("" if act == "none" else f"; {act} -> {e['value']:.4f}")
                 + f"   (the model: {e['model_value']:.4f})")
    return lines


def register_inference(s) -> None:
    q = s.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix")
    q.add_argument("--checkpoint", default=None, type=existing("checkpoint"),
                   help="a .pt file or a run directory (default: the shipped model)")
    q.add_argument(
        "--data", required=True, type=path, help="an SVHN folder (.mat files) or an image folder DIR/0/ ... DIR/9/"
    )
    q.add_argument("--split", default=None, choices=SPLITS, help="of an SVHN folder (default test)")
    q.add_argument(
        "--png",
        type=path,
        default=None,
        help="default: confusion_<split>.png beside --checkpoint (an image folder: confusion_<its name>.png; "
             "with --tta: ..._tta.png), skipped with a note if it cannot be written there (none for the shipped "
             "model)",
    )
    q.add_argument("--force", action="store_true", help="replace --png even where dlexam did not write it")
    q.add_argument("--tta", action="store_true", help=TTA_HELP)
    q.add_argument("--json", action="store_true",
                   help="print the evaluation as one JSON object: accuracy, per-class accuracy, confusion matrix, "
                   "the model's training record (docs/svhn.md)")
    q.set_defaults(handler=cmd_evaluate)

    q = s.add_parser("predict", help="the digit in photos (any size: cropped and resized as SVHN's crops)")
    q.add_argument("--checkpoint", default=None, type=existing("checkpoint"),
                   help="a .pt file or a run directory (default: the shipped model)")
    q.add_argument("images", nargs="+", type=existing("image"),
                   help="image files (PNG, JPEG, ...; a folder is refused: name its files, or give an image folder "
                   "to `svhn evaluate --data`)")
    q.add_argument("--tta", action="store_true", help=TTA_HELP)
    q.add_argument("--json", action="store_true",
                   help="print a JSON list, one entry per image in the order given (docs/svhn.md)")
    q.set_defaults(handler=cmd_predict)

    q = s.add_parser("explain", help="the arithmetic behind one number of the CNN: a conv or pool pixel, a logit")
    q.add_argument("image", type=existing("image"),
                   help="an image file (cropped and resized as `svhn predict` reads it)")
    q.add_argument("--layer", required=True, help="conv1, pool1, conv2, pool2 or logits")
    q.add_argument("--at", required=True,
                   help="channel,row,column of the layer's map, from 0 (conv1 0,12,9); one digit for --layer logits")
    q.add_argument("--checkpoint", default=None, type=existing("checkpoint"),
                   help="a .pt file or a run directory (default: the shipped model)")
    q.add_argument("--json", action="store_true", help="print the explanation as one JSON object")
    q.set_defaults(handler=cmd_explain)
