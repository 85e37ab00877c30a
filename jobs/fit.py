"""An example entry point for a Ray job: cross-validate the regressors on a finished sweep.

`python -m raymix fit CONFIG` does the same; this file is for a project that wants a
script of its own next to its config. Copy it into the project folder, then from there:

    ray job submit --address http://127.0.0.1:8265 --working-dir . \
        --runtime-env-json '{"pip": ["raymix==0.1.0"]}' -- python fit.py sweep.yaml

(`raymix submit sweep.yaml --command fit` builds the same job, after checking the config,
its storage and the folder's size.)
"""

import sys

from raymix.cli import main

if __name__ == "__main__":
    sys.exit(main(["fit", *sys.argv[1:]]))
