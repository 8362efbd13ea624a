"""apt_proxy role: apt-cacher-ng runs, and apt really fetches Debian's indexes through it."""


def test_service_enabled_and_listening(host):
    service = host.service("apt-cacher-ng")
    assert service.is_enabled and service.is_running
    assert host.socket("tcp://127.0.0.1:3142").is_listening


def test_apt_fetches_through_the_proxy_and_it_caches(host):
    proxy = "-o Acquire::http::Proxy=http://127.0.0.1:3142"
    update = host.run(f"apt-get {proxy} -o Debug::Acquire::http=false update")
    assert update.rc == 0, update.stderr
    cached = host.run(
        "find /var/cache/apt-cacher-ng -name 'InRelease' -o -name 'Release' | head -n 3"
    )
    assert cached.stdout.strip(), "apt-cacher-ng cached no index: apt did not go through it"
