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


def grouped_bars(
    groups: Sequence[str], series: dict[str, Sequence[float]], title: str, ylabel: str
) -> dg.MetadataValue:
    """One bar per named series in each group (e.g. a metric per category and recommender)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        ax.bar([g + i * width for g in range(len(groups))], values, width, label=name)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))])
    ax.set_xticklabels(groups, rotation=30, ha="right", fontsize=8)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return _figure_md(fig)


def scatter(
    x: Sequence[float], y: Sequence[float], colour: Sequence[float], title: str, label: str
) -> dg.MetadataValue:
    """Points in the plane coloured by a value (e.g. a map of tracks by popularity)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    points = ax.scatter(x, y, c=colour, s=3, cmap="viridis", linewidths=0)
    fig.colorbar(points, ax=ax, label=label, shrink=0.8)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal", adjustable="datalim")
    return _figure_md(fig)
