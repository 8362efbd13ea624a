"""The converge's fact cache (preau_ops/converge.py): where facts are kept between runs and
when a run may not read another's. The skip itself is measured on the lab (bench converge_noop)."""

import stat

import pytest

from preau_ops import converge
from preau_ops.inventory import Host, Inventory

HOSTS = "all:\n  hosts:\n    db:\n      ansible_host: 192.0.2.31\n"


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def inventory(path, hosts=HOSTS):
    path.mkdir(parents=True, exist_ok=True)
    (path / "hosts.yml").write_text(hosts)
    return Inventory(path=path, hosts={}, groups={})


def test_converges_keep_facts_on_disk_for_a_quarter_hour_in_the_users_cache(tmp_path, cache_home):
    env = converge._envvars(inventory(tmp_path / "lab"))
    directory = converge.fact_cache_dir(inventory(tmp_path / "lab"))
    assert env["ANSIBLE_CACHE_PLUGIN"] == "jsonfile"
    assert env["ANSIBLE_CACHE_PLUGIN_TIMEOUT"] == "900"
    assert env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] == str(directory)
    assert directory.is_relative_to(cache_home / "preau" / "facts")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_the_same_inventory_finds_its_facts_again(tmp_path, cache_home):
    first = converge.fact_cache_dir(inventory(tmp_path / "lab"))
    assert converge.fact_cache_dir(inventory(tmp_path / "lab")) == first


def test_another_inventory_naming_a_host_alike_never_reads_them(tmp_path, cache_home):
    lab = converge.fact_cache_dir(inventory(tmp_path / "lab"))
    production = converge.fact_cache_dir(inventory(tmp_path / "production"))
    assert production != lab


def test_a_host_given_another_address_is_gathered_again(tmp_path, cache_home):
    before = converge.fact_cache_dir(inventory(tmp_path / "lab"))
    moved = HOSTS.replace("192.0.2.31", "192.0.2.32")
    assert converge.fact_cache_dir(inventory(tmp_path / "lab", moved)) != before


def test_ansible_runner_keeps_the_kept_cache(tmp_path, cache_home, monkeypatch):
    """ansible-runner sets its own fact cache (a directory of the run, removed after it) over
    the environment it is given unless told not to: the environment it prepares for the
    playbook, from run_playbook's arguments, names the kept directory."""
    import ansible_runner
    from ansible_runner.config.runner import RunnerConfig

    given = {}

    class Done:
        rc, status = 0, "successful"

    def run(**kwargs):
        given.update(kwargs)
        return Done()

    monkeypatch.setattr(ansible_runner, "run", run)
    inv = inventory(tmp_path / "lab")
    inv.hosts["db"] = Host("db", ["monitoring"], {"ansible_host": "192.0.2.31"})
    inv.groups["monitoring"] = ["db"]  # the ops host of the operation layer (conftest's)
    converge.run_playbook(inv)
    options = {k: v for k, v in given.items() if k not in ("event_handler", "quiet")}
    options["private_data_dir"] = str(tmp_path / "runner")
    config = RunnerConfig(**options)
    config.prepare()
    assert config.env["ANSIBLE_CACHE_PLUGIN"] == "jsonfile"
    assert config.env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] == str(converge.fact_cache_dir(inv))


def test_a_failed_loop_names_each_failed_item_and_its_message():
    """Ansible says "One or more items failed" for a loop; the summary must say which and why
    (the first converge of the after_network drop-ins showed only that sentence)."""
    res = {
        "msg": "One or more items failed",
        "results": [
            {"item": "ok.service", "failed": False, "msg": ""},
            {
                "item": "postgresql@.service",
                "failed": True,
                "msg": "'ansible_managed' is undefined",
            },
        ],
    }
    said = converge._failure(res)
    assert said == "postgresql@.service: 'ansible_managed' is undefined"
    assert converge._failure({"msg": "", "stderr": "boom\n"}) == "boom"
    assert converge._failure({}) == "failed"


# ------------------------------------------------------------------ events: hosts and roles


def _task(role, task="t"):
    return {"event": "playbook_on_task_start", "event_data": {"role": role, "task": task}}


def _ok(host, task="t", changed=False):
    data = {"host": host, "task": task, "res": {"changed": changed}}
    return {"event": "runner_on_ok", "event_data": data}


def test_each_tasks_time_goes_to_its_role_until_the_next_task_starts(monkeypatch):
    clock = iter([0.0, 1.0, 1.5, 4.0, 4.25, 6.0, 7.0])
    monkeypatch.setattr(converge.time, "monotonic", lambda: next(clock))
    events = converge._Events(progress=None)
    events.on_event(_task("base", "Packages"))  # 0.0
    events.on_event(_ok("db"))  # first, last: 1.0, 1.5
    events.on_event(_task("postgresql", "Roles"))  # 4.0: base had 4.0 s
    events.on_event(_task("", "Checks"))  # 4.25: a play's own task (no role)
    handler = {"role": "base", "task": "Packages"}  # the same name again: its times add up
    events.on_event({"event": "playbook_on_handler_task_start", "event_data": handler})  # 6.0
    events.on_event({"event": "playbook_on_stats", "event_data": {}})  # 7.0: the end
    assert events.roles.seconds == {"base": 5.0, "postgresql": 0.25, "(plays)": 1.75}
    assert events.roles.tasks == {
        "base : Packages": 5.0,
        "postgresql : Roles": 0.25,
        "(plays) : Checks": 1.75,
    }
    assert converge.slowest_tasks(events.roles.tasks, 2) == [
        ("base : Packages", 5.0),
        ("(plays) : Checks", 1.75),
    ]
    assert events.hosts["db"].ok == 1


def test_converge_json_names_changes_errors_and_the_roles_time():
    from preau_ops.commands.converge import as_dict

    hosts = {
        "db": converge.HostResult(ok=3, changed=1, changes=["Write the settings"]),
        "lb": converge.HostResult(ok=2, failed=1, errors=["Start nginx: failed"]),
    }
    tasks = {"nginx : Reload": 7.5, "base : Packages": 2.0, "base : Users": 1.0}
    result = converge.RunResult("failed", 2, hosts, 12.34, {"base": 3.0, "nginx": 7.5}, tasks)
    document = as_dict(result, check=False)
    assert document["failed"] is True and document["changed"] == 1
    assert document["hosts"]["db"]["changes"] == ["Write the settings"]
    assert document["hosts"]["lb"]["errors"] == ["Start nginx: failed"]
    assert document["roles"] == {"base": 3.0, "nginx": 7.5}
    assert list(document["slowest_tasks"]) == ["nginx : Reload", "base : Packages", "base : Users"]
    assert converge.roles_line(result.roles) == "nginx 7.5 s · base 3.0 s"
