import sys

from lm_envs.cli import main

sys.exit(main())
