"""Monitoring role: exporters answer, Prometheus' config is valid and every target is up."""

import json
import time

import pytest
import testinfra.utils.ansible_runner

INVENTORY = testinfra.utils.ansible_runner.AnsibleRunner(
    __import__("os").environ["MOLECULE_INVENTORY_FILE"]
)
OPS = INVENTORY.get_hosts("monitoring")
WEB = INVENTORY.get_hosts("db")
# by container name (the inventory's ansible_host)
testinfra_hosts = [f"docker://{name}" for name in OPS + WEB]
CREDENTIALS = "preau:molecule-web-password"  # monitoring_web_user, the scenario's vault value


def fetch(host, url):
    """GET a URL from inside the host (python3 is there, curl may not be); https verified
    against the internal CA, as Prometheus does."""
    cmd = host.run(
        "python3 -c 'import ssl, sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], "
        'timeout=10, context=ssl.create_default_context(cafile="/etc/preau/pki/ca.pem"))'
        ".read().decode())' %s",
        url,
    )
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout


def private_address(name):
    """The host's private address (its preau_private_address in the scenario)."""
    return INVENTORY.get_variables(name)["preau_private_address"]


def api(host, service, path):
    """An API's JSON answer, through the tool the operators' commands use on the monitoring
    host (preau-monitoring-api: TLS, the credentials only root reads)."""
    cmd = host.run("/usr/local/sbin/preau-monitoring-api %s %s", service, path)
    assert cmd.rc == 0, cmd.stderr
    return json.loads(cmd.stdout)


def get(host, url, credentials=None):
    """(HTTP status, body) of a GET from the host: TLS verified against the internal CA, with
    basic authentication when `credentials` ("user:password") are given; status 0 and the
    error when no HTTP answer came."""
    cmd = host.run(
        "python3 -c 'import base64, ssl, sys, urllib.request, urllib.error\n"
        "request = urllib.request.Request(sys.argv[1])\n"
        "if len(sys.argv) > 2:\n"
        "    token = base64.b64encode(sys.argv[2].encode()).decode()\n"
        '    request.add_header("Authorization", "Basic " + token)\n'
        'context = ssl.create_default_context(cafile="/etc/preau/pki/ca.pem")\n'
        "try:\n    answer = urllib.request.urlopen(request, timeout=10, context=context)\n"
        "except urllib.error.HTTPError as error:\n    answer = error\n"
        "except OSError as error:\n    print(0)\n    print(error)\n    sys.exit()\n"
        "print(answer.status)\nprint(answer.read().decode())' %s" + (" %s" if credentials else ""),
        url,
        *([credentials] if credentials else []),
    )
    code, _, body = cmd.stdout.partition("\n")
    assert code.strip().isdigit(), cmd.stdout + cmd.stderr
    return int(code), body


def test_node_exporter_everywhere_with_textfile_dir(host):
    assert host.service("prometheus-node-exporter").is_running
    assert host.service("prometheus-node-exporter").is_enabled
    assert host.file("/var/lib/prometheus/node-exporter").is_directory
    assert "node_textfile_scrape_error 0" in fetch(host, "https://127.0.0.1:9100/metrics")


def test_no_failed_units(host):
    failed = host.run("systemctl list-units --failed --plain --no-legend").stdout.strip()
    assert failed == ""


@pytest.mark.parametrize("hostname", WEB)
def test_db_and_lb_exporters(hostname):
    host = testinfra.get_host(f"docker://{hostname}")
    assert "pg_up 1" in fetch(host, "https://127.0.0.1:9187/metrics")
    # the nginx exporter takes one listen address: the private one
    assert "nginx_up 1" in fetch(host, f"https://{private_address(hostname)}:9113/metrics")
    members = host.run(
        "runuser -u postgres -- psql -XAtc \"SELECT pg_has_role('prometheus', 'pg_monitor', 'member')\""
    )
    assert members.stdout.strip() == "t"


@pytest.mark.parametrize("hostname", OPS)
def test_prometheus_config_and_rules_valid(hostname):
    host = testinfra.get_host(f"docker://{hostname}")
    check = host.run("promtool check config /etc/prometheus/prometheus.yml")
    assert check.rc == 0, check.stdout + check.stderr
    assert host.run("amtool check-config /etc/prometheus/alertmanager.yml").rc == 0
    rules = api(host, "prometheus", "/api/v1/rules")
    names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert {
        "HostDown",
        "BackupTooOld",
        "PostgreSQLWalArchivingFailing",
        "CertificateExpiringSoon",
    } <= names


