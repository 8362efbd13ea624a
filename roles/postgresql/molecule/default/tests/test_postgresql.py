"""PostgreSQL role: remote TLS access from the app host, roles and privileges, memory."""

DB_IP = "172.30.92.10"
PASSWORDS = {"preau_app": "app-secret-molecule", "preau_owner": "owner-secret-molecule"}


def psql(host, user, sql, sslmode="verify-full", address=DB_IP):
    """Run SQL as `user` over TCP (by default as the app does: the server's certificate and
    address verified against the internal PKI's bundle); returns the testinfra result."""
    dsn = (
        f"host={address} dbname=preau user={user} sslmode={sslmode} connect_timeout=5"
        " sslrootcert=/etc/preau/pki/ca.pem"
    )
    return host.run(
        "PGPASSWORD=%s psql -XAtq -v ON_ERROR_STOP=1 %s -c %s", PASSWORDS[user], dsn, sql
    )


def superuser_sql(db, sql, database="preau"):
    return db.check_output("runuser -u postgres -- psql -XAtq -d %s -c %s", database, sql)


def test_the_server_is_debian_13s_postgresql_17_alone(db):
    """The role installs the declared major by name, not the release's metapackage."""
    assert db.system_info.codename == "trixie"
    assert superuser_sql(db, "SHOW server_version_num").startswith("17")
    assert db.package("postgresql-17").is_installed
    assert db.service("postgresql@17-main").is_running
    assert db.check_output("pg_lsclusters --no-header | awk '{print $1}'").split() == ["17"]


def test_listens_on_localhost_and_own_address_only(db):
    addresses = superuser_sql(db, "SHOW listen_addresses")
    assert addresses == f"localhost,{DB_IP}"
    assert db.socket(f"tcp://{DB_IP}:5432").is_listening
    assert not db.socket("tcp://0.0.0.0:5432").is_listening


def test_app_host_connects_with_tls_only(app):
    assert (
        psql(
            app, "preau_app", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).stdout.strip()
        == "t"
    )
    assert psql(app, "preau_app", "SELECT 1", sslmode="disable").rc != 0


def test_server_serves_the_pki_certificate_verified_by_name_and_ca(app, db):
    assert superuser_sql(db, "SHOW ssl_cert_file") == "/etc/preau/pki/host.crt"
    # verify-full against the bundle succeeds for the certified address, fails for another name
    assert psql(app, "preau_app", "SELECT 1").rc == 0
    other_name = psql(app, "preau_app", "SELECT 1", address="postgresql-db.invalid")
    assert other_name.rc != 0
    wrong_ca = app.run(
        "PGPASSWORD=x psql -XAtq %s -c 'SELECT 1'",
        f"host={DB_IP} dbname=preau user=preau_app sslmode=verify-full"
        " sslrootcert=/etc/ssl/certs/ca-certificates.crt connect_timeout=5",
    )
    assert wrong_ca.rc != 0 and "certificate verify failed" in wrong_ca.stderr


def test_wrong_password_rejected(app):
    result = app.run(
        "PGPASSWORD=wrong psql -XAtq %s -c 'SELECT 1'",
        f"host={DB_IP} dbname=preau user=preau_app sslmode=require",
    )
    assert result.rc != 0 and "password authentication failed" in result.stderr


def test_owner_creates_runtime_uses_dml_only(app, db):
    assert (
        psql(app, "preau_owner", "DROP TABLE IF EXISTS t; CREATE TABLE t (id serial, v text)").rc
        == 0
    )
    assert (
        psql(
            app,
            "preau_app",
            "INSERT INTO t (v) VALUES ('x'); UPDATE t SET v = 'y'; SELECT count(*) FROM t",
        ).rc
        == 0
    )
    assert psql(app, "preau_app", "DELETE FROM t").rc == 0
    assert psql(app, "preau_app", "CREATE TABLE u (id int)").rc != 0
    assert psql(app, "preau_app", "DROP TABLE t").rc != 0
    assert superuser_sql(db, "SELECT rolsuper FROM pg_roles WHERE rolname = 'preau_app'") == "f"
    assert (
        superuser_sql(
            db, "SELECT schema_owner FROM information_schema.schemata WHERE schema_name = 'public'"
        )
        == "preau_owner"
    )


def test_memory_derived_from_the_declared_memory(db):
    # postgresql_memory_mb = 1024 in the scenario: 25 % and 75 %.
    assert superuser_sql(db, "SHOW shared_buffers", "postgres") == "256MB"
    assert superuser_sql(db, "SHOW effective_cache_size", "postgres") == "768MB"
    assert superuser_sql(db, "SHOW password_encryption", "postgres") == "scram-sha-256"
    assert superuser_sql(db, "SHOW archive_mode", "postgres") == "off"


def test_passwords_stored_as_scram(db):
    hashes = superuser_sql(
        db, "SELECT rolpassword FROM pg_authid WHERE rolname LIKE 'preau_%'", "postgres"
    )
    assert all(line.startswith("SCRAM-SHA-256$") for line in hashes.splitlines())


def test_auditor_role_reads_statistics_not_data(db):
    db.run("useradd --system auditor")  # the base role's account (not applied in this scenario)
    auditor = "runuser -u auditor -- psql -XAtq -d %s -c %s"
    assert db.check_output(auditor, "postgres", "SELECT pg_has_role('pg_monitor', 'MEMBER')") == "t"
    assert db.run(auditor, "postgres", "SELECT count(*) FROM pg_stat_archiver").rc == 0
    # the app database: connect (its preau_audit views), read no table, write nothing
    assert db.check_output(auditor, "preau", "SHOW default_transaction_read_only") == "on"
    assert db.run(auditor, "preau", "SELECT count(*) FROM pg_class").rc == 0
    superuser_sql(db, "CREATE TABLE IF NOT EXISTS audit_probe (x int)", "preau")
    assert "permission denied" in db.run(auditor, "preau", "SELECT * FROM audit_probe").stderr
    assert "read-only" in db.run(auditor, "preau", "CREATE TEMP TABLE t (x int)").stderr
    flags = superuser_sql(
        db,
        "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = 'auditor'",
        "postgres",
    )
    assert flags == "f|f|f"
