"""Time of ``external_validation_sample_size`` at its default precision, with the answer.

    python benchmarks/bench_sample_size.py [--replicates R] [--horizon MONTHS]

Prints the machine load, wall and CPU time, the required n with its Monte Carlo SE, and the
per-criterion table (the default model, scenario ``lim2009``, default targets).
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--horizon", type=float, default=60.0)
    parser.add_argument("--random-state", type=int, default=2024)
    args = parser.parse_args()
    from mastoprog.survival import load_model
    from mastoprog.validation import external_validation_sample_size

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    model = load_model()
    start, cpu = time.perf_counter(), time.process_time()
    res = external_validation_sample_size(model, "lim2009", horizon=args.horizon,
                                          n_replicates=args.replicates, random_state=args.random_state)
    print(f"wall {time.perf_counter() - start:.1f} s, CPU {time.process_time() - cpu:.1f} s "
          f"({args.replicates} replicates per size)")
    print(f"n_required = {res.n_required} (MCSE {res.n_required_mcse:.1f})")
    print(res.criteria.to_string(index=False))
    for note in res.notes:
        print("note:", note)


if __name__ == "__main__":
    main()
