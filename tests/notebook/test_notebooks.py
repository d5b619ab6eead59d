"""Notebooks: create, list, get, rename, delete (a purge job), exclusions."""

from __future__ import annotations

import asyncio

from httpx import AsyncClient
from sqlalchemy import func, select

from learningtool.jobs.worker import Worker
from learningtool.models import Chunk, Exclusion, Notebook, Source
from tests.conftest import Api


async def _create(client: AsyncClient, name: str = "Biology") -> dict:
    response = await client.post("/api/v1/notebooks", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_list_get_rename(client: AsyncClient) -> None:
    created = await _create(client, "Biology")
    await _create(client, "Chemistry")
    listed = (await client.get("/api/v1/notebooks")).json()
    assert [n["name"] for n in listed] == ["Biology", "Chemistry"]

    got = (await client.get(f"/api/v1/notebooks/{created['id']}")).json()
    assert got["name"] == "Biology"
    assert got["created_at"].endswith("Z") or got["created_at"].endswith("+00:00")

    renamed = await client.patch(
        f"/api/v1/notebooks/{created['id']}",
        json={"name": "Cell biology", "description": "ch. 1-4"},
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Cell biology"
    assert renamed.json()["description"] == "ch. 1-4"


async def test_duplicate_names_conflict_per_owner(api: Api, client: AsyncClient) -> None:
    created = await _create(client, "Physics")
    again = await client.post("/api/v1/notebooks", json={"name": "Physics"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    other = await _create(client, "Optics")
    clash = await client.patch(f"/api/v1/notebooks/{other['id']}", json={"name": "Physics"})
    assert clash.status_code == 409
    # Another user may use the same name.
    async with api.client(await api.new_user("bob")) as bob:
        assert (await bob.post("/api/v1/notebooks", json={"name": "Physics"})).status_code == 201
    assert (await client.get(f"/api/v1/notebooks/{created['id']}")).status_code == 200


async def test_concurrent_double_create_makes_one_notebook(api: Api, client: AsyncClient) -> None:
    responses = await asyncio.gather(
        *(client.post("/api/v1/notebooks", json={"name": "Twice"}) for _ in range(4))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 1 and set(codes) <= {201, 409}
    async with api.context.sessions() as session:
        count = await session.scalar(select(func.count()).where(Notebook.name == "Twice"))
    assert count == 1


async def test_invalid_input_is_a_clear_422(client: AsyncClient) -> None:
    for body in ({}, {"name": ""}, {"name": "x" * 201}, {"name": 5}):
        response = await client.post("/api/v1/notebooks", json=body)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_input"
    response = await client.post(
        "/api/v1/notebooks", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_delete_purges_rows_and_files_as_a_job(api: Api, client: AsyncClient) -> None:
    notebook = await _create(client, "Doomed")
    keep = await _create(client, "Kept")
    folder = api.context.settings.notebooks_dir / notebook["id"]
    await asyncio.to_thread(folder.mkdir, parents=True)
    await asyncio.to_thread((folder / "index.bin").write_bytes, b"data")
    async with api.context.sessions() as session:
        for nb in (notebook, keep):
            source = Source(notebook_id=nb["id"], kind="text", content_hash=nb["id"], text="hi")
            session.add(source)
            await session.flush()
            session.add(
                Chunk(
                    source_id=source.id,
                    notebook_id=nb["id"],
                    ordinal=0,
                    text="hi",
                    start_char=0,
                    end_char=2,
                )
            )
        await session.commit()

    response = await client.delete(f"/api/v1/notebooks/{notebook['id']}")
    assert response.status_code == 202
    job = response.json()["job"]
    assert job["kind"] == "notebook.purge" and job["state"] == "queued"
    # Gone for the user at once; deleting again is a 404, the name is free again.
    assert (await client.get(f"/api/v1/notebooks/{notebook['id']}")).status_code == 404
    assert (await client.delete(f"/api/v1/notebooks/{notebook['id']}")).status_code == 404
    assert (await client.post("/api/v1/notebooks", json={"name": "Doomed"})).status_code == 201

    assert await Worker(api.context).drain() == 1
    finished = (await client.get(f"/api/v1/jobs/{job['id']}")).json()
    assert finished["state"] == "succeeded"
    assert not await asyncio.to_thread(folder.exists)
    async with api.context.sessions() as session:
        assert await session.get(Notebook, notebook["id"]) is None
        left = (await session.scalars(select(Source.notebook_id))).all()
        chunks = (await session.scalars(select(Chunk.notebook_id))).all()
    assert left == [keep["id"]] and chunks == [keep["id"]]


async def test_exclusions(api: Api, client: AsyncClient) -> None:
    notebook = await _create(client)
    base = f"/api/v1/notebooks/{notebook['id']}/exclusions"
    tag = await client.post(
        base, json={"target_kind": "tag", "target": "draft", "scope": "research"}
    )
    assert tag.status_code == 201
    # Excluding the same target again changes its scope instead of duplicating it.
    again = await client.post(base, json={"target_kind": "tag", "target": "draft", "scope": "both"})
    assert again.status_code == 201 and again.json()["id"] == tag.json()["id"]
    assert again.json()["scope"] == "both"

    missing = await client.post(base, json={"target_kind": "source", "target": "nope"})
    assert missing.status_code == 404
    async with api.context.sessions() as session:
        source = Source(notebook_id=notebook["id"], kind="text", content_hash="h", text="x")
        session.add(source)
        await session.commit()
    by_source = await client.post(
        base, json={"target_kind": "source", "target": source.id, "scope": "retrieval"}
    )
    assert by_source.status_code == 201
    bad_scope = await client.post(base, json={"target_kind": "tag", "target": "x", "scope": "all"})
    assert bad_scope.status_code == 422

    listed = (await client.get(base)).json()
    assert {(e["target_kind"], e["scope"]) for e in listed} == {
        ("tag", "both"),
        ("source", "retrieval"),
    }
    assert (await client.delete(f"{base}/{tag.json()['id']}")).status_code == 204
    assert (await client.delete(f"{base}/{tag.json()['id']}")).status_code == 404
    async with api.context.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Exclusion)) == 1
