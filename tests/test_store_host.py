"""The data store on the host side: images (sw/store.py), the store training loop, the board
emulator's store commands, writing the image into a board's flash, and ``train --target
emulator / board`` through the image flow, with every refusal as one clear line."""

import dataclasses
import json
import os

import pytest

from xnorlearn.boards import registry
from xnorlearn.boards.emulator import BoardEmulator, FlashStore, execute
from xnorlearn.boards.program import check_store_fits, store_command
from xnorlearn.boards.registry import BOARDS, STORE_ALIGN, get_board
from xnorlearn.sw import prng
from xnorlearn.sw import protocol as proto
from xnorlearn.sw import store
from xnorlearn.sw.cli import main
from xnorlearn.sw.config import Config
from xnorlearn.sw.datasets import load_dataset
from xnorlearn.sw.driver import ChipTrainer, Device, SerialTransport, SyncChipTrainer, run_sync
from xnorlearn.sw.model import HwModel
from xnorlearn.sw.protocol import Command, Status, StoreCheck, StoreError
from xnorlearn.sw.train import run_training

from conftest import one_line_error

# images go to a cache of each test's own
pytestmark = pytest.mark.usefixtures("cache")


def small_cfg(ds, **kw):
    d = dict(n_inputs=ds.n_inputs, layers=(32,), group_sizes=8, n_classes=ds.n_classes,
             lanes=4, batch=50)
    d.update(kw)
    return Config(**d)


def _epochs(path):
    return [(e["train_accuracy"], e["test_accuracy"], e["reinforce_p"], e["tables"])
            for e in json.loads(path.read_text())["epochs"]]


def _golden_with(tmp_path, result_json, *extra):
    """The golden model on the configuration ``result_json`` reports, same data flags."""
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(json.loads(result_json.read_text())["config"]))
    out = tmp_path / "golden.json"
    assert main(["train", "--config", str(cfg_path), "--json", str(out), "--no-progress",
                 *extra]) == 0
    return out


