"""Entry point for `ray job submit`: fit the regressors and propose a mixture for a finished sweep.

    ray job submit --address http://127.0.0.1:8265 --runtime-env jobs/runtime_env.yaml -- \
        python jobs/propose.py jobs/configs/demo.yaml
"""

import sys

from raymix.cli.commands import main

if __name__ == "__main__":
    sys.exit(main(["propose", *sys.argv[1:]]))
