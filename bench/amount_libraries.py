"""Benchmark: which library reads Chinese money exactly? The cases are tests/data/amounts.tsv.

For each candidate (models.money, jionlp.parse_money, cn2an, chinese2digits, pycnnum,
price-parser, rmbTrans) it prints how many table rows it gets right, wrong or refuses, and its
time per call. Scoring, per row:
- right: the exact expected value; or, for an ASK or REFUSE row, no value at all (for
  models.money and jionlp, which can tell a rough figure from a refusal, the kind must match too);
- wrong: a value that differs from the expected one, or any value for an ASK or REFUSE row
  (the silent wrong value we must never store);
- refuses: no value for a row that has one.
The numeral-only libraries get the yuan glue any caller would add (¥/人民币/RMB/CNY stripped in
front, 元/块/圆/整/块钱 at the end); nothing else is helped.

Then the cost of models.money on hostile 5,000-character inputs (it must stay linear).

Reproduce:  .venv/bin/pip install cn2an chinese2digits pycnnum price-parser rmbtrans
            .venv/bin/python -m bench.amount_libraries [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import io
import random
import re
import statistics
import time
import warnings
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from models import money

ROOT = Path(__file__).resolve().parent.parent

TABLE = ROOT / "tests" / "data" / "amounts.tsv"
CENT = Decimal("0.01")
# What a caller would strip before handing a numeral to a numeral-only library.
_YUAN_GLUE = re.compile(r"^(?:[¥￥]|人民币|RMB|CNY)\s*|\s*(?:元整|圆整|块钱|元|块|圆|整)$", re.I)

Outcome = tuple[str, Decimal | None]  # ("value" | "ask" | "refuse", value)


def rows() -> list[tuple[str, str]]:
    """(input, expected) from the table."""
    with TABLE.open(encoding="utf-8", newline="") as handle:
        lines = [line for line in handle if line.strip() and not line.startswith("#")]
    return [(r["input"], r["expected"]) for r in csv.DictReader(lines, delimiter="\t")]


def _number(value: Any) -> Outcome:
    """A library's numeric answer as an outcome (refuse when it is no positive number)."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ("refuse", None)
    if not number.is_finite() or number <= 0:
        return ("refuse", None)
    return ("value", number)


def _glue(text: str) -> str:
    """The text without the yuan marks around it."""
    previous = None
    while previous != text:
        previous, text = text, _YUAN_GLUE.sub("", text.strip())
    return text


def ours(text: str) -> Outcome:
    """models.money.read_amount."""
    reading = money.read_amount(text)
    if isinstance(reading, money.Exact):
        return ("value", reading.value)
    return ("ask", None) if isinstance(reading, money.Approximate) else ("refuse", None)


