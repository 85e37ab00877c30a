"""Entry point for `ray job submit`: run (or resume) a sweep, then fit, propose and report.

    ray job submit --address http://127.0.0.1:8265 --runtime-env jobs/runtime_env.yaml -- \
        python jobs/sweep.py jobs/configs/demo.yaml

Inside a Ray job, RAY_ADDRESS is set, so the sweep joins that cluster instead of starting one.
"""

import sys

from raymix.cli.commands import main

if __name__ == "__main__":
    sys.exit(main(["sweep", *sys.argv[1:]]))
