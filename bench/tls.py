"""TLS: what sslyze (from PyPI) finds on the served site, and its verdict against
Mozilla's TLS profiles: intermediate (the kit's target) and modern (TLS 1.3
only, shown for comparison).

One host gets site.yml with a certificate from pebble, the ACME test server, as
it would from Let's Encrypt; sslyze connects through the port published on
127.0.0.1 with the site's name as SNI and trusts pebble's root.
"""

import json
import re
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kitbench  # noqa: E402
from kitbench import BIN, Cluster, log, table  # noqa: E402

PROTOCOLS = [("ssl_2_0", "SSL 2.0"), ("ssl_3_0", "SSL 3.0"), ("tls_1_0", "TLS 1.0"), ("tls_1_1", "TLS 1.1"), ("tls_1_2", "TLS 1.2"), ("tls_1_3", "TLS 1.3")]


def sslyze(name, port, ca_file, profile, json_out):
    r = subprocess.run(
        [str(BIN / "sslyze"), f"--mozilla_config={profile}", f"--certinfo_ca_file={ca_file}", f"--json_out={json_out}",
         f"{name}:{port}{{127.0.0.1}}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    section = r.stdout.split("COMPLIANCE AGAINST MOZILLA TLS CONFIGURATION", 1)[-1]
    verdict = "compliant" if f"{name}:{port}: OK - Compliant." in r.stdout else "not compliant"
    # The checker's findings read "    * <check>: <why>"; the scan's own headings do not.
    problems = [f"{k}: {v.strip()}" for k, v in re.findall(r"^\s+\* ([a-z_]+): (.+)$", section, flags=re.M)]
    return verdict, problems, json.loads(Path(json_out).read_text())


def result(scan, key):
    return (scan.get(key) or {}).get("result") or {}


def main():
    with kitbench.report("tls", "TLS: sslyze against Mozilla's profiles") as out:
        with Cluster("tls", webs=1, pebble=True) as c, tempfile.TemporaryDirectory() as tmp:
            web = c.webs[0]
            name, port = c.targets()[0]
            c.prepare()
            log("site.yml with a certificate from pebble")
            c.playbook("site.yml", label="converge")
            root = Path(tmp) / "pebble-root.pem"
            root.write_text(c.exec(web, "curl -sf https://acme.kit.test:15000/roots/0").stdout)
            rows, findings = [], None
            for profile in ("intermediate", "modern"):
                log(f"sslyze --mozilla_config={profile} {name}")
                # sslyze's full report stays beside the table.
                verdict, problems, data = sslyze(name, port, root, profile, kitbench.RESULTS / f"tls-{profile}.json")
                rows.append([f"Mozilla {profile}", verdict, "; ".join(problems) or "-"])
                findings = findings or data
            scan = findings["server_scan_results"][0]["scan_result"]
            accepted = []
            for key, label in PROTOCOLS:
                suites = [s["cipher_suite"]["name"] for s in result(scan, f"{key}_cipher_suites").get("accepted_cipher_suites", [])]
                if suites:
                    accepted.append([label, ", ".join(suites)])
            cert = result(scan, "certificate_info").get("certificate_deployments", [{}])[0]
            leaf = (cert.get("received_certificate_chain") or [{}])[0]
            curves = [cv["name"] for cv in result(scan, "elliptic_curves").get("supported_curves") or []]
            facts = [
                ["certificate", f"{leaf.get('public_key', {}).get('algorithm', '?')} {leaf.get('public_key', {}).get('key_size', '')}, "
                 f"valid {leaf.get('not_valid_before', '?')[:10]} to {leaf.get('not_valid_after', '?')[:10]}, "
                 f"chain trusted: {cert.get('verified_certificate_chain') is not None}"],
                ["key exchange groups", ", ".join(curves) or "-"],
                ["TLS compression", str(result(scan, "tls_compression").get("supports_compression"))],
                ["TLS_FALLBACK_SCSV", str(result(scan, "tls_fallback_scsv").get("supports_fallback_scsv"))],
                ["client renegotiation (DoS)", str(result(scan, "session_renegotiation").get("is_vulnerable_to_client_renegotiation_dos"))],
                ["Heartbleed", str(result(scan, "heartbleed").get("is_vulnerable_to_heartbleed"))],
                ["ROBOT", str(result(scan, "robot").get("robot_result"))],
            ]  # fmt: skip
            out.append(table(["profile", "result", "what sslyze reports against it"], rows))
            out.append("")
            out.append(table(["protocol", "accepted cipher suites"], accepted))
            out.append("")
            out.append(table(["check", "finding"], facts))
            out.append("")
            out.append(f"sslyze {version('sslyze')} against https://{name}/ on 127.0.0.1:{port}, trusting pebble's root.")


if __name__ == "__main__":
    main()