def jionlp_adapter() -> Callable[[str], Outcome]:
    """jionlp.parse_money: a dict with num, case (currency) and definition (accurate/blur)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        jio = importlib.import_module("jionlp")

    def call(text: str) -> Outcome:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                res = jio.parse_money(text)
        except Exception:
            return ("refuse", None)
        if not isinstance(res, dict) or res.get("case") != "元":
            return ("refuse", None)
        if res.get("definition") != "accurate":
            return ("ask", None)
        return _number(res.get("num"))

    return call


def cn2an_adapter() -> Callable[[str], Outcome]:
    """cn2an.cn2an(text, "smart"): numerals only, mixed Arabic allowed."""
    cn2an = importlib.import_module("cn2an")

    def call(text: str) -> Outcome:
        try:
            return _number(cn2an.cn2an(_glue(text), "smart"))
        except Exception:
            return ("refuse", None)

    return call


def chinese2digits_adapter() -> Callable[[str], Outcome]:
    """chinese2digits.takeNumberFromString: all numbers in a text; one number or refuse."""
    c2d = importlib.import_module("chinese2digits")

    def call(text: str) -> Outcome:
        try:
            found = c2d.takeNumberFromString(_glue(text))["digitsStringList"]
        except Exception:
            return ("refuse", None)
        return _number(found[0]) if len(found) == 1 else ("refuse", None)

    return call


def pycnnum_adapter() -> Callable[[str], Outcome]:
    """pycnnum.cn2num: Chinese numerals to a number."""
    pycnnum = importlib.import_module("pycnnum")

    def call(text: str) -> Outcome:
        try:
            return _number(pycnnum.cn2num(_glue(text)))
        except Exception:
            return ("refuse", None)

    return call


def price_parser_adapter() -> Callable[[str], Outcome]:
    """price_parser.Price.fromstring: amount and currency symbol (a Western price parser)."""
    price_parser = importlib.import_module("price_parser")
    yuan = {None, "¥", "￥", "元", "RMB", "CNY", "人民币"}

    def call(text: str) -> Outcome:
        try:
            price = price_parser.Price.fromstring(text)
        except Exception:
            return ("refuse", None)
        if price.currency not in yuan or price.amount is None:
            return ("refuse", None)
        return _number(price.amount)

    return call


def rmbtrans_adapter() -> Callable[[str], Outcome]:
    """rmbTrans.trans: financial capitals (大写金额) to a float."""
    rmb = importlib.import_module("rmbTrans")

    def call(text: str) -> Outcome:
        try:
            return _number(rmb.trans(text))
        except Exception:
            return ("refuse", None)

    return call


CANDIDATES: dict[str, Callable[[], Callable[[str], Outcome]]] = {
    "models.money": lambda: ours,
    "jionlp.parse_money": jionlp_adapter,
    "cn2an (smart)": cn2an_adapter,
    "chinese2digits": chinese2digits_adapter,
    "pycnnum": pycnnum_adapter,
    "price-parser": price_parser_adapter,
    "rmbTrans": rmbtrans_adapter,
}
TELLS_ASK_FROM_REFUSE = {"models.money", "jionlp.parse_money"}


def score(name: str, call: Callable[[str], Outcome], table: list[tuple[str, str]]) -> str:
    """right / wrong / refuses over the table, then the same split by the expected kind."""
    counts = {kind: [0, 0, 0] for kind in ("value", "ASK", "REFUSE")}
    for text, expected in table:
        kind, value = call(text)
        group = counts[expected if expected in ("ASK", "REFUSE") else "value"]
        if expected in ("ASK", "REFUSE"):
            if kind == "value":
                group[1] += 1
            elif name not in TELLS_ASK_FROM_REFUSE or kind == expected.lower():
                group[0] += 1
            else:
                group[2] += 1  # no value, but asked where it should refuse (or the reverse)
        elif kind != "value":
            group[2] += 1
        elif value is not None and value.quantize(CENT) == Decimal(expected).quantize(CENT):
            group[0] += 1
        else:
            group[1] += 1
    right, wrong, refuses = (sum(group[i] for group in counts.values()) for i in range(3))
    split = "  ".join(f"{kind} {r}/{w}/{f}" for kind, (r, w, f) in counts.items())
    return f"right {right:3d}  wrong {wrong:3d}  refuses {refuses:3d}   ({split})"


def per_call(call: Callable[[str], Outcome], table: list[tuple[str, str]], runs: int) -> float:
    """Mean microseconds per call over the table."""
    texts = [text for text, _ in table]
    best = []
    for _ in range(runs):
        start = time.perf_counter()
        for text in texts:
            call(text)
        best.append((time.perf_counter() - start) / len(texts) * 1e6)
    return min(best)


def hostile() -> dict[str, str]:
    """5,000-character inputs that would hurt a backtracking grammar."""
    rng = random.Random(20261127)
    alphabet = "0123456789一二三四五六七八九十百千万亿零两多约近-~到,，.元块¥$ "
    return {
        "digits 5,000": "9" * 5000,
        "万 x 5,000": "万" * 5000,
        "一 x 5,000": "一" * 5000,
        "1,000,… grouped": "1" + ",000" * 1249,
        "5万5 x 1,000": "5万5 " * 1000,
        "mixed money chars": "".join(rng.choice(alphabet) for _ in range(5000)),
        "random CJK": "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(5000)),
    }


def cost(runs: int) -> None:
    """Time of find_amounts, split_words and word_reading on each hostile input."""
    for name, text in hostile().items():
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            money.find_amounts(text)
            money.split_words(text)
            money.word_reading(text)
            samples.append((time.perf_counter() - start) * 1000)
        print(
            f"  {name:24s} median {statistics.median(samples):7.2f} ms  max {max(samples):7.2f} ms"
        )
    for size in (500, 5000, 50000):
        text = ("报价3万4000，预算十多万，¥30,000 " * size)[:size]
        start = time.perf_counter()
        money.find_amounts(text)
        elapsed = (time.perf_counter() - start) * 1000
        print(f"  notes of {size:6d} chars      find_amounts {elapsed:8.2f} ms")


def main() -> None:
    """Print the evaluation and the cost figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="repetitions for timings")
    args = parser.parse_args()
    table = rows()
    print(f"{len(table)} cases from {TABLE.relative_to(ROOT)}; by kind: right/wrong/refuses")
    warnings.simplefilter("ignore")
    for name, make in CANDIDATES.items():
        try:
            call = make()
        except ImportError:
            print(f"{name:20s} not installed")
            continue
        call(table[0][0])  # imports and caches outside the timing
        line = score(name, call, table)
        print(f"{name:20s} {line}  {per_call(call, table, args.runs):8.1f} µs/call")
    print("models.money on hostile input (linear time expected):")
    cost(args.runs)
    print(f"reproduce: .venv/bin/python -m bench.amount_libraries --runs {args.runs}")


if __name__ == "__main__":
    main()
