"""Study material: the pure, synchronous core behind summaries, Q&A, cards and reviews.

Everything here is a plain function of its arguments (no I/O besides a private temp dir in
the Anki export, no clock, no randomness), so the service can run the CPU-heavy parts in a
process pool and tests can pin exact outputs:

- `offline` - the deterministic engine that works with no model and no key: extractive
  summary, cloze flashcards and definition Q&A, every item anchored to an exact character
  span of its source (`source_text[start:end]` is the evidence);
- `sentences`, `keyphrases` - the text tools `offline` is built on;
- `schedule` - FSRS-6 spaced-repetition scheduling (the `fsrs` package, fuzz off);
- `cards_export` - CSV and Anki `.apkg` export that keeps each card's scheduling state.
"""
