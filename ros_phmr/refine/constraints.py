"""Contact constraints as a vision-language model states them, and their readings.

A constraint names two people and samples of coarse region pairs ("hand" - "shoulder", no
side); here they are parsed, checked against the body model's region names before anything
runs, and expanded into every left/right (and '/'-alternative) reading that the optimisation
takes the minimum over.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

CHIRAL_PARTS = ("shoulder", "upper_arm", "forearm", "arm", "hand", "thigh", "shin", "leg", "foot")
MAX_READINGS = 256        # left/right and alternative readings of one sample at most


@dataclass(frozen=True)
class ContactConstraint:
    """People ``id_a`` and ``id_b`` touch; each sample is a list of (region of a, region of b).

    Region names: any name of the body model's regions (``left_hand``, ``chest``, ...) or a
    side-less coarse name (``hand``, ``arm``, ``shoulder``, ``leg``, ``foot``, ...) whose side
    the optimisation chooses, or '/'-separated alternatives ("hand/arm"). Case, spaces, plurals
    and ProsePose's qualifiers ("waist (back)") are normalised. :func:`samples_from_tables`
    reads the Markdown tables a vision-language model answers with.
    """

    id_a: int
    id_b: int
    samples: list = field(default_factory=list)  # list[list[tuple[str, str]]]


def _normalise(name: str) -> str:
    name = re.sub(r"\(.*?\)", "", str(name)).strip().lower()
    name = re.sub(r"[\s\-]+", "_", name).strip("_")
    return {"hands": "hand", "feet": "foot", "arms": "arm", "legs": "leg", "shoulders": "shoulder",
            "thighs": "thigh", "shins": "shin", "forearms": "forearm", "upper_arms": "upper_arm",
            "buttocks": "butt", "bottom": "butt"}.get(name, name)


def region_choices(name: str, known: Sequence[str]) -> list[str]:
    """The body-model regions a constraint's region name may mean: two for a side-less chiral
    part, the union for '/'-separated alternatives ("hand/arm"), one otherwise; ValueError for
    an unknown name."""
    choices: list[str] = []
    for part in str(name).split("/"):
        norm = _normalise(part)
        if norm in known:
            found = [norm]
        elif norm in CHIRAL_PARTS and f"left_{norm}" in known and f"right_{norm}" in known:
            found = [f"left_{norm}", f"right_{norm}"]
        else:
            vocabulary = sorted(set(known) | {p for p in CHIRAL_PARTS if f"left_{p}" in known})
            raise ValueError(f"unknown body region {part.strip()!r}; use one of: {', '.join(vocabulary)}")
        choices += [c for c in found if c not in choices]
    return choices


def samples_from_tables(tables: Sequence[str]) -> list[list[tuple[str, str]]]:
    """Samples from Markdown tables as a vision-language model writes them (ProsePose's
    prompt): one table per sample, a row per touching pair, person 1's part in the first column
    and person 2's in the second; the header row (the one above the ``|---|`` line) is skipped
    and a table without rows is an empty sample. Region names are checked later."""
    samples = []
    for table in tables:
        rows = [line.strip() for line in str(table).splitlines() if "|" in line]
        cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
        rule = [k for k, row in enumerate(cells) if all(set(c) <= set("-: ") for c in row)]
        skip = set(rule) | {k - 1 for k in rule}
        samples.append([(row[0], row[1]) for k, row in enumerate(cells)
                        if k not in skip and len(row) >= 2 and row[0] and row[1]])
    return samples


def validate_constraint(c: ContactConstraint, ids: Sequence[int], known: Sequence[str]) -> None:
    """ValueError naming the problem when a constraint cannot be used with these people."""
    if not isinstance(c, ContactConstraint):
        raise ValueError(f"expected a ContactConstraint, got {type(c).__name__}")
    if int(c.id_a) == int(c.id_b):
        raise ValueError(f"contact constraint names person {c.id_a} twice")
    missing = [i for i in (int(c.id_a), int(c.id_b)) if i not in set(ids)]
    if missing:
        raise ValueError(f"contact constraint ({c.id_a}, {c.id_b}): no person with id "
                         f"{', '.join(map(str, missing))} (present: {sorted(ids)})")
    if not c.samples:
        raise ValueError(f"contact constraint ({c.id_a}, {c.id_b}) has an empty sample list")
    if not any(len(s) for s in c.samples):
        raise ValueError(f"contact constraint ({c.id_a}, {c.id_b}): every sample is empty")
    for s in c.samples:
        for pair in s:
            if len(pair) != 2:
                raise ValueError(f"contact constraint ({c.id_a}, {c.id_b}): a region pair must "
                                 f"have two names, got {pair!r}")
            for name in pair:
                region_choices(name, known)
        readings = int(np.prod([len(region_choices(name, known)) for pair in s for name in pair]))
        if readings > MAX_READINGS:
            raise ValueError(f"contact constraint ({c.id_a}, {c.id_b}): a sample has {readings} "
                             f"left/right and alternative readings (at most {MAX_READINGS})")


def _sample_assignments(sample, known: Sequence[str]) -> list[list[tuple[str, str]]]:
    """Every reading of one sample (a side for each side-less part, one of each set of
    alternatives), as lists of (region of a, region of b).

    When one person's part is named more than once in a sample, readings that give every
    mention the same region are skipped: "hand" twice means both hands (ProsePose's rule)."""
    flat = [region_choices(n, known) for pair in sample for n in pair]
    groups: dict[tuple[int, str], list[int]] = {}
    for k, choices in enumerate(flat):
        if len(choices) > 1:
            groups.setdefault((k % 2, _normalise(sample[k // 2][k % 2])), []).append(k)
    repeated = [ks for ks in groups.values() if len(ks) > 1]
    readings = []
    for combo in itertools.product(*flat):
        if any(len({combo[k] for k in ks}) < 2 for ks in repeated):
            continue
        readings.append([(combo[2 * i], combo[2 * i + 1]) for i in range(len(sample))])
    return readings or [[]]
