"""run_async: concurrent runs while the event loop keeps ticking."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

import libsandbox
from libsandbox import Limits, Status


def test_eight_concurrent_runs_take_about_as_long_as_one(config: libsandbox.Config) -> None:
    async def scenario() -> tuple[list[libsandbox.Result], float, list[float]]:
        beats: list[float] = []
        done = asyncio.Event()

        async def heartbeat() -> None:
            while not done.is_set():
                beats.append(time.monotonic())
                await asyncio.sleep(0.1)

        beat_task = asyncio.create_task(heartbeat())
        start = time.monotonic()
        results = await asyncio.gather(
            *(
                libsandbox.run_async(
                    f"import time\ntime.sleep(2)\nprint({i})",
                    user=f"async-{i}",
                    limits=Limits(timeout_s=30),
                    config=config,
                )
                for i in range(8)
            )
        )
        elapsed = time.monotonic() - start
        done.set()
        await beat_task
        return list(results), elapsed, beats

    results, elapsed, beats = asyncio.run(scenario())
    for i, result in enumerate(results):
        assert result.status is Status.OK, (i, result.message)
        assert result.stdout == f"{i}\n"
    # Serially this is >= 16 s; concurrently ~2 s plus sandbox start-up.
    assert elapsed < 8, elapsed
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    assert len(beats) >= elapsed / 0.1 * 0.5, (len(beats), elapsed)
    assert max(gaps) < 0.5, max(gaps)


def test_run_async_reports_argument_errors_when_awaited() -> None:
    async def scenario() -> None:
        await libsandbox.run_async(b"print(1)")  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="code"):
        asyncio.run(scenario())
