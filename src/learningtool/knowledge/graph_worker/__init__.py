"""The knowledge-graph worker process: owns LightRAG, one workspace per notebook.

LightRAG's file storages (GraphML, NanoVectorDB JSON, JSON key-value files) read and write
files synchronously and wait on thread locks, so LightRAG never runs in the service process:
`learningtool.knowledge.graph.LightRagGraph` starts this module's `main` in a process of its
own ('spawn'), which runs its own event loop and answers requests that arrive on a pipe.
The service imports only `config` (small picklable types: `WorkerConfig`, `EmbeddingSpec`,
`hashing_embedding`) and `process.main` (the spawn target); LightRAG itself is imported inside
the worker only.

Modules: `config` (what the service passes), `ledger` (the write-ahead record of our chunks),
`reconcile` (making LightRAG hold what the ledger says), `scoring` (queries), `view` (the graph
as entities and relations), `workspace` (one notebook), `host` (all notebooks, the operations),
`process` (the worker process: single-writer lock, the pipe loop).

Protocol: the service sends `(request_id, op, args)`; the worker answers
`(request_id, True, result)` or `(request_id, False, (error_kind, message))`. Requests run as
concurrent tasks; writes to one notebook (insert, delete, drop) are serialised by a per-notebook
lock (LightRAG has a known race between concurrent inserts, issue #1968); reads are not
serialised, and a read may see a write half done.
A first message `("ready", pid)` (or `("failed", message)`) tells the service the worker is up.
An exclusive `flock` on `<notebooks_dir>/.graph-worker.lock` keeps a second worker (another
service process on the same data directory) from writing the same files.

Storage layout of a notebook: `<notebooks_dir>/<notebook_id>/graph/` is LightRAG's
`working_dir`, with `workspace=<notebook_id>` (so LightRAG's in-process shared namespaces of
different notebooks never collide; its files live in `graph/<notebook_id>/`), and
`graph/ledger.json`, this module's record of what each of OUR chunks contributed.

Offline graph (no LLM): entities are the key phrases of each chunk (`keyphrases.extract`),
relations are co-occurrence of two phrases in the same chunk (weight = the number of chunks
where both occur). They are written with `LightRAG.ainsert_custom_kg`: its chunks carry our
chunk id as their `source_id` alias. LightRAG keys chunks by the MD5 of their content
(`chunk-<md5>`), not by our id, and its custom-KG path gives an entity exactly one source
chunk and overwrites a node on each call; so after each call the touched entities and
relations are reconciled from the ledger: `source_id` = all LightRAG chunk ids where the
phrase (pair) occurs (joined with LightRAG's `<SEP>`, the format its own queries read), weight
= co-occurrence count, description = the first sentence where it occurs. Deleting a source
subtracts its chunks the same way: entities and relations left with no chunk are removed,
the others are rewritten. The ledger maps LightRAG's chunk ids back to ours (two of our
chunks with identical text share one LightRAG chunk), so every hit names our chunk ids, i.e.
exact spans of a source. Inserting the same chunk ids again changes nothing (idempotent).
Each write flushes LightRAG's files once (its own flush inside `ainsert_custom_kg` is skipped,
the reconciliation follows right after it).

Failures: the ledger is the truth LightRAG's data is derived from, and a write records its
change in the ledger (`pending`) before touching LightRAG and clears it once LightRAG's files
are flushed. A write that fails raises to the caller, and the worker drops that notebook's
in-memory LightRAG state (the next call reopens it from its files). The files may hold part
of the failed write (LightRAG flushes its stores side by side), but the ledger knows every
chunk involved, so the next write to the notebook (a retry of the insert, or the deletion
of the source) redoes the recorded change together with its own and converges; a read first
tries that redo once. Until then, reads may show what the failed write left.

LightRAG's own query modes also work on this data without an LLM when keywords are passed in
(`aquery_data` with `QueryParam(ll_keywords=..., hl_keywords=..., enable_rerank=False)`: naive,
local, global, hybrid and mix all returned the right chunk, named by LightRAG's chunk id).

Query (no LLM, no LightRAG `aquery`): LightRAG's `kg_query` modes need an LLM to extract
keywords (or keywords passed in) and return chunks without scores, after truncating by
tokens; so the worker queries LightRAG's storages directly, which gives scores:
1. the question's normalised content words are matched against entity names (share of the
   entity's words found in the question times the square root of the share of the question's
   words found in the entity), and the question's embedding against the entity vector store;
2. each matched entity adds `match * idf` to each of its chunks (idf = log(1 + chunks /
   chunks with the entity)); the ten strongest neighbours of the best five entities add a
   third of that, scaled by edge weight (graph expansion). Entities' chunks and edge weights
   are read from the ledger, which holds the same data as the graph (nodes' `source_id`,
   edge weights) keyed by our chunk ids, without one storage call (and lock) per edge;
3. the question's embedding against the chunk vector store gives a similarity per chunk;
4. score = 0.65 * graph score (scaled to 0..1 by the best one) + 0.35 * similarity.
The vector stores' cosine threshold is 0.05 (LightRAG's default of 0.2 returns nothing for
some questions).

Embeddings: the worker builds its embedding function from `WorkerConfig.embedding_factory`,
a picklable callable run inside the worker. The default, `hashing_embedding`, is the code
base's one feature hashing (`knowledge.embed.hashing`), 256 dimensions: no model, lexical
similarity only. Changing the embedding of an existing notebook needs a rebuild
(drop and insert again): the stored vectors have the old dimension and meaning.
"""

from learningtool.knowledge.graph_worker.config import (
    NOTEBOOK_ID,
    EmbeddingSpec,
    WorkerConfig,
    hashing_embedding,
)

__all__ = ["NOTEBOOK_ID", "EmbeddingSpec", "WorkerConfig", "hashing_embedding"]
