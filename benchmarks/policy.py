"""Policy decisions per second: satugate beside pycasbin and regopy, same rules, same run.

A bundle of about 1,000 rules is generated (950 grants, each giving one role some
fields of one dataset for one purpose with a treatment, and 50 field denies) for 30
agencies holding 10 roles, 6 purposes and 60 fields. The same rules are loaded into

* **pycasbin**: role + purpose + field, deny override, one ``enforce`` per field (its
  natural unit), both the plain ``Enforcer`` and ``FastEnforcer`` (policy lines filtered
  by purpose and field first); the faster of the two is reported;
* **regopy** (rego-cpp): the rules as indexed data
  (``data.grants[role][purpose][field]``), a compiled bundle, one query per field;
* **satugate**: the compiled ``Policy.decide`` over the whole 20-field request.

Each request asks for 20 fields: most for fields the agency's roles were granted, some
with random fields (denied). The engines must agree on the requests (checked first).
Engines run interleaved in rounds for a fixed time each; medians are reported.
``decide()`` is measured as callers use it (its decision cache warm, the common case),
with field lists in new orders (decision-cache misses that reuse the compiled per-agency
tables), and ``decide_uncached()`` (every request evaluated afresh from the bundle).

``python -m benchmarks policy [--quick] [--seconds S] [--rounds N]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

import policies
from policies.engine import CACHE_SIZE

ROLES = [f"role{i}" for i in range(10)]
PURPOSES = [f"purpose{i}" for i in range(6)]
DATASETS = {f"ds{d}": [f"f{d}{i:02d}" for i in range(20)] for d in range(3)}
FIELDS = [f for fs in DATASETS.values() for f in fs]
TREATMENTS = ["clear", "clear", "mask", "pseudonymise", "withhold"]
AT = datetime(2026, 6, 1, tzinfo=UTC)
FIELDS_PER_REQUEST = 20

CASBIN_MODEL = """
[request_definition]
r = pur, fld, sub
[policy_definition]
p = pur, fld, sub, eft
[role_definition]
g = _, _
[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))
[matchers]
m = g(r.sub, p.sub) && r.pur == p.pur && r.fld == p.fld
"""

REGO_MODULE = """
package satugate
import rego.v1
default allow := false
allow if {
  some role in data.agency_roles[input.agency]
  data.grants[role][input.purpose][input.field]
  not denied
}
denied if {
  some role in data.agency_roles[input.agency]
  data.denies[role][input.purpose][input.field]
}
"""


@dataclass
class Rules:
    agencies: dict[str, list[str]]
    grants: list[dict[str, Any]]
    denies: list[tuple[str, str, str]]

    @property
    def count(self) -> int:
        return len(self.grants) + len(self.denies)


def generate(seed: int = 7, grants: int = 950, denies: int = 50) -> Rules:
    rng = random.Random(seed)
    agencies = {f"agency{i:02d}": rng.sample(ROLES, rng.choice((1, 1, 2))) for i in range(30)}
    out = []
    for i in range(grants):
        dataset = rng.choice(list(DATASETS))
        fields = rng.sample(DATASETS[dataset], rng.randint(1, 4))
        out.append(
            {
                "id": f"g{i:04d}",
                "roles": [rng.choice(ROLES)],
                "datasets": [dataset],
                "purposes": [rng.choice(PURPOSES)],
                "fields": {f: rng.choice(TREATMENTS) for f in fields},
            }
        )
    deny_rules = [
        (rng.choice(ROLES), rng.choice(PURPOSES), rng.choice(FIELDS)) for _ in range(denies)
    ]
    return Rules(agencies, out, sorted(set(deny_rules)))


def bundle_texts(rules: Rules) -> dict[str, str]:
    datasets = {
        d: {"source": d, "fields": {f: {"kind": "text"} for f in fs}} for d, fs in DATASETS.items()
    }
    agencies = {a: {"roles": r, "jurisdiction": ["35.78"]} for a, r in rules.agencies.items()}
    denies = [
        {"id": f"d{i:03d}", "roles": [r], "purposes": [p], "fields": [f]}
        for i, (r, p, f) in enumerate(rules.denies)
    ]
    return {
        "datasets.yaml": yaml.safe_dump(
            {"datasets": datasets, "purposes": {p: p for p in PURPOSES}}
        ),
        "agencies.yaml": yaml.safe_dump({"agencies": agencies}),
        "rules.yaml": yaml.safe_dump({"grants": rules.grants, "denies": denies}),
    }


def casbin_enforcers(rules: Rules) -> dict[str, Any]:
    import casbin
    from casbin.model import FastModel, Model

    lines = [
        [p, f, g["roles"][0], "allow"]
        for g in rules.grants
        for p in g["purposes"]
        for f in g["fields"]
    ]
    lines += [[p, f, r, "deny"] for r, p, f in rules.denies]
    groups = [[a, r] for a, roles in rules.agencies.items() for r in roles]
    out = {}
    for name, model in (("Enforcer", Model()), ("FastEnforcer", FastModel([0, 1]))):
        model.load_model_from_text(CASBIN_MODEL)
        enforcer = (
            casbin.FastEnforcer(model, cache_key_order=[0, 1])
            if name == "FastEnforcer"
            else casbin.Enforcer(model)
        )
        enforcer.add_policies([list(x) for x in {tuple(line) for line in lines}])
        enforcer.add_grouping_policies(groups)
        out[name] = enforcer
    return out


def rego_query(rules: Rules) -> Callable[[str, str, str], bool]:
    from regopy import Input, Interpreter

    grants: dict[str, dict[str, dict[str, bool]]] = {}
    for g in rules.grants:
        for p in g["purposes"]:
            for f in g["fields"]:
                grants.setdefault(g["roles"][0], {}).setdefault(p, {})[f] = True
    denies: dict[str, dict[str, dict[str, bool]]] = {}
    for r, p, f in rules.denies:
        denies.setdefault(r, {}).setdefault(p, {})[f] = True
    build = Interpreter()
    build.add_data({"agency_roles": rules.agencies, "grants": grants, "denies": denies})
    build.add_module("satugate.rego", REGO_MODULE)
    bundle = build.build(None, ["satugate/allow"])
    run = Interpreter()

    def allow(agency: str, purpose: str, field: str) -> bool:
        run.set_input(Input({"agency": agency, "purpose": purpose, "field": field}))
        return "true" in str(run.query_bundle_entrypoint(bundle, "satugate/allow"))

    return allow


def requests(rules: Rules, count: int, seed: int = 11) -> list[tuple[str, str, tuple[str, ...]]]:
    rng = random.Random(seed)
    granted: dict[tuple[str, str], set[str]] = {}
    for agency, roles in rules.agencies.items():
        for g in rules.grants:
            if g["roles"][0] in roles:
                for p in g["purposes"]:
                    granted.setdefault((agency, p), set()).update(g["fields"])
    rich = [k for k, v in granted.items() if len(v) >= FIELDS_PER_REQUEST]
    out = []
    for _ in range(count):
        if rich and rng.random() < 0.8:
            agency, purpose = rng.choice(rich)
            fields = rng.sample(sorted(granted[(agency, purpose)]), FIELDS_PER_REQUEST)
        else:
            agency, purpose = rng.choice(list(rules.agencies)), rng.choice(PURPOSES)
            fields = rng.sample(FIELDS, FIELDS_PER_REQUEST)
        out.append((agency, purpose, tuple(fields)))
    return out


def _timed(run: Callable[[], int], seconds: float) -> tuple[int, float]:
    done, start = 0, time.perf_counter()
    while True:
        done += run()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done, elapsed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks policy")
    parser.add_argument("--quick", action="store_true", help="a tiny run (CI smoke test)")
    parser.add_argument("--seconds", type=float, default=None, help="time per engine per round")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    seconds = args.seconds or (0.05 if args.quick else 1.0)
    rounds = args.rounds or (1 if args.quick else 5)

    rules = generate()
    started = time.perf_counter()
    policy = policies.compile_bundle(policies.load_bundle_texts(bundle_texts(rules)))
    compile_ms = (time.perf_counter() - started) * 1000
    enforcers = casbin_enforcers(rules)
    rego = rego_query(rules)
    reqs = requests(rules, 60 if args.quick else 500)
    access = [policies.AccessRequest(a, p, "read", f, None, AT) for a, p, f in reqs]

    # The engines must agree before their speed means anything: satugate against each
    # baseline on the first requests (the plain Enforcer, the slowest, on fewer).
    checked = {"Enforcer": 10 if args.quick else 25, "FastEnforcer": 60 if args.quick else 200}
    for index, ((agency, purpose, fields), req) in enumerate(zip(reqs, access, strict=True)):
        if index >= max(checked.values()):
            break
        ours = policy.decide(req).allowed
        says = {"regopy": all(rego(agency, purpose, f) for f in fields)}
        for name, enforcer in enforcers.items():
            if index < checked[name]:
                says[name] = all(enforcer.enforce(purpose, f, agency) for f in fields)
        if any(v != ours for v in says.values()):
            raise SystemExit(f"engines disagree on {agency}/{purpose}: satugate {ours}, {says}")
    allowed = sum(policy.decide(req).allowed for req in access)

    def satugate_cached() -> int:
        for req in access:
            policy.decide(req)
        return len(access)

    # The same requests with their fields in new orders: decision-cache misses (more
    # distinct requests than the cache holds) that still find their compiled tables.
    rng = random.Random(3)
    shuffled = [
        policies.AccessRequest(a, p, "read", tuple(rng.sample(f, len(f))), None, AT)
        for _ in range(CACHE_SIZE // len(reqs) + 2)
        for a, p, f in reqs
    ]
    position = {"i": 0}

    def satugate_new_fields() -> int:
        start = position["i"]
        batch = shuffled[start : start + len(reqs)] or shuffled[: len(reqs)]
        position["i"] = (start + len(reqs)) % len(shuffled)
        for req in batch:
            policy.decide(req)
        return len(batch)

    def satugate_uncached() -> int:
        for req in access:
            policy.decide_uncached(req)
        return len(access)

    cursor = {"i": 0}

    def per_field(enforce: Callable[[str, str, str], bool]) -> Callable[[], int]:
        def run() -> int:  # one request: one enforce per field, as these engines work
            agency, purpose, fields = reqs[cursor["i"] % len(reqs)]
            cursor["i"] += 1
            for f in fields:
                enforce(purpose, f, agency)
            return 1

        return run

    engines: dict[str, Callable[[], int]] = {
        "satugate decide()": satugate_cached,
        "satugate new field lists": satugate_new_fields,
        "satugate uncached": satugate_uncached,
        "pycasbin Enforcer": per_field(lambda p, f, a: enforcers["Enforcer"].enforce(p, f, a)),
        "pycasbin FastEnforcer": per_field(
            lambda p, f, a: enforcers["FastEnforcer"].enforce(p, f, a)
        ),
        "regopy": per_field(lambda p, f, a: rego(a, p, f)),
    }
    rates: dict[str, list[float]] = {name: [] for name in engines}
    for r in range(rounds):
        order = list(engines)[r % len(engines) :] + list(engines)[: r % len(engines)]
        for name in order:
            done, elapsed = _timed(engines[name], seconds)
            rates[name].append(done / elapsed)
    median = {name: statistics.median(values) for name, values in rates.items()}

    print(
        f"policy decisions: {rules.count} rules ({len(rules.grants)} grants, "
        f"{len(rules.denies)} denies), {len(rules.agencies)} agencies, "
        f"{FIELDS_PER_REQUEST} fields per request, {len(reqs)} distinct requests "
        f"({allowed} allowed), {rounds} round(s) x {seconds:g}s, interleaved"
    )
    print(
        f"bundle compiled in {compile_ms:.0f} ms; engines agree on the first "
        f"{checked['FastEnforcer']} requests ({checked['Enforcer']} for the plain Enforcer)"
    )
    print(f"{'engine':<24}{'requests/s':>14}{'field checks/s':>18}{'us/request':>14}")
    for name, rate in median.items():
        print(f"{name:<24}{rate:>14,.0f}{rate * FIELDS_PER_REQUEST:>18,.0f}{1e6 / rate:>14,.1f}")
    casbin_name = max(("pycasbin Enforcer", "pycasbin FastEnforcer"), key=median.__getitem__)
    best = max((casbin_name, "regopy"), key=median.__getitem__)
    ratio = median["satugate decide()"] / median[best]
    print(
        f"satugate decide() vs the better baseline ({best}): {ratio:,.0f}x; "
        f"new field lists: {median['satugate new field lists'] / median[best]:,.0f}x; "
        f"uncached: {median['satugate uncached'] / median[best]:,.0f}x"
    )
    print(
        json.dumps(
            {
                "benchmark": "policy",
                "satugate": {
                    "decisions_per_s": round(median["satugate decide()"]),
                    "new_field_lists_decisions_per_s": round(median["satugate new field lists"]),
                    "uncached_decisions_per_s": round(median["satugate uncached"]),
                    "rules": rules.count,
                    "fields_per_request": FIELDS_PER_REQUEST,
                },
                "baseline": {
                    "name": best,
                    "decisions_per_s": round(median[best]),
                    "enforces_per_s": round(median[best] * FIELDS_PER_REQUEST),
                    "pycasbin_enforcer_decisions_per_s": round(median["pycasbin Enforcer"]),
                    "pycasbin_fastenforcer_decisions_per_s": round(median["pycasbin FastEnforcer"]),
                    "regopy_decisions_per_s": round(median["regopy"]),
                },
                "ratio": round(ratio, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
