"""PostgreSQL under Patroni: a leader and a synchronous standby, the client finding the primary
by itself, a killed primary replaced with no acknowledged write lost, the old primary back as a
standby (pg_rewind), a planned switchover. The tests run in file order and build on each other."""

import time

from conftest import (
    CLIENT,
    DBS,
    PATRONICTL,
    docker,
    healthy,
    host,
    leader,
    members,
    wait_for,
)

DSN = (
    "host={hosts} dbname=preau user=preau_owner sslmode=verify-full connect_timeout=3"
    " sslrootcert=/etc/preau/pki/ca.pem target_session_attrs={attrs}"
)


def sql(client, statement: str, attrs: str = "read-write", hosts: str = ",".join(DBS.values())):
    """psql on the client host with the app's kind of connection string: every db host listed,
    libpq picks the one that takes writes (or any, attrs=any)."""
    dsn = DSN.format(hosts=hosts, attrs=attrs)
    return client.run(
        "PGPASSWORD=owner-secret-molecule psql -XAtq -v ON_ERROR_STOP=1 %s -c %s", dsn, statement
    )


def test_a_leader_and_a_synchronous_standby():
    wait_for(healthy, 60, lambda: f"not a leader and a sync standby: {members()}")


def test_etcd_has_three_members_over_tls():
    result = host("patroni-db1").run(
        "ETCDCTL_API=3 etcdctl --endpoints=https://172.30.98.11:2379 --cacert=/etc/preau/pki/ca.pem"
        " --cert=/etc/preau/pki/host.crt --key=/etc/preau/pki/host.key member list"
    )
    assert result.rc == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 3
    # without a client certificate of the platform's CA, etcd answers nothing
    refused = host(CLIENT).run(
        "curl -sS --max-time 5 --cacert /etc/preau/pki/ca.pem https://172.30.98.11:2379/version"
    )
    assert refused.rc != 0 or "etcdserver" not in refused.stdout


def test_the_client_finds_the_primary_by_itself(client):
    primary = DBS[leader()]
    assert sql(client, "SELECT inet_server_addr()").stdout.strip() == primary
    assert sql(client, "SELECT pg_is_in_recovery()").stdout.strip() == "f"
    standby = next(address for address in DBS.values() if address != primary)
    refused = sql(client, "CREATE TABLE nope (id int)", attrs="any", hosts=standby)
    assert refused.rc != 0 and "read-only transaction" in refused.stderr


def test_the_standby_is_synchronous_and_has_every_commit(client):
    assert sql(client, "CREATE TABLE IF NOT EXISTS ha_probe (id int PRIMARY KEY)").rc == 0
    assert sql(client, "INSERT INTO ha_probe SELECT generate_series(1, 100)").rc == 0
    standby = next(name for name in DBS if name != leader())
    mode = host(leader()).check_output(
        "runuser -u postgres -- psql -XAtq -c 'SELECT sync_state FROM pg_stat_replication'"
    )
    assert mode == "sync"
    wait_for(
        lambda: (
            sql(client, "SELECT count(*) FROM ha_probe", "any", DBS[standby]).stdout.strip()
            == "100"
        ),
        10,
        "the standby does not show the primary's commits",
    )


def test_a_killed_primary_is_replaced_and_no_acknowledged_write_is_lost(client):
    old = leader()
    acknowledged: list[int] = []
    failed_at: list[float] = []
    next_id = 1000
    killed = time.monotonic()
    docker("kill", old)
    back = None
    while time.monotonic() - killed < 60:
        next_id += 1
        if sql(client, f"INSERT INTO ha_probe VALUES ({next_id})").rc == 0:
            acknowledged.append(next_id)
            if back is None:
                back = time.monotonic() - killed
            if len(acknowledged) >= 5:
                break
        else:
            failed_at.append(time.monotonic() - killed)
    assert back is not None, f"no write accepted within 60 s of killing {old}: {members()}"
    assert back <= 30, f"writes came back {back:.0f} s after the kill (≤ 30 s asked)"
    new = leader()
    assert new and new != old
    ids = ",".join(map(str, acknowledged))
    found = sql(client, f"SELECT count(*) FROM ha_probe WHERE id IN ({ids}) OR id <= 100")
    assert found.stdout.strip() == str(len(acknowledged) + 100)


def test_the_old_primary_comes_back_as_a_standby(client):
    old = next(name for name in DBS if name != leader())
    docker("start", old)
    wait_for(healthy, 150, lambda: f"the old primary did not rejoin: {members()}")
    assert [m["Role"] for m in members() if m["Member"] == old] == ["Sync Standby"]
    # it has every row the new primary took while it was down
    wait_for(
        lambda: (
            sql(client, "SELECT count(*) FROM ha_probe", "any", DBS[old]).stdout.strip()
            == sql(client, "SELECT count(*) FROM ha_probe").stdout.strip()
        ),
        20,
        "the old primary is behind",
    )


def test_a_planned_switchover(client):
    before = leader()
    other = next(name for name in DBS if name != before)
    host(before).check_output(
        f"{PATRONICTL} switchover --leader {before} --candidate {other} --force"
    )
    wait_for(lambda: leader() == other and healthy(), 60, lambda: f"no switchover: {members()}")
    assert sql(client, "INSERT INTO ha_probe VALUES (99999)").rc == 0
