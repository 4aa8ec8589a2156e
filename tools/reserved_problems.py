"""Writes reserved problems that are NOT in heldout.jsonl, in its format, for choosing settings.

Settings (the recent window, a calibration floor) must never be chosen on the problems that score
them. heldout.jsonl holds 1000 of the reserved problems (the training run never saw any reserved
problem); this draws others from the same reserved pool with another seed and skips heldout's.

    python3 tools/reserved_problems.py --n 300 --seed 2026 > problems.jsonl
"""
import argparse
import json
import pathlib
import random
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from reasoner_data import completion, is_heldout, key, question, sample_problem, solve  # noqa: E402

HELDOUT = pathlib.Path(__file__).parent.parent / "models/phasekv-tiny-reasoner/heldout.jsonl"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    taken = {json.loads(line)["prompt"] for line in HELDOUT.read_text().splitlines() if line}
    rng = random.Random(args.seed)
    seen = set()
    while len(seen) < args.n:
        p = sample_problem(rng)
        q = question(*p)
        if not is_heldout(*p) or q in taken or key(*p) in seen:
            continue
        seen.add(key(*p))
        _, answer, result = solve(*p)
        comp = completion(*p).removesuffix("<|eos|>")
        row = {"prompt": q, "messages": [{"role": "user", "content": q}], "answer": answer,
               "result": result, "completion": comp}
        print(json.dumps(row))


if __name__ == "__main__":
    main()
