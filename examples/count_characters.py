"""A dynamic workflow whose compiled spec is cached; crash it, then resume.

    python examples/count_characters.py --s1 Pear --s2 Earth
    python examples/count_characters.py --s1 Pear --s2 Earth --crash-at 6   # fails at node 6
    python examples/count_characters.py --s1 Pear --s2 Earth                # resumes

`count_characters` counts the letters two strings have in common. Its body
calls tasks once per character; in a dynamic workflow each call records a node
of a DAG, and the compiled DAG (the spec) is stored in the cache. A second run
loads the spec instead of compiling it, and every node that finished before a
crash is a cache hit, so only the rest executes.
"""

import argparse
import os

import flytelite as fl

env = fl.TaskEnvironment("count_characters")


@env.task(cache=True, cache_version="1")
def return_index(character: str) -> int:
    """The index of a letter in the alphabet."""
    return ord(character.lower()) - ord("a")


@env.task(cache=True, cache_version="1")
def update_list(freq_list: list[int], list_index: int, step: int) -> list[int]:
    """Count one more occurrence at `list_index`."""
    if os.environ.get("CRASH_AT_STEP") == str(step):
        raise RuntimeError(f"simulated crash at step {step}")
    freq_list[list_index] += 1  # mutating an input is safe: nodes pass values by value
    return freq_list


@env.task(cache=True, cache_version="1")
def derive_count(freq1: list[int], freq2: list[int]) -> int:
    """How many letters the two strings have in common."""
    return sum(min(a, b) for a, b in zip(freq1, freq2))


@env.dynamic(cache=True, cache_version="1")
def count_characters(s1: str, s2: str) -> int:
    freq1 = [0] * 26
    freq2 = [0] * 26
    step = 0
    for ch in s1:
        freq1 = update_list(freq_list=freq1, list_index=return_index(character=ch), step=step)
        step += 1
    for ch in s2:
        freq2 = update_list(freq_list=freq2, list_index=return_index(character=ch), step=step)
        step += 1
    return derive_count(freq1=freq1, freq2=freq2)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--s1", default="Pear")
    parser.add_argument("--s2", default="Earth")
    parser.add_argument("--crash-at", type=int, default=None, help="fail the update at step N")
    args = parser.parse_args()
    if args.crash_at is not None:
        os.environ["CRASH_AT_STEP"] = str(args.crash_at)
    try:
        run = fl.run(count_characters, s1=args.s1, s2=args.s2)
    except fl.TaskFailedError as exc:
        print(f"crashed: {exc}")
        raise SystemExit(1) from None
    row = run.report[0]
    executed = sum(1 for r in run.report[1:] if r.attempts > 0)
    print(f"{run.outputs} characters in common")
    print(f"spec: {row.spec_cache}, nodes executed: {executed} of {len(run.report) - 1}")
