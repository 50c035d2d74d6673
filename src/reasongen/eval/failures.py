"""Where a GenEval result fails, read from its per-image rows (`reasongen eval geneval --per-image`).

GenEval's summary says how often a tag is right; this says why the rest are wrong: which clause
failed (too few of an asked class, a wrong colour, a wrong position, too many under an exclude
clause), which asked classes are missing altogether, single objects by class, and how many
single-object images hold more than one shape. Each failed image counts once under each kind of
clause it fails, and each asked class once an image.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from .geneval import REASON_KINDS, reason_kind

ROW_KEYS = ("tag", "correct", "reason", "metadata", "details")


def read_rows(path: str | Path) -> list[dict]:
    """The per-image rows of a JSONL file, each checked for the keys the breakdown reads."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file or folder; give the rows of `reasongen eval geneval DIR --per-image FILE`, or a GenEval output folder")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"{path}:{number}: not a JSON line; give the rows of `reasongen eval geneval DIR --per-image FILE`") from None
        missing = [k for k in ROW_KEYS if not isinstance(row, dict) or k not in row]
        if missing:
            raise ValueError(f"{path}:{number}: a per-image row needs {', '.join(missing)}; give the rows of `eval geneval --per-image`")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: holds no rows")
    return rows


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def failure_breakdown(rows: list[dict]) -> dict:
    """Counts of why images fail, from GenEval per-image rows (see the module's docstring)."""
    failed = [r for r in rows if not r["correct"]]
    by_kind: Counter = Counter()
    missing: Counter = Counter()
    none_of_one = 0
    for row in failed:
        by_kind.update({reason_kind(line) for line in row["reason"].splitlines() if line.strip()})
        found = _json(row["details"])
        absent = {c["class"] for c in _json(row["metadata"]).get("include", []) if not found.get(c["class"])}
        missing.update(absent)
        none_of_one += bool(absent)
    single: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    extra = 0
    singles = [r for r in rows if r["tag"] == "single_object"]
    for row in singles:
        asked = _json(row["metadata"])["include"][0]["class"]
        single[asked][0] += bool(row["correct"])
        single[asked][1] += 1
        extra += sum(map(len, _json(row["details"]).values())) > 1
    return {
        "n_images": len(rows),
        "n_failed": len(failed),
        "failed_by_clause": {kind: by_kind[kind] for kind in REASON_KINDS},
        "none_of_an_asked_class": none_of_one,
        "missing_class": dict(missing.most_common()),
        "single_object_by_class": {c: single[c] for c in sorted(single)},
        "single_object_extra_shapes": [extra, len(singles)],
    }


def format_failures(b: dict) -> str:
    failed = b["n_failed"]
    share = lambda n: f"{n} ({n / failed:.0%})" if failed else "0"  # noqa: E731
    lines = [f"{failed} of {b['n_images']} images failed; each counts under every kind of clause it fails:"]
    lines += [f"  {kind:<32}{share(n)}" for kind, n in b["failed_by_clause"].items()]
    lines.append(f"  {'none of an asked class':<32}{share(b['none_of_an_asked_class'])}")
    if b["missing_class"]:
        lines.append("missing classes (failed images): " + ", ".join(f"{c} {n}" for c, n in b["missing_class"].items()))
    if b["single_object_by_class"]:
        lines.append("single objects by class: " + ", ".join(f"{c} {ok / n:.2f}" for c, (ok, n) in b["single_object_by_class"].items()))
        extra, n = b["single_object_extra_shapes"]
        lines.append(f"single-object images with more than one shape: {extra} of {n}")
    return "\n".join(lines)
