"""``wire/body_memory.py``: the total held never exceeds the limit; large bodies are
admitted whole and in arrival order, within 15/16 of the limit; small bodies pass them;
a wait past the deadline is ServiceUnavailableException and gives nothing away."""

from __future__ import annotations

import anyio
import pytest

from dynoxide_streams.errors import ServiceUnavailableException
from dynoxide_streams.wire.body_memory import MESSAGE, SMALL_BODY_BYTES, BodyHold, BodyMemory

MiB = 1024 * 1024


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_large_bodies_wait_in_order_and_never_exceed_the_limit() -> None:
    memory = BodyMemory(32 * MiB, wait=5)
    admitted: list[int] = []
    release = [anyio.Event() for _ in range(5)]

    async def request(n: int) -> None:
        async with memory.hold() as hold:
            await hold.reserve(10 * MiB)
            admitted.append(n)
            assert memory.held <= memory.limit and memory.held_large <= memory.large_limit
            await release[n].wait()

    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(request, n)
            await anyio.wait_all_tasks_blocked()
        assert admitted == [0, 1, 2]  # 30 MiB of the 32: 15/16 is for large bodies
        release[0].set()
        await anyio.wait_all_tasks_blocked()
        assert admitted == [0, 1, 2, 3]
        for event in release:
            event.set()
    assert admitted == [0, 1, 2, 3, 4]
    assert (memory.held, memory.held_large) == (0, 0)


@pytest.mark.anyio
async def test_small_bodies_pass_waiting_large_ones() -> None:
    memory = BodyMemory(32 * MiB, wait=5)
    outer = BodyHold(memory)
    await outer.reserve(16 * MiB)
    blocked = BodyHold(memory)
    async with anyio.create_task_group() as tg:
        tg.start_soon(blocked.reserve, 16 * MiB)  # does not fit the 30 MiB for large ones
        await anyio.wait_all_tasks_blocked()
        small = BodyHold(memory)
        with anyio.fail_after(1):
            await small.reserve(SMALL_BODY_BYTES)
        assert small.amount == SMALL_BODY_BYTES
        small.release()
        outer.release()
    assert blocked.amount == 16 * MiB
    blocked.release()
    assert memory.held == 0


@pytest.mark.anyio
async def test_a_wait_past_the_deadline_is_503_and_holds_nothing() -> None:
    memory = BodyMemory(32 * MiB, wait=0.05)
    first = BodyHold(memory)
    await first.reserve(16 * MiB)
    second = BodyHold(memory)
    with pytest.raises(ServiceUnavailableException) as error:
        await second.reserve(16 * MiB)
    assert error.value.status == 503 and error.value.message == MESSAGE
    assert second.amount == 0 and memory.held == 16 * MiB
    first.release()
    await second.reserve(16 * MiB)  # room again
    second.release()
    assert memory.held == 0
