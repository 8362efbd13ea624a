#!/usr/bin/python3
# Préau — installs the Debian packages that are missing, in one task.
# Why not ansible.builtin.apt: it opens python-apt's cache on every call (≈ 0.5 s a host), and the
# roles ask for packages seven times per converge; a no-op converge only needs dpkg's answer.
DOCUMENTATION = r"""
module: preau_packages
short_description: Install the missing Debian packages (dpkg first, apt-get only if needed)
description:
  - Asks dpkg which of O(name) are installed. If all are, nothing else happens (no network).
  - Otherwise refreshes the package lists and installs the missing ones with apt-get, without
    recommended packages, keeping existing configuration files.
  - In check mode, reports the missing packages as changes.
options:
  name:
    description: Debian package names.
    type: list
    elements: str
    required: true
  lock_timeout:
    description: Seconds to wait for dpkg's lock (unattended-upgrades may hold it).
    type: int
    default: 300
author: Préau
"""

RETURN = r"""
missing:
  description: The packages that were (or, in check mode, would be) installed.
  type: list
  returned: always
"""

import time

from ansible.module_utils.basic import AnsibleModule

# apt-get update: attempts, and the pause before attempt n+1 (n x UPDATE_PAUSE seconds): a
# proxy that comes up within ~2 min is waited for
UPDATE_ATTEMPTS, UPDATE_PAUSE = 5, 10


def installed(module, names):
    # dpkg-query exits 1 when one of the names is unknown to dpkg: its answer is still usable.
    _, out, _ = module.run_command(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\\n", *names]
    )
    return {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}


def update(module, lock, env):
    """apt-get update until every list is fetched: the platform's apt proxy may still be
    starting on a fresh platform (its upstream answers 503 for a while), and a partial update
    would leave apt unable to locate the missing packages."""
    argv = ["apt-get", lock, "--error-on=any", "update"]
    for attempt in range(1, UPDATE_ATTEMPTS + 1):
        rc, out, err = module.run_command(argv, environ_update=env)
        if rc == 0:
            return
        if attempt == UPDATE_ATTEMPTS:
            module.fail_json(
                msg=f"apt-get update failed {attempt} times: {(err or out).strip()[-2000:]}", rc=rc
            )
        time.sleep(UPDATE_PAUSE * attempt)


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "list", "elements": "str", "required": True},
            "lock_timeout": {"type": "int", "default": 300},
        },
        supports_check_mode=True,
    )
    names = list(dict.fromkeys(module.params["name"]))
    missing = [name for name in names if name not in installed(module, names)]
    if not missing or module.check_mode:
        module.exit_json(changed=bool(missing), missing=missing)
    env = {"DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none"}
    lock = f"-oDPkg::Lock::Timeout={module.params['lock_timeout']}"
    update(module, lock, env)
    for argv in (
        [
            "apt-get",
            lock,
            "install",
            "-y",
            "--no-install-recommends",
            "-oDpkg::Options::=--force-confdef",
            "-oDpkg::Options::=--force-confold",
            *missing,
        ],
    ):
        rc, out, err = module.run_command(argv, environ_update=env)
        if rc != 0:
            module.fail_json(
                msg=f"{' '.join(argv[:1] + argv[2:3])} failed: {(err or out).strip()[-2000:]}",
                missing=missing,
                rc=rc,
            )
    still = [name for name in missing if name not in installed(module, missing)]
    if still:
        module.fail_json(msg=f"apt-get did not install: {', '.join(still)}", missing=missing)
    module.exit_json(changed=True, missing=missing)


if __name__ == "__main__":
    main()
