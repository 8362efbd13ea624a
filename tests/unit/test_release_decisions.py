"""The release, rollback and patch decisions (preau_ops.release.decisions), case by case."""

import pytest

from preau_ops.errors import OpsError
from preau_ops.release import decisions
from preau_ops.release.decisions import HostReleases

# ----------------------------------------------------------------- which release is previous


@pytest.mark.parametrize(
    ("current", "installed", "previous"),
    [
        ("b", ["a", "b", "c"], "a"),  # a newer one installed after current (a failed release)
        ("c", ["a", "b", "c"], "b"),
        ("a", ["a", "b"], None),  # current is the oldest: nothing before it
        ("a", ["a"], None),
        (None, [], None),
        (None, ["a", "b"], "b"),  # no current: the newest installed
        ("x", ["a", "b"], "b"),  # current not complete on the host: the newest other
    ],
)
def test_previous_is_the_release_installed_just_before_current(current, installed, previous):
    assert HostReleases(current, installed).previous() == previous


def test_host_releases_are_read_oldest_first_by_completion_time():
    output = (
        "0.1.0+bbb\n---\n"
        "20261204T120000Z 0.1.0+bbb\n20261201T090000Z 0.1.0+aaa\n20261205T080000Z 0.1.0+ccc\n"
    )
    releases = decisions.parse_host_releases(output)
    assert releases == HostReleases("0.1.0+bbb", ["0.1.0+aaa", "0.1.0+bbb", "0.1.0+ccc"])


def test_a_host_without_current_nor_releases_reads_as_empty():
    assert decisions.parse_host_releases("\n---\n") == HostReleases(None, [])


# ------------------------------------------------------------------------------ pruning


def test_prune_keeps_the_newest_n():
    releases = HostReleases("e", ["a", "b", "c", "d", "e"])
    assert decisions.to_prune(releases, keep=3) == ["a", "b"]


def test_prune_never_removes_current_nor_previous_even_when_they_are_the_oldest():
    releases = HostReleases("b", ["a", "b", "c", "d", "e"])  # rolled back to b
    assert decisions.to_prune(releases, keep=2) == ["c", "d", "e"]


def test_prune_with_keep_at_or_above_the_count_removes_nothing():
    releases = HostReleases("c", ["a", "b", "c"])
    assert decisions.to_prune(releases, keep=3) == []
    assert decisions.to_prune(releases, keep=10) == []


def test_prune_with_keep_one_still_keeps_current_and_previous():
    releases = HostReleases("c", ["a", "b", "c"])
    assert decisions.to_prune(releases, keep=1) == ["a"]


# --------------------------------------------------------------- which hosts switch


def test_hosts_already_serving_the_version_are_unchanged_the_others_switch_in_order():
    plan = decisions.switch_plan({"app1": "v2", "app2": "v1", "app3": None}, "v2")
    assert plan.switch == ["app2", "app3"]
    assert plan.unchanged == ["app1"]
    assert not plan.nothing_to_ship


def test_every_host_on_the_version_means_nothing_to_ship_and_no_migration():
    plan = decisions.switch_plan({"app1": "v2", "app2": "v2"}, "v2")
    assert plan.nothing_to_ship
    assert plan.switch == []
    assert plan.migration_phases == ()


def test_a_release_expands_before_switching_and_contracts_after():
    plan = decisions.switch_plan({"app1": "v1"}, "v2")
    assert plan.migration_phases == ("expand", "contract")


def test_restored_note_names_the_release_or_says_there_was_none():
    assert decisions.restored_note("app1", "v1") == "app1 → v1"
    assert decisions.restored_note("app1", None) == "app1 → nothing (first release)"
    assert decisions.restored_note("app1", None, "nothing") == "app1 → nothing"


# ------------------------------------------------------------------------------ rollback


def test_rollback_plan_sends_every_host_to_its_previous_release():
    plan = decisions.rollback_plan(
        {"app1": HostReleases("v3", ["v1", "v2", "v3"]), "app2": HostReleases("v2", ["v1", "v2"])}
    )
    assert plan == {"app1": ("v3", "v2"), "app2": ("v2", "v1")}


def test_rollback_is_refused_when_one_host_has_no_previous_release():
    with pytest.raises(OpsError) as refused:
        decisions.rollback_plan(
            {"app1": HostReleases("v2", ["v1", "v2"]), "app2": HostReleases("v2", ["v2"])}
        )
    assert refused.value.message == "app2 has no previous release to roll back to"
    assert refused.value.hint == "releases there: v2"


def test_rollback_refusal_says_when_a_host_has_no_release_at_all():
    with pytest.raises(OpsError) as refused:
        decisions.rollback_plan({"app1": HostReleases(None, [])})
    assert refused.value.hint == "releases there: none"


# ----------------------------------------------------------------------------- patching

MEMBERS = {
    "lb": ["lb"],
    "app": ["app1", "app2"],
    "db": ["db"],
    "backup": ["ops"],
    "monitoring": ["ops"],
}
ORDER = ("monitoring", "backup", "db", "app", "lb")


def test_patch_order_follows_the_groups_and_lists_a_host_of_two_groups_once():
    chosen = {"lb", "app1", "app2", "db", "ops"}
    assert decisions.patch_order(ORDER, MEMBERS, chosen) == ["ops", "db", "app1", "app2", "lb"]


def test_patch_order_keeps_only_the_chosen_hosts():
    assert decisions.patch_order(ORDER, MEMBERS, {"lb", "app2"}) == ["app2", "lb"]


