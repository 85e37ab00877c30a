"""Entry point for `ray job submit`: cross-validate the regressors on a finished sweep.

    ray job submit --address http://127.0.0.1:8265 --runtime-env jobs/runtime_env.yaml -- \
        python jobs/fit.py jobs/configs/demo.yaml
"""

import sys

from raymix.cli.commands import main

if __name__ == "__main__":
    sys.exit(main(["fit", *sys.argv[1:]]))
