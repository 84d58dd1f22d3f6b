"""Benchmark: ``forumbot check`` and ``forumbot test`` on a knowledge folder holding an
imported directory of N doctors (default 10,000), against the bundled knowledge.

Run by hand (not a test)::

    .venv/bin/python benchmarks/bench_directory.py [--doctors 10000] [--runs 3] [--json]

What it does:

1. writes a deterministic hospital CSV export of N clinicians (names, specialties in the
   four languages, conditions, languages, cities, phone and e-mail made up for the test)
   and imports it with ``forumbot import doctors`` into a copy of ``knowledge/`` (timed once:
   the import checks the whole folder before writing);
2. times ``forumbot check DIR`` and ``forumbot test DIR`` as the admin runs them (a new
   process each, so start-up and imports are counted), median of ``--runs`` runs, on the
   bundled knowledge (the baseline) and on the imported folder;
3. prints the seconds, the ratio imported / bundled, and whether each is under the 5 s
   target. Progress lines go to stderr.

The target (issue 17): with 10,000 imported doctors both finish in under 5 s on this
machine. The machine is shared: the ratio to the bundled baseline measured in the same run
tells a slow moment apart from a slow program.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
FORUMBOT = Path(sys.executable).parent / "forumbot"
TARGET_S = 5.0

GIVEN = ["Amina", "Youssef", "Fatima", "Omar", "Salma", "Hamza", "Leila", "Rachid", "Mei", "Jun",
         "Nadia", "Karim", "Zineb", "Mehdi", "Hind", "Wei", "Lina", "Anas", "Sara", "Ilyas"]
FAMILY = ["Bennani", "Alaoui", "Idrissi", "Tazi", "Chraibi", "Fassi", "Berrada", "Lahlou",
          "Zhao", "Kettani", "Ouazzani", "Amrani", "Sun", "Huang", "Benjelloun", "Sqalli",
          "Guessous", "Lamrani", "Liu", "Chen"]
SPECIALTIES = ["obstetrics", "gynécologue", "anesthesiologist", "sage-femme", "麻醉医生",
               "طبيب نساء وتوليد"]
CONDITIONS = ["preeclampsia", "GDM", "hémorragie du post-partum", "newborn care", "", ""]
CITIES = [("Settat", "Settat", "سطات", "塞塔特"), ("Casablanca", "Casablanca", "الدار البيضاء", "卡萨布兰卡"),
          ("Rabat", "Rabat", "الرباط", "拉巴特"), ("", "", "", "")]
SYLLABLES = ["ben", "al", "ou", "ta", "zi", "ri", "ma", "ni", "la", "hou", "ki", "sa", "di", "mo",
             "ra", "fi", "ja", "lou", "chi", "na"]


def write_csv(path: Path, n: int, seed: int) -> None:
    """A directory export of ``n`` made-up clinicians (deterministic for ``seed``)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "title", "specialty", "conditions", "languages", "city",
                    "city_fr", "city_ar", "city_zh", "institution", "phone", "email"])
        families = [f"{rng.choice(FAMILY)}-{a.title()}{b}{c}" for a in SYLLABLES
                    for b in SYLLABLES for c in ("", "i", "a")]
        rng.shuffle(families)
        for i in range(n):  # distinct names, as in a real directory
            given, family = GIVEN[i % len(GIVEN)], families[i // len(GIVEN) % len(families)]
            w.writerow([f"{given}-{family}-{i}".lower(), f"{given} {family}", "Dr.",
                        rng.choice(SPECIALTIES), rng.choice(CONDITIONS),
                        rng.choice(["fr; ar", "en", "zh", "fr"]), *rng.choice(CITIES),
                        "Hassan II Hospital", f"+212 523 {i:06d}", f"doctor{i}@example.org"])


def timed(*args: str, runs: int) -> tuple[float, int]:
    """Median wall time in seconds of ``forumbot ARGS`` over ``runs`` runs, and its exit status."""
    times, code = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run([str(FORUMBOT), *args], capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        code = proc.returncode
        if code not in (0,):
            print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
    return statistics.median(times), code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doctors", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-directory-") as tmp:
        folder = Path(tmp) / "knowledge"
        shutil.copytree(KNOWLEDGE, folder)
        export = Path(tmp) / "directory.csv"
        write_csv(export, args.doctors, args.seed)
        print(f"  .. importing {args.doctors} doctors", file=sys.stderr)
        start = time.perf_counter()
        proc = subprocess.run([str(FORUMBOT), "--knowledge", str(folder), "import", "doctors",
                               str(export)], capture_output=True, text=True)
        imported_s = time.perf_counter() - start
        summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
            return 1
        result = {"doctors": args.doctors, "import_s": round(imported_s, 2),
                  "import_summary": summary, "target_s": TARGET_S, "runs": args.runs}
        for command in ("check", "test"):
            print(f"  .. forumbot {command}", file=sys.stderr)
            base, _ = timed(command, str(KNOWLEDGE), runs=args.runs)
            big, code = timed(command, str(folder), runs=args.runs)
            result[command] = {"bundled_s": round(base, 2), "imported_s": round(big, 2),
                               "ratio": round(big / base, 2), "exit_status": code,
                               "under_target": big < TARGET_S}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"import of {args.doctors} doctors: {result['import_s']:.2f} s ({summary})")
    print(f"{'command':<16}{'bundled':>10}{'imported':>11}{'ratio':>8}  under {TARGET_S:.0f} s")
    for command in ("check", "test"):
        r = result[command]
        print(f"forumbot {command:<7}{r['bundled_s']:>9.2f}s{r['imported_s']:>10.2f}s"
              f"{r['ratio']:>7.2f}x  {'yes' if r['under_target'] else 'NO'}"
              + ("" if r["exit_status"] == 0 else f"  (exit status {r['exit_status']})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
