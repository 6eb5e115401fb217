"""Records per second through the full treatment of a 20-field record.

Three ways over the same synthetic records, interleaved round by round:

* **satugate** ``Policy.release``: the whole path the gateway takes for each record
  (jurisdiction and children's checks, then every field treated as the decision says:
  5 identifiers pseudonymised with AES-SIV incl. the subject, 5 masked, 5 generalised,
  2 withheld, 4 clear);
* **primitives**: the same treatment functions called directly, field by field, with
  nothing around them: the limit that ``release`` can approach;
* **presidio-anonymizer**: ``AnonymizerEngine.anonymize`` on the record as one text with
  20 entity spans, its equivalent operators per field (``hash`` with a per-agency salt
  for pseudonymise, ``mask``, ``replace`` for generalise, ``redact`` for withhold,
  ``keep`` for clear): one call per record, its natural unit.

``python -m benchmarks treatments [--quick] [--seconds S] [--rounds N]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import policies
from policies import Pseudonymiser, generalise_value, mask_value

TODAY = date(2026, 6, 1)
DEMO = Path(policies.__file__).resolve().parent / "bundles" / "demo"
GRANT = """
grants:
  - id: bench
    agencies: [dinkes]
    datasets: [civil_registry, welfare]
    purposes: [statistics]
    fields:
      nik: pseudonymise
      kk_number: pseudonymise
      mother_nik: pseudonymise
      father_nik: pseudonymise
      full_name: mask
      mother_name: mask
      father_name: mask
      rt: mask:redact
      rw: mask:redact
      birth_date: generalise:age_band:5
      street: generalise:kelurahan
      kelurahan_code: generalise:kecamatan
      welfare_decile: generalise:band:3
      monthly_income: generalise:band:1000000
      religion: withhold
      disability: withhold
      sex: clear
      occupation: clear
      kelurahan_name: clear
      kecamatan_name: clear
