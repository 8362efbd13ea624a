"""What the audit covers of a reference (issue #25 item 1), and the controls' requirement ids.

The reference is the ANSSI-BP-028 v2.0 intermediate profile as Debian's ssg-debian package
carries it (trixie's, data/anssi-ssg-debian.json, written by ssg.py). Each of its rules is
decided here, by hand: covered by named controls, not applicable (with the reason), or not
covered yet (with what is missing). A recommendation (an ANSSI-BP-028 id) is covered when every
one of its rules is covered or not applicable, partly when some are, not applicable when all
are. A control whose requirement names a recommendation of the reference covers one of its
rules, or BEYOND_RULES says what it checks of that recommendation instead.

Every control's requirement names ids (`requirement_ids`): ANSSI-BP-028 Rn (v2.0 numbering,
the form the reference's rules carry), RGPD articles, issues, the declared state, named guides
and the project's own files; the catalogue's test fails when a control names none.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .ssg import DATA_FILE

COVERED, NOT_APPLICABLE, NOT_COVERED, PARTLY = (
    "covered",
    "not applicable",
    "not covered",
    "partly covered",
)


class Decision(NamedTuple):
    status: str
    controls: tuple[str, ...] = ()
    note: str = ""


def covered(*controls: str, note: str = "") -> Decision:
    return Decision(COVERED, controls, note)


def not_applicable(reason: str) -> Decision:
    return Decision(NOT_APPLICABLE, (), reason)


def not_covered(missing: str) -> Decision:
    return Decision(NOT_COVERED, (), missing)


# Families of rules decided alike.
_SYSTEM_FILE = covered("HARD-06")
_SYSTEM_COMMANDS = not_covered("the system commands' owners and modes are not read by any control")
_FILE_SEARCH = not_covered("no control searches the file systems for such files")
_HOME_FILES = not_covered(
    "the accounts' home files are not read by any control (ACC-02 reads authorized_keys' keys)"
)
_SUDOERS_SET = covered("HARD-06", note="in role base's /etc/sudoers.d/preau")
_NO_IPSEC = not_applicable(
    "no IPsec: host-to-host traffic uses TLS with the internal PKI (issue #21), no role installs "
    "an IPsec daemon"
)
_NO_SELINUX = not_applicable("no SELinux: Debian 12's security module is AppArmor")
_PARTITION = not_covered("partitions are the provider's; no control reads the mounts")
_MOUNT_OPTION = not_covered("mount options are the provider's; no control reads the mounts")
_BOOT_LOADER = not_covered("the boot loader is the provider's image's; no control reads it")
_KERNEL_ARGUMENT = not_covered(
    "the kernel's command line is the provider's image's; role base sets none and no control "
    "reads /proc/cmdline"
)
_SYSCTL = covered("HARD-01")
_PASSWORDS = not_covered(
    "PAM's and login.defs' password settings are Debian's, read by no control; the admins' and "
    "the auditor's passwords are locked (SSH keys only), root's is the provider's"
)
_SERVER_PORT = covered("DECL-03", note="the server's listening port is undeclared, so it fails")
_CLIENT_PACKAGE = not_covered("installed packages beyond the declared are not listed")
_AIDE = not_covered("no file integrity checker: role base installs no AIDE")

# Each rule of the profile (data file), decided; grouped by its ANSSI-BP-028 v2.0 id.
RULES: dict[str, Decision] = {
    # R5: boot loader password
    "grub2_password": _BOOT_LOADER,
    "grub2_uefi_password": _BOOT_LOADER,
    # R8: memory options (kernel command line, one sysctl)
    **dict.fromkeys(
        [
            "grub2_l1tf_argument",
            "grub2_mce_argument",
            "grub2_mds_argument",
            "grub2_page_alloc_shuffle_argument",
            "grub2_page_poison_argument",
            "grub2_pti_argument",
            "grub2_rng_core_default_quality_argument",
            "grub2_slab_nomerge_argument",
            "grub2_slub_debug_argument",
            "grub2_spec_store_bypass_disable_argument",
            "grub2_spectre_v2_argument",
        ],
        _KERNEL_ARGUMENT,
    ),
    "sysctl_vm_mmap_min_addr": _SYSCTL,
    # R9: kernel settings
    "sysctl_kernel_dmesg_restrict": _SYSCTL,
    "sysctl_kernel_kptr_restrict": _SYSCTL,
    "sysctl_kernel_panic_on_oops": not_covered(
        "deliberately not set (roles/base/README.md, 'Kernel settings'): any oops would halt the "
        "host until reset (Debian's kernel.panic = 0); an availability decision for the operators"
    ),
    "sysctl_kernel_perf_cpu_time_max_percent": _SYSCTL,
    "sysctl_kernel_perf_event_max_sample_rate": _SYSCTL,
    "sysctl_kernel_perf_event_paranoid": covered(
        "HARD-01", note="3, Debian's stricter level (no perf events unprivileged), where SSG asks 2"
    ),
    "sysctl_kernel_pid_max": _SYSCTL,
    "sysctl_kernel_randomize_va_space": covered("HARD-01"),
    "sysctl_kernel_sysrq": _SYSCTL,
    "sysctl_kernel_unprivileged_bpf_disabled": _SYSCTL,
    # R11: Yama
    "sysctl_kernel_yama_ptrace_scope": _SYSCTL,
    # R12: IPv4
    "sysctl_net_core_bpf_jit_harden": _SYSCTL,
    "sysctl_net_ipv4_conf_all_accept_local": _SYSCTL,
    "sysctl_net_ipv4_conf_all_accept_redirects": _SYSCTL,
    "sysctl_net_ipv4_conf_all_accept_source_route": _SYSCTL,
    "sysctl_net_ipv4_conf_all_arp_filter": _SYSCTL,
    "sysctl_net_ipv4_conf_all_arp_ignore": not_covered(
        "deliberately not set (roles/base/README.md, 'Kernel settings'): 2 answers ARP only to "
        "senders of the interface's subnet, which cuts a host off a provider's gateway outside it "
        "(a /32 address with an on-link gateway)"
    ),
    "sysctl_net_ipv4_conf_all_drop_gratuitous_arp": not_covered(
        "deliberately not set (roles/base/README.md, 'Kernel settings'): a floating address "
        "(keepalived, the lb pair of issue #22) moves by gratuitous ARP"
    ),
    "sysctl_net_ipv4_conf_all_route_localnet": _SYSCTL,
    "sysctl_net_ipv4_conf_all_rp_filter": _SYSCTL,
    "sysctl_net_ipv4_conf_all_secure_redirects": _SYSCTL,
    "sysctl_net_ipv4_conf_all_send_redirects": _SYSCTL,
    "sysctl_net_ipv4_conf_all_shared_media": _SYSCTL,
    "sysctl_net_ipv4_conf_default_accept_redirects": _SYSCTL,
    "sysctl_net_ipv4_conf_default_accept_source_route": _SYSCTL,
    "sysctl_net_ipv4_conf_default_rp_filter": _SYSCTL,
    "sysctl_net_ipv4_conf_default_secure_redirects": _SYSCTL,
    "sysctl_net_ipv4_conf_default_send_redirects": _SYSCTL,
    "sysctl_net_ipv4_conf_default_shared_media": _SYSCTL,
    "sysctl_net_ipv4_icmp_ignore_bogus_error_responses": _SYSCTL,
    "sysctl_net_ipv4_ip_forward": _SYSCTL,
    "sysctl_net_ipv4_ip_local_port_range": _SYSCTL,
    "sysctl_net_ipv4_tcp_rfc1337": _SYSCTL,
    "sysctl_net_ipv4_tcp_syncookies": _SYSCTL,
    # R13: IPv6
    "sysctl_net_ipv6_conf_all_accept_ra_defrtr": _SYSCTL,
    "sysctl_net_ipv6_conf_all_accept_ra_pinfo": _SYSCTL,
    "sysctl_net_ipv6_conf_all_accept_ra_rtr_pref": _SYSCTL,
    "sysctl_net_ipv6_conf_all_accept_redirects": _SYSCTL,
    "sysctl_net_ipv6_conf_all_accept_source_route": _SYSCTL,
    "sysctl_net_ipv6_conf_all_autoconf": _SYSCTL,
    "sysctl_net_ipv6_conf_all_max_addresses": _SYSCTL,
    "sysctl_net_ipv6_conf_all_router_solicitations": _SYSCTL,
    "sysctl_net_ipv6_conf_default_accept_ra_defrtr": _SYSCTL,
    "sysctl_net_ipv6_conf_default_accept_ra_pinfo": _SYSCTL,
    "sysctl_net_ipv6_conf_default_accept_ra_rtr_pref": _SYSCTL,
    "sysctl_net_ipv6_conf_default_accept_redirects": _SYSCTL,
    "sysctl_net_ipv6_conf_default_accept_source_route": _SYSCTL,
    "sysctl_net_ipv6_conf_default_autoconf": _SYSCTL,
    "sysctl_net_ipv6_conf_default_max_addresses": _SYSCTL,
    "sysctl_net_ipv6_conf_default_router_solicitations": _SYSCTL,
    # R14: file systems
    "sysctl_fs_protected_fifos": _SYSCTL,
    "sysctl_fs_protected_hardlinks": covered("HARD-01"),
    "sysctl_fs_protected_regular": _SYSCTL,
    "sysctl_fs_protected_symlinks": covered("HARD-01"),
    "sysctl_fs_suid_dumpable": covered("HARD-01"),
    # R28: partitions and their mount options
    **dict.fromkeys(
        [
            "partition_for_boot",
            "partition_for_home",
            "partition_for_opt",
            "partition_for_srv",
            "partition_for_usr",
            "partition_for_var",
            "partition_for_var_log",
            "partition_for_var_tmp",
        ],
        _PARTITION,
    ),
    **dict.fromkeys(
        [
            "mount_option_boot_noexec",
            "mount_option_boot_nosuid",
            "mount_option_home_noexec",
            "mount_option_home_nosuid",
            "mount_option_nodev_nonroot_local_partitions",
            "mount_option_opt_nosuid",
            "mount_option_srv_nosuid",
            "mount_option_tmp_noexec",
            "mount_option_tmp_nosuid",
            "mount_option_var_log_noexec",
            "mount_option_var_log_nosuid",
            "mount_option_var_noexec",
            "mount_option_var_nosuid",
            "mount_option_var_tmp_noexec",
            "mount_option_var_tmp_nosuid",
        ],
        _MOUNT_OPTION,
    ),
    # R31: passwords (and the rules without an ANSSI id: pam_pwquality, login.defs' hash)
    **dict.fromkeys(
        [
            "accounts_password_pam_dcredit",
            "accounts_password_pam_lcredit",
            "accounts_password_pam_minlen",
            "accounts_password_pam_ocredit",
            "accounts_password_pam_ucredit",
            "accounts_password_pam_unix_remember",
            "accounts_password_set_max_life_root",
            "accounts_passwords_pam_faillock_deny",
            "accounts_passwords_pam_faillock_interval",
            "accounts_passwords_pam_faillock_unlock_time",
            "package_pam_pwquality_installed",
            "set_password_hashing_algorithm_logindefs",
        ],
        _PASSWORDS,
    ),
    # R32: idle sessions
    "accounts_tmout": not_covered("no shell idle timeout (TMOUT) is set; no control reads it"),
    "logind_session_timeout": not_covered(
        "logind's StopIdleSessionSec is not set; no control reads it"
    ),
    # R33: accountability of the administrators' actions (R73: auditd)
    "audit_rules_privileged_commands_sudo": not_covered(
        "role base's root_commands rule records what admins run as root, sudo included, but "
        "HARD-02 checks only the watched files, the 32-bit twins and the lock"
    ),
    "no_direct_root_logins": not_covered(
        "root's console logins are not restricted (/etc/securetty) nor read by any control; "
        "SSH-01 and SSH-04 refuse root over SSH"
    ),
    "package_audit_installed": covered("DECL-01", note="auditd is one of role base's packages"),
    "package_sudo_installed": covered("DECL-01", note="sudo is one of role base's packages"),
    "service_auditd_enabled": covered(
        "DECL-02",
        "HARD-02",
        note="on real hosts auditd is active (DECL-02), its rules loaded and locked (HARD-02); "
        "the unit's enablement at boot is not read",
    ),
    "sshd_disable_root_login": covered("SSH-01", "SSH-04"),
    # R39: sudo's directives
    "sudo_add_env_reset": _SUDOERS_SET,
    "sudo_add_ignore_dot": _SUDOERS_SET,
    "sudo_add_noexec": not_covered(
        "not set: NOEXEC would stop Ansible's become, a /bin/sh that runs python3 "
        "(docs/security.md, 'sudo')"
    ),
    "sudo_add_requiretty": not_covered(
        "deliberate deviation: the admins run sudo without a terminal (Ansible, deploy.py: "
        "sudo -n), so !requiretty for them (docs/security.md, 'sudo'); a waiver, not a control"
    ),
    "sudo_add_umask": not_covered("sudo's umask is not set (role base); no control reads it"),
    "sudo_add_use_pty": _SUDOERS_SET,
    # R40, R42, R43: sudo's rules
    "sudoers_no_root_target": not_covered(
        "deliberate deviation: the admins' sudo targets root and the auditor's reads run as "
        "root (docs/security.md, 'sudo'); a waiver, not a control"
    ),
    "sudoers_no_command_negation": not_covered(
        "role base's sudoers has no negation; no control reads the sudoers"
    ),
    "sudoers_explicit_command_args": not_covered(
        "deliberate deviation: the admins' rule is ALL, as Ansible's become cannot be listed "
        "(docs/security.md, 'sudo'); the auditor's are exact; no control reads the sudoers"
    ),
    # R50: sensitive files
    **dict.fromkeys(
        [
            "accounts_user_dot_group_ownership",
            "accounts_user_dot_user_ownership",
            "accounts_users_home_files_groupownership",
            "accounts_users_home_files_ownership",
            "accounts_users_home_files_permissions",
            "file_permission_user_init_files",
        ],
        _HOME_FILES,
    ),
    **dict.fromkeys(
        [
            "dir_system_commands_group_root_owned",
            "dir_system_commands_root_owned",
            "file_groupownership_system_commands_dirs",
            "file_ownership_binary_dirs",
            "file_permissions_binary_dirs",
        ],
        _SYSTEM_COMMANDS,
    ),
    **dict.fromkeys(
        [
            "directory_groupowner_etc_ipsecd",
            "directory_owner_etc_ipsecd",
            "directory_permissions_etc_ipsecd",
            "file_groupowner_etc_ipsec_conf",
            "file_groupowner_etc_ipsec_secrets",
            "file_owner_etc_ipsec_conf",
            "file_owner_etc_ipsec_secrets",
            "file_permissions_etc_ipsec_conf",
            "file_permissions_etc_ipsec_secrets",
        ],
        _NO_IPSEC,
    ),
    **dict.fromkeys(
        [
            "directory_groupowner_etc_selinux",
            "directory_owner_etc_selinux",
            "directory_permissions_etc_selinux",
            "file_groupowner_etc_sestatus_conf",
            "file_owner_etc_sestatus_conf",
            "file_permissions_etc_sestatus_conf",
        ],
        _NO_SELINUX,
    ),
    **dict.fromkeys(
        [
            "directory_groupowner_etc_iptables",
            "directory_owner_etc_iptables",
            "directory_permissions_etc_iptables",
        ],
        not_applicable("no /etc/iptables: the firewall is nftables (/etc/nftables.conf)"),
    ),
    **dict.fromkeys(
        [
            "directory_groupowner_etc_nftables",
            "directory_owner_etc_nftables",
            "directory_permissions_etc_nftables",
        ],
        covered(
            "HARD-06",
            note="Debian's nftables has no /etc/nftables (its ruleset is /etc/nftables.conf, "
            "role base's, 0600 root:root, which HARD-06 checks too); HARD-06 fails on one with "
            "a wider mode or another owner",
        ),
    ),
    **dict.fromkeys(
        [
            "directory_groupowner_etc_sudoersd",
            "directory_owner_etc_sudoersd",
            "file_groupowner_etc_sudoers",
            "file_owner_etc_sudoers",
            "file_permissions_etc_sudoers",
        ],
        _SYSTEM_FILE,
    ),
    "directory_permissions_etc_sudoersd": not_covered(
        "SSG asks 0750; Debian's sudo makes it 0755 and role base leaves it so (HARD-06 checks "
        "0755 or stricter)"
    ),
    **dict.fromkeys(
        [
            "directory_groupowner_etc_sysctld",
            "directory_owner_etc_sysctld",
            "directory_permissions_etc_sysctld",
        ],
        _SYSTEM_FILE,
    ),
    **dict.fromkeys(
        [
            "file_groupowner_etc_chrony_keys",
            "file_owner_etc_chrony_keys",
            "file_permissions_etc_chrony_keys",
        ],
        not_covered(
            "chrony's key file (Debian: /etc/chrony/chrony.keys) is not read by any control"
        ),
    ),
    **dict.fromkeys(
        [
            "file_groupowner_etc_crypttab",
            "file_owner_etc_crypttab",
            "file_permissions_etc_crypttab",
        ],
        not_covered("disks are the provider's; no control reads /etc/crypttab"),
    ),
    "file_groupowner_etc_group": _SYSTEM_FILE,
    "file_groupowner_etc_gshadow": _SYSTEM_FILE,
    "file_groupowner_etc_passwd": _SYSTEM_FILE,
    "file_groupowner_etc_shadow": _SYSTEM_FILE,
    "file_groupowner_etc_shells": _SYSTEM_FILE,
    "file_owner_etc_group": _SYSTEM_FILE,
    "file_owner_etc_gshadow": _SYSTEM_FILE,
    "file_owner_etc_passwd": _SYSTEM_FILE,
    "file_owner_etc_shadow": covered("HARD-05", "HARD-06"),
    "file_owner_etc_shells": _SYSTEM_FILE,
    "file_permissions_etc_group": _SYSTEM_FILE,
    "file_permissions_etc_gshadow": _SYSTEM_FILE,
    "file_permissions_etc_passwd": _SYSTEM_FILE,
    "file_permissions_etc_shadow": covered("HARD-05", "HARD-06"),
    "file_permissions_etc_shells": _SYSTEM_FILE,
    "file_groupowner_sshd_config": _SYSTEM_FILE,
    "file_owner_sshd_config": _SYSTEM_FILE,
    "file_permissions_sshd_config": not_covered(
        "SSG asks 0600; Debian's is 0644 and role base leaves it so (its drop-in, "
        "sshd_config.d/00-preau.conf, is 0600; HARD-06 checks both)"
    ),
    "file_groupownership_sshd_private_key": _SYSTEM_FILE,
    "file_ownership_sshd_private_key": covered("HARD-05", "HARD-06"),
    "file_permissions_sshd_private_key": covered("HARD-05", "HARD-06"),
    "file_groupownership_sshd_pub_key": _SYSTEM_FILE,
    "file_ownership_sshd_pub_key": _SYSTEM_FILE,
    "file_permissions_sshd_pub_key": _SYSTEM_FILE,
    # R53, R54: files without an owner, world-writable ones
    "file_permissions_ungroupowned": _FILE_SEARCH,
    "no_files_unowned_by_user": _FILE_SEARCH,
    "dir_perms_world_writable_root_owned": _FILE_SEARCH,
    "dir_perms_world_writable_sticky_bits": _FILE_SEARCH,
    "file_permissions_unauthorized_world_writable": _FILE_SEARCH,
    # R55: users' temporary directories
    "sebool_polyinstantiation_enabled": _NO_SELINUX,
    # R61: updates
    "security_patches_up_to_date": not_covered(
        "HARD-04 checks that security updates install automatically, not that none is pending"
    ),
    # R62: services not needed (a server listens: DECL-03; a client does not)
    "package_dhcp_removed": _SERVER_PORT,
    "package_kea_removed": _SERVER_PORT,
    "package_rsh-server_removed": _SERVER_PORT,
    "package_talk-server_removed": _SERVER_PORT,
    "package_telnet-server_removed": covered(
        "DECL-03", note="a telnet server's listening port is undeclared, so it fails"
    ),
    "package_tftp-server_removed": _SERVER_PORT,
    "package_ypserv_removed": _SERVER_PORT,
    "package_sendmail_removed": not_covered(
        "installed packages beyond the declared are not listed; Debian's sendmail listens on "
        "loopback only, which DECL-03 allows"
    ),
    "package_xinetd_removed": not_covered(
        "installed packages beyond the declared are not listed; xinetd listens only for the "
        "services it enables (DECL-03 fails on those)"
    ),
    "package_rsh_removed": _CLIENT_PACKAGE,
    "package_talk_removed": _CLIENT_PACKAGE,
    "package_telnet_removed": _CLIENT_PACKAGE,
    "package_tftp_removed": _CLIENT_PACKAGE,
    "package_ypbind_removed": _CLIENT_PACKAGE,
    # R68: stored passwords
    **dict.fromkeys(
        [
            "accounts_password_pam_minclass",
            "accounts_password_pam_retry",
            "accounts_password_pam_unix_rounds_password_auth",
        ],
        _PASSWORDS,
    ),
    # R74, R75: the local mail service
    "postfix_network_listening_disabled": covered(
        "DECL-03", note="a mail server listening beyond loopback is an undeclared port, so it fails"
    ),
    "postfix_client_configure_mail_alias": not_covered(
        "no role installs a mail server (the app and Alertmanager send through the "
        "département's relay); no control reads root's mail alias"
    ),
    # R76, R79: integrity
    "aide_build_database": _AIDE,
    "package_aide_installed": _AIDE,
}
# What a control checks of a recommendation that the profile's rules for it do not hold:
# {(ANSSI id, control): why}, for each control whose requirement names a recommendation of
# the reference without covering one of its rules (test_coverage.py keeps it exact).
BEYOND_RULES: dict[tuple[str, str], str] = {
    ("ANSSI-BP-028 R33", "ACC-01"): (
        "nominative administrators (the admin group is the inventory's, the sudo group "
        "empty): no rule of the profile"
    ),
    ("ANSSI-BP-028 R50", "SECRET-01"): (
        "the app's secrets (the runtime cannot read the schema owner's password): no rule of "
        "the profile"
    ),
    ("ANSSI-BP-028 R61", "HARD-04"): (
        "automatic security updates (unattended-upgrades): the profile's one rule asks that "
        "none be pending"
    ),
    **{
        ("ANSSI-BP-028 R79", control): (
            "the hardened SSH server, an exposed service: the profile's R79 rules are AIDE's"
        )
        for control in ("SSH-01", "SSH-02", "SSH-03", "SSH-04")
    },
}
NO_ID = "(no ANSSI id)"


@functools.cache
def reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(DATA_FILE).read_text())
    return data


def _status(decisions: list[Decision]) -> str:
    statuses = {d.status for d in decisions}
    if statuses == {NOT_APPLICABLE}:
        return NOT_APPLICABLE
    if statuses <= {COVERED, NOT_APPLICABLE}:
        return COVERED
    return PARTLY if COVERED in statuses else NOT_COVERED


def recommendations(
    ref: Mapping[str, Any], decided: Mapping[str, Decision]
) -> list[dict[str, Any]]:
    """One row per ANSSI id of the reference (rules without one last): its rules, each with
    its decision, and its status."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for rule in ref["rules"]:
        for rid in rule["anssi"] or [NO_ID]:
            by_id.setdefault(rid, []).append(rule)
    rows = []
    for rid in sorted(by_id, key=_order):
        rules = by_id[rid]
        decisions = [decided[r["rule"]] for r in rules]
        rows.append(
            {
                "id": rid,
                "status": _status(decisions),
                "controls": sorted({c for d in decisions for c in d.controls}),
                "rules": [
                    {"rule": r["rule"], "title": r["title"], **d._asdict()}
                    for r, d in zip(rules, decisions, strict=True)
                ],
            }
        )
    return rows


