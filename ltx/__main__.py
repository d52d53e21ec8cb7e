"""`python -m ltx ...` (what torchrun starts: `torchrun --nproc-per-node N -m ltx generate ... --parallel sp=N`)."""

import sys

from ltx.cli import main

sys.exit(main())
