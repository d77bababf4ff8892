#!/usr/bin/env python3
"""Data-store flow timings: epochs trained from the image through the board emulator versus the
golden model's own loop, and what the serial link would cost per sample.

For each dataset and board it builds the image (``xnorlearn.sw.store``), trains ``--epochs``
epochs through ``BoardEmulator`` over its pseudo-terminal (STORE_INFO, TRAIN_STORE chunks,
EVAL_STORE) and the same epochs with ``run_training`` on ``HwModel``, checks that their
accuracies agree, and prints a Markdown table: image size and the board's free flash, seconds
per epoch on both, and the samples/s a 115 200 Bd link allows when every sample travels as a
TRAIN request (request and reply frames, 10 bits per byte). The emulator's seconds measure the
host flow around the golden model, not a chip.

    python scripts/bench_store.py                                   # digits, icebreaker
    python scripts/bench_store.py --datasets digits,fashion-mnist --boards icebreaker,ulx3s-85f
"""

import argparse
import sys
import time

from xnorlearn.boards.cli import store_config
from xnorlearn.boards.emulator import BoardEmulator
from xnorlearn.sw import protocol as proto
from xnorlearn.sw import store
from xnorlearn.sw.cli import build_parser
from xnorlearn.sw.datasets import load_dataset
from xnorlearn.sw.driver import ChipTrainer, Device, SerialTransport, SyncChipTrainer, run_sync
from xnorlearn.sw.model import HwModel
from xnorlearn.sw.train import run_training, warm_up

BAUD = 115_200


def uart_samples_per_s(cfg, baud=BAUD):
    """TRAIN over the link: request frame (header, label + sample, CRC) and its reply (header,
    prediction, CRC), 10 bits per byte, nothing overlapped."""
    request = proto.HEADER_BYTES + proto.record_bytes(cfg) + 2
    reply = proto.HEADER_BYTES + 1 + 2
    return baud / (10 * (request + reply))


def run(dataset_name, board_name, epochs):
    ds = load_dataset(dataset_name, seed=42)
    args = build_parser().parse_args(["train", "--target", "emulator", "--board", board_name])
    board, cfg = store_config(args, ds)
    image = store.build_image(cfg, ds)
    header = store.check_image(image, cfg, ds)
    fits = len(image) <= board.store_capacity
    gold_model = HwModel(cfg)
    warm_up(gold_model, ds)
    gold = run_training(gold_model, ds, epochs, seed=cfg.seed, variant="hw")
    with BoardEmulator(cfg, store=image) as emu:
        transport = SerialTransport(emu.port)
        try:
            chip = SyncChipTrainer(ChipTrainer(run_sync(Device.connect(transport, cfg)), cfg))
            trainer = store.StoreTrainer(chip, cfg.seed)
            store.check_store_info(*trainer.store_info(), cfg, header)
            chip.init()
            t0 = time.perf_counter()
            r = store.run_store_training(trainer, ds, epochs, samples_per_s=store.
                                         estimate_samples_per_s(cfg, board.core_hz))
            wall = time.perf_counter() - t0
        finally:
            transport.close()
    same = all((a.train_accuracy, a.test_accuracy) == (b.train_accuracy, b.test_accuracy)
               for a, b in zip(r.epochs, gold.epochs))
    uart = uart_samples_per_s(cfg)
    return {"dataset": ds.name, "board": board.name, "network": "-".join(map(str, cfg.widths)),
            "n_train": len(ds.y_train), "image": len(image), "free": board.store_capacity,
            "fits": fits, "emu_epoch_s": sum(e.train_seconds for e in r.epochs) / epochs,
            "emu_wall_epoch_s": wall / epochs,
            "gold_epoch_s": sum(e.train_seconds for e in gold.epochs) / epochs,
            "uart_per_s": uart, "uart_epoch_s": len(ds.y_train) / uart, "same": same}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="digits")
    p.add_argument("--boards", default="icebreaker")
    p.add_argument("--epochs", type=int, default=2)
    a = p.parse_args()
    rows = [run(d, b, a.epochs) for d in a.datasets.split(",") for b in a.boards.split(",")]
    print("| dataset | board | network | train records | image bytes | free flash | "
          "emulator s/epoch (train, with eval) | golden s/epoch | 115 200 Bd TRAIN: "
          "samples/s, s/epoch | same accuracies |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|:-:|")
    for r in rows:
        free = f"{r['free']:,}" + ("" if r["fits"] else " (too small)")
        print(f"| {r['dataset']} | {r['board']} | {r['network']} | {r['n_train']:,} | "
              f"{r['image']:,} | {free} | {r['emu_epoch_s']:.3f}, {r['emu_wall_epoch_s']:.3f} | "
              f"{r['gold_epoch_s']:.3f} | {r['uart_per_s']:,.0f}, {r['uart_epoch_s']:,.0f} | "
              f"{'yes' if r['same'] else 'NO'} |")
    return 0 if all(r["same"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
