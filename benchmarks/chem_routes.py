"""Route evaluation: a 12-step convergent route, and 1,000 distinct routes. Prints one JSON.

Targets: :func:`evaluate` plus the full tornado (:func:`sensitivity`) of a 12-step convergent
route in <= 200 ms, judged on the cold first call (the structure caches cleared, so it includes
RDKit reading every SMILES); warm repeats are reported beside it. 1,000 distinct routes (yields,
amounts, prices and structures drawn with a seeded NumPy generator: ester and acyl chain
lengths, ring substituents, amines, salt-forming acids, optional steps) evaluated with their
tornadoes in <= 60 s.

The route (two branches and a linear tail, 10 steps on the longest linear sequence):

- branch A: oxidation of a 4-bromotoluene, Fischer esterification, Miyaura borylation;
- branch B: Sandmeyer bromination of 2-amino-5-bromopyridine, SNAr with a cyclic amine;
- Suzuki coupling; ester hydrolysis; amide coupling with Boc-piperazine; Boc removal;
  N-acylation with an anhydride; sulfonate salt formation; recrystallisation.

    .venv/bin/python benchmarks/chem_routes.py [--routes 1000] [--repeats 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from rdkit import rdBase

from opencxo.process_chemistry.engine import (
    Material,
    Role,
    Route,
    Step,
    StepInput,
    evaluate,
    molecule,
    reaction,
    sensitivity,
)

TARGET_SINGLE_MS = 200.0
TARGET_BATCH_S = 60.0

SUBSTITUENTS = ("", "F", "Cl", "C", "OC", "C(F)(F)F")
# Cyclic secondary amines (SMILES of the amine, and of the N-aryl ring with ring digit 9).
AMINES = (
    ("C1COCCN1", "N9CCOCC9"),
    ("C1CCNCC1", "N9CCCCC9"),
    ("C1CSCCN1", "N9CCSCC9"),
    ("CN1CCNCC1", "N9CCN(C)CC9"),
)
BPIN = "B6OC(C)(C)C(C)(C)O6"
B2PIN2 = "CC1(C)OB(B2OC(C)(C)C(C)(C)O2)OC1(C)C"
BRBPIN = "BrB1OC(C)(C)C(C)(C)O1"
BOC_PIPERAZINE = "CC(C)(C)OC(=O)N1CCNCC1"

EQUIPMENT_RATES = {"glass-lined reactor": 450.0, "hydrogenator": 700.0, "filter dryer": 300.0}
SOLVENTS = {  # name: (SMILES, density kg/L, price per kg)
    "toluene": ("Cc1ccccc1", 0.867, 1.1),
    "methanol": ("CO", 0.792, 0.5),
    "THF": ("C1CCOC1", 0.889, 3.5),
    "2-MeTHF": ("CC1CCCO1", 0.854, 4.5),
    "ethanol": ("CCO", 0.789, 0.9),
    "isopropanol": ("CC(C)O", 0.786, 1.0),
    "ethyl acetate": ("CCOC(C)=O", 0.902, 1.2),
    "acetonitrile": ("CC#N", 0.786, 2.0),
    "dichloromethane": ("ClCCl", 1.33, 1.5),
}


@dataclass(frozen=True)
class Variant:
    """The structural choices of one route."""

    ester_carbons: int = 1  # alcohol of the Fischer esterification
    acyl_carbons: int = 1  # anhydride of the N-acylation (1: acetic)
    substituent: str = ""  # on the benzoate ring, ortho to the biaryl bond
    amine: int = 0  # index into AMINES
    sulfonic_carbons: int = 1  # alkanesulfonic acid of the salt (1: mesylate)
    buy_acid: bool = False  # skip the oxidation: buy the substituted 4-bromobenzoic acid
    recrystallise: bool = True  # final recrystallisation step


def _smiles(v: Variant) -> dict[str, str]:
    sub = f"({v.substituent})" if v.substituent else ""
    alkyl = "C" * v.ester_carbons
    acyl = "C" * v.acyl_carbons
    amine, ring = AMINES[v.amine]

    def benzoyl(y: str) -> str:
        return f"C(=O)c7ccc({y})c{sub}c7"

    biaryl = f"-c8ccc({ring})nc8"
    api = f"{acyl}C(=O)N5CCN({benzoyl(biaryl)})CC5"
    sulfonic = f"{'C' * v.sulfonic_carbons}S(=O)(=O)O"
    return {
        "toluene": f"Cc7ccc(Br)c{sub}c7",
        "acid": f"O{benzoyl('Br')}",
        "alcohol": f"{alkyl}O",
        "ester": f"{alkyl}O{benzoyl('Br')}",
        "boronate": f"{alkyl}O{benzoyl(BPIN)}",
        "aminopyridine": "Nc1ccc(Br)cn1",
        "dibromopyridine": "Brc1ccc(Br)nc1",
        "amine": amine,
        "bromopyridine": f"Brc8ccc({ring})nc8",
        "biaryl ester": f"{alkyl}O{benzoyl(biaryl)}",
        "biaryl acid": f"O{benzoyl(biaryl)}",
        "boc amide": f"CC(C)(C)OC(=O)N5CCN({benzoyl(biaryl)})CC5",
        "free amine": f"C5CN({benzoyl(biaryl)})CCN5",
        "anhydride": f"{acyl}C(=O)OC(=O){acyl}",
        "carboxylic acid": f"{acyl}C(=O)O",
        "api": api,
        "sulfonic acid": sulfonic,
        "salt": f"{api}.{sulfonic}",
    }


def build_route(
    v: Variant, rng: np.random.Generator | None = None, name: str = "convergent"
) -> Route:
    """The route for a variant; with ``rng``, yields, amounts, prices and times are drawn."""

    def pick(low: float, high: float, typical: float) -> float:
        return typical if rng is None else float(rng.uniform(low, high))

    s = _smiles(v)
    prices = {  # per kg
        "4-bromotoluene": pick(8, 30, 15),
        "bromobenzoic acid": pick(20, 90, 45),
        "oxygen": pick(0.1, 0.5, 0.2),
        "cobalt acetate": pick(20, 60, 35),
        "alcohol": pick(0.4, 6, 1.5),
        "sulfuric acid": pick(0.1, 0.4, 0.2),
        "B2pin2": pick(150, 400, 250),
        "Pd(dppf)Cl2": pick(8000, 20000, 12000),
        "potassium acetate": pick(1, 4, 2),
        "aminobromopyridine": pick(25, 80, 40),
        "hydrobromic acid": pick(0.8, 2.5, 1.2),
        "nitrous acid": pick(1, 4, 2),
        "amine": pick(3, 30, 8),
        "potassium carbonate": pick(0.8, 2.5, 1.2),
        "Pd(PPh3)4": pick(15000, 40000, 25000),
        "sodium hydroxide": pick(0.3, 1.0, 0.5),
        "Boc-piperazine": pick(30, 90, 55),
        "T3P": pick(20, 60, 35),
        "hydrochloric acid": pick(0.1, 0.5, 0.2),
        "anhydride": pick(1, 8, 2),
        "triethylamine": pick(2, 6, 3),
        "sulfonic acid": pick(3, 15, 6),
        "water": pick(0.001, 0.01, 0.005),
    }
    structures = {
        "4-bromotoluene": s["toluene"],
        "bromobenzoic acid": s["acid"],
        "oxygen": "O=O",
        "alcohol": s["alcohol"],
        "sulfuric acid": "OS(=O)(=O)O",
        "B2pin2": B2PIN2,
        "potassium acetate": "CC(=O)[O-].[K+]",
        "aminobromopyridine": s["aminopyridine"],
        "hydrobromic acid": "Br",
        "nitrous acid": "O=NO",
        "amine": s["amine"],
        "potassium carbonate": "O=C([O-])[O-].[K+].[K+]",
        "sodium hydroxide": "[OH-].[Na+]",
        "Boc-piperazine": BOC_PIPERAZINE,
        "hydrochloric acid": "Cl",
        "anhydride": s["anhydride"],
        "triethylamine": "CCN(CC)CC",
        "T3P": "CCCP1(=O)OP(=O)(CCC)OP(=O)(CCC)O1",
        "sulfonic acid": s["sulfonic acid"],
        "water": "O",
    }
    materials = [
        Material(key, price, structures.get(key), 1.0 if key == "water" else None)
        for key, price in prices.items()
    ]
    materials += [
        Material(key, pick(0.7, 1.4, 1.0) * price, smiles, density)
        for key, (smiles, density, price) in SOLVENTS.items()
    ]

    def y(low: float, high: float, typical: float) -> float:
        return round(pick(low, high, typical), 4)

    def eq(item: str, low: float = 1.05, high: float = 2.0, typical: float = 1.2) -> StepInput:
        return StepInput(Role.REACTANT, material=item, equivalents=pick(low, high, typical))

    def limiting(step: str) -> StepInput:
        return StepInput(Role.REACTANT, intermediate=step, equivalents=1.0)

    def reagent(item: str, low: float, high: float, typical: float) -> StepInput:
        return StepInput(Role.REAGENT, material=item, equivalents=pick(low, high, typical))

    def catalyst(item: str, kg: float) -> StepInput:
        return StepInput(Role.CATALYST, material=item, kg_per_kg=pick(0.5 * kg, 2 * kg, kg))

    def solvent(item: str, litres: float, role: Role = Role.SOLVENT) -> StepInput:
        return StepInput(
            role, material=item, litres_per_kg=pick(0.6 * litres, 1.6 * litres, litres)
        )

    def water(kg: float) -> StepInput:
        return StepInput(Role.WATER, material="water", kg_per_kg=pick(0.5 * kg, 2 * kg, kg))

    def timing(
        hours: float, batch: float, equipment: str = "glass-lined reactor"
    ) -> dict[str, Any]:
        return {
            "cycle_time_h": pick(0.7 * hours, 1.5 * hours, hours),
            "batch_output_kg": pick(0.5 * batch, 2 * batch, batch),
            "equipment_class": equipment,
        }

    first_a = (
        [limiting("A0")]
        if not v.buy_acid
        else [StepInput(Role.REACTANT, material="bromobenzoic acid", equivalents=1.0)]
    )
    steps = [
        Step(
            "A1",
            y(0.85, 0.98, 0.94),
            (
                *first_a,
                eq("alcohol", 3, 10, 5),
                reagent("sulfuric acid", 0.05, 0.3, 0.1),
                solvent("toluene", 6),
                water(4),
            ),
            name="Fischer esterification",
            reaction_smiles=f"{s['acid']}.{s['alcohol']}>OS(=O)(=O)O>{s['ester']}.O",
            **timing(16, 250),
        ),
        Step(
            "A2",
            y(0.7, 0.92, 0.85),
            (
                limiting("A1"),
                eq("B2pin2", 1.05, 1.4, 1.1),
                reagent("potassium acetate", 2.5, 3.5, 3),
                catalyst("Pd(dppf)Cl2", 0.01),
                solvent("2-MeTHF", 10),
                water(5),
            ),
            name="Miyaura borylation",
            reaction_smiles=f"{s['ester']}.{B2PIN2}>[Pd]>{s['boronate']}.{BRBPIN}",
            **timing(20, 150),
        ),
        Step(
            "B0",
            y(0.6, 0.85, 0.72),
            (
                StepInput(Role.REACTANT, material="aminobromopyridine", equivalents=1.0),
                eq("hydrobromic acid", 3, 6, 4),
                eq("nitrous acid", 1.1, 1.5, 1.2),
                water(8),
                solvent("dichloromethane", 8, Role.WORKUP),
            ),
            name="Sandmeyer bromination",
            reaction_smiles=f"{s['aminopyridine']}.Br.O=NO>>{s['dibromopyridine']}.N#N.O.O",
            **timing(14, 200),
        ),
        Step(
            "B1",
            y(0.75, 0.95, 0.88),
            (
                limiting("B0"),
                eq("amine", 1.1, 2.5, 1.5),
                reagent("potassium carbonate", 1.5, 2.5, 2),
                solvent("acetonitrile", 8),
                water(6),
            ),
            name="SNAr amination",
            reaction_smiles=(f"{s['dibromopyridine']}.{s['amine']}>>{s['bromopyridine']}.Br"),
            **timing(18, 220),
        ),
        Step(
            "C1",
            y(0.7, 0.92, 0.82),
            (
                limiting("A2"),
                StepInput(Role.REACTANT, intermediate="B1", equivalents=pick(1.0, 1.2, 1.05)),
                reagent("potassium carbonate", 2, 3, 2.5),
                catalyst("Pd(PPh3)4", 0.005),
                solvent("THF", 12),
                water(10),
            ),
            name="Suzuki coupling",
            reaction_smiles=(
                f"{s['boronate']}.{s['bromopyridine']}>[Pd]>{s['biaryl ester']}.{BRBPIN}"
            ),
            **timing(24, 180),
        ),
        Step(
            "T1",
            y(0.88, 0.99, 0.95),
            (
                limiting("C1"),
                eq("water", 5, 20, 10),
                reagent("sodium hydroxide", 1.5, 3, 2),
                reagent("hydrochloric acid", 2, 3.5, 2.5),
                solvent("methanol", 6),
            ),
            name="ester hydrolysis",
            reaction_smiles=f"{s['biaryl ester']}.O>>{s['biaryl acid']}.{s['alcohol']}",
            **timing(10, 250),
        ),
        Step(
            "T2",
            y(0.8, 0.95, 0.9),
            (
                limiting("T1"),
                eq("Boc-piperazine", 1.05, 1.5, 1.15),
                reagent("T3P", 1.2, 2.0, 1.5),
                reagent("triethylamine", 2, 4, 3),
                solvent("ethyl acetate", 12),
                water(8),
            ),
            name="amide coupling",
            reaction_smiles=f"{s['biaryl acid']}.{BOC_PIPERAZINE}>>{s['boc amide']}.O",
            **timing(16, 200),
        ),
        Step(
            "T3",
            y(0.85, 0.98, 0.93),
            (limiting("T2"), reagent("hydrochloric acid", 3, 6, 4), solvent("isopropanol", 8)),
            name="Boc removal",
            reaction_smiles=f"{s['boc amide']}>Cl>{s['free amine']}.O=C=O.C=C(C)C",
            **timing(8, 220),
        ),
        Step(
            "T4",
            y(0.85, 0.97, 0.92),
            (
                limiting("T3"),
                eq("anhydride", 1.05, 1.5, 1.2),
                reagent("triethylamine", 1.2, 2, 1.5),
                solvent("dichloromethane", 10),
                water(6),
            ),
            name="N-acylation",
            reaction_smiles=(
                f"{s['free amine']}.{s['anhydride']}>>{s['api']}.{s['carboxylic acid']}"
            ),
            **timing(8, 200),
        ),
        Step(
            "T5",
            y(0.85, 0.97, 0.93),
            (limiting("T4"), eq("sulfonic acid", 1.0, 1.1, 1.02), solvent("ethanol", 10)),
            name="salt formation",
            reaction_smiles=f"{s['api']}.{s['sulfonic acid']}>>({s['salt']})",
            **timing(12, 150, "filter dryer"),
        ),
    ]
    if not v.buy_acid:
        steps.insert(
            0,
            Step(
                "A0",
                y(0.7, 0.9, 0.8),
                (
                    StepInput(Role.REACTANT, material="4-bromotoluene", equivalents=1.0),
                    eq("oxygen", 2.5, 4, 3),  # the reaction SMILES takes 2 O=O
                    catalyst("cobalt acetate", 0.02),
                    StepInput(Role.SOLVENT, material="water", kg_per_kg=pick(4, 8, 6)),
                    water(5),
                ),
                name="aerobic oxidation",
                reaction_smiles=f"{s['toluene']}.O=O.O=O>[Co]>{s['acid']}",
                **timing(30, 300, "hydrogenator"),
            ),
        )
    if v.recrystallise:
        steps.append(
            Step(
                "T6",
                y(0.85, 0.97, 0.9),
                (limiting("T5"), solvent("ethanol", 12), solvent("isopropanol", 4, Role.WORKUP)),
                name="recrystallisation",
                product_smiles=s["salt"],
                **timing(12, 150, "filter dryer"),
            )
        )
    return Route(name, tuple(materials), tuple(steps), EQUIPMENT_RATES)


def random_variant(rng: np.random.Generator) -> Variant:
    return Variant(
        ester_carbons=int(rng.integers(1, 9)),
        acyl_carbons=int(rng.integers(1, 9)),
        substituent=SUBSTITUENTS[int(rng.integers(len(SUBSTITUENTS)))],
        amine=int(rng.integers(len(AMINES))),
        sulfonic_carbons=int(rng.integers(1, 5)),
        buy_acid=bool(rng.random() < 0.25),
        recrystallise=bool(rng.random() < 0.75),
    )


def clear_caches() -> None:
    molecule.cache_clear()
    reaction.cache_clear()


def run_once(route: Route) -> tuple[float, Any, Any]:
    started = time.perf_counter()
    result = evaluate(route)
    tornado = sensitivity(route)
    return (time.perf_counter() - started) * 1000, result, tornado


def single(repeats: int) -> dict[str, Any]:
    route = build_route(Variant(), name="12-step convergent")
    clear_caches()
    cold_ms, result, tornado = run_once(route)
    warm = [run_once(route)[0] for _ in range(repeats)]
    top = tornado.bars[0]
    return {
        "steps": result.step_count,
        "longest_linear_sequence": result.longest_linear_sequence,
        "overall_yield": round(result.overall_yield, 4),
        "pmi": round(result.pmi, 1),
        "pmi_without_water": round(result.pmi_without_water, 1),
        "atom_economy_percent": (
            None if result.atom_economy_percent is None else round(result.atom_economy_percent, 1)
        ),
        "cogs_per_kg": round(result.cogs_per_kg, 2),
        "conversion_cost_per_kg": round(result.conversion_cost_per_kg, 2),
        "tornado_bars": len(tornado.bars),
        "largest_bar": {"kind": top.kind, "key": top.key, "cogs_swing": round(top.cogs_swing, 2)},
        "cold_first_call_ms": round(cold_ms, 2),
        "warm_repeats": repeats,
        "warm_median_ms": round(statistics.median(warm), 3),
        "warm_max_ms": round(max(warm), 3),
        "target_ms": TARGET_SINGLE_MS,
        "met": cold_ms <= TARGET_SINGLE_MS,
    }


def batch(n_routes: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    routes = [build_route(random_variant(rng), rng, name=f"route {k}") for k in range(n_routes)]
    reactions = {s.reaction_smiles for r in routes for s in r.steps if s.reaction_smiles}
    clear_caches()
    started = time.perf_counter()
    pmis, cogs, bars = [], [], 0
    for route in routes:
        result = evaluate(route)
        tornado = sensitivity(route)
        pmis.append(result.pmi)
        cogs.append(result.cogs_per_kg)
        bars += len(tornado.bars)
    seconds = time.perf_counter() - started
    return {
        "routes": n_routes,
        "steps_total": sum(len(r.steps) for r in routes),
        "distinct_reaction_smiles": len(reactions),
        "distinct_structure_sets": len({tuple(s.reaction_smiles for s in r.steps) for r in routes}),
        "tornado_bars_total": bars,
        "pmi_median": round(float(np.median(pmis)), 1),
        "pmi_range": [round(min(pmis), 1), round(max(pmis), 1)],
        "cogs_per_kg_median": round(float(np.median(cogs)), 1),
        "seconds": round(seconds, 2),
        "ms_per_route": round(seconds * 1000 / n_routes, 2),
        "target_s": TARGET_BATCH_S,
        "ratio_to_target": round(seconds / TARGET_BATCH_S, 4),
        "met": seconds <= TARGET_BATCH_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=50, help="warm runs of the 12-step route")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    out: dict[str, Any] = {
        "benchmark": "chem_routes",
        "python": platform.python_version(),
        "rdkit": rdBase.rdkitVersion,
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "seed": args.seed,
    }
    out["single_route"] = single(args.repeats)
    out["many_routes"] = batch(args.routes, args.seed)
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out["total_wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
