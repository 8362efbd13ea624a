"""The audit: read-only controls of live servers against the declared state.

`run` (run.py) runs the controls (controls/, pytest files with their conftest) and writes the
reports (report.py); `remote` is how a control sees a host; `declared` is the state the
inventory and the roles' defaults declare. The package's own tests are in tests/.
"""

from .remote import Remote, auditor_of, testinfra_host
from .run import AuditRun, print_summary, run

__all__ = ["AuditRun", "Remote", "auditor_of", "print_summary", "run", "testinfra_host"]
