"""Import cycles among synthmed's modules: the groups of modules that import each other, directly or not.

Every import counts, including those inside functions. `make lint` keeps the count at zero (import-linter's
contracts in pyproject.toml); this prints the groups, for a before/after picture of a refactor.

    .venv/bin/python benchmarks/import_cycles.py
"""

from __future__ import annotations

import grimp
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def import_cycles(package: str = "synthmed") -> tuple[int, list[list[str]]]:
    """(module count, groups of two or more modules joined in an import cycle)."""
    graph = grimp.build_graph(package)
    modules = sorted(m for m in graph.modules if m != package)
    index = {module: i for i, module in enumerate(modules)}
    edges = [
        (index[module], index[imported])
        for module in modules
        for imported in graph.find_modules_directly_imported_by(module)
        if imported in index
    ]
    rows, columns = np.array(edges, dtype=int).reshape(-1, 2).T
    adjacency = coo_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(modules), len(modules)))
    _, labels = connected_components(adjacency, directed=True, connection="strong")
    groups = [[modules[i] for i in np.flatnonzero(labels == label)] for label in np.unique(labels)]
    return len(modules), sorted((g for g in groups if len(g) > 1), key=len, reverse=True)


def main() -> None:
    count, cycles = import_cycles()
    print(f"{count} modules; {len(cycles)} import cycles (strongly connected groups):")
    for group in cycles:
        print(f"  {len(group)} modules: " + ", ".join(name.removeprefix("synthmed.") for name in group))


if __name__ == "__main__":
    main()
