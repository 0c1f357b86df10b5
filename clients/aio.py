"""The Pallet SDK for asyncio: pallet.client.sdk's typed surface, awaited.

    import asyncio
    from pallet.client.aio import AsyncClient
    from pallet.client.sdk import NotFound

    async def main() -> None:
        async with AsyncClient("unix:///run/pallet/pallet.sock", timeout=10) as c:
            print(await c.containers.run("busybox", ["echo", "hi"], remove=True))    # b'hi\\n'
            for ctr in await c.containers.list(all=True):
                print(ctr.name, ctr.status)
            async for ev in c.system.events(filters={"type": "container"}):
                print(ev.action, ev.id[:12])
                break
            try:
                await c.networks.get("nope")
            except NotFound:
                pass

    asyncio.run(main())

Streams (logs, events, pull_progress) are AsyncStream objects: ``async for``
them, and cancel() (or ``async with``) ends the call. See docs/sdk.md.
"""

from __future__ import annotations

from ._sdk_async import (
    AsyncBuilder,
    AsyncClient,
    AsyncContainers,
    AsyncImages,
    AsyncNetworks,
    AsyncStream,
    AsyncSystem,
    AsyncVolumes,
    channel,
)

__all__ = ["AsyncBuilder", "AsyncClient", "AsyncContainers", "AsyncImages", "AsyncNetworks", "AsyncStream",
           "AsyncSystem", "AsyncVolumes", "channel"]
