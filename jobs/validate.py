"""Entry point for `ray job submit`: train the proposal and baselines at the validation scale.

    ray job submit --address http://127.0.0.1:8265 --runtime-env jobs/runtime_env.yaml -- \
        python jobs/validate.py jobs/configs/scaling.yaml

Inside a Ray job, RAY_ADDRESS is set, so the validation runs join that cluster.
"""

import sys

from raymix.cli.commands import main

if __name__ == "__main__":
    sys.exit(main(["validate", *sys.argv[1:]]))
