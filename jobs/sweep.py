"""An example entry point for a Ray job: run (or resume) a sweep, then fit, propose and report.

`python -m raymix sweep CONFIG` does the same; this file is for a project that wants a
script of its own next to its config. Copy it into the project folder, then from there:

    ray job submit --address http://127.0.0.1:8265 --working-dir . \
        --runtime-env-json '{"pip": ["raymix==0.1.0"]}' -- python sweep.py sweep.yaml

(`raymix submit sweep.yaml --command sweep` builds the same job, after checking the config,
its storage and the folder's size.)

Inside a Ray job, RAY_ADDRESS is set, so the sweep joins that cluster instead of starting one.
"""

import sys

from raymix.cli import main

if __name__ == "__main__":
    sys.exit(main(["sweep", *sys.argv[1:]]))