# ------------------------------------------------------------------------------ the must-show
def test_train_target_emulator_equals_golden_model(tmp_path, capsys, cache):
    """`xnorlearn train --target emulator --board icebreaker --dataset digits --epochs 2
    --json OUT` trains through the image flow; its accuracies are the golden model's."""
    out = tmp_path / "emu.json"
    assert main(["train", "--target", "emulator", "--board", "icebreaker", "--dataset",
                 "digits", "--epochs", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "from its data store" in text and "epoch   2/2" in text and "samples/s" in text
    images = list((cache / "store").glob("digits-thermometer-*.bin"))
    assert len(images) == 1                                   # cached by content hash
    h = proto.StoreHeader.parse(images[0].read_bytes())
    assert (h.identity, h.n_train, h.n_test) == ("digits/thermometer", 1438, 359)
    r = json.loads(out.read_text())
    assert r["config"]["n_inputs"] == 512 and r["config"]["uart_divisor"] == 7   # 3 Mbaud
    assert (r["target"], r["board"], r["data_source"]) == ("emulator", "icebreaker", "store")
    assert r["store"]["image"] == str(images[0]) and r["store"]["flash_offset"] == 1 << 20
    assert len(r["epochs"]) == 2
    gold = _golden_with(tmp_path, out, "--dataset", "digits", "--epochs", "2")
    assert _epochs(out) == _epochs(gold)


def test_store_loop_equals_run_training(digits):
    """run_store_training through the emulator (chunks that do not divide the epoch) gives
    run_training's accuracies, probabilities and tables on the golden model, epoch by epoch."""
    cfg = small_cfg(digits, seed=7, layers=(24, 16), group_sizes=(8, 4))
    gold = run_training(HwModel(cfg), digits, 3, seed=cfg.seed, variant="hw")
    image = store.build_image(cfg, digits)
    with BoardEmulator(cfg, store=image) as emu:
        transport = SerialTransport(emu.port)
        try:
            chip = SyncChipTrainer(ChipTrainer(run_sync(Device.connect(transport, cfg)), cfg))
            chip.init()
            trainer = store.StoreTrainer(chip, cfg.seed)
            store.check_store_info(*trainer.store_info(), cfg,
                                   store.check_image(image, cfg, digits))
            r = store.run_store_training(trainer, digits, 3, samples_per_s=1000, chunk=333)
        finally:
            transport.close()
        requests = dict(emu.requests)
    assert requests["TRAIN_STORE"] == 3 * 5 and requests["EVAL_STORE"] == 3 * 2
    assert "TRAIN" not in requests and "INFER" not in requests
    assert [(e.train_accuracy, e.test_accuracy, e.reinforce_p, e.tables) for e in r.epochs] == \
           [(e.train_accuracy, e.test_accuracy, e.reinforce_p, e.tables) for e in gold.epochs]
    assert r.variant == "hw" and r.dataset == gold.dataset


def test_emulator_with_samples_over_the_link(tmp_path, capsys):
    """--target emulator --data-source uart: every sample a TRAIN request, same numbers."""
    cfg = Config(n_inputs=64, layers=(32,), group_sizes=8, n_classes=10, lanes=4, batch=50)
    path = tmp_path / "small.json"
    cfg.save(path)
    common = ["--dataset", "digits", "--encoding", "median", "--config", str(path),
              "--epochs", "2", "--no-progress"]
    out = tmp_path / "uart.json"
    assert main(["train", "--target", "emulator", "--board", "icebreaker", "--data-source",
                 "uart", "--json", str(out), *common]) == 0
    assert "samples over the serial link" in capsys.readouterr().out
    assert json.loads(out.read_text())["data_source"] == "uart"
    assert main(["train", "--json", str(tmp_path / "gold.json"), *common]) == 0
    assert _epochs(out) == _epochs(tmp_path / "gold.json")


def test_save_through_the_store_flow_equals_golden(tmp_path):
    """--save works with the store flow: the counters read back make the golden checkpoint."""
    from xnorlearn.sw import checkpoint
    from xnorlearn.sw.model import compare_states
    common = ["--dataset", "digits", "--encoding", "median", "--epochs", "2", "--no-progress",
              "--layers", "32", "--group-size", "8"]
    assert main(["train", "--target", "emulator", "--board", "icebreaker", "--save",
                 str(tmp_path / "emu.npz"), "--json", str(tmp_path / "emu.json"),
                 *common]) == 0
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(json.loads((tmp_path / "emu.json").read_text())["config"]))
    assert main(["train", "--config", str(cfg_path), "--save", str(tmp_path / "gold.npz"),
                 "--dataset", "digits", "--encoding", "median", "--epochs", "2",
                 "--no-progress"]) == 0
    e, g = checkpoint.load(tmp_path / "emu.npz"), checkpoint.load(tmp_path / "gold.npz")
    assert e.target == "emulator" and e.epoch == g.epoch == 2
    assert compare_states(g.counters, e.counters) is None
    assert (e.ctrl == g.ctrl).all() and (e.tables == g.tables).all()


# ------------------------------------------------------------------------------ the emulator
def test_emulator_store_commands(digits):
    cfg = small_cfg(digits)
    image = store.build_image(cfg, digits)
    h = proto.StoreHeader.parse(image)
    m = HwModel(cfg)
    # no image: a design without a store
    for code in (Command.STORE_INFO, Command.TRAIN_STORE, Command.EVAL_STORE):
        assert execute(cfg, m, code, b"")[0] == Status.UNKNOWN
    fs = FlashStore(image)
    status, payload = execute(cfg, m, Command.STORE_INFO, b"", store=fs)
    assert status == Status.OK and proto.parse_store_info(payload) == (0, image[:64])
    # TRAIN_STORE trains positions p of the epoch order: record order_index(order_key, p, n)
    ref = HwModel(cfg)
    key = prng.order_key(cfg.seed, 3)
    idx = [prng.order_index(key, p, h.n_train) for p in range(10, 70)]
    preds = ref.train(digits.x_train[idx], digits.y_train[idx])
    status, payload = execute(cfg, m, Command.TRAIN_STORE,
                              proto.train_store_request(cfg.seed, 3, 10, 60), store=fs)
    assert status == Status.OK
    assert proto.parse_correct(payload) == int((preds == digits.y_train[idx]).sum())
    assert all((a == b).all() for a, b in zip(m.state(), ref.state()))
    assert m.train_samples == 60
    # EVAL_STORE: records in record order
    status, payload = execute(cfg, m, Command.EVAL_STORE, proto.eval_store_request(1, 5, 100),
                              store=fs)
    want = int((ref.predict(digits.x_test[5:105]) == digits.y_test[5:105]).sum())
    assert status == Status.OK and proto.parse_correct(payload) == want
    # ranges beyond the split, count 0, a bad split: BAD_ARG, nothing trained
    for code, p in ((Command.TRAIN_STORE, proto.train_store_request(1, 0, h.n_train - 3, 4)),
                    (Command.TRAIN_STORE, bytes(16)),
                    (Command.EVAL_STORE, proto.eval_store_request(1, h.n_test, 1)),
                    (Command.EVAL_STORE, bytes([2]) + bytes(8))):
        assert execute(cfg, m, code, p, store=fs) == (Status.BAD_ARG, b"")
    assert m.train_samples == 60


def test_emulator_bad_store_and_bad_label(digits):
    cfg = small_cfg(digits)
    image = bytearray(store.build_image(cfg, digits))
    h = proto.StoreHeader.parse(image)
    # a corrupt header: STORE_INFO says UNREADABLE with the raw bytes; the rest BAD_STORE
    bad = bytearray(image)
    bad[13] ^= 0x40
    m = HwModel(cfg)
    status, payload = execute(cfg, m, Command.STORE_INFO, b"", store=bytes(bad))
    assert status == Status.OK and proto.parse_store_info(payload) == (StoreCheck.UNREADABLE,
                                                                       bytes(bad[:64]))
    assert execute(cfg, m, Command.TRAIN_STORE, proto.train_store_request(1, 0, 0, 1),
                   store=bytes(bad)) == (Status.BAD_STORE, b"")
    assert execute(cfg, m, Command.EVAL_STORE, proto.eval_store_request(0, 0, 1),
                   store=bytes(bad)) == (Status.BAD_STORE, b"")
    # an image for another design: its verdict, BAD_STORE
    other = small_cfg(digits, n_classes=12)
    assert execute(other, HwModel(other), Command.TRAIN_STORE,
                   proto.train_store_request(1, 0, 0, 1), store=bytes(image)) == \
        (Status.BAD_STORE, b"")
    # a record with a label out of range stops TRAIN_STORE: records before it are trained
    order = prng.epoch_order(cfg.seed, 0, h.n_train)
    victim = int(order[25])
    image[h.record_offset(proto.SPLIT_TRAIN, victim)] = cfg.n_classes
    ref = HwModel(cfg)
    ref.train(digits.x_train[order[:25]], digits.y_train[order[:25]])
    m = HwModel(cfg)
    assert execute(cfg, m, Command.TRAIN_STORE, proto.train_store_request(cfg.seed, 0, 0, 40),
                   store=bytes(image)) == (Status.BAD_ARG, b"")
    assert m.train_samples == 25
    assert all((a == b).all() for a, b in zip(m.state(), ref.state()))


# ------------------------------------------------------------------------------ images
def test_image_checks(digits, tmp_path):
    cfg = small_cfg(digits)
    image = store.build_image(cfg, digits)
    assert store.check_image(image, cfg, digits).identity == "digits/median"
    path = tmp_path / "img.bin"
    path.write_bytes(image)
    assert store.load_image(path) == image
    with pytest.raises(StoreError, match="not found"):
        store.load_image(tmp_path / "nope.bin")
    with pytest.raises(StoreError, match="magic"):
        (tmp_path / "erased.bin").write_bytes(b"\xff" * 100)
        store.load_image(tmp_path / "erased.bin")
    with pytest.raises(StoreError, match=r"truncated: 1000 bytes, its header says "
                                         rf"{len(image)}"):
        store.check_image(image[:1000], cfg, digits)
    corrupt = bytearray(image)
    corrupt[-1] ^= 1
    with pytest.raises(StoreError, match="corrupt"):
        store.check_image(bytes(corrupt), cfg, digits)
    other = load_dataset("digits", encoding="median", seed=3)    # another split: stale
    with pytest.raises(StoreError, match="stale"):
        store.check_image(store.build_image(cfg, other), cfg, digits)
    renamed = proto.store_image(cfg, digits.x_train, digits.y_train, digits.x_test,
                                digits.y_test, identity="fashion-mnist/median")
    with pytest.raises(StoreError, match="holds dataset 'fashion-mnist/median', this run "
                                         "trains 'digits/median'"):
        store.check_image(renamed, cfg, digits)
    with pytest.raises(StoreError, match="64-bit samples, the design takes 512"):
        store.check_image(image, small_cfg(digits, n_inputs=512), digits)
    with pytest.raises(StoreError, match="10 classes, the design has 12"):
        store.check_image(image, small_cfg(digits, n_classes=12), digits)
    assert store.image_identity(dataclasses.replace(digits, name="ünïcode table " * 4)) \
        .endswith("/median")
    assert len(store.image_identity(dataclasses.replace(digits, name="x" * 40))) == 24


# ------------------------------------------------------------------------------ refusals: CLI
DIGITS_MEDIAN = ["--dataset", "digits", "--encoding", "median", "--epochs", "1",
                 "--no-progress"]


def test_image_larger_than_the_flash(monkeypatch, capsys):
    # FashionMNIST's 70 000 records of 99 bytes on a 4 MiB flash
    with pytest.raises(StoreError, match=r"needs 6,930,064 bytes but upduino3's flash has "
                                         r"3,145,728 bytes after the store offset 0x100000.*"
                                         r"SDRAM is not supported"):
        check_store_fits(get_board("upduino3"), 64 + 70_000 * 99)
    small = dataclasses.replace(BOARDS["icebreaker"], flash_bytes=(1 << 20) + 4096)
    monkeypatch.setitem(registry.BOARDS, "icebreaker", small)
    assert main(["train", "--target", "emulator", "--board", "icebreaker",
                 *DIGITS_MEDIAN]) == 2
    need = 64 + (1438 + 359) * 9
    one_line_error(capsys, f"needs {need:,} bytes", "has 4,096 bytes", "SDRAM")


def board_cfg(ds):
    """The configuration `train --target board --board icebreaker --layers 32 --group-size 8`
    uses on ``ds`` (what the test's emulated bitstream must be built for)."""
    from xnorlearn.boards.cli import store_config
    from xnorlearn.sw.cli import build_parser
    args = build_parser().parse_args(["train", "--target", "board", "--board", "icebreaker",
                                      "--layers", "32", "--group-size", "8"])
    return store_config(args, ds)[1]


def _fake_tool(tmp_path, monkeypatch, var="ICEPROG", status=0):
    log = tmp_path / "programmer.log"
    tool = tmp_path / "fake-programmer"
    tool.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\nexit {status}\n")
    tool.chmod(0o755)
    monkeypatch.setenv(var, str(tool))
    return log


def test_target_board_writes_the_image_and_trains(tmp_path, monkeypatch, capsys, digits):
    """--target board: the image is written at the store offset (a stand-in programmer), then
    the board (an emulator holding the image) trains from it, as --target emulator does."""
    log = _fake_tool(tmp_path, monkeypatch)
    flags = ["--layers", "32", "--group-size", "8", *DIGITS_MEDIAN[:-3], "--epochs", "2",
             "--no-progress"]
    emu_json = tmp_path / "emu.json"
    assert main(["train", "--target", "emulator", "--board", "icebreaker", "--json",
                 str(emu_json), *flags]) == 0
    cfg = Config.from_dict(json.loads(emu_json.read_text())["config"])
    with BoardEmulator(cfg, store=store.build_image(cfg, digits)) as emu:
        out = tmp_path / "board.json"
        assert main(["train", "--target", "board", "--board", "icebreaker", "--port",
                     emu.port, "--json", str(out), *flags]) == 0
        requests = dict(emu.requests)
    text = capsys.readouterr().out
    argv = log.read_text().split()
    assert argv[:2] == ["-o", "1048576"] and argv[2].endswith(".bin")
    assert f"on board icebreaker ({emu.port}) from its data store" in text
    assert requests["STORE_INFO"] == 1 and requests["TRAIN_STORE"] >= 2
    assert _epochs(out) == _epochs(emu_json)


@pytest.mark.parametrize("flash,needles", [
    ("corrupt", ["verdict 0x01", "CRC mismatch"]),
    ("erased", ["verdict 0x01", "wrong magic"]),
    ("other-design", ["verdict 0x06", "record size, input bits", "512-bit samples"]),
    ("stale", ["the board's data store is stale"]),
    ("other-dataset", ["the board's data store holds dataset 'digits/thermometer', this "
                       "run trains 'digits/median'"]),
])
def test_board_store_refusals(flash, needles, tmp_path, monkeypatch, capsys, digits):
    """STORE_INFO refusals: the board's flash holds no usable image, one for another design,
    or not the image this run trains on (stale)."""
    _fake_tool(tmp_path, monkeypatch)
    cfg = board_cfg(digits)
    good = store.build_image(cfg, digits)
    held = {"corrupt": good[:20] + bytes([good[20] ^ 1]) + good[21:],
            "erased": b"\xff" * 4096,
            "other-design": store.build_image(
                small_cfg(load_dataset("digits", encoding="thermometer")), load_dataset(
                    "digits", encoding="thermometer")),
            "stale": store.build_image(cfg, load_dataset("digits", encoding="median",
                                                          seed=5)),
            "other-dataset": store.build_image(
                small_cfg(digits, n_inputs=512),
                load_dataset("digits", encoding="thermometer"))[:64] + good[64:],
            }[flash]
    if flash == "other-dataset":          # same design, another dataset's header
        h = proto.StoreHeader.parse(held)
        held = dataclasses.replace(h, n_inputs=cfg.n_inputs,
                                   record_bytes=proto.record_bytes(cfg)).pack() + good[64:]
    with BoardEmulator(cfg, store=held) as emu:
        rc = main(["train", "--target", "board", "--board", "icebreaker", "--port", emu.port,
                   "--layers", "32", "--group-size", "8", *DIGITS_MEDIAN])
        requests = dict(emu.requests)
    assert rc == 2
    one_line_error(capsys, *needles)
    assert "TRAIN_STORE" not in requests and "INIT" not in requests


def test_board_without_a_store(tmp_path, monkeypatch, capsys, digits):
    _fake_tool(tmp_path, monkeypatch)
    cfg = board_cfg(digits)
    with BoardEmulator(cfg) as emu:          # a bitstream built without a store
        rc = main(["train", "--target", "board", "--board", "icebreaker", "--port", emu.port,
                   "--layers", "32", "--group-size", "8", *DIGITS_MEDIAN])
    assert rc == 1
    one_line_error(capsys, "STORE_INFO", "UNKNOWN", "--data-source uart")


def test_image_file_refusals(tmp_path, capsys, digits):
    """--image: a stale image, another dataset, another configuration, a truncated file."""
    cfg = board_cfg(digits)
    files = {
        "stale": store.build_image(cfg, load_dataset("digits", encoding="median", seed=9)),
        "wide": store.build_image(small_cfg(digits, n_inputs=512),
                                  load_dataset("digits", encoding="thermometer")),
        "truncated": store.build_image(cfg, digits)[:5000],
        "renamed": proto.store_image(cfg, digits.x_train, digits.y_train, digits.x_test,
                                     digits.y_test, identity="iris/median"),
    }
    needles = {"stale": ["stale"], "wide": ["512-bit samples, the design takes 64"],
               "truncated": ["truncated: 5000 bytes"],
               "renamed": ["holds dataset 'iris/median'"]}
    for name, data in files.items():
        path = tmp_path / f"{name}.bin"
        path.write_bytes(data)
        assert main(["train", "--target", "emulator", "--board", "icebreaker", "--image",
                     str(path), "--layers", "32", "--group-size", "8", *DIGITS_MEDIAN]) == 2
        one_line_error(capsys, *needles[name])
    assert main(["train", "--target", "emulator", "--board", "icebreaker", "--image",
                 str(tmp_path / "missing.bin"), *DIGITS_MEDIAN]) == 2
    one_line_error(capsys, "missing.bin not found")


def test_programmer_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    for var in ("ICEPROG", "OPENFPGALOADER"):
        monkeypatch.delenv(var, raising=False)
    for board, tool, pkg in (("icebreaker", "iceprog", "fpga-icestorm"),
                             ("ulx3s-25f", "openFPGALoader", "openfpgaloader")):
        medium = ["--store-medium", "flash"] if board.startswith("ulx3s") else []
        assert main(["train", "--target", "board", "--board", board, "--port", "/dev/null",
                     *medium, *DIGITS_MEDIAN]) == 1
        one_line_error(capsys, f"programmer '{tool}' not found", f"apt-get install {pkg}",
                       "--dry-run")


def test_dry_run_prints_the_write_commands(capsys, cache):
    expect = {"icebreaker": "iceprog -o 1048576 ",
              "upduino3": "iceprog -o 1048576 ",
              "ulx3s-25f": "openFPGALoader -b ulx3s -f --offset 1048576 ",
              "ulx3s-85f": "openFPGALoader -b ulx3s -f --offset 3145728 ",
              "orangecrab-85f": "openFPGALoader -c ft2232 -f --offset 4194304 "}
    for board, head in expect.items():
        # the ULX3S keeps its store in SDRAM by default: its flash store on request
        medium = ["--store-medium", "flash"] if board.startswith("ulx3s") else []
        assert main(["train", "--target", "board", "--board", board, "--dry-run", *medium,
                     *DIGITS_MEDIAN]) == 0
        out = capsys.readouterr().out
        line = out.splitlines()[0]
        assert line.startswith("would run: " + head) and line.endswith(".bin"), out
        assert os.path.isfile(line.split()[-1])
        assert f"offset 0x{BOARDS[board].store_offset:x}" in out
        # no programmer of ours sets the flash's Quad Enable bit (openFPGALoader cannot on
        # the ULX3S's parts): the ULX3S reads its flash store in dual SPI
        assert "--enable-quad" not in out
    # the argv itself, for a given file
    assert store_command(BOARDS["icebreaker"], "i.bin")[1:] == ["-o", "1048576", "i.bin"]


def test_flag_refusals(capsys):
    cases = [
        (["--image", "x.bin"], "--image only apply with --target board or emulator"),
        (["--dry-run"], "--dry-run only apply with --target board or emulator"),
        (["--data-source", "store"], "only apply with --target board or emulator"),
        (["--target", "emulator"], "--target emulator needs --board NAME"),
        (["--target", "emulator", "--board", "icebreaker", "--port", "/dev/null"],
         "--port only apply with --target board"),
        (["--target", "emulator", "--board", "icebreaker", "--dry-run"],
         "--dry-run only apply with --target board"),
        (["--target", "board", "--board", "icebreaker", "--data-source", "uart", "--image",
          "x.bin", "--port", "/dev/null"], "--image only apply with --data-source store"),
        (["--target", "board", "--board", "icebreaker"], "needs --board NAME and --port"),
        (["--target", "emulator", "--board", "nope"], "unknown board 'nope'"),
        (["--target", "emulator", "--board", "icebreaker", "--variant", "paper"],
         "--target emulator trains the hw variant"),
    ]
    for extra, needle in cases:
        assert main(["train", "--no-progress", "--epochs", "1", *extra]) == 2, extra
        one_line_error(capsys, needle)


def test_registry_flash_facts():
    for b in BOARDS.values():
        assert b.flash_mode in ("quad", "dual", "single") and b.flash_bytes >= 4 << 20
        assert b.store_offset % STORE_ALIGN == 0, b.name
        assert b.store_offset >= b.bitstream_offset + b.device.bitstream_bytes, b.name
        assert b.store_capacity > 0 and b.store_programmer
    assert (BOARDS["icebreaker"].flash_bytes, BOARDS["icebreaker"].store_offset) == \
           (16 << 20, 1 << 20)
    assert BOARDS["upduino3"].flash_bytes == 4 << 20
    assert BOARDS["orangecrab-85f"].store_offset >= 0x400000
    assert BOARDS["ulx3s-12f"].flash_bytes == BOARDS["ulx3s-25f"].flash_bytes   # 12F override


def test_ctrl_c_keeps_the_finished_epochs(digits):
    """KeyboardInterrupt inside an epoch's TRAIN_STORE: the finished epochs come with it."""
    cfg = small_cfg(digits)

    class Chip:                       # the golden model behind StoreTrainer's interface
        def __init__(self):
            self.cfg, self.m, self.calls = cfg, HwModel(cfg), 0
            self.fs = FlashStore(store.build_image(cfg, digits))

        tables = property(lambda self: self.m.tables)

        def set_accuracy(self, a):
            self.m.set_accuracy(a)

        def reset_counters(self):
            self.m.reset_counters()

        def end_epoch(self):
            self.m.end_epoch()

        def _run(self, code, payload):
            status, reply = execute(cfg, self.m, code, payload, store=self.fs)
            assert status == Status.OK
            return proto.parse_correct(reply)

        def train_store(self, epoch, first, count, busy_s):
            self.calls += 1
            if epoch == 1 and first > 0:
                raise KeyboardInterrupt
            return self._run(Command.TRAIN_STORE,
                             proto.train_store_request(cfg.seed, epoch, first, count))

        def eval_store(self, split, first, count, busy_s):
            return self._run(Command.EVAL_STORE, proto.eval_store_request(split, first, count))

    gold = run_training(HwModel(cfg), digits, 1, seed=cfg.seed, variant="hw")
    with pytest.raises(KeyboardInterrupt) as info:
        store.run_store_training(Chip(), digits, 3, samples_per_s=500)
    r = info.value.result
    assert r.interrupted and len(r.epochs) == 1
    assert (r.epochs[0].train_accuracy, r.epochs[0].test_accuracy) == \
           (gold.epochs[0].train_accuracy, gold.epochs[0].test_accuracy)


# ------------------------------------------------------------------------------ faster links
def test_uart_divisor_for_a_faster_link():
    ib, ulx = BOARDS["icebreaker"], BOARDS["ulx3s-85f"]
    # the default is the board's rate: the fastest its USB-serial chip carries
    assert ib.divisor_for() == ib.divisor_for(3_000_000) == ib.uart_divisor == 7
    assert ib.divisor_for(115_200) == 182 and ulx.divisor_for(3_000_000) == 20
    assert BOARDS["upduino3"].uart_divisor == 182               # an adapter: 115 200
    assert ib.usb_serial_baud == ulx.usb_serial_baud == 3_000_000
    assert ib.config_for(Config(), 3_000_000).uart_divisor == 7
    with pytest.raises(registry.BoardError, match="faster than its USB-serial chip"):
        ib.divisor_for(4_000_000)
    with pytest.raises(registry.BoardError, match="at least 4"):
        BOARDS["upduino3"].divisor_for(7_000_000)          # an adapter: no chip limit
    with pytest.raises(registry.BoardError, match=r"5.0 % off with divisor 8"):
        ib.divisor_for(2_500_000)


def test_baud_flows_into_the_configuration(tmp_path, capsys, monkeypatch):
    """train --baud expects a bitstream built for that rate (the divisor is in its digest);
    build --baud builds it."""
    cfg = Config(n_inputs=64, layers=(32,), group_sizes=8, n_classes=10, lanes=4, batch=50)
    path = tmp_path / "small.json"
    cfg.save(path)
    common = ["--target", "board", "--data-source", "uart", "--board", "icebreaker",
              "--dataset", "digits", "--encoding", "median", "--config", str(path),
              "--epochs", "1", "--no-progress"]
    fast = get_board("icebreaker").config_for(cfg, 3_000_000)
    with BoardEmulator(fast) as emu:
        assert main(["train", "--port", emu.port, "--baud", "3000000", *common]) == 0
        assert main(["train", "--port", emu.port, *common]) == 0      # the board's rate
        assert main(["train", "--port", emu.port, "--baud", "115200", *common]) == 1
    assert "mismatched bitstream" in capsys.readouterr().err
    assert main(["train", "--port", "/dev/null", "--baud", "4000000", *common]) == 2
    one_line_error(capsys, "4000000 Bd is faster than its USB-serial chip")
    import xnorlearn.boards.build as build_mod
    seen = {}

    def fake(board, cfg, **kw):
        seen.update(kw, given=cfg.uart_divisor,
                    divisor=board.config_for(cfg, kw.get("baud")).uart_divisor)
        raise build_mod.BuildError("stop here")
    monkeypatch.setattr(build_mod, "build", fake)
    assert main(["build", "--board", "ulx3s-25f", "--baud", "3000000"]) == 1
    assert seen["baud"] == 3_000_000 and seen["given"] == seen["divisor"] == 20


@pytest.mark.parametrize("source", ["store", pytest.param("uart", marks=pytest.mark.slow)])
def test_resume_on_the_chip(source, tmp_path, capsys):
    """--resume on a chip target (INIT, WRITE_STATE, SET_BATCH): 2 epochs, save, resume to 4
    equals 4 epochs straight, epoch by epoch and counter by counter."""
    from xnorlearn.sw import checkpoint
    from xnorlearn.sw.model import compare_states
    cfg = Config(n_inputs=64, layers=(32,), group_sizes=8, n_classes=10, lanes=4, batch=50)
    path = tmp_path / "small.json"
    cfg.save(path)
    chip = ["--target", "emulator", "--board", "icebreaker", "--data-source", source]
    data = ["--dataset", "digits", "--encoding", "median", "--no-progress"]
    assert main(["train", *chip, *data, "--config", str(path), "--epochs", "4", "--save",
                 str(tmp_path / "straight.npz"), "--json", str(tmp_path / "straight.json")]) == 0
    assert main(["train", *chip, *data, "--config", str(path), "--epochs", "2", "--save",
                 str(tmp_path / "half.npz")]) == 0
    assert main(["train", *chip, *data, "--resume", str(tmp_path / "half.npz"), "--epochs",
                 "4", "--save", str(tmp_path / "resumed.npz"), "--json",
                 str(tmp_path / "resumed.json")]) == 0
    assert "resuming after epoch 2" in capsys.readouterr().out
    assert _epochs(tmp_path / "resumed.json") == _epochs(tmp_path / "straight.json")
    a, b = checkpoint.load(tmp_path / "straight.npz"), checkpoint.load(tmp_path / "resumed.npz")
    assert b.epoch == 4 and compare_states(a.counters, b.counters) is None
    assert (a.ctrl == b.ctrl).all() and (a.tables == b.tables).all()
