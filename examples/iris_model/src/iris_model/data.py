"""Reads a channel of headerless CSV files, label in the first column (SageMaker's BYO convention)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_labelled_csv(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    """All *.csv files under `directory` -> (features, labels)."""
    files = sorted(directory.rglob("*.csv"))
    if not files:
        raise FileNotFoundError(
            f"no *.csv files in {directory}: upload headerless CSV files with the label in the first "
            "column (e.g. examples/data/iris.csv) under the training bucket's input/ prefix"
        )
    tables = []
    for path in files:
        try:
            tables.append(np.loadtxt(path, delimiter=",", ndmin=2))
        except ValueError as error:
            raise ValueError(
                f"{path.name}: expected numbers only, label first, no header ({error})"
            ) from None
    widths = {table.shape[1] for table in tables}
    if len(widths) != 1:
        raise ValueError(f"CSV files in {directory} disagree on the number of columns: {sorted(widths)}")
    table = np.vstack(tables)
    return table[:, 1:], table[:, 0].astype(np.int64)
