# A matplotlib backend, run INSIDE the sandbox of a one-shot run
# (MPLBACKEND=module://libsandbox_plots, from the read-only code dir): figures
# are drawn with Agg and saved into $LIBSANDBOX_FIGURES when the code calls
# plt.show() and, for those still open, when it exits. PNG, or SVG when the
# code sets rcParams["savefig.format"] = "svg". The host reads them back as
# the run's outputs, bounded (figures.h); this only keeps a flood short.
import atexit
import os
import sys

MAX_FIGURES = 16
_saved = 0

try:
    from matplotlib.backend_bases import FigureManagerBase as FigureManager
    from matplotlib.backends.backend_agg import FigureCanvasAgg as FigureCanvas
except ImportError:  # imported to be checked where matplotlib is missing
    pass

__all__ = ["FigureCanvas", "FigureManager", "show"]


def _save_open_figures():
    global _saved
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return  # no figure can exist
    folder = os.environ.get("LIBSANDBOX_FIGURES", "/home/user/.libsandbox-figures")
    fmt = "svg" if plt.rcParams.get("savefig.format") == "svg" else "png"
    for number in plt.get_fignums():
        figure = plt.figure(number)
        if _saved < MAX_FIGURES:
            _saved += 1
            os.makedirs(folder, exist_ok=True)
            figure.savefig(os.path.join(folder, "figure-%d.%s" % (_saved, fmt)), format=fmt)
        plt.close(figure)


def show(*args, **kwargs):
    _save_open_figures()


atexit.register(_save_open_figures)