def test_a_host_in_no_ordered_group_is_not_patched():
    members = {**MEMBERS, "bastion": ["jump"]}
    assert decisions.patch_order(ORDER, members, {"jump", "db"}) == ["db"]


def test_health_checks_depend_on_the_host_groups():
    assert [what for what, _ in decisions.health_checks(["app"])] == ["ssh"]
    assert [what for what, _ in decisions.health_checks(["db", "backup"])] == ["ssh", "postgresql"]
    assert [what for what, _ in decisions.health_checks(["lb"])] == ["ssh", "nginx"]


@pytest.mark.parametrize(
    ("what", "ok", "stdout", "problem"),
    [
        ("ssh", True, "", None),
        ("ssh", True, "  \n", None),
        ("ssh", True, "nginx.service failed\n", "failed units: nginx.service failed"),
        ("postgresql", True, "ok\n", None),
        ("postgresql", False, "", "postgresql not answering"),
        ("nginx", True, "active\n", None),
        ("nginx", False, "inactive\n", "nginx not answering"),
        ("nginx", True, "activating\n", "nginx not answering"),
    ],
)
def test_health_check_answers(what, ok, stdout, problem):
    assert decisions.health_problem(what, ok, stdout) == problem


@pytest.mark.parametrize(
    ("ok", "output", "status"),
    [
        (True, "200", None),
        (True, "\n200\n", None),
        (True, "503", "503"),
        (False, "000", "000"),
        (False, "200", "200"),  # curl failed: not healthy whatever it printed
        (False, "", "nothing"),
    ],
)
def test_http_status_of_curl(ok, output, status):
    assert decisions.http_status(ok, output) == status


@pytest.mark.parametrize(
    ("needrestart", "waits"),
    [
        ("NEEDRESTART-VER: 3.6\nNEEDRESTART-KCUR: 6.1.0-1\nNEEDRESTART-KSTA: 1\n", False),
        ("NEEDRESTART-KSTA: 0\n", False),  # unknown: nothing to say
        ("NEEDRESTART-KSTA: 2\n", True),  # ABI-compatible upgrade pending
        ("NEEDRESTART-KSTA: 3\n", True),  # version upgrade pending
        ("", False),
    ],
)
def test_kernel_state_of_needrestart(needrestart, waits):
    assert decisions.kernel_waits(needrestart) is waits


def test_patch_note_counts_upgrades_and_says_what_else_happened():
    assert decisions.patch_note("3\n", drained=False, kernel=False) == "3 package(s) upgraded"
    assert decisions.patch_note("", drained=False, kernel=False) == "0 package(s) upgraded"
    assert decisions.patch_note("0\n", drained=True, kernel=True) == (
        "0 package(s) upgraded, out of the load balancer meanwhile; "
        "a reboot is required (planned by the operator: patch --reboot)"
    )
    assert decisions.patch_note("2", drained=True, kernel=True, rebooted=True) == (
        "2 package(s) upgraded, out of the load balancer meanwhile; rebooted"
    )


@pytest.mark.parametrize(
    ("mode", "required", "wanted"),
    [
        ("auto", False, False),
        ("auto", True, True),
        ("always", False, True),
        ("never", True, False),
    ],
)
def test_reboot_when_required_or_asked(mode, required, wanted):
    assert decisions.reboot_wanted(mode, required) is wanted


def test_an_unknown_reboot_mode_is_an_error():
    with pytest.raises(ValueError, match="'sometimes' is not one of auto, always, never"):
        decisions.reboot_wanted("sometimes", True)


@pytest.mark.parametrize(
    ("groups", "members", "stops"),
    [
        (["app"], {"app": ["app1", "app2"]}, None),  # drained: the other serves
        (["app"], {"app": ["app1"]}, "the only app host"),
        (["db", "backup"], {"db": ["db"], "app": ["a", "b"]}, "the database"),
        (["lb"], {"lb": ["lb1"]}, "the load balancer"),
        (["monitoring", "backup"], {"app": ["a"]}, None),  # users do not notice
        (["bastion"], {}, None),
    ],
)
def test_a_reboot_that_stops_the_ent_is_named(groups, members, stops):
    outage = decisions.reboot_outage(groups, members)
    assert outage is None if stops is None else outage.startswith(stops)


# ------------------------------------------------------------------------ contract refusal

EXPAND_ROW = {"migration": "core.0005_motto", "phase": "expand", "why": "colonne nullable"}
CONTRACT_ROW = {"migration": "core.0006_drop", "phase": "contract", "why": "supprime motto"}


def test_an_expand_only_release_is_not_refused():
    assert decisions.contract_refusal([EXPAND_ROW], "2.0", "1.0") is None
    assert decisions.contract_refusal([], "2.0", None) is None


def test_a_contract_release_is_refused_naming_each_migration_and_the_ways_out():
    refusal = decisions.contract_refusal([EXPAND_ROW, CONTRACT_ROW], "2.0", "1.0")
    assert refusal is not None
    assert refusal.message == (
        "release 2.0's migrations contract the schema: core.0006_drop (supprime motto)"
    )
    assert "nothing was changed" in refusal.hint
    assert "rollback` to 1.0 is refused" in refusal.hint
    assert "backup restore --to" in refusal.hint and "--allow-contract" in refusal.hint


def test_patch_applies_updates_that_need_a_new_package():
    """`apt-get upgrade` alone held back every update needing a new package (a new kernel's
    ABI package): --with-new-pkgs installs those, and never removes one (full-upgrade may)."""
    from preau_ops.release.patch import UPGRADE

    assert " upgrade --with-new-pkgs " in UPGRADE
    assert "full-upgrade" not in UPGRADE and "dist-upgrade" not in UPGRADE