"""
FIELDS = (
    "nik",
    "kk_number",
    "mother_nik",
    "father_nik",
    "full_name",
    "mother_name",
    "father_name",
    "rt",
    "rw",
    "birth_date",
    "street",
    "kelurahan_code",
    "welfare_decile",
    "monthly_income",
    "religion",
    "disability",
    "sex",
    "occupation",
    "kelurahan_name",
    "kecamatan_name",
)
NAMES = [
    "Budi Santoso",
    "Siti Aminah",
    "I Made Wirawan",
    "Ni Luh Putu Ayu",
    "Moch. Yusuf",
    "Dewi Lestari",
    "Agus Salim",
    "Ketut Suardana",
]


def records(count: int, seed: int = 5) -> list[dict[str, object]]:
    rng = random.Random(seed)

    def nik() -> str:
        return (
            f"357808{rng.randint(1, 28) + rng.choice((0, 40)):02d}{rng.randint(1, 12):02d}"
            f"{rng.randint(60, 99):02d}{rng.randint(1, 9999):04d}"
        )

    return [
        {
            "nik": nik(),
            "kk_number": nik(),
            "mother_nik": nik(),
            "father_nik": nik(),
            "full_name": rng.choice(NAMES),
            "mother_name": rng.choice(NAMES),
            "father_name": rng.choice(NAMES),
            "rt": f"{rng.randint(1, 12):03d}",
            "rw": f"{rng.randint(1, 9):03d}",
            "birth_date": date(
                rng.randint(1950, 2000), rng.randint(1, 12), rng.randint(1, 28)
            ).isoformat(),
            "street": f"Jl. Karang Menjangan {rng.randint(1, 90)}",
            "kelurahan_code": "35.78.08.1001",
            "welfare_decile": rng.randint(1, 10),
            "monthly_income": rng.randint(500_000, 9_000_000),
            "religion": "ISLAM",
            "disability": "TIDAK ADA",
            "sex": rng.choice(["LAKI-LAKI", "PEREMPUAN"]),
            "occupation": "WIRASWASTA",
            "kelurahan_name": "AIRLANGGA",
            "kecamatan_name": "GUBENG",
        }
        for _ in range(count)
    ]


def setup() -> tuple[policies.Policy, policies.Decision, Pseudonymiser]:
    files = {
        n: t for n, t in policies.read_bundle_files(DEMO).items() if not policies.is_case_file(t)
    }
    files["grants.yaml"] = GRANT
    files["denies.yaml"] = "denies: []\n"
    policy = policies.compile_bundle(policies.load_bundle_texts(files))
    decision = policy.decide(
        policies.AccessRequest(
            "dinkes", "statistics", "read", FIELDS, None, datetime(2026, 6, 1, tzinfo=UTC)
        )
    )
    assert decision.allowed, decision.explanation
    key = hashlib.shake_256(b"benchmark key").digest(64)
    return policy, decision, Pseudonymiser("dinkes", {1: key}, 1)


def primitives(
    decision: policies.Decision, pseudonymiser: Pseudonymiser, policy: policies.Policy
) -> Callable[[dict[str, object]], dict[str, object]]:
    """The bare treatment calls for this decision, with no checks around them."""
    plan = []
    for name, treatment in decision.treatments.items():
        method, kind = decision.methods.get(name, ""), policy.field(name).kind
        plan.append((name, treatment.value, method, kind))
    pseudonymise = pseudonymiser.pseudonymise

    def treat(record: dict[str, object]) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, treatment, method, kind in plan:
            value = record[name]
            if treatment == "pseudonymise":
                out[name] = pseudonymise(str(value))
            elif treatment == "mask":
                out[name] = mask_value(value, method)
            elif treatment == "generalise":
                out[name] = generalise_value(value, method, kind=kind, record=record, today=TODAY)
            elif treatment == "clear":
                out[name] = value
        out["subject"] = pseudonymise(str(record["nik"]))
        return out

    return treat


def presidio(decision: policies.Decision) -> Callable[[dict[str, object]], str]:
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

    engine = AnonymizerEngine()  # type: ignore[no-untyped-call]
    salt = hashlib.sha256(b"dinkes").digest()[:16]
    operators = {}
    for name, treatment in decision.treatments.items():
        entity = name.upper()
        operators[entity] = {
            "pseudonymise": OperatorConfig("hash", {"hash_type": "sha256", "salt": salt}),
            "mask": OperatorConfig(
                "mask", {"masking_char": "*", "chars_to_mask": 100, "from_end": False}
            ),
            "generalise": OperatorConfig("replace", {"new_value": "<generalised>"}),
            "withhold": OperatorConfig("redact", {}),
            "clear": OperatorConfig("keep", {}),
        }[treatment.value]
    names = list(decision.treatments)

    def treat(record: dict[str, object]) -> str:
        parts, results, pos = [], [], 0
        for name in names:
            text = str(record[name])
            results.append(RecognizerResult(name.upper(), pos, pos + len(text), 1.0))
            parts.append(text)
            pos += len(text) + 1
        return engine.anonymize(" ".join(parts), results, operators).text

    return treat


def _timed(run: Callable[[], int], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while True:
        done += run()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks treatments")
    parser.add_argument("--quick", action="store_true", help="a tiny run (CI smoke test)")
    parser.add_argument("--seconds", type=float, default=None, help="time per way per round")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    seconds = args.seconds or (0.05 if args.quick else 1.0)
    rounds = args.rounds or (1 if args.quick else 5)

    policy, decision, pseudonymiser = setup()
    data = records(50 if args.quick else 1000)
    bare = primitives(decision, pseudonymiser, policy)
    anonymize = presidio(decision)
    release = policy.release

    # Same output from release() and the bare calls: the comparison is like for like.
    for record in data[:20]:
        released = release(decision, record, pseudonymiser=pseudonymiser, today=TODAY)
        assert {**released.record, "subject": released.subject} == bare(record)

    def run_release() -> int:
        for record in data:
            release(decision, record, pseudonymiser=pseudonymiser, today=TODAY)
        return len(data)

    def run_bare() -> int:
        for record in data:
            bare(record)
        return len(data)

    def run_presidio() -> int:
        for record in data:
            anonymize(record)
        return len(data)

    ways: dict[str, Callable[[], int]] = {
        "satugate release()": run_release,
        "primitives alone": run_bare,
        "presidio-anonymizer": run_presidio,
    }
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for r in range(rounds):
        order = list(ways)[r % len(ways) :] + list(ways)[: r % len(ways)]
        for name in order:
            rates[name].append(_timed(ways[name], seconds))
    median = {name: statistics.median(values) for name, values in rates.items()}
    counts: dict[str, int] = {}
    for t in decision.treatments.values():
        counts[t.value] = counts.get(t.value, 0) + 1
    print(
        f"treatments: 20-field records ({', '.join(f'{n} {t}' for t, n in counts.items())}; "
        f"+ subject pseudonym), {len(data)} records, {rounds} round(s) x {seconds:g}s, interleaved"
    )
    print(f"{'way':<24}{'records/s':>12}{'us/record':>12}{'fields/s':>14}")
    for name, rate in median.items():
        print(f"{name:<24}{rate:>12,.0f}{1e6 / rate:>12,.1f}{rate * 20:>14,.0f}")
    ratio = median["satugate release()"] / median["presidio-anonymizer"]
    share = median["satugate release()"] / median["primitives alone"]
    print(
        f"satugate vs presidio-anonymizer: {ratio:.2f}x; "
        f"release() runs at {share:.0%} of the bare primitives"
    )
    out: dict[str, Any] = {
        "benchmark": "treatments",
        "satugate": {
            "records_per_s": round(median["satugate release()"]),
            "primitives_records_per_s": round(median["primitives alone"]),
            "share_of_primitives": round(share, 3),
            "fields_per_record": 20,
        },
        "baseline": {
            "name": "presidio-anonymizer",
            "records_per_s": round(median["presidio-anonymizer"]),
        },
        "ratio": round(ratio, 2),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
