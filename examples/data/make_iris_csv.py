"""Regenerates iris.csv from the copy of the iris data set that ships with scikit-learn.

Layout (the SageMaker bring-your-own convention): no header, label first (0, 1, 2 for setosa,
versicolor, virginica), then the four measurements in centimetres.
"""

from pathlib import Path

from sklearn.datasets import load_iris


def main() -> None:
    iris = load_iris()
    lines = [
        ",".join([str(label), *(f"{value:g}" for value in row)])
        for label, row in zip(iris.target, iris.data, strict=True)
    ]
    Path(__file__).with_name("iris.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
