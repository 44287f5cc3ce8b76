"""Tables and plots written to ``reports/``; every report names the command that made it."""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from .data import EMOTIONS, atomic_write_bytes

__all__ = ["data_stats_report", "duration_table", "save_figure", "write_text"]


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a text file atomically; return its path."""
    atomic_write_bytes(path, text.encode())
    return Path(path)


def save_figure(fig: plt.Figure, path: str | os.PathLike) -> Path:
    """Save a figure as PNG atomically and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def duration_table(manifest: pd.DataFrame, *, by: str) -> pd.DataFrame:
    """count, mean, std, min, 25/50/75 % and max of ``duration_s`` per value of ``by``."""
    table = manifest.groupby(by)["duration_s"].describe()
    table = table.rename(columns={"25%": "p25", "50%": "p50", "75%": "p75"})
    table["count"] = table["count"].astype(int)
    return table


def _markdown(table: pd.DataFrame, *, floatfmt: str = ".3f") -> str:
    cols = [table.index.name or "", *map(str, table.columns)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in zip(table.index, table.itertuples(index=False), strict=True):
        cells = [str(idx)] + [format(v, floatfmt) if isinstance(v, float) else str(v)
                              for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def data_stats_report(manifest: pd.DataFrame, *, out_dir: str | os.PathLike,
                      command: str) -> list[Path]:
    """The seed's two figures per corpus (clips by duration, clips by emotion) and duration
    tables per corpus and per emotion, as ``stats.md`` plus PNGs in ``out_dir``."""
    out = Path(out_dir)
    written = []
    corpora = sorted(manifest["corpus"].unique())
    fig, axes = plt.subplots(len(corpora), 2, figsize=(11, 3.6 * len(corpora)), squeeze=False)
    for row, corpus in enumerate(corpora):
        part = manifest[manifest["corpus"] == corpus]
        ax = axes[row, 0]
        ax.hist(part["duration_s"], bins=40, color="tab:blue", edgecolor="white")
        ax.set(title=f"{corpus}: clips by duration", xlabel="duration, s", ylabel="clips")
        ax = axes[row, 1]
        counts = part["emotion"].value_counts().reindex(EMOTIONS, fill_value=0)
        ax.bar(range(len(EMOTIONS)), counts.values, color="tab:orange")
        ax.set_xticks(range(len(EMOTIONS)), [f"{i + 1}\n{e}" for i, e in enumerate(EMOTIONS)],
                      fontsize=8)
        ax.set(title=f"{corpus}: clips by emotion", ylabel="clips")
    fig.tight_layout()
    written.append(save_figure(fig, out / "dataset_stats.png"))

    by_corpus = duration_table(manifest, by="corpus")
    tables = [f"# Dataset statistics\n\nProduced by `{command}`.\n",
              f"Clips: {len(manifest)}; speakers: {manifest['speaker'].nunique()}.\n",
              "## Duration (s) per corpus\n", _markdown(by_corpus), ""]
    for corpus in corpora:
        part = manifest[manifest["corpus"] == corpus]
        per_emotion = duration_table(part, by="emotion").reindex(
            [e for e in EMOTIONS if e in set(part["emotion"])])
        per_emotion.index.name = "emotion"
        tables += [f"## Duration (s) per emotion: {corpus}\n", _markdown(per_emotion), ""]
        fig, ax = plt.subplots(figsize=(8, 3.2))
        ax.axis("off")
        shown = per_emotion.round(3)
        ax.table(cellText=shown.values, rowLabels=shown.index, colLabels=shown.columns,
                 loc="center")
        ax.set_title(f"{corpus}: duration (s) per emotion")
        written.append(save_figure(fig, out / f"duration_table_{corpus}.png"))
    tables += ["Figures: `dataset_stats.png` (the seed's two figures for each corpus), "
               + ", ".join(f"`duration_table_{c}.png`" for c in corpora) + ".\n"]
    written.append(write_text(out / "stats.md", "\n".join(tables)))
    return written
