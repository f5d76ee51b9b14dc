"""Bad input for the nginx and certbot roles fails in the first play of site.yml,
names the variable, and changes nothing (the same checks as tests/test_bad_inputs.py)."""

import pytest

CASES = [
    # (id, extra vars, the variable the error must name)
    ("server-name-invalid", {"nginx_server_names": ["bad_name!.example.org"]}, "nginx_server_names"),
    ("server-names-empty", {"nginx_server_names": []}, "nginx_server_names"),
    ("server-names-a-string", {"nginx_server_names": "example.org"}, "nginx_server_names"),
    ("rate-limit-not-a-number", {"nginx_rate_limit": "fast"}, "nginx_rate_limit"),
    ("body-size-bad-unit", {"nginx_client_max_body_size": "10 GB"}, "nginx_client_max_body_size"),
    ("upstream-socket-relative", {"nginx_upstream_socket": "run/app.sock"}, "nginx_upstream_socket"),
    ("static-prefix-no-slash", {"nginx_static_url_prefix": "static"}, "nginx_static_url_prefix"),
    ("read-timeout-zero", {"nginx_proxy_read_timeout": 0}, "nginx_proxy_read_timeout"),
    ("frame-options-unknown", {"nginx_frame_options": "ALLOWALL"}, "nginx_frame_options"),
    ("extra-directives-a-string", {"nginx_extra_directives": "gzip off;"}, "nginx_extra_directives"),
    # Issue 15: logs and metrics.
    ("log-format-unknown", {"nginx_log_format": "xml"}, "nginx_log_format"),
    ("exporter-address-no-port", {"nginx_exporter_listen_address": "127.0.0.1"}, "nginx_exporter_listen_address"),
    ("exporter-address-port-too-big", {"nginx_exporter_listen_address": "127.0.0.1:99999"}, "nginx_exporter_listen_address"),
    ("stub-status-address-a-name", {"nginx_stub_status_listen_address": "localhost:8080"}, "nginx_stub_status_listen_address"),
    ("metrics-address-injects", {"nginx_app_metrics_listen_address": "0.0.0.0:9180; allow all"}, "nginx_app_metrics_listen_address"),
    ("metrics-allow-not-an-address", {"nginx_app_metrics_allow": ["all"]}, "nginx_app_metrics_allow"),
    ("metrics-allow-bad-cidr", {"nginx_app_metrics_allow": ["10.0.0.0/33"]}, "nginx_app_metrics_allow"),
    ("metrics-allow-a-string", {"nginx_app_metrics_allow": "127.0.0.1"}, "nginx_app_metrics_allow"),
    ("certbot-domain-invalid", {"certbot_domains": ["web..example.org"]}, "certbot_domains"),
    ("certbot-domain-wildcard", {"certbot_domains": ["*.example.org"]}, "certbot_domains"),
    ("certbot-email-without-at", {"certbot_email": "ops.example.org"}, "certbot_email"),
    ("certbot-environment-unknown", {"certbot_environment": "testing"}, "certbot_environment"),
    ("certbot-custom-without-url", {"certbot_environment": "custom"}, "certbot_acme_server"),
    ("certbot-server-not-https", {"certbot_environment": "custom", "certbot_acme_server": "http://acme.example/dir"}, "certbot_acme_server"),
    ("certbot-eab-kid-alone", {"certbot_eab_kid": "kid-1"}, "certbot_eab_hmac_key"),
    # The key id goes into a certbot config file: a second line there would be a setting.
    ("certbot-eab-kid-two-lines", {"certbot_eab_kid": "kid-1\nserver = https://acme.example/dir",
                                   "certbot_eab_hmac_key": "c2VjcmV0"}, "certbot_eab_kid"),
    ("certbot-key-type-unknown", {"certbot_key_type": "dsa"}, "certbot_key_type"),
    ("certbot-rsa-size-small", {"certbot_key_type": "rsa", "certbot_rsa_key_size": 1024}, "certbot_rsa_key_size"),
    # DNS names ignore case: these two are one name.
    (
        "certbot-domains-repeat-in-other-case",
        {"nginx_server_names": ["example.org", "Example.org"], "certbot_domains": ["example.org", "Example.org"]},
        "certbot_domains",
    ),
    (
        "certbot-name-nginx-does-not-serve",
        {"nginx_server_names": ["www.example.org"], "certbot_domains": ["example.org"], "certbot_email": "ops@example.org"},
        "nginx_server_names",
    ),
]


@pytest.mark.parametrize("extra_vars,variable", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_before_any_change(bare_host, extra_vars, variable):
    bare_host.assert_fails_before_any_change(extra_vars, variable, ["/etc/nginx", "/etc/letsencrypt", "/srv/hello_api"])


def test_eab_hmac_key_stays_out_of_the_output(bare_host):
    secret = "c2VjcmV0LWhtYWMta2V5LWZvci10ZXN0cw"
    result = bare_host.playbook("site.yml", {"certbot_eab_hmac_key": secret})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "certbot_eab_kid" in output, output
    assert secret not in output, output


@pytest.mark.parametrize(
    "certbot_domains",
    [["example.org", "www.example.org"], ["Example.org", "WWW.example.org"]],
    ids=["same-case", "certbot-names-in-other-case"],
)
def test_good_input_with_certbot_on_passes_the_validation_play(bare_host, certbot_domains):
    """A site with certbot on passes the same checks (only the validation play runs here);
    nginx serves a certbot name written in another case."""
    names = {"nginx_server_names": ["example.org", "www.example.org"], "certbot_domains": certbot_domains}
    result = bare_host.playbook("site.yml", {**names, "certbot_email": "ops@example.org"}, "--check", "--tags", "never")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "failed=0" in output, output
