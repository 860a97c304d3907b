"""End-to-end latency of the Open WebUI tool: `Tools.run_python_code` of a
hello world, called the way Open WebUI calls it (one process, one Tools
instance, the event loop running), median of N calls.

    python3 bench/openwebui_latency.py            # with the default warm pool
    CODE_EVAL_VALVE_OVERRIDE_WARM_POOL_SIZE=0 python3 bench/openwebui_latency.py   # cold

Needs the libsandbox package (pip install .) and pydantic.
"""

import asyncio
import importlib.util
import os
import pathlib
import statistics
import sys
import tempfile
import time

import libsandbox

TOOL = pathlib.Path(__file__).resolve().parent.parent / "examples/open-webui/tools/run_code.py"


async def measure(calls: int) -> list[float]:
    spec = importlib.util.spec_from_file_location("run_code", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tools = module.Tools()
    user = {"id": "bench-user"}
    await tools.run_python_code("print('warm-up')", __user__=user)
    await asyncio.sleep(3)  # the pool fills in the background
    times = []
    for _ in range(calls):
        start = time.monotonic()
        reply = await tools.run_python_code("print('hello')", __user__=user)
        times.append(time.monotonic() - start)
        assert '"OK"' in reply, reply
        await asyncio.sleep(0.5)  # as between chat turns: lets the pool refill
    return times


def main() -> int:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="owui-bench-"))
    times = asyncio.run(measure(calls))
    pool = os.environ.get("CODE_EVAL_VALVE_OVERRIDE_WARM_POOL_SIZE", "default")
    hits = libsandbox.metrics()["counters"].get("pool_hits", 0)
    print(
        f"run_python_code hello, WARM_POOL_SIZE={pool}: median {statistics.median(times) * 1000:.0f} ms, "
        f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {calls} calls; "
        f"pool hits {hits}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
