"""Replay seeds: `cd tests && python -m sim SEED [SEED...]` prints each seed's steps."""

import sys

from .run import Simulation, Violation, quiet


def main(argv: list[str]) -> int:
    failed = 0
    for seed in (int(a) for a in argv):
        sim = Simulation(seed)
        try:
            with quiet():
                sim.run()
        except Violation as broken:
            failed += 1
            print("\n".join(sim.trace))
            print(f"seed {seed}: {broken}")
        else:
            print(f"seed {seed}: ok ({sim.step_no} steps)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
