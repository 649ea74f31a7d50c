#!/usr/bin/env bash
# Build the two base images the Dockerfiles name, when no registry can give them:
#   debian:bookworm-slim      debootstrap --variant=minbase bookworm
#   python:3.11-slim-bookworm the same plus Debian's python3.11 and venv (the official image
#                             builds CPython into /usr/local; ours is /usr/bin/python3 — the
#                             Dockerfiles call `python3 -m venv` and work on either).
# Both trust the host's extra CA certificates (an HTTPS proxy may re-sign PyPI) and use the
# host's Debian mirror. An image already present is left alone: FORCE=1 rebuilds.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "debootstrap needs root"
command -v debootstrap >/dev/null || {
  say "installing debootstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

have() { [ "${FORCE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

# The mirror apt already uses on this host (deb822 or one-line sources), else Debian's CDN.
mirror=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
  | grep -oE 'https?://[^ ]+' | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

build_rootfs() {  # $1 = dir, $2 = extra packages (comma-separated)
  local root=$1 include=$2
  say "debootstrap bookworm from $mirror into $root (${include:-minbase only}; ~70 s)"
  debootstrap --variant=minbase ${include:+--include="$include"} bookworm "$root" "$mirror" >/dev/null
  # The host's extra CAs, trusted inside.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    say "copying the host's extra CA certificates into the base"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1 || true
  fi
  # As the official images: the release, its updates and security, in deb822 form.
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian*}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  # The host's apt proxy, if any, passes through.
  for f in /etc/apt/apt.conf.d/*; do
    grep -qiE 'Acquire::(https?::)?Proxy' "$f" 2>/dev/null && cp "$f" "$root/etc/apt/apt.conf.d/" || true
  done
  # As the official slim images do: no docs, no caches kept.
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/var/cache/apt/*.bin
}

import() {  # $1 = dir, $2 = tag, rest = --change lines
  local root=$1 tag=$2; shift 2
  say "docker import $tag"
  tar -C "$root" -c . | docker import "$@" - "$tag" >/dev/null
}

proxy_env=()
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY PIP_INDEX_URL PIP_TRUSTED_HOST; do
  [ -n "${!v:-}" ] && proxy_env+=(--change "ENV $v=${!v}")
done

work=$(mktemp -d /var/tmp/tagfeed-base.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The two debootstraps run side by side: most of their time is waiting on the mirror.
pids=()
if have debian:bookworm-slim; then
  say "debian:bookworm-slim is there"
else
  build_rootfs "$work/debian" "ca-certificates" & pids+=($!)
fi
if have python:3.11-slim-bookworm; then
  say "python:3.11-slim-bookworm is there"
else
  build_rootfs "$work/python" "ca-certificates,python3.11,python3-venv,python3-pip" & pids+=($!)
fi
for pid in "${pids[@]}"; do
  wait "$pid" || die "debootstrap failed"
done

if [ -d "$work/debian" ]; then
  import "$work/debian" debian:bookworm-slim "${proxy_env[@]}" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]'
fi
if [ -d "$work/python" ]; then
  # pip inside a build must trust the same certificates (its own bundle would not).
  import "$work/python" python:3.11-slim-bookworm "${proxy_env[@]}" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]'
fi
say "base images ready"
