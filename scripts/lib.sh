# Shared by the scripts: installs what is missing, idempotently and quickly
# when everything is already there. Source it; it does not run anything.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$ROOT/.tools
export PATH=$TOOLS/bin:$TOOLS/node_modules/.bin:$PATH

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# need_apt installs the Debian packages that are not installed yet.
need_apt() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  echo "==> installing ${missing[*]} (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# need_npm installs pinned npm packages (name@version) under .tools/.
need_npm() {
  local missing=()
  for spec in "$@"; do
    local name=${spec%@*} version=${spec##*@}
    local have
    have=$(node -p "require('$TOOLS/node_modules/$name/package.json').version" 2>/dev/null || true)
    [[ $have == "$version" ]] || missing+=("$spec")
  done
  ((${#missing[@]})) || return 0
  echo "==> installing ${missing[*]} (npm, under .tools/)"
  mkdir -p "$TOOLS"
  [[ -f $TOOLS/package.json ]] || echo '{"private": true}' >"$TOOLS/package.json"
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "${missing[@]}" >/dev/null
}

# need_go_tool installs a Go command (module/cmd@version) into .tools/bin.
need_go_tool() {
  local name=$1 spec=$2
  [[ -x $TOOLS/bin/$name && -f $TOOLS/bin/.$name.version && $(cat "$TOOLS/bin/.$name.version") == "$spec" ]] && return 0
  echo "==> installing $spec (go install, under .tools/bin)"
  mkdir -p "$TOOLS/bin"
  GOBIN=$TOOLS/bin go install "$spec"
  echo "$spec" >"$TOOLS/bin/.$name.version"
}

# start_postgres starts the local cluster if needed and makes sure the test
# role exists; it prints nothing when all is ready.
start_postgres() {
  local cluster
  cluster=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
  if [[ -z $cluster ]]; then
    local version
    version=$(ls /usr/lib/postgresql | sort -n | tail -1)
    as_root pg_createcluster "$version" main >/dev/null
    cluster="$version main"
  fi
  if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
    echo "==> starting PostgreSQL $cluster"
    as_root pg_ctlcluster $cluster start
  fi
  as_root su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='anb'\"" | grep -q 1 ||
    as_root su postgres -c "psql -qc \"CREATE ROLE anb LOGIN CREATEDB PASSWORD 'anb'\""
}

# need_cluster_tools installs and starts what the local AWS topology
# (scripts/cluster) and its tests need: ffmpeg, PostgreSQL with the anb
# role, the SQS stand-in (local-aws-sqs) and the S3 stand-in (gofakes3).
need_cluster_tools() {
  need_apt ffmpeg postgresql
  start_postgres
  need_npm local-aws-sqs@2.0.2
  need_go_tool gofakes3 github.com/johannesboyne/gofakes3/cmd/gofakes3@v1.2.0
}
