"""Recordings benchmarks (issue 11), one part at a time:

    .venv/bin/python bench/recordings.py transcode [options]   hour of two-channel call audio: x real time
                                                              per core (bench/recordings_transcode.py)
    .venv/bin/python bench/recordings.py stream [options]      50 Range readers: throughput, no reader
                                                              starved, memory flat (recordings_stream.py)
    .venv/bin/python bench/recordings.py e2e [options]         call's end to a playable recording
                                                              (recordings_e2e.py)
    .venv/bin/python bench/recordings.py all                   every part there is, with its defaults

``<part> --help`` describes a part's options. Each part lives in its own module, bench/recordings_<part>.py;
a part not written yet is named as such.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# This file is bench/recordings.py: with bench/ first on the path, "import recordings" would find it
# instead of the recordings package. The project goes first, bench/ after it (for the part modules).
sys.path[:] = [str(ROOT), str(BENCH)] + [p for p in sys.path if p and Path(p).resolve() != BENCH]

PARTS = {
    "transcode": "recordings_transcode",
    "stream": "recordings_stream",
    "e2e": "recordings_e2e",
}


def present(part: str) -> bool:
    return importlib.util.find_spec(PARTS[part]) is not None


def usage() -> str:
    lines = [__doc__ or "", "Parts here:"]
    for part, module in PARTS.items():
        state = "ready" if present(part) else f"not there yet (bench/{module}.py)"
        lines.append(f"  {part:<10} {state}")
    return "\n".join(lines)


def run(part: str, argv: list[str]) -> None:
    module = importlib.import_module(PARTS[part])
    module.main(argv)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    part, rest = args[0], args[1:]
    if part == "all":
        missing = [p for p in PARTS if not present(p)]
        for name in PARTS:
            if name in missing:
                continue
            print(f"\n===== recordings: {name} =====", flush=True)
            run(name, rest)
        if missing:
            print("\nnot there yet: " + ", ".join(f"{p} (bench/{PARTS[p]}.py)" for p in missing))
        return 0
    if part not in PARTS:
        print(f"unknown part {part!r}\n\n{usage()}", file=sys.stderr)
        return 2
    if not present(part):
        print(f"{part}: not there yet (bench/{PARTS[part]}.py is written by its owner)", file=sys.stderr)
        return 2
    run(part, rest)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