@pytest.mark.parametrize("hostname", OPS)
def test_prometheus_sees_every_target_up(hostname):
    host = testinfra.get_host(f"docker://{hostname}")
    expected = {
        "prometheus",
        "alertmanager",
        "blackbox",
        "node",
        "postgres",
        "nginx",
        "app",
        "probe_readyz",
        "probe_tls",
        "probe_public",
    }
    deadline = time.time() + 60
    while True:
        targets = api(host, "prometheus", "/api/v1/targets")["data"]["activeTargets"]
        health = {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in targets}
        jobs_up = {job for (job, _), state in health.items() if state == "up"}
        if jobs_up >= expected and all(state == "up" for state in health.values()):
            break
        assert time.time() < deadline, health
        time.sleep(3)
    # node targets: one per inventory host, labelled by inventory name
    assert {inst for (job, inst) in health if job == "node"} == set(OPS + WEB)
    # every scrape that leaves the host is TLS, verified against the internal CA
    remote = [
        t["scrapeUrl"]
        for t in targets
        if t["labels"]["job"] in ("node", "postgres", "nginx", "app")
    ]
    assert remote and all(url.startswith("https://") for url in remote), remote


def test_exporters_refuse_plain_http(host):
    plain = host.run(
        "python3 -c %s",
        "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9100/metrics', timeout=5)",
    )
    assert plain.rc != 0


@pytest.mark.parametrize("hostname", OPS)
def test_probes_succeed_and_report_certificate(hostname):
    host = testinfra.get_host(f"docker://{hostname}")
    deadline = time.time() + 60
    while True:
        result = api(host, "prometheus", "/api/v1/query?query=probe_success")["data"]["result"]
        expiry = api(host, "prometheus", "/api/v1/query?query=probe_ssl_earliest_cert_expiry")[
            "data"
        ]["result"]
        if result and all(r["value"][1] == "1" for r in result) and expiry:
            break
        assert time.time() < deadline, result
        time.sleep(3)


@pytest.mark.parametrize("hostname", OPS)
def test_consoles_render(hostname):
    host = testinfra.get_host(f"docker://{hostname}")
    for page in ("preau-overview.html", "preau-hosts.html", "preau-postgresql.html"):
        code, body = get(
            host,
            f"https://{private_address(hostname)}:9090/consoles/{page}",
            CREDENTIALS,
        )
        assert code == 200, body[:2000]
        assert "Préau" in body and "error" not in body.lower(), body[:2000]


def test_apt_updates_metric_collected(host):
    assert host.service("prometheus-node-exporter-apt.timer").is_enabled
    host.run("systemctl start prometheus-node-exporter-apt.service")
    assert "apt_upgrades_pending" in fetch(host, "https://127.0.0.1:9100/metrics")


@pytest.mark.parametrize("hostname", OPS)
def test_alertmanager_routes_by_severity(hostname):
    host = testinfra.get_host(f"docker://{hostname}")
    assert host.service("prometheus-alertmanager").is_running
    for severity in ("critical", "warning"):
        route = host.run(
            "amtool config routes test --config.file=/etc/prometheus/alertmanager.yml severity=%s alertname=Test",
            severity,
        )
        assert route.stdout.strip() == severity, route.stdout + route.stderr
    # the always-firing Watchdog goes to the dead-man's switch only, never to e-mail
    route = host.run(
        "amtool config routes test --config.file=/etc/prometheus/alertmanager.yml "
        "severity=none alertname=Watchdog"
    )
    assert route.stdout.strip() == "watchdog", route.stdout + route.stderr


@pytest.mark.parametrize("hostname", OPS)
def test_servers_ask_for_credentials_over_tls_on_the_private_address(hostname):
    host = testinfra.get_host(f"docker://{hostname}")
    address = private_address(hostname)
    for port, path in ((9090, "/api/v1/status/buildinfo"), (9093, "/api/v2/status")):
        url = f"https://{address}:{port}{path}"
        assert get(host, url)[0] == 401, url
        assert get(host, url, "preau:wrong-password")[0] == 401, url
        assert get(host, url, CREDENTIALS)[0] == 200, url
        # TLS only: plain HTTP gets Go's "client sent an HTTP request to an HTTPS server"
        assert get(host, url.replace("https://", "http://"))[0] == 400, url
        # the private address alone: neither every address nor loopback
        listening = host.run("ss -Htln 'sport = :%s'", str(port)).stdout.split()
        local = [word for word in listening if word.endswith(f":{port}")]
        assert local == [f"{address}:{port}"], listening


