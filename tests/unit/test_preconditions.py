"""The disk-nearly-full precondition, on df output (the lab test runs it on real hosts)."""

from preau_ops.inventory import Host
from preau_ops.preconditions import disk_problem

DF = " 41% /\n 93% /srv/preau\n"


def test_full_filesystem_is_named_with_the_limit():
    host = Host("app1", ["app"], {})
    assert disk_problem(host, DF) == "app1: /srv/preau is 93 % full (limit 90 %)"


def test_limit_comes_from_the_inventory():
    assert disk_problem(Host("app1", ["app"], {"preau_disk_full_percent": 95}), DF) is None
    assert (
        disk_problem(Host("db", ["db"], {"preau_disk_full_percent": 40}), DF)
        == "db: / is 41 % full, /srv/preau is 93 % full (limit 40 %)"
    )


def test_same_filesystem_listed_twice_is_reported_once():
    # /srv/preau on the root filesystem: df prints the same target twice
    assert (
        disk_problem(Host("web", ["app"], {}), " 97% /\n 97% /\n")
        == "web: / is 97 % full (limit 90 %)"
    )


def test_unreadable_output_is_not_a_refusal():
    assert disk_problem(Host("web", ["app"], {}), "df: /srv/preau: No such file\n") is None
