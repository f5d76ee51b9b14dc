#!/usr/bin/env bash
# Deploys an environment from a CI job, with the credentials scripts/ci-credentials.sh wrote:
#   scripts/ci-deploy.sh INVENTORY_DIR CREDENTIALS_DIR [ansible-playbook arguments...]
#   e.g. scripts/ci-deploy.sh inventories/staging "$creds"
#        scripts/ci-deploy.sh inventories/production "$creds" -e deploy_serial=30%
# It runs `ansible-playbook -i INVENTORY_DIR site.yml` from the kit's root with
#  - ssh checking each host against the pinned known_hosts only: StrictHostKeyChecking=yes,
#    UserKnownHostsFile=<creds>/known_hosts, no global file; an unknown or changed key
#    fails the connection (never trust on first use);
#  - the SSH key and the vault password file from CREDENTIALS_DIR;
#  - deploy_who naming the CI run, so the deploy lock's owner and the audit log's `by=`
#    say which run deployed (GitHub Actions and GitLab CI are recognised; elsewhere set
#    KIT_CI_WHO). The deploy lock is site.yml's own: a second deploy of the same apps
#    on a host meanwhile fails with the owner of the lock.
# These connection settings come as extra vars, so they win over the inventory's.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

fail() {
  echo "ci-deploy: $*" >&2
  exit 2
}

[ $# -ge 2 ] || fail "usage: scripts/ci-deploy.sh INVENTORY_DIR CREDENTIALS_DIR [ansible-playbook arguments...]"
[ -d "$1" ] || fail "INVENTORY_DIR $1 is not a directory (e.g. inventories/staging)"
[ -d "$2" ] || fail "CREDENTIALS_DIR $2 is not a directory: run scripts/ci-credentials.sh first"
inventory="$(cd "$1" && pwd)"
creds="$(cd "$2" && pwd)"
shift 2
case "$creds" in *[[:space:]]*) fail "CREDENTIALS_DIR $creds has white space in its path" ;; esac
[ "$(stat -c '%u %a' "$creds")" = "$(id -u) 700" ] || fail "CREDENTIALS_DIR $creds must be yours with mode 0700"
for f in ssh_key known_hosts vault_password; do
  [ -f "$creds/$f" ] && [ ! -L "$creds/$f" ] || fail "CREDENTIALS_DIR $creds has no file $f: run scripts/ci-credentials.sh"
  [ "$(stat -c '%u %a' "$creds/$f")" = "$(id -u) 600" ] || fail "$creds/$f must be yours with mode 0600"
done

# Who deploys: the CI run, in one word (the lock's owner record takes printable ASCII only).
if [ -n "${KIT_CI_WHO:-}" ]; then
  who="$KIT_CI_WHO" who_var=KIT_CI_WHO
elif [ "${GITHUB_ACTIONS:-}" = true ]; then
  who="github:${GITHUB_REPOSITORY:-}/actions/runs/${GITHUB_RUN_ID:-}/attempts/${GITHUB_RUN_ATTEMPT:-1}:${GITHUB_ACTOR:-}"
  who_var="GITHUB_REPOSITORY, GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT, GITHUB_ACTOR"
elif [ "${GITLAB_CI:-}" = true ]; then
  who="gitlab:${CI_PROJECT_PATH:-}/-/jobs/${CI_JOB_ID:-}:${GITLAB_USER_LOGIN:-}"
  who_var="CI_PROJECT_PATH, CI_JOB_ID, GITLAB_USER_LOGIN"
else
  fail "KIT_CI_WHO is unset and this is neither GitHub Actions nor GitLab CI: set KIT_CI_WHO to name the run"
fi
word='^[A-Za-z0-9][]A-Za-z0-9._:/@+=[-]{0,199}$' empty_part='[/:]([/:]|$)'
if ! [[ $who =~ $word ]] || [[ $who =~ $empty_part ]]; then
  fail "$who_var must give one word of letters, digits and ._:/@+=[]- (at most 200), with none empty; got: ${who:0:80}"
fi

extra="$(python3 -c 'import json, sys; print(json.dumps({
    "deploy_who": sys.argv[1],
    "ansible_ssh_private_key_file": sys.argv[2] + "/ssh_key",
    "ansible_ssh_common_args": "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + sys.argv[2]
        + "/known_hosts -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o BatchMode=yes",
}))' "$who" "$creds")"

cd "$KIT_ROOT"
export ANSIBLE_HOST_KEY_CHECKING=True
cmd=(ansible-playbook -i "$inventory" site.yml --vault-password-file "$creds/vault_password" -e "$extra" "$@")
kit_log "Deploying $inventory as $who"
printf '%q ' "${cmd[@]}" >&2
echo >&2
exec "${cmd[@]}"
