"""`dlexam svhn ...`: Problem 1's CNN (summary, data, train). Thin: parse, call, print.

The commands that use a trained model (evaluate, predict, explain) are in :mod:`dlexam.commands.svhn_inference`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dlexam import bounds, limits
from dlexam.commands.options import existing, number_in, out_folder, path, path_text, ranged, threads, whole_number
from dlexam.commands.svhn_inference import register_inference
from dlexam.commands.variant import add_variant_options, variant_difficulty
from dlexam.plain import dumps, printable
from dlexam.svhn.data import SPLITS
from dlexam.words import counted

QUICK_SCENES = 1000  # svhn synth --scenes --quick


def _print_json(obj) -> None:
    print(dumps(obj, indent=1))


def cmd_summary(args) -> int:
    from dlexam.errors import BadValue, UserError

    if args.linear_in is not None:  # the flags that go together, checked before torch loads
        if args.explain is not None:
            raise UserError("--explain explains a number of the network's layer table; --linear-in builds the "
                            "student's network, which does not run: give one of them")
        if args.head not in (None, "linear"):
            raise UserError(f"--linear-in builds the linear head of Problem 1.3 (nn.Linear(N, 10)); "
                            f"it does not go with --head {args.head}")
    from dlexam.svhn.model import CNNConfig
    from dlexam.svhn.summary import exam_rows, network_summary, student_bug

    cnn = None  # Version A's layer table
    difficulty = variant_difficulty(args)
    if args.variant is not None:  # a variant's (dlexam variant --seed N)
        from dlexam.variants import make_variant

        cnn = make_variant(args.variant, difficulty).spec.cnn
    if args.linear_in is not None:
        try:
            bug = student_bug(args.linear_in, cnn=cnn)
        except BadValue:  # the command line names the flag (dlexam.cli.flag_message)
            raise
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if args.json:
            _print_json(bug)
            return 0
        if bug["error"] is None:
            print(f"{bug['layer']} fits: the network runs (no error).")
        else:
            print(f"RuntimeError: {bug['error']}")
            if bug["error_words"]:  # PyTorch's 64x144 did not say that 64 is the batch this check runs
                print(f"  ({bug['error_words']})")
            print(f"fix: {bug['fix']}")
        for line in bug["arithmetic"]:
            print(f"  {line}")
        return 0
    try:
        cfg = CNNConfig(**_given_model_options(args),  # those not given: the layer table's
                        **({} if cnn is None else {"cnn": cnn}))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.explain is not None:
        from dlexam.svhn.table_explain import explain_number

        number = explain_number(args.explain, cfg)
        if args.json:
            _print_json(number.to_json())
        else:
            print("\n".join(table_number_lines(number.to_json())))
        return 0
    summary = network_summary(cfg)
    if args.json:
        _print_json(summary)
        return 0
    from dlexam.commands.tables import format_table

    c, h, w = summary["input"]
    rows = [(r["layer"], " x ".join(map(str, r["output_shape"])), f"{r['params']:,}")
            for r in exam_rows(summary["layers"], cfg)]
    print(format_table([("input", f"{h} x {w} x {c}", ""), *rows, ("total", "", f"{summary['total_params']:,}")],
                       ("layer", "output (H x W x C)", "parameters"), align="<>>"))
    return 0


def table_number_lines(e: dict) -> list[str]:
    """The text of `dlexam svhn summary --explain NAME`: one number of the layer table and its arithmetic
    (dlexam.svhn.table_explain's JSON) as readable lines."""
    lines = [f"{e['name']}: {e['title']} = {e['text']}", f"  ({e['source']})"]
    for s in e["steps"]:
        arithmetic = s["expression"] if s["expression"] == str(s["value"]) else f"{s['expression']} = {s['value']}"
        said = s["formula"] if s["formula"] == arithmetic else f"{s['formula']} = {arithmetic}"  # not "0 = 0"
        lines.append(f"  {s['what']}: {said}")
        if s["where"]:
            lines.append(f"    where {s['where']}")
    return lines


def cmd_download(args) -> int:
    from dlexam.commands.progress import printer
    from dlexam.svhn.data.download import download

    paths = download(args.root, args.split, progress=printer(args.quiet), force=args.force)
    for p in paths:
        print(f"ok (MD5 checked) {printable(str(p))}")
    return 0


def cmd_synth(args) -> int:
    from dlexam.errors import UserError

    if args.scenes:
        return _synth_scenes(args)
    if args.images is not None or args.recipe is not None or args.format is not None or args.quick:
        raise UserError("--images, --recipe, --format and --quick go with --scenes")
    from dlexam.svhn.synthetic.digits import write_synthetic

    info = write_synthetic(args.out, 20000 if args.train is None else args.train,
                           4000 if args.test is None else args.test, args.seed, force=args.force)
    if args.json:
        _print_json(info)
    else:
        print(f"wrote {info['train']:,} train and {counted(info['test'], 'test image')} to "
              f"{printable(str(info['out']))}")
    return 0


def _synth_scenes(args) -> int:
    """The images `svhn train --recipe R --seed S` trains on, written as .mat or an ImageFolder."""
    import dataclasses

    from dlexam.errors import UserError

    if args.train is not None or args.test is not None:
        raise UserError("--train and --test are for the plain renderer; with --scenes give --images")
    if args.quick and args.images is not None:
        raise UserError(f"--quick is {QUICK_SCENES:,} images; give --quick or --images N, not both")
    from dlexam.svhn.synthetic.export import write_images
    from dlexam.svhn.training.recipes import get_recipe, training_set

    recipe = get_recipe(args.recipe or "shipped")
    images = QUICK_SCENES if args.quick else args.images  # --images and --seed: checked as read (bounds.IMAGES, SEED)
    if images is not None and images != recipe.images:  # the same mix of parts, fewer or more images
        recipe = dataclasses.replace(recipe, images=images)
    x, y = training_set(recipe, args.seed)
    info = write_images(args.out, x.numpy(), y.numpy(), args.format or "mat", force=args.force)
    info.update(recipe=recipe.name, seed=args.seed, parts=[p.share for p in recipe.parts])
    if args.json:
        _print_json(info)
    else:
        print(f"wrote {info['images']:,} training images of recipe {recipe.name!r} (seed {args.seed}) to"
              f" {printable(str(info['out']))} as "
              f"{'train_32x32.mat' if info['format'] == 'mat' else 'an image folder'}")
    return 0


def cmd_mnist(args) -> int:
    from dlexam.svhn.data.mnist import write_mnist_as_svhn

    info = write_mnist_as_svhn(args.out, args.train, args.mnist_dir, force=args.force)
    print(f"wrote MNIST: {info['train']:,} train and {counted(info['test'], 'test digit')} to "
          f"{printable(str(info['out']))}")
    return 0


def cmd_train(args) -> int:
    if args.recipe:
        return _train_recipe(args)
    from pathlib import Path

    from dlexam.commands.progress import printer
    from dlexam.commands.svhn_inference import note_linked_cache
    from dlexam.cpu import torchrun_world
    from dlexam.svhn.data.official import filename
    from dlexam.svhn.training.runs import train_run
    from dlexam.svhn.training.settings import SVHNRun

    # Only the flags given: a new run takes the defaults for the rest, a resumed run its own settings
    # (and refuses a given one that differs, by name).
    run = SVHNRun(out=args.out, data=args.data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                  optimizer=args.optimizer, seed=args.seed, threads=args.threads, val_fraction=args.val_fraction,
                  split_seed=args.split_seed, model=_given_model_options(args), resume=args.resume, quick=args.quick,
                  init=args.init)
    if args.data is not None and (Path(args.data) / filename("train")).is_file():
        note_linked_cache(args.data, "train")  # a linked cache is passed by: the data is read without it
    result = train_run(run, progress=printer(args.quiet))
    if result.world_size > 1 and torchrun_world()[0] != 0:  # only rank 0 prints
        return 0
    if args.json:
        from dlexam.svhn.training.finetune import SHIPPED

        shown = result.to_json()
        if shown.get("init") and args.init is not None and args.init != SHIPPED:  # as typed, as every --json path
            from dlexam.checkpoint import resolve

            shown["init"]["name"] = str(resolve(args.init))  # a run directory: its best.pt (the run records it whole)
        _print_json(shown)
    else:
        from dlexam.words import counted

        out = printable(str(result.out))  # a newline in the folder's name is no line break
        if result.already_complete:  # a finished run resumed: one line, nothing trained, nothing rewritten
            files = ("wrote again what a kill had left undone: " + ", ".join(result.completed) if result.completed
                     else "its files left as they are")
            best = ("no validation images (best.pt is the last epoch)" if result.best_val_accuracy is None else
                    f"val accuracy {result.final.get('val_accuracy', float('nan')):.4f}, best "
                    f"{result.best_val_accuracy:.4f}")
            print(f"{out}: the run is already complete (all {counted(result.epochs, 'epoch')} done); nothing "
                  f"trained now, {files}; {best}")
        elif result.best_val_accuracy is None:  # no image held out for validation: best.pt is the last epoch
            print(f"{out}: {counted(len(result.history), 'epoch')}, no validation images (best.pt is the last epoch)")
        else:
            val = result.final.get("val_accuracy", float("nan"))
            print(f"{out}: {counted(len(result.history), 'epoch')}, val accuracy {val:.4f},"
                  f" best {result.best_val_accuracy:.4f}")
    return 0


def _train_recipe(args) -> int:
    from dlexam.errors import UserError

    if args.resume:
        raise UserError("--recipe runs are made whole, in one go: there is no --resume (their images are rendered in "
                        "memory; a stopped one is started again)")
    if args.quick:
        raise UserError("--recipe takes no --quick: --recipe quick is the seconds-long recipe")
    ignored = [flag for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size), ("--lr", args.lr),
                                        ("--optimizer", args.optimizer), ("--val-fraction", args.val_fraction),
                                        ("--split-seed", args.split_seed), ("--data", args.data),
                                        ("--init", args.init))
               if value is not None] + [f"--{k}" for k in _given_model_options(args)]
    if ignored:
        raise UserError(f"--recipe sets its own data, model and schedule: {', '.join(ignored)} does not apply "
                        "(only --seed, --threads and --out do)")
    from dlexam.svhn.training.pinning import pin

    pin()  # the instruction set, before torch loads: the same weights on any AVX2 x86-64 CPU (docs/svhn.md)
    from dlexam.commands.progress import printer
    from dlexam.svhn.training.recipes import get_recipe, train_recipe

    r = train_recipe(get_recipe(args.recipe), args.out, seed=0 if args.seed is None else args.seed,
                     threads=args.threads, progress=printer(args.quiet))
    if args.json:
        _print_json(r.to_json())
        return 0
    print(f"{printable(str(r.out))}/model.pt: recipe {r.recipe!r}, seed {r.seed}, {r.seconds['total']:.0f} s")
    for name, c in r.checks.items():
        print(f"  {name}: " + (f"accuracy {c['accuracy']:.4f} on {c['n']} images" if "accuracy" in c else c["skipped"]))
    return 0


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--activation",
        choices=("relu", "tanh", "sigmoid", "none"),
        default=None,
        help="after each conv (Figure 2 is not in the exam text; default: the layer table's, relu)",
    )
    p.add_argument("--pool", choices=("avg", "max"), default=None,
                   help="every pool's mode (default: the layer table's, avg)")
    p.add_argument(
        "--head",
        choices=("linear", "conv3x3", "conv1x1-gap"),
        default=None,
        help="linear (Problem 1.3, the default), conv3x3 (1.4 v1), conv1x1-gap (1.4 v2)",
    )


