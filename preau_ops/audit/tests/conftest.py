"""The audit package's own tests (the unit suite collects them)."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # The control modules are imported to read their marks (catalogue.declared).
    config.addinivalue_line("markers", "control(id, title, requirement, groups): audit control")
