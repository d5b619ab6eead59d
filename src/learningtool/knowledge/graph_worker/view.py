"""The graph as the API shows it: entities with their degree and description, and the
relations among them, heaviest first."""

from __future__ import annotations

from typing import Any

from learningtool.knowledge.graph_worker.reconcile import edge_of


async def view(rag: Any, entity: str | None, limit: int) -> dict[str, list[dict[str, Any]]]:
    """Up to `limit` entities (the best connected, or `entity` and its strongest neighbours)
    and the relations among them."""
    graph = rag.chunk_entity_relation_graph
    limit = max(1, min(limit, 1000))
    if entity is None:
        kg = await graph.get_knowledge_graph("*", max_depth=1, max_nodes=limit)
        found = [str(node.id) for node in kg.nodes]
        found_degrees = await graph.node_degrees_batch(found)
        names = sorted(found, key=lambda n: (-int(found_degrees.get(n, 0)), n))
    else:
        from lightrag.utils import normalize_entity_name  # type: ignore[import-untyped]

        from learningtool.knowledge import keyphrases

        name = normalize_entity_name(keyphrases.normalise_phrase(entity))
        if not name or not await graph.has_node(name):
            return {"entities": [], "relations": []}
        around = await graph.get_node_edges(name) or []
        edges = await graph.get_edges_batch([{"src": a, "tgt": b} for a, b in around])
        ranked = sorted(
            ((b if a == name else a), float((edge_of(edges, (a, b)) or {}).get("weight", 1)))
            for a, b in around
        )
        ranked.sort(key=lambda item: -item[1])
        names = [name] + [other for other, _ in ranked[: limit - 1]]
    chosen = set(names)
    nodes = await graph.get_nodes_batch(names)
    degrees = await graph.node_degrees_batch(names)
    node_edges = await graph.get_nodes_edges_batch(names)
    inner = sorted(
        {
            tuple(sorted((a, b)))
            for n in names
            for a, b in node_edges.get(n, [])
            if a in chosen and b in chosen
        }
    )
    edge_data = await graph.get_edges_batch([{"src": a, "tgt": b} for a, b in inner])
    entities = []
    for n in names:
        data = nodes.get(n) or {}
        item: dict[str, Any] = {
            "name": n,
            "type": str(data.get("entity_type", "")),
            "degree": int(degrees.get(n, 0)),
        }
        if data.get("description"):
            item["description"] = str(data["description"])
        entities.append(item)
    relations = []
    for a, b in inner:
        data = edge_of(edge_data, (a, b)) or {}
        relation: dict[str, Any] = {
            "source": a,
            "target": b,
            "weight": float(data.get("weight", 1.0)),
        }
        if data.get("description"):
            relation["description"] = str(data["description"])
        relations.append(relation)
    relations.sort(key=lambda r: (-r["weight"], r["source"], r["target"]))
    return {"entities": entities, "relations": relations}