def _given_model_options(args) -> dict:
    """The model options given on the command line (the others keep their defaults, or a run's own)."""
    return {k: getattr(args, k) for k in ("activation", "pool", "head") if getattr(args, k, None) is not None}


def register(sub) -> None:
    p = sub.add_parser(
        "svhn",
        help="Problem 1: the exam's CNN on SVHN digits",
        description="Problem 1: the exam's CNN on SVHN digits.",
    )
    s = p.add_subparsers(dest="svhn_command", metavar="SUBCOMMAND", parser_class=type(p))
    s.required = True

    q = s.add_parser("summary", help="each layer's output shape and trainable parameters")
    _model_options(q)
    q.add_argument(
        "--linear-in",
        type=whole_number(bounds.LINEAR_IN),
        default=None,
        help=f"build the head as nn.Linear(N, 10), N {ranged(bounds.LINEAR_IN)}: a wrong N reproduces the "
        "student's error (1.3)",
    )
    q.add_argument("--explain", metavar="LAYER.FIELD", default=None,
                   help="the arithmetic of one number of the table: LAYER conv1, pool1, conv2, pool2, flatten, fc "
                   "(conv3, gap with a conv head) or total; FIELD kernel, stride, padding, output, weights, biases, "
                   "params (fc: in_features); e.g. conv2.output, fc.weights, total")
    q.add_argument("--json", action="store_true",
                   help="print the table as one JSON object (docs/svhn.md; with --explain: the explanation; with a "
                   "wrong --linear-in: the error it reproduces)")
    add_variant_options(q, required=False)
    q.set_defaults(handler=cmd_summary)

    q = s.add_parser("download", help="download official SVHN .mat files (MD5 checked, resumable)")
    q.add_argument("--root", required=True, type=out_folder, help="folder for the .mat files (created if missing)")
    q.add_argument("--split", nargs="+", choices=SPLITS, default=["train", "test"],
                   help="which files (default: train test; extra is 1.3 GB)")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.add_argument("--force", action="store_true",
                   help="replace a file of that name in --root even where dlexam did not write it (and start afresh "
                   "in place of a NAME.part partial download that dlexam did not write)")
    q.set_defaults(handler=cmd_download)

    q = s.add_parser("synth", help="write SVHN-like synthetic train/test .mat files, or a recipe's training scenes",
                     fields={"n_train": "train", "n_test": "test"})  # write_synthetic's names of --train, --test
    q.add_argument("--out", required=True, type=out_folder,
                   help="folder for train_32x32.mat and test_32x32.mat (--scenes: train_32x32.mat or DIR/0/ ...)")
    q.add_argument("--train", type=whole_number(bounds.IMAGES), default=None,
                   help=f"plain renderer: training images, {ranged(bounds.IMAGES)} (default 20000)")
    q.add_argument("--test", type=whole_number(bounds.IMAGES), default=None,
                   help=f"plain renderer: held-out-font test images, {ranged(bounds.IMAGES)} (default 4000)")
    q.add_argument("--seed", type=whole_number(bounds.SEED), default=0, help=f"{ranged(bounds.SEED)} (default 0)")
    q.add_argument("--scenes", action="store_true",
                   help="write the images `svhn train --recipe R --seed S` trains on (scenes and plain digits)")
    q.add_argument("--recipe", choices=("shipped", "quick"), default=None, help="with --scenes (default shipped)")
    q.add_argument("--images", type=whole_number(bounds.IMAGES), default=None,
                   help=f"with --scenes: how many, {ranged(bounds.IMAGES)} (default: the recipe's own count, i.e. "
                   "its very training set; another count draws the same mix anew)")
    q.add_argument("--format", choices=("mat", "folder"), default=None,
                   help="with --scenes: train_32x32.mat (default) or an image folder DIR/0/ ... DIR/9/")
    q.add_argument("--quick", action="store_true", help=f"with --scenes: {QUICK_SCENES:,} images (not with --images)")
    q.add_argument("--json", action="store_true", help="print what was written as one JSON object")
    q.add_argument("--force", action="store_true", help="replace files in --out that dlexam did not write")
    q.set_defaults(handler=cmd_synth)
    _register_mnist(s)
    _register_train(s)
    register_inference(s)


