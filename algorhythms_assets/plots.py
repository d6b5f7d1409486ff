"""Small matplotlib figures embedded in asset metadata as Markdown images."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import dagster as dg


def _figure_md(fig) -> dg.MetadataValue:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![plot](data:image/png;base64,{data})")


def histogram(
    values: Sequence[float], title: str, xlabel: str, bins: int = 40, log_y: bool = False
) -> dg.MetadataValue:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(values, bins=bins, color="#3b6ea8")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    if log_y:
        ax.set_yscale("log")
    return _figure_md(fig)


def lines(series: dict[str, Sequence[float]], title: str, xlabel: str) -> dg.MetadataValue:
    """One line per named series over a shared x axis (e.g. epochs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, values in series.items():
        ax.plot(range(len(values)), values, marker="o", markersize=3, label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.legend()
    return _figure_md(fig)
