# A matplotlib backend, run INSIDE the sandbox (MPLBACKEND=module://this):
# figures are drawn with Agg and saved as PNG into $LIBSANDBOX_FIGURES when
# the code calls plt.show() and, for those still open, when it exits. The
# host turns each file into a display_data output, in order, bounded.
import atexit
import os
import sys
from typing import Any

MAX_FIGURES = 32
_saved = 0


try:
    from matplotlib.backend_bases import FigureManagerBase as FigureManager  # type: ignore[import-not-found, unused-ignore]
    from matplotlib.backends.backend_agg import FigureCanvasAgg as FigureCanvas  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # the host, which has no matplotlib, may import this file to check it
    pass

__all__ = ["FigureCanvas", "FigureManager", "show"]


def _save_open_figures() -> None:
    global _saved
    if "matplotlib.pyplot" not in sys.modules:
        return  # no figure can exist
    plt = sys.modules["matplotlib.pyplot"]
    folder = os.environ.get("LIBSANDBOX_FIGURES", "/home/user/.figures")
    os.makedirs(folder, exist_ok=True)
    for number in plt.get_fignums():
        figure = plt.figure(number)
        if _saved < MAX_FIGURES:
            _saved += 1
            figure.savefig(os.path.join(folder, f"figure-{_saved:02d}.png"), format="png")
        plt.close(figure)


def show(*args: Any, **kwargs: Any) -> None:
    _save_open_figures()


atexit.register(_save_open_figures)
