"""Check a question file of the quality bench before it is used: every evidence string is
found verbatim (whitespace normalised) in the extracted text of its document, paraphrased
questions share at most a third of their content words with their evidence, and the counts
per split are shown.

Usage: `python bench/quality_validate.py bench/quality/questions/CORPUS.json`
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))
sys.path.insert(0, str(REPO_ROOT))

from bench.quality_corpus import evidence_overlap, extracted_texts, normalise  # noqa: E402


def main(path: str) -> int:
    spec = json.loads(Path(path).read_text())
    texts = {name: normalise(text) for name, text in extracted_texts(spec["corpus"]).items()}
    problems: list[str] = []
    counts: dict[str, dict[str, int]] = {}
    ids: set[str] = set()
    for q in spec["questions"]:
        if q["id"] in ids:
            problems.append(f"{q['id']}: duplicate id")
        ids.add(q["id"])
        if q["split"] not in ("dev", "test"):
            problems.append(f"{q['id']}: split must be dev or test")
        kind = (
            "unanswerable"
            if not q["answerable"]
            else ("paraphrased" if q["paraphrased"] else "literal")
        )
        split_counts = counts.setdefault(q["split"], {})
        split_counts[kind] = split_counts.get(kind, 0) + 1
        if not q["answerable"]:
            continue
        if q["document"] not in texts:
            problems.append(f"{q['id']}: unknown document {q['document']!r}")
            continue
        if normalise(q["evidence"]) not in texts[q["document"]]:
            problems.append(f"{q['id']}: evidence not found verbatim in {q['document']}")
        overlap = evidence_overlap(q["question"], q["evidence"])
        if q["paraphrased"] and overlap > 1 / 3:
            problems.append(f"{q['id']}: paraphrased but shares {overlap:.2f} of its words")
        if not q.get("keywords"):
            problems.append(f"{q['id']}: no keywords")
    print(json.dumps(counts, indent=1))
    for problem in problems:
        print(problem)
    print(f"{len(spec['questions'])} questions, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
