"""Préau operations bundle: the code behind deploy.py.

Modules map onto the architecture: `inventory` (the one inventory reader), `lab` (local
Debian 12 hosts), `converge` (Ansible), `release` (pyinfra), `procedures` (Fabric),
`audit` (testinfra); `console` draws progress and summaries for all of them.
"""
