"""Benchmarks are gates: each module states what it compares and the ratio it must hold."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
