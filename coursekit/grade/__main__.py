"""``python -m coursekit.grade``."""
import sys

from .cli import main

sys.exit(main())
