"""Keys do not change between versions: a changed key is a cache silently emptied.

The digests below were computed when the key encoding was fixed; any change to how
inputs are encoded or keys are built fails here. (A deliberate change bumps the
encoding's domain, `flytelite-inputs-N`, and these digests with it.)
"""

from __future__ import annotations

import datetime as dt
import decimal
import http
import uuid

import pytest

from flytelite.catalog import Key

CASES = [
    ("ints", {"x": 0, "y": -1, "z": 2**100}),
    ("int", {"x": 7}),
    ("str", {"s": "héllo\ud800"}),
    ("float", {"f": -0.0, "g": 1.5, "h": float("inf")}),
    ("bool/none", {"a": True, "b": False, "c": None}),
    ("bytes", {"b": b"\x00\xff" * 10, "ba": bytearray(b"xy")}),
    (
        "containers",
        {
            "l": [1, "a", (2.0, None)],
            "d": {"k": [1, 2], 3: {4}},
            "s": {1, 2, 3},
            "fs": frozenset("ab"),
        },
    ),
    ("range/ellipsis", {"r": range(1, 10, 3), "e": ...}),
    (
        "dates",
        {
            "d": dt.date(2026, 12, 4),
            "t": dt.datetime(2026, 12, 4, 1, 2, 3, 4, tzinfo=dt.timezone.utc),
            "td": dt.timedelta(days=1, seconds=2),
        },
    ),
    ("decimal/uuid", {"d": decimal.Decimal("1.10"), "u": uuid.UUID(int=5)}),
    ("complex", {"c": 1 + 2j}),
    ("enum", {"c": http.HTTPStatus.OK}),
    ("none", {}),
]

PINNED = {
    ("ints", False): "b7dcccb11a482beafd174cc26735d7cdbec4fef1b50f9543556b3d9ee0d0a1be",
    ("ints", True): "0eb4a7e3545924e4b3458b45c772ee186778a5ddb4dcf4ba2a541cac50ec09a8",
    ("int", False): "445d299496e446552030898c16c593e70e59a09fafb6b75b59ff47b725b644b8",
    ("int", True): "c273c4269ec9b02c3585c9e613dd6e9a11482f765a4c8335f2e4476bcba845da",
    ("str", False): "90589516cdc71588625b7d55003f354f4e3d75eb40f98570b1e38aa4d2dfb161",
    ("str", True): "002eec9fd29fd8757ef6029e09611aa5fa5cae8549de74cfa9132c80394343ca",
    ("float", False): "913677197fd42f0701f07ccdb7b3157a78675fa3ae931343c58dc8c7d8cf4f9b",
    ("float", True): "b72ff406a1142b33ea5f9043690bb7c5514e217a4be23d69d0f885695c444d32",
    ("bool/none", False): "1558377b16d44767110dcd9c90b7d12e3161f1fee9b19589d9e53c42b5c2f3eb",
    ("bool/none", True): "79bca98f0640a7a2f6eef6dffd3335b612e254c6e38bf3a39847375af3156f9c",
    ("bytes", False): "9209141799220840e8d5e541afce46da9d169b3532e68dd944fae3101dbc1f61",
    ("bytes", True): "07378dbee7271b02740195646796f1a76f3f2bb295b2365c25d7a2883087153e",
    ("containers", False): "f33189fdbd9b8944708f9dafde064d9be745f9b2cdf6692726a92b60a7d2c514",
    ("containers", True): "a43d0ba8a74411082ac556103e00bf4f34d6c2e12101956fbe906b393a084f65",
    ("range/ellipsis", False): "40e9777f134067113039efe4ba609eb71153486decb59114e504099f14d2f51d",
    ("range/ellipsis", True): "d2515ddfe5ad514d0d95daa3008abb09444ec76724c156affbe755ca6d6658cf",
    ("dates", False): "27e1d82a2204bfd3dea9485a543c693ccc448ac05fd1754a552a04338d42bb40",
    ("dates", True): "0808878ad0ea551a0ce81b9f299f11cb38f5aff70690e99b5437065450d167ed",
    ("decimal/uuid", False): "289c843954acfe56833ce628f48febb1ef895713f33a487b1710dd6bf4881657",
    ("decimal/uuid", True): "db72e01032bd66b386031515372708f646ff5a52c216b2f8809a3e636d94ef69",
    ("complex", False): "4bede9feb8d9884432179679f362902ee92ae2329db4d6cc2e58ba017986772b",
    ("complex", True): "47596594af6071d4c4b76a29f2eb1c45fac3d324770cefba5d5d4b00cfd47a1f",
    ("enum", False): "bb2f5f5628ac3f41c176e66df9c8eb537706e506f4f0a7c0f60ba6c7fa3bd160",
    ("enum", True): "58ee77c69e152590914ea530c60aa9e82ee9b6c20a68cd10ba631f8efd18ddc0",
    ("none", False): "254d5cd6fd8876a2662ed2d73fe4b917ccaeb0f6d38dc00453a63461abe5e76e",
    ("none", True): "11b5fac27d6a3b89ed9dc856bc4d86fb9da855954398697b455761df9ef24a44",
}


@pytest.mark.parametrize("name, inputs", CASES, ids=[name for name, _ in CASES])
@pytest.mark.parametrize("with_signature", [False, True])
def test_key_digests_are_pinned(name: str, inputs: dict[str, object], with_signature: bool) -> None:
    signature = ("POSITIONAL_OR_KEYWORD:x",) if with_signature else ()
    assert Key("env.task", "1", inputs, signature=signature).digest == PINNED[name, with_signature]
