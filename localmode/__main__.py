"""python -m localmode [run|deploy|status|delete] [--keep] [--purge] [--stack-name NAME] [--region R]"""

import sys

from localmode.run.cli import main

if __name__ == "__main__":
    sys.exit(main())
