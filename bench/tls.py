"""TLS: what sslyze (from PyPI) finds on the served site, and its verdict against
Mozilla's TLS profiles: intermediate (the kit's target) and modern (TLS 1.3
only, shown for comparison).

On each Debian release in turn (kitbench.bench_releases()), one host gets site.yml
with a certificate from pebble, the ACME test server, as it would from Let's
Encrypt; sslyze connects through the port published on 127.0.0.1 with the site's
name as SNI and trusts pebble's root. The host's own openssl then shows which
group nginx picks when a client offers the hybrid post-quantum group first.
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
from kitbench import BIN, Cluster, log, release_name, table  # noqa: E402

PROTOCOLS = [("ssl_2_0", "SSL 2.0"), ("ssl_3_0", "SSL 3.0"), ("tls_1_0", "TLS 1.0"), ("tls_1_1", "TLS 1.1"), ("tls_1_2", "TLS 1.2"), ("tls_1_3", "TLS 1.3")]


def sort_sets(text):
    """sslyze names sets in any order; sorted, two runs and two releases read alike."""
    return re.sub(r"\{([^}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", text)


def sslyze(name, port, ca_file, profile, json_out):
    r = subprocess.run(
        [str(BIN / "sslyze"), f"--mozilla_config={profile}", f"--certinfo_ca_file={ca_file}", f"--json_out={json_out}",
         f"{name}:{port}{{127.0.0.1}}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    section = r.stdout.split("COMPLIANCE AGAINST MOZILLA TLS CONFIGURATION", 1)[-1]
    verdict = "compliant" if f"{name}:{port}: OK - Compliant." in r.stdout else "not compliant"
    # The checker's findings read "    * <check>: <why>"; the scan's own headings do not.
    problems = [f"{k}: {sort_sets(v.strip())}" for k, v in re.findall(r"^\s+\* ([a-z_]+): (.+)$", section, flags=re.M)]
    return verdict, problems, json.loads(Path(json_out).read_text())


def result(scan, key):
    return (scan.get(key) or {}).get("result") or {}


# The hybrid post-quantum group of Mozilla's guideline 6.0, which sslyze's group scan
# does not try: the host's own openssl offers it first, and says what nginx chose.
PQ_GROUP = "X25519MLKEM768"


def hybrid_group(c, web, name):
    r = c.exec(
        web,
        f"openssl s_client -brief -groups {PQ_GROUP}:X25519:prime256v1 -servername {name} -connect 127.0.0.1:443"
        " </dev/null 2>&1",
        check=False,
    )
    m = re.search(r"Negotiated TLS1.3 group: (\S+)|Server Temp Key: ([^,\n]+)", r.stdout)
    if m:
        return f"{m.group(1) or m.group(2)} (client offers {PQ_GROUP}, X25519, P-256)"
    if f"'{PQ_GROUP}' cannot be set" in r.stdout:
        openssl = c.exec(web, "openssl version").stdout.split()[1]
        return f"not offered (OpenSSL {openssl} has no {PQ_GROUP})"
    raise RuntimeError(f"{web}: openssl s_client found no group:\n{r.stdout[-2000:]}")


def measure(release):
    """sslyze's verdicts and findings, and the hybrid group, on one release's host."""
    with Cluster("tls", webs=1, pebble=True, release=release) as c, tempfile.TemporaryDirectory() as tmp:
        web = c.webs[0]
        name, port = c.targets()[0]
        c.prepare()
        log(f"site.yml with a certificate from pebble ({release_name(release)})")
        c.playbook("site.yml", label="converge")
        root = Path(tmp) / "pebble-root.pem"
        root.write_text(c.exec(web, "curl -sf https://acme.kit.test:15000/roots/0").stdout)
        verdicts, findings = {}, None
        for profile in ("intermediate", "modern"):
            log(f"sslyze --mozilla_config={profile} {name} ({release_name(release)})")
            # sslyze's full report stays beside the table.
            json_out = kitbench.RESULTS / f"tls-{release}-{profile}.json"
            verdict, problems, data = sslyze(name, port, root, profile, json_out)
            verdicts[profile] = (verdict, problems)
            findings = findings or data
        scan = findings["server_scan_results"][0]["scan_result"]
        accepted = {}
        for key, label in PROTOCOLS:
            suites = [s["cipher_suite"]["name"] for s in result(scan, f"{key}_cipher_suites").get("accepted_cipher_suites", [])]
            if suites:
                accepted[label] = ", ".join(suites)
        cert = result(scan, "certificate_info").get("certificate_deployments", [{}])[0]
        leaf = (cert.get("received_certificate_chain") or [{}])[0]
        curves = [cv["name"] for cv in result(scan, "elliptic_curves").get("supported_curves") or []]
        facts = {
            "certificate": f"{leaf.get('public_key', {}).get('algorithm', '?')} {leaf.get('public_key', {}).get('key_size', '')}, "
                           f"valid {leaf.get('not_valid_before', '?')[:10]} to {leaf.get('not_valid_after', '?')[:10]}, "
                           f"chain trusted: {cert.get('verified_certificate_chain') is not None}",
            "key exchange groups (sslyze)": ", ".join(curves) or "-",
            "hybrid post-quantum group negotiated": hybrid_group(c, web, name),
            "TLS compression": str(result(scan, "tls_compression").get("supports_compression")),
            "TLS_FALLBACK_SCSV": str(result(scan, "tls_fallback_scsv").get("supports_fallback_scsv")),
            "client renegotiation (DoS)": str(result(scan, "session_renegotiation").get("is_vulnerable_to_client_renegotiation_dos")),
            "Heartbleed": str(result(scan, "heartbleed").get("is_vulnerable_to_heartbleed")),
            "ROBOT": str(result(scan, "robot").get("robot_result")),
        }  # fmt: skip
        nginx = c.exec(web, "nginx -v 2>&1").stdout.strip().rsplit("/", 1)[-1]
        openssl = c.exec(web, "openssl version").stdout.split()[1]
        return {"verdicts": verdicts, "accepted": accepted, "facts": facts, "name": name, "port": port,
                "versions": f"nginx {nginx}, OpenSSL {openssl}"}  # fmt: skip


def main():
    releases = kitbench.bench_releases()
    with kitbench.report("tls", "TLS: sslyze against Mozilla's profiles") as out:
        m = {r: measure(r) for r in releases}
        names = [release_name(r) for r in releases]
        profiles = ("intermediate", "modern")
        out.append(table(["profile", *names], [[f"Mozilla {p}", *(m[r]["verdicts"][p][0] for r in releases)] for p in profiles]))
        out.append("")
        # One row per profile and finding, naming the releases it holds on.
        reports = {}
        for p in profiles:
            for r in releases:
                if m[r]["verdicts"][p][1]:
                    reports.setdefault((p, "; ".join(m[r]["verdicts"][p][1])), []).append(release_name(r))
        reports = [[f"Mozilla {p}", ", ".join(on), problems] for (p, problems), on in reports.items()]
        if reports:
            out.append(table(["profile", "release", "what sslyze reports against it"], reports))
            out.append("")
        labels = [label for _, label in PROTOCOLS if any(label in m[r]["accepted"] for r in releases)]
        out.append(table(["accepted cipher suites", *names], [[label, *(m[r]["accepted"].get(label, "-") for r in releases)] for label in labels]))
        out.append("")
        out.append(table(["check", *names], [[k, *(m[r]["facts"][k] for r in releases)] for k in m[releases[0]]["facts"]]))
        out.append("")
        hosts = "; ".join(f"{release_name(r)}: {m[r]['versions']}, https://{m[r]['name']}/ on 127.0.0.1:{m[r]['port']}" for r in releases)
        out.append(f"sslyze {version('sslyze')} against each release's host, one after the other, trusting pebble's root ({hosts}).")


if __name__ == "__main__":
    main()
