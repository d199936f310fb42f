#!/bin/sh
# Installs the isartor single binary for this machine from a GitHub release, checked against the release's
# SHA256SUMS, into ~/.local/bin (or <prefix>/bin):
#   curl -fsSL https://raw.githubusercontent.com/isartor-ai/isartor/main/install.sh | sh
#   sh install.sh --prefix /usr/local --version 0.2.0
# Later versions: isartor update. Nothing is left behind when it fails.
set -eu

releases=${ISARTOR_INSTALL_RELEASES:-https://github.com/isartor-ai/isartor/releases}
prefix="${HOME:-}/.local"
version=latest

fail() {
  echo "isartor install: $*" >&2
  exit 1
}

usage() {
  cat <<EOF
Usage: install.sh [--prefix DIR] [--version X.Y.Z]
  --prefix DIR      install to DIR/bin/isartor (default: ~/.local)
  --version X.Y.Z   that release (default: the latest)
EOF
}

while [ $# -gt 0 ]; do
  case $1 in
    --prefix) [ $# -ge 2 ] || fail "--prefix needs a directory"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --version) [ $# -ge 2 ] || fail "--version needs a version, e.g. 0.2.0"; version=${2#v}; shift 2 ;;
    --version=*) version=${1#--version=}; version=${version#v}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; fail "unknown option: $1" ;;
  esac
done
[ -n "$prefix" ] || fail "no prefix: set HOME or pass --prefix DIR"

# The release's asset names: isartor-<os>-<arch>[.exe].
case $(uname -s) in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  MINGW* | MSYS* | CYGWIN*) os=windows ;;
  *) fail "no release for $(uname -s); install with npm instead: npm i -g isartor" ;;
esac
case $(uname -m) in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) fail "no release for $(uname -m); install with npm instead: npm i -g isartor" ;;
esac
target=$os-$arch
case $target in
  linux-x64 | linux-arm64 | darwin-arm64) asset=isartor-$target ;;
  windows-x64) asset=isartor-$target.exe ;;
  *) fail "no release for $target; install with npm instead: npm i -g isartor" ;;
esac

if [ "$version" = latest ]; then base=$releases/latest/download; else base=$releases/download/v$version; fi

if command -v curl >/dev/null 2>&1; then
  download() { curl -fsSL --retry 2 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  download() { wget -q -O "$2" "$1"; }
else
  fail "needs curl or wget to download"
fi
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
else
  fail "needs sha256sum or shasum to check the download"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/isartor-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "isartor install: downloading $asset ($version)"
download "$base/SHA256SUMS" "$work/SHA256SUMS" || fail "cannot download $base/SHA256SUMS"
download "$base/$asset" "$work/$asset" || fail "cannot download $base/$asset"
expected=$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1 }' "$work/SHA256SUMS")
[ -n "$expected" ] || fail "SHA256SUMS lists no $asset; nothing installed"
actual=$(sha256 "$work/$asset")
[ "$actual" = "$expected" ] ||
  fail "$asset does not match its published SHA-256 (expected $expected, got $actual); refused, nothing installed"

bin=$prefix/bin
dest=$bin/isartor
[ "$os" = windows ] && dest=$bin/isartor.exe
mkdir -p "$bin" || fail "cannot create $bin; choose another place with --prefix DIR"
chmod 755 "$work/$asset"
# Moved into place in one step from beside it, so a running isartor is never half-written.
cp "$work/$asset" "$dest.download" 2>/dev/null || {
  rm -f "$dest.download"
  fail "cannot write to $bin; choose another place with --prefix DIR"
}
mv -f "$dest.download" "$dest" || {
  rm -f "$dest.download"
  fail "cannot replace $dest"
}

echo "isartor install: installed $("$dest" --version 2>/dev/null || echo isartor) to $dest"
case :${PATH:-}: in
  *:"$bin":*) ;;
  *) echo "isartor install: $bin is not on your PATH; add it:  export PATH=\"$bin:\$PATH\"" ;;
esac
cat <<EOF
Start it:
  ISARTOR__EXTERNAL_LLM_API_KEY=sk-... isartor up --detach
  curl http://localhost:8080/healthz
Stop it with: isartor stop    Update it with: isartor update
EOF
