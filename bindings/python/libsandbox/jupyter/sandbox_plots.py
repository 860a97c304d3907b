# A matplotlib backend, run INSIDE the sandbox (MPLBACKEND=module://this):
# figures are drawn with Agg and saved as PNG into $LIBSANDBOX_FIGURES when
# the code calls plt.show() and, for those still open, when it exits. The
# host turns each file into a display_data output, in order, bounded.
import atexit
import os
from typing import Any

from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase
MAX_FIGURES = 32
_saved = 0


def _save_open_figures() -> None:
    global _saved
    import matplotlib.pyplot as plt

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
