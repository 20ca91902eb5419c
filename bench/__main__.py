"""python -m bench: run every benchmark; results land in bench/results/."""

from __future__ import annotations

from bench import overhead, queue_cost


def main() -> None:
    queue_cost.main()
    overhead.main()


if __name__ == "__main__":
    main()
