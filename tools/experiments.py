"""Run Freeman & Bruna's geodesic-length experiment at the stored scale and save the results.

    python tools/experiments.py                      # all four tasks -> experiments/geodesics.json
    python tools/experiments.py --tasks cubic text   # some of them
    python tools/experiments.py --fresh              # start over instead of resuming

Resumable per pair: records already in the output file (same scale) are kept and skipped;
the file is rewritten after every pair. Uses CUDA when present, else the CPU with
``--threads`` torch threads (default 1: the machine is shared). The file records the
command, seeds, configuration, library and torch versions, device and the run's time.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from lecture_lib.topics import geodesic_experiments as ge  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(ge.TASKS), choices=ge.TASKS)
    parser.add_argument("--scale", default="stored", choices=ge.SCALES)
    parser.add_argument("--out", default="experiments/geodesics.json")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fresh", action="store_true", help="ignore an existing output file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    command = "python tools/experiments.py " + " ".join(argv if argv is not None else sys.argv[1:])
    records, seconds = [], 0.0
    if os.path.exists(args.out) and not args.fresh:
        stored = ge.load_results(args.out)
        if stored["meta"].get("scale") == args.scale:
            records, seconds = stored["records"], stored["meta"].get("seconds", 0.0)
    done = {(r["task"], r["level"], r["pair"]) for r in records}
    meta = ge.provenance(command.strip(), args.scale, device)
    start = time.perf_counter()

    def save(record=None):
        if record is not None:
            records.append(record)
        meta["seconds"] = seconds + time.perf_counter() - start
        ge.save_results(args.out, meta, records)
        bar.update(record is not None)

    total = sum(len(ge.CONFIGS[args.scale][t]["levels"]) * ge.CONFIGS[args.scale][t]["pairs"] for t in args.tasks)
    with tqdm(total=total, initial=len(done), desc="pairs") as bar:
        for name in args.tasks:
            ge.run_task(name, args.scale, device=device, done=done, on_record=save)
            save()
    print(f"{len(records)} records in {args.out}, {meta['seconds']:.0f} s on {device}")


if __name__ == "__main__":
    main()
