"""Interleaved timing and the size flags shared by the benchmark scripts.

Each round runs every contender `steps` times in turn, so that load from
other jobs on a shared machine hits all of them alike; the best round counts.
"""

import time


def interleaved_best(contenders, rounds, steps):
    """Best seconds per step of each callable, wall clock and process CPU time.

    Args:
        contenders: dict name -> callable taking no arguments (warmed up).
        rounds: rounds over all contenders.
        steps: calls per contender per round.

    Returns:
        `(wall, cpu)`: two dicts name -> seconds per call.
    """
    wall = {name: float("inf") for name in contenders}
    cpu = dict(wall)
    for _ in range(rounds):
        for name, run in contenders.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                run()
            wall[name] = min(wall[name], (time.perf_counter() - start) / steps)
            cpu[name] = min(cpu[name], (time.process_time() - start_cpu) / steps)
    return wall, cpu


def add_size_arguments(parser, steps, rounds=5):
    """The flags of an attention-sized benchmark: `--batch --length --width --heads --steps --rounds`."""
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--rounds", type=int, default=rounds)
