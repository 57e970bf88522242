#!/usr/bin/env bash
# Bootstrap a machine for townhall: Debian packages where absent, then .venv with the project.
# Idempotent; `make demo` and `make test` run it through a stamp file.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs=()
command -v varnishd >/dev/null || [ -x /usr/sbin/varnishd ] || apt_pkgs+=(varnish)
[ -e /usr/lib/x86_64-linux-gnu/varnish/vmods/libvmod_digest.so ] || [ -n "$(ls /usr/lib/*/varnish/vmods/libvmod_digest.so 2>/dev/null)" ] || apt_pkgs+=(varnish-vmod-digest)
[ -n "$(ls /usr/lib/*/varnish/vmods/libvmod_vsthrottle.so 2>/dev/null)" ] || apt_pkgs+=(varnish-modules)
command -v chromium >/dev/null || apt_pkgs+=(chromium)
command -v ffprobe >/dev/null || apt_pkgs+=(ffmpeg)
command -v espeak-ng >/dev/null || apt_pkgs+=(espeak-ng)
command -v sox >/dev/null || apt_pkgs+=(sox)
command -v wrk >/dev/null || apt_pkgs+=(wrk)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${apt_pkgs[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
  else
    echo "setup: missing Debian packages (${apt_pkgs[*]}); run as root or install them" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
