"""Knowledge layer: text embeddings and the structures built on them for retrieval."""