def _register_mnist(s) -> None:

    q = s.add_parser("mnist", help="write the shared MNIST test digits as SVHN-format .mat files",
                     fields={"n_train": "train"})  # write_mnist_as_svhn's name of --train
    q.add_argument("--out", required=True, type=out_folder, help="folder for train_32x32.mat and test_32x32.mat")
    q.add_argument("--train", type=whole_number(bounds.MNIST_TRAIN), default=8000,
                   help=f"the first N digits train, the rest test; {ranged(bounds.MNIST_TRAIN)} (default 8000)")
    q.add_argument("--mnist-dir", type=existing("MNIST folder", Path), default=None,
                   help="the folder of MNIST's t10k IDX files (default: data/mnist-t10k in the shared folder)")
    q.add_argument("--force", action="store_true", help="replace .mat files in --out that dlexam did not write")
    q.set_defaults(handler=cmd_mnist)


def _register_train(s) -> None:
    q = s.add_parser("train", help="train the CNN; checkpoints, metrics and curves in --out")
    q.add_argument("--data", type=path, help="folder with train_32x32.mat, or an image folder DIR/0/ ... DIR/9/")
    q.add_argument(
        "--recipe",
        choices=("shipped", "quick"),
        default=None,
        help="make the data too (offline) and train as the named recipe; 'shipped' rebuilds the shipped model",
    )
    q.add_argument("--init", default=None, type=path_text, metavar="shipped|CHECKPOINT",
                   help="fine-tune: start from the shipped model or a checkpoint / run directory of the exam CNN "
                   "(defaults then: 5 epochs, batch 128, lr 0.01 for sgd, 0.0003 for adam)")
    q.add_argument("--out", required=True, type=out_folder, help="run directory")
    q.add_argument("--epochs", type=whole_number(bounds.EPOCHS), default=None,
                   help=f"{ranged(bounds.EPOCHS)} (default 10, 5 with --init, 2 with --quick; --resume: the run's "
                   "own, or a new total)")
    q.add_argument("--batch-size", type=whole_number(bounds.SVHN_BATCH), default=None,
                   help=f"{ranged(bounds.SVHN_BATCH)} (default 256, 128 with --init)")
    q.add_argument("--lr", type=number_in(bounds.SVHN_LR), default=None,
                   help=f"{ranged(bounds.SVHN_LR)} (default 0.1 for sgd, 0.003 for adam; a tenth of that with --init)")
    q.add_argument("--optimizer", choices=("sgd", "adam"), default=None, help="default sgd")
    q.add_argument("--seed", type=whole_number(bounds.SEED), default=None, help=f"{ranged(bounds.SEED)} (default 0)")
    q.add_argument("--threads", type=threads(), default=None,
                   help=f"CPU threads, {ranged(limits.thread_span(), limits.threads_note())} (default: PyTorch's "
                   "choice; under torchrun each rank's, by default the CPUs shared out; --resume: the run's own, and "
                   "another is refused)")
    q.add_argument("--val-fraction", type=number_in(bounds.VAL_FRACTION), default=None,
                   help=f"{ranged(bounds.VAL_FRACTION)} (default 0.1)")
    q.add_argument("--split-seed", type=whole_number(bounds.SEED), default=None,
                   help=f"seed of the train/validation split, {ranged(bounds.SEED)} (default 0)")
    _model_options(q)
    q.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last.pt, with its own settings (a flag that differs "
                   "is refused; --epochs may change, --data may say where its data now are)")
    q.add_argument("--quick", action="store_true",
                   help="2,048 images and 2 epochs (unless --epochs says otherwise): an end-to-end check")
    q.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    q.add_argument("--json", action="store_true",
                   help="print the run's summary as one JSON object: its epochs' history, settings and start "
                   "(docs/svhn.md); progress stays on stderr")
    q.set_defaults(handler=cmd_train, distributed=True)  # runs under torchrun: cli.main says a refusal once


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run as: dlexam svhn ...")
