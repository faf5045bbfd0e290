"""A sweep's summary: results.csv and results.md (one row per configuration) and a plot of
the metric against each swept setting, the same whichever backend ran the trials."""

import csv
import io
import os
from typing import Any

from ..training.checkpoint import atomic_write_text
from ..training.plots import plot_sweep

Row = dict[str, Any]  # {"settings": {...}, "status": "ok" | "failed" | ..., "metrics": {...}}


def fmt(value: Any) -> str:
    """A result value as the Markdown table and the CSV show it."""
    if isinstance(value, float):
        return f"{value:.4f}" if value < 10 else f"{value:.1f}"
    return str(value)


def metric_columns(rows: list[Row]) -> list[str]:
    """The numbers the finished rows report, in the order they first appear."""
    columns: dict[str, None] = {}
    for row in rows:
        if row["status"] != "failed":
            for name, value in row["metrics"].items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    columns.setdefault(name, None)
    return list(columns)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else str(value).split()


def plot_against(out: str, parameter: str, rows: list[Row], metric: str) -> None:
    """metric against one swept setting (list-valued settings by their length, e.g. depth);
    nothing when the setting takes a single value among the finished rows."""
    done = [r for r in rows if isinstance(r["metrics"].get(metric), (int, float))]
    try:
        xs = [float(r["settings"][parameter]) for r in done]
    except (TypeError, ValueError):  # list-valued (e.g. hidden sizes): plot by depth/position
        xs = [float(len(_as_list(r["settings"][parameter]))) for r in done]
    if len(set(xs)) > 1:
        positive = [x for x in xs if x > 0]
        log_x = bool(positive) and len(positive) == len(xs) and max(xs) / min(xs) >= 20
        ys = [float(r["metrics"][metric]) for r in done]
        path = os.path.join(out, f"{_plot_name(metric)}_vs_{parameter}.png")
        plot_sweep(xs, ys, path, parameter, log_x)


def _plot_name(metric: str) -> str:
    return "accuracy" if metric == "val_acc" else metric


def write_reports(
    out: str, swept: list[str], rows: list[Row], columns: list[str], metric: str = "val_acc"
) -> str:
    """results.csv, results.md and the plots; returns the Markdown table."""
    header = [*swept, *columns, "status"]
    table = [
        [row["settings"].get(p, "") for p in swept]
        + [row["metrics"].get(c, "") if row["status"] != "failed" else "" for c in columns]
        + [row["status"]]
        for row in rows
    ]
    table = [["" if v is None else v for v in line] for line in table]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *table])
    atomic_write_text(os.path.join(out, "results.csv"), buffer.getvalue())
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in line) + " |" for line in table]
    atomic_write_text(os.path.join(out, "results.md"), "\n".join(lines) + "\n")
    for parameter in swept:
        plot_against(out, parameter, rows, metric)
    return "\n".join(lines)
