"""The audit: read-only controls of live servers against the declared state.

`run` (run.py) runs the controls (controls/, pytest files with their conftest) and writes the
reports (report.py); `catalogue` is the controls' bookkeeping (ids, requirements, selection,
result records); `remote` is how a control sees a host; `declared` is the state the inventory,
the roles' defaults and the platform map declare. The package's own tests are in tests/.

Adding a control: a function in the controls/ file of its concern, marked
`@control("ID-NN", "title", "requirement", groups=(...))`, taking `host` to run on each host of
those groups (or not, to run once for the platform); tests/test_catalogue.py checks its id,
requirement and groups, and the README's count of controls.
"""

from .remote import Remote, auditor_of, testinfra_host
from .run import AuditRun, print_summary, run

__all__ = ["AuditRun", "Remote", "auditor_of", "print_summary", "run", "testinfra_host"]
