"""`python -m bench`: every benchmark suite, each printing ratios measured in this run."""

import importlib
import sys

SUITES = ["core", "function_graphs", "graph_io", "distributed", "serving", "peers", "training"]

if __name__ == "__main__":
    chosen = sys.argv[1:] or SUITES
    for name in chosen:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ImportError as e:
            print(f"\n(bench.{name} unavailable: {e})")
            continue
        module.main([])