def _order(rid: str) -> tuple[int, int]:
    """ANSSI-BP-028 R5 before R12; anything else (the rules without an id) last."""
    match = re.fullmatch(r"ANSSI-BP-028 R(\d+)", rid)
    return (0, int(match.group(1))) if match else (1, 0)


def beyond_rules(
    rows: list[dict[str, Any]], named: Mapping[str, list[str]]
) -> set[tuple[str, str]]:
    """(ANSSI id, control) for each control whose requirement names a recommendation of the
    reference (`named`: by_requirement) but which covers none of its rules: where SSG's rules
    and the controls' own ids disagree, each explained in BEYOND_RULES."""
    return {
        (row["id"], control)
        for row in rows
        for control in named.get(row["id"], [])
        if control not in row["controls"]
    }


# ------------------------------------------------------------------ the controls' requirements

_ANSSI_BP = re.compile(r"ANSSI-BP-028((?:[ ,]+(?:and )?R\d+)*)")
_RGPD = re.compile(r"RGPD((?:[ ,]+(?:and )?art\. \d+(?:-\d+-[a-z])?)+)")
_PATTERNS = [
    (re.compile(r"[Ii]ssue #(\d+)"), "issue #{}"),
    (re.compile(r"[Dd]eclared (?:state|preau_domain)"), "declared state"),
    (re.compile(r"(ANSSI (?:TLS guide|OpenSSH note|PostgreSQL recommendations))"), "{}"),
    (re.compile(r"(Mozilla Server Side TLS)"), "{}"),
    (re.compile(r"((?:docs|app/src/preau)/[\w/.-]+\.(?:md|py))"), "project: {}"),
]


