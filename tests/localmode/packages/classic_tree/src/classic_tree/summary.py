"""`classic-tree-summary MODEL.pkl`: a console script the training calls by name (it is on PATH)."""

import pickle
import sys


def main():
    with open(sys.argv[1], "rb") as handle:
        tree = pickle.load(handle)
    print(f"tree: depth {tree.get_depth()}, {tree.get_n_leaves()} leaves")


if __name__ == "__main__":
    main()
