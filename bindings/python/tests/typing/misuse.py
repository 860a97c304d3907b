"""Code mypy must reject: proves the typing check can fail."""

import libsandbox

libsandbox.run(b"print(1)")
libsandbox.run("print(1)", limits={"timeout_s": 1})
status: int = libsandbox.run("x").status
libsandbox.run("x", policy=None)
libsandbox.query_audit(user=None)
libsandbox.Session("u").exec("x", timeout_s="5")
libsandbox.Config(pool_limits={"memory_mb": 1})
