"""The data-store image and its commands (sw/protocol.py, docs/host-protocol.md)."""

import numpy as np
import pytest

from xnorlearn.sw import protocol as proto
from xnorlearn.sw.config import Config


@pytest.fixture
def cfg():
    return Config(n_inputs=20, layers=(16,), n_classes=3)


def _data(cfg, n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2, (n, cfg.n_inputs)), rng.integers(0, cfg.n_classes, n)


def test_image_layout_records_are_train_payloads(cfg):
    xt, yt = _data(cfg, 7, 0)
    xe, ye = _data(cfg, 3, 1)
    img = proto.store_image(cfg, xt, yt, xe, ye, "toy/median")
    h = proto.StoreHeader.parse(img)
    assert (h.n_train, h.n_test, h.n_inputs, h.n_classes) == (7, 3, 20, 3)
    assert h.record_bytes == proto.record_bytes(cfg) == 1 + 3
    assert h.identity == "toy/median" and h.image_bytes == len(img)
    assert h.verdict(cfg) == 0
    for i in range(7):
        off = h.record_offset(proto.SPLIT_TRAIN, i)
        assert img[off:off + h.record_bytes] == proto.train_request(cfg, xt[i], yt[i])
    off = h.record_offset(proto.SPLIT_TEST, 2)
    assert img[off:off + h.record_bytes] == proto.train_request(cfg, xe[2], ye[2])
    # the content hash covers the records
    img2 = proto.store_image(cfg, xt, (yt + 1) % 3, xe, ye, "toy/median")
    assert proto.StoreHeader.parse(img2).content_hash != h.content_hash


def test_header_refusals(cfg):
    xt, yt = _data(cfg, 4, 0)
    img = bytearray(proto.store_image(cfg, xt, yt, xt[:1], yt[:1]))
    with pytest.raises(proto.StoreError, match="shorter"):
        proto.StoreHeader.parse(img[:40])
    with pytest.raises(proto.StoreError, match="magic"):
        proto.StoreHeader.parse(b"\xff" * 64)              # erased flash
    bad = bytearray(img)
    bad[12] ^= 1                                          # n_train
    with pytest.raises(proto.StoreError, match="CRC"):
        proto.StoreHeader.parse(bad)
    other = Config(n_inputs=24, layers=(16,), n_classes=4)
    h = proto.StoreHeader.parse(img)
    v = h.verdict(other)
    assert v == proto.StoreCheck.INPUTS | proto.StoreCheck.CLASSES
    with pytest.raises(proto.StoreError, match="20-bit samples.*24 input bits"):
        h.check(other)
    wider = Config(n_inputs=25, layers=(16,), n_classes=3)
    assert h.verdict(wider) == proto.StoreCheck.INPUTS | proto.StoreCheck.RECORD


def test_records_refuse_bad_data(cfg):
    x, y = _data(cfg, 3, 0)
    with pytest.raises(proto.StoreError, match="labels"):
        proto.store_records(cfg, x, y + 3)
    with pytest.raises(proto.StoreError, match="0/1"):
        proto.store_records(cfg, x * 2, y)
    with pytest.raises(proto.StoreError, match="input bits"):
        proto.store_records(cfg, x[:, :5], y)


def test_store_requests_round_trip(cfg):
    p = proto.train_store_request(42, 3, 100, 2000)
    assert proto.request_length_ok(cfg, proto.Command.TRAIN_STORE, len(p))
    assert proto.parse_train_store_request(p) == (42, 3, 100, 2000)
    q = proto.eval_store_request(proto.SPLIT_TEST, 0, 10)
    assert proto.request_length_ok(cfg, proto.Command.EVAL_STORE, len(q))
    assert proto.parse_eval_store_request(q) == (1, 0, 10)
    assert proto.request_length_ok(cfg, proto.Command.STORE_INFO, 0)
    with pytest.raises(ValueError):
        proto.eval_store_request(2, 0, 1)
    with pytest.raises(ValueError):
        proto.train_store_request(1, 0, 0, 0)
    v, raw = proto.parse_store_info(proto.store_info_reply_payload(proto.StoreCheck.CLASSES,
                                                                   bytes(64)))
    assert v == proto.StoreCheck.CLASSES and raw == bytes(64)
    assert proto.parse_correct(proto.correct_reply_payload(77)) == 77
    assert proto.Command.TRAIN_STORE not in proto.IDEMPOTENT
    assert proto.Command.EVAL_STORE in proto.IDEMPOTENT
    assert proto.max_reply_payload(cfg) >= 1 + proto.STORE_HEADER_BYTES
