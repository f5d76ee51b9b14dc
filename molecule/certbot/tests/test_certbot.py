"""Certbot against pebble: the certificate nginx serves comes from the ACME server,
renewal works through the running nginx, and only certbot.timer renews."""

import json
import os
import re
import sys
from pathlib import Path

from cryptography import x509

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import kithttp  # noqa: E402

testinfra_hosts = ["kit-certbot-web"]

NAME = "web.kit.test"
HTTPS_PORT = 28443
HTTP_PORT = 28080
HOOK = "/etc/letsencrypt/renewal-hooks/deploy/kit-reload-nginx"


def _pebble_pem(host, path):
    # The web host trusts pebble's TLS CA (prepare.yml); the management API serves the issuing chain.
    code = f"import urllib.request; print(urllib.request.urlopen('https://acme.kit.test:15000{path}', timeout=10).read().decode())"
    return host.check_output("python3 -c %s", code)


def test_nginx_serves_a_certificate_issued_by_pebble(host):
    served = x509.load_der_x509_certificate(kithttp.peer_certificate(NAME, HTTPS_PORT))
    intermediate = x509.load_pem_x509_certificate(_pebble_pem(host, "/intermediates/0").encode())
    root = x509.load_pem_x509_certificate(_pebble_pem(host, "/roots/0").encode())
    assert served.issuer == intermediate.subject
    served.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert names == [NAME]


def test_one_lineage_issued_once_for_mixed_case_names(host):
    """certbot_domains is given as Web.Kit.test: converge issued one certificate under
    the lower-case name and the idempotence run ordered none. Runs before the timer
    renewal test below, which adds a second certificate to the lineage."""
    assert host.ansible.get_variables()["certbot_domains"] != [NAME]
    lineages = [n for n in host.file("/etc/letsencrypt/live").listdir() if n != "README"]
    assert lineages == [NAME]
    assert sorted(host.file(f"/etc/letsencrypt/archive/{NAME}").listdir()) == ["cert1.pem", "chain1.pem", "fullchain1.pem", "privkey1.pem"]


def test_nginx_reads_the_live_certificate_through_links(host):
    for name in ("fullchain.pem", "privkey.pem"):
        path = f"/etc/nginx/tls/hello_api/{name}"
        assert host.file(path).is_symlink
        assert host.check_output(f"readlink {path}") == f"/etc/letsencrypt/live/{NAME}/{name}"


def test_renewal_dry_run_passes_against_pebble(host):
    # cli.ini names the custom server, so the dry run asks pebble, not Let's Encrypt's staging.
    assert host.file("/etc/letsencrypt/cli.ini").contains("^server = https://acme.kit.test:14000/dir$")
    r = host.run("certbot renew --dry-run --no-random-sleep-on-renew")
    assert r.rc == 0, r.stdout + r.stderr
    assert "Congratulations, all simulated renewals succeeded" in r.stdout + r.stderr


def test_renewal_config_names_pebble_and_the_webroot(host):
    conf = host.file(f"/etc/letsencrypt/renewal/{NAME}.conf")
    assert conf.contains("^server = https://acme.kit.test:14000/dir$")
    assert conf.contains("^authenticator = webroot$")


def test_deploy_hook_tests_then_reloads_nginx(host):
    hook = host.file(HOOK)
    assert hook.is_file and hook.mode & 0o111
    commands = [line for line in hook.content_string.splitlines() if line and not line.startswith("#")]
    assert "nginx -t -q" in commands and "systemctl reload nginx" in commands
    assert not any("restart" in line or "stop" in line for line in commands), commands
    before = host.check_output("systemctl show --property MainPID --value nginx")
    r = host.run(HOOK)
    assert r.rc == 0, r.stderr
    assert host.check_output("systemctl show --property MainPID --value nginx") == before


def test_the_timer_renewal_runs_sandboxed_and_goes_live(host):
    """certbot.service, as certbot.timer starts it with the kit's drop-in, renews for
    real (forced by a runtime drop-in) and its deploy hook gets nginx to serve the
    new certificate; its exposure stays at most 2.0."""
    out = host.check_output("systemd-analyze security --no-pager certbot.service")
    exposure = float(re.search(r"Overall exposure level for certbot.service: ([\d.]+)", out).group(1))
    assert exposure <= 2.0, out
    before = x509.load_der_x509_certificate(kithttp.peer_certificate(NAME, HTTPS_PORT)).serial_number
    force = "/run/systemd/system/certbot.service.d/test-force.conf"
    host.run_test(
        "mkdir -p %s && printf '[Service]\\nExecStart=\\nExecStart=/usr/bin/certbot -q renew --force-renewal --no-random-sleep-on-renew\\n' > %s"
        " && systemctl daemon-reload",
        force.rsplit("/", 1)[0],
        force,
    )
    try:
        r = host.run("systemctl start certbot.service")
        journal = host.run("journalctl -u certbot.service -n 30 --no-pager").stdout
        assert r.rc == 0, journal
    finally:
        host.run(f"rm -f {force} && systemctl daemon-reload")
    after = x509.load_der_x509_certificate(kithttp.peer_certificate(NAME, HTTPS_PORT)).serial_number
    assert after != before


