"""asv benchmarks of exca (``make bench``); the workloads and reports are in docs/benchmarks.md.

The helper modules (``_child``, ``_store_workloads``, ``step_workload``) are also run as
plain scripts in child processes, with this folder first on ``sys.path``; putting it there
here too lets every module import them the same way under asv.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