@pytest.mark.parametrize("hostname", OPS)
def test_web_secrets_are_root_s_and_prometheus_s(hostname):
    host = testinfra.get_host(f"docker://{hostname}")
    web = host.file("/etc/prometheus/web.yml")
    assert (web.user, web.group, web.mode) == ("root", "prometheus", 0o640)
    assert "$2" in web.content_string and "molecule-web-password" not in web.content_string
    client = host.file("/etc/prometheus/api-client.conf")
    assert (client.user, client.group, client.mode) == ("root", "root", 0o600)


@pytest.mark.parametrize("hostname", WEB)
def test_a_request_through_the_lb_shows_in_mtail_s_metrics(hostname):
    """nginx's access log -> mtail -> its page over TLS on the private address (job lb)."""
    host = testinfra.get_host(f"docker://{hostname}")
    assert host.service("mtail").is_running
    address = private_address(hostname)
    metrics_url = f"https://{address}:3903/metrics"

    def answered(upstream_status):
        code, metrics = get(host, metrics_url)
        assert code == 200, metrics[:500]
        line = f'preau_lb_upstream_responses_total{{status="{upstream_status}",upstream="127.0.0.1:8000"}}'
        return next((float(x.split()[-1]) for x in metrics.splitlines() if x.startswith(line)), 0.0)

    before = answered("200")
    host.run("curl -sk -o /dev/null https://127.0.0.1/app/readyz")
    deadline = time.time() + 30
    while answered("200") < before + 1:
        assert time.time() < deadline, "the request never showed in mtail's metrics"
        time.sleep(1)
    code, metrics = get(host, metrics_url)
    assert 'preau_lb_upstream_response_seconds_count{upstream="127.0.0.1:8000"}' in metrics
    assert 'preau_lb_responses_total{status="200"}' in metrics
    # mtail itself on loopback only
    listening = host.run("ss -Htln 'sport = :13903'").stdout
    assert "127.0.0.1:13903" in listening and address not in listening


@pytest.mark.parametrize("hostname", OPS)
def test_prometheus_scrapes_the_lb_metrics(hostname):
    host = testinfra.get_host(f"docker://{hostname}")
    deadline = time.time() + 60
    while True:
        result = api(host, "prometheus", "/api/v1/query?query=preau_lb_responses_total")["data"][
            "result"
        ]
        if result:
            break
        assert time.time() < deadline, "no preau_lb_responses_total in Prometheus"
        time.sleep(3)
    rules = api(host, "prometheus", "/api/v1/rules")
    names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert {"LbHigh5xxRate", "LbHigh503Rate", "LbHigh429Rate", "LbUpstreamSlow"} <= names


@pytest.mark.parametrize("hostname", WEB)
def test_the_dead_man_s_switch_gets_alertmanager_s_watchdog(hostname):
    """Alertmanager (on mon-ops) sends the Watchdog to the switch on the lb (mon-web) every
    minute: its state's last ping moves on."""
    host = testinfra.get_host(f"docker://{hostname}")
    assert host.service("preau-deadman").is_running
    assert host.service("preau-deadman").is_enabled
    state = "/var/lib/preau-deadman/state.json"
    started = time.time()
    deadline = started + 150
    while True:
        seen = host.run("cat %s", state).stdout
        if seen and json.loads(seen)["last_ping"] > started:
            break
        assert time.time() < deadline, f"no Watchdog from Alertmanager: {seen}"
        time.sleep(5)
    # the sandbox: its own account, no capability
    shown = host.run("systemctl show -p User -p CapabilityBoundingSet preau-deadman").stdout
    assert "User=preau-deadman" in shown and "CapabilityBoundingSet=\n" in shown + "\n"


@pytest.mark.parametrize("hostname", OPS)
def test_alertmanager_sends_the_watchdog_to_the_switch_over_tls(hostname):
    """Its watchdog receiver: the switch at the lb's private address, https."""
    host = testinfra.get_host(f"docker://{hostname}")
    route = host.run(
        "amtool config routes test --config.file=/etc/prometheus/alertmanager.yml alertname=Watchdog"
    )
    assert route.stdout.strip() == "watchdog"
    config = host.file("/etc/prometheus/alertmanager.yml").content_string
    assert "https://172.30.96.11:9095/watchdog" in config