def test_only_the_timer_renews(host):
    timer = host.service("certbot.timer")
    assert timer.is_enabled and timer.is_running
    assert not host.file("/etc/cron.d/certbot").exists
    crontabs = host.run("grep -rl certbot /etc/cron.d /etc/cron.daily /etc/cron.hourly /etc/crontab /var/spool/cron 2>/dev/null")
    assert crontabs.stdout.strip() == ""


def test_app_answers_over_https_with_the_real_certificate(host, tmp_path):
    root = tmp_path / "pebble-root.pem"
    root.write_text(_pebble_pem(host, "/roots/0"))
    ctx = kithttp.tls_context(cafile=str(root))
    status, headers, body = kithttp.request(NAME, HTTPS_PORT, "/", ctx=ctx)
    assert status == 200 and json.loads(body)["scheme"] == "https"
    assert headers["strict-transport-security"].startswith("max-age=")


def test_http_redirects_but_serves_the_acme_path(host):
    status, headers, _ = kithttp.request(NAME, HTTP_PORT, "/", tls=False)
    assert status == 301 and headers["location"] == f"https://{NAME}/"
    status, _, _ = kithttp.request(NAME, HTTP_PORT, "/.well-known/acme-challenge/missing", tls=False)
    assert status == 404


def test_tls_scan_passes_mozilla_intermediate(host, tmp_path):
    """sslyze from the controller, with pebble's root as the trusted CA."""
    root = tmp_path / "pebble-root.pem"
    root.write_text(_pebble_pem(host, "/roots/0"))
    out = kithttp.sslyze_intermediate(NAME, HTTPS_PORT, root)
    assert re.search(r"Supplied CA file CA Store \(N/A\):\s+OK", out), out


def test_a_wrong_dns_record_stops_before_the_ca(host):
    record = json.loads(host.file("/root/kit-dns-check.json").content_string)
    assert record["task"] == "Fail on a name that does not resolve to this host"
    text = json.dumps(record["result"])
    assert "acme.kit.test (certbot_domains) resolves to" in text and "not to this host" in text, text
    # No order was placed for it: the lineage still holds only web.kit.test.
    sans = host.check_output(f"openssl x509 -in /etc/letsencrypt/live/{NAME}/cert.pem -noout -ext subjectAltName")
    assert "acme.kit.test" not in sans and f"DNS:{NAME}" in sans


def _eab_key(host):
    key = host.ansible.get_variables()["certbot_eab_hmac_key"]
    assert len(key) >= 32
    return key


def test_pebble_refuses_an_account_without_the_binding(host, tmp_path):
    """The binding is really in force: a registration without it is refused, so the
    converge, which registered, must have sent the key (the tests below check how)."""
    r = host.run(
        "certbot register --non-interactive --agree-tos --register-unsafely-without-email"
        " --server https://acme.kit.test:14000/dir --config-dir /tmp/kit-no-eab"
        " --work-dir /tmp/kit-no-eab/work --logs-dir /tmp/kit-no-eab/logs"
    )
    host.run("rm -rf /tmp/kit-no-eab")
    assert r.rc != 0, r.stdout + r.stderr
    assert "external account" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    assert host.file("/etc/letsencrypt/accounts/acme.kit.test:14000/dir").is_directory


def test_eab_key_is_never_on_a_command_line(host):
    """Issue 11, item 4. A watcher polled every /proc/*/cmdline on this host from prepare
    to side_effect, so through the converge that registered the account with the binding:
    certbot certonly ran, and no command line held the HMAC key."""
    key = _eab_key(host)
    with host.sudo():
        record = json.loads(host.file("/root/kit-cmdline-watch.json").content_string)
    # certbot runs as /usr/bin/python3 /usr/bin/certbot certonly ...
    certonly = [argv for argv in record["argv"] if any(Path(a).name == "certbot" and argv[i + 1 : i + 2] == ["certonly"] for i, a in enumerate(argv))]
    assert certonly, f"the watcher saw no certbot certonly in {record['scans']} scans"
    leaks = [argv for argv in record["argv"] if any(key in arg for arg in argv) or "--eab-hmac-key" in argv]
    assert leaks == []


def test_eab_key_is_not_left_in_files_or_certbot_logs(host):
    """The root-only file that carried the binding is gone, and neither certbot's
    configuration, its account, its renewal file nor its log holds the key."""
    key = _eab_key(host)
    assert not host.file("/etc/letsencrypt/kit-eab").exists
    r = host.run("grep -rlF -e %s /etc/letsencrypt /var/log/letsencrypt", key)
    assert r.rc == 1 and r.stdout == "", r.stdout


def test_eab_key_is_not_in_the_converge_output(host):
    """The plays' log at -vvv (molecule.yml): the converge ran the certbot task that
    registered, and the key appears nowhere in what it printed."""
    key = _eab_key(host)
    log = (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ansible.log").read_text()
    start = log.index("PLAY [Converge]")
    converge = log[start : log.index("PLAY RECAP", start)]
    task = converge.index("TASK [certbot : Obtain the certificate through the running nginx (HTTP-01, webroot)]")
    assert "changed: [kit-certbot-web]" in converge[task : converge.index("TASK [", task + 1)]
    assert key not in converge
