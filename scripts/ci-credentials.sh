#!/usr/bin/env bash
# Writes a CI job's deploy credentials from its secret environment variables into a new
# private directory, and prints that directory's path:
#   KIT_CI_SSH_KEY         the deploy user's private SSH key (OpenSSH format, no passphrase)
#   KIT_CI_KNOWN_HOSTS     the hosts' public keys as known_hosts lines, pinned: ssh trusts
#                          these and nothing else (never the first key a host shows)
#   KIT_CI_VAULT_PASSWORD  the inventory's ansible-vault password
# Files: <dir>/ssh_key, <dir>/known_hosts, <dir>/vault_password, each 0600, in a 0700
# directory of mktemp's (under RUNNER_TEMP, else TMPDIR). scripts/ci-deploy.sh uses them;
# the job removes the directory when it ends (rm -rf "$dir").
# An empty or missing secret, a key ssh-keygen cannot read without a passphrase, or a
# known_hosts line that is not one fails naming the variable, and nothing is left behind.
set -euo pipefail

fail() {
  echo "ci-credentials: $*" >&2
  exit 2
}

for var in KIT_CI_SSH_KEY KIT_CI_KNOWN_HOSTS KIT_CI_VAULT_PASSWORD; do
  if [ -z "${!var:-}" ] || [ -z "$(printf '%s' "${!var}" | tr -d '[:space:]')" ]; then
    fail "$var is empty or unset: set it from the CI's secrets (README, \"Deploying from CI\")"
  fi
done

# Each line: [marker] host-pattern[,pattern] key-type base64-key [comment]; blank lines and
# comments are allowed. A line ssh would ignore is refused here, so a typo cannot leave a
# host with no pinned key.
known_host_line='^(@(cert-authority|revoked)[[:space:]]+)?[^[:space:]@#][^[:space:]]*[[:space:]]+(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)(-cert-v01@openssh\.com)?[[:space:]]+[A-Za-z0-9+/]+=*([[:space:]].*)?$'
n=0
while IFS= read -r line || [ -n "$line" ]; do
  n=$((n + 1))
  line="${line%$'\r'}"
  case "$line" in '' | '#'*) continue ;; esac
  if ! [[ $line =~ $known_host_line ]]; then
    fail "KIT_CI_KNOWN_HOSTS line $n is not a known_hosts line (host key-type key): ${line:0:60}"
  fi
done <<<"$KIT_CI_KNOWN_HOSTS"

umask 077
dir="$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/kit-ci-credentials.XXXXXXXX")"
trap 'rm -rf "$dir"' ERR
chmod 0700 "$dir"
# ssh needs the key's last line to end with a newline; CI secrets often lose it.
printf '%s\n' "${KIT_CI_SSH_KEY%$'\n'}" >"$dir/ssh_key"
printf '%s' "$KIT_CI_KNOWN_HOSTS" >"$dir/known_hosts"
printf '%s' "$KIT_CI_VAULT_PASSWORD" >"$dir/vault_password"
chmod 0600 "$dir/ssh_key" "$dir/known_hosts" "$dir/vault_password"
if ! ssh-keygen -y -P '' -f "$dir/ssh_key" >/dev/null 2>&1; then
  rm -rf "$dir"
  fail "KIT_CI_SSH_KEY is not a private key ssh-keygen can read without a passphrase"
fi
trap - ERR
echo "$dir"