def requirement_ids(text: str) -> list[str]:
    """The ids a requirement names, in order, once: 'ANSSI-BP-028 R79' (v2.0), 'RGPD art.
    5-1-e', 'issue #21', 'declared state', named guides, 'project: docs/domain.md'…"""
    found: list[str] = []
    for match in _ANSSI_BP.finditer(text):
        numbers = re.findall(r"R(\d+)", match.group(1))
        found += [f"ANSSI-BP-028 R{n}" for n in numbers] or ["ANSSI-BP-028"]
    for match in _RGPD.finditer(text):
        found += [f"RGPD art. {a}" for a in re.findall(r"art\. (\S+?)(?=[ ,;)]|$)", match.group(1))]
    for pattern, form in _PATTERNS:
        found += [form.format(m) for m in pattern.findall(text)]
    return list(dict.fromkeys(found))


def by_requirement(controls: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """{ANSSI-BP-028 id: control ids naming it}, from (control id, requirement) pairs."""
    named: dict[str, set[str]] = {}
    for control, requirement in controls:
        for rid in requirement_ids(requirement):
            if rid.startswith("ANSSI-BP-028 R"):
                named.setdefault(rid, set()).add(control)
    return {
        rid: sorted(named[rid]) for rid in sorted(named, key=lambda r: int(r.rsplit("R", 1)[1]))
    }


# ------------------------------------------------------------------ the reports' section


def section(results: list[dict[str, Any]]) -> dict[str, Any]:
    """audit.json's `coverage`: the reference, each recommendation with its status and the
    outcome in this run of the controls that cover it, the counts, and the ANSSI-BP-028 ids
    the controls' requirements name."""
    ref = reference()
    outcome: dict[str, set[str]] = {}
    for result in results:
        outcome.setdefault(result["control"], set()).add(result["status"])
    rows = recommendations(ref, RULES)
    for row in rows:
        row["outcome"] = _outcome(set().union(*(outcome.get(c, set()) for c in row["controls"])))
    counts = dict.fromkeys((COVERED, PARTLY, NOT_APPLICABLE, NOT_COVERED), 0)
    for row in rows:
        counts[row["status"]] += 1
    pairs = {(r["control"], r["requirement"]) for r in results}
    return {
        "reference": {**ref["source"], "profile": ref["profile"], "title": ref["title"]},
        "counts": counts,
        "recommendations": rows,
        "controls_by_anssi_id": by_requirement(sorted(pairs)),
    }


def _outcome(seen: set[str]) -> str:
    """What the covering controls' results in this run say together."""
    if "failed" in seen:
        return "failed"
    if not seen:
        return "not run"
    if "waived" in seen:  # a failure a declared waiver covers (issue #25 item 2)
        return "waived"
    return "passed" if seen == {"passed"} else "skipped"
