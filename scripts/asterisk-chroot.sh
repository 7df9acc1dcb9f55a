#!/usr/bin/env bash
# Builds, starts and stops the real Asterisk (and SIPp) that the integration tests talk to.
#
# Asterisk is not in Debian 12, so it runs from a Debian sid chroot built with debootstrap. The chroot is
# cached outside the clone (KOLOKOL_CHROOT, default /var/cache/kolokol/sid-asterisk) because building it
# takes minutes; the mirror is read from this machine's own apt configuration.
#
#   scripts/asterisk-chroot.sh build          build the chroot once (no-op when cached and complete)
#   scripts/asterisk-chroot.sh start CONFDIR  copy CONFDIR into the chroot where its asterisk.conf's astetcdir
#                                             says (default /etc/asterisk.kolokol), start Asterisk (as user asterisk)
#   scripts/asterisk-chroot.sh stop [ETCDIR]  stop the Asterisk of that configuration (default /etc/asterisk.kolokol)
#   scripts/asterisk-chroot.sh pid [ETCDIR]   print its pid (exit status 1 when it is not running)
#   scripts/asterisk-chroot.sh run CMD...     run a command inside the chroot (e.g. sipp)
#   scripts/asterisk-chroot.sh path           print the chroot path
set -euo pipefail

CHROOT=${KOLOKOL_CHROOT:-/var/cache/kolokol/sid-asterisk}
STAMP="$CHROOT/.kolokol-ready"

mirror() {
  # The first Debian archive URI this machine's apt uses (not the security archive).
  local uri
  uri=$( { grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
           grep -hE '^\s*deb\s' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } |
         grep -v -- '-security' | grep -E '/debian/?$' | head -n1 )
  if [ -z "$uri" ]; then
    echo "asterisk-chroot: no Debian mirror found in /etc/apt" >&2
    exit 1
  fi
  echo "${uri%/}"
}

mounted() { mountpoint -q "$CHROOT/$1"; }

mount_all() {
  mounted proc || mount -t proc proc "$CHROOT/proc"
  mounted dev || mount --bind /dev "$CHROOT/dev"
  mounted dev/pts || mount --bind /dev/pts "$CHROOT/dev/pts"
}

# curl: the recordings' post-command (asterisk_conf/kolokol-upload-recording) runs inside the chroot.
PACKAGES="asterisk asterisk-modules asterisk-core-sounds-en sip-tester procps curl"

build() {
  # A chroot built before a package joined the list gets it added (no rebuild).
  if [ -f "$STAMP" ] && [ -x "$CHROOT/usr/bin/curl" ]; then
    return 0
  fi
  command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  local m
  m=$(mirror)
  if [ ! -x "$CHROOT/usr/bin/apt-get" ]; then
    rm -rf "$CHROOT"
    mkdir -p "$CHROOT"
    echo "asterisk-chroot: debootstrap sid from $m into $CHROOT (a few minutes)" >&2
    debootstrap --variant=minbase sid "$CHROOT" "$m" >"$CHROOT.debootstrap.log" 2>&1 || {
      tail -n 20 "$CHROOT.debootstrap.log" >&2; exit 1; }
  fi
  echo "deb $m sid main" >"$CHROOT/etc/apt/sources.list"
  # The mirror here can serve a sid Release file whose Valid-Until has passed; the packages are still
  # signed, so accept it rather than fail the whole build.
  echo 'Acquire::Check-Valid-Until "false";' >"$CHROOT/etc/apt/apt.conf.d/99kolokol-valid-until"
  mount_all
  # Services must not start inside the chroot during installation.
  printf '#!/bin/sh\nexit 101\n' >"$CHROOT/usr/sbin/policy-rc.d"
  chmod +x "$CHROOT/usr/sbin/policy-rc.d"
  chroot "$CHROOT" apt-get update -qq
  # shellcheck disable=SC2086 # the package list is words on purpose
  if ! chroot "$CHROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      $PACKAGES >"$CHROOT.apt.log" 2>&1; then
    tail -n 20 "$CHROOT.apt.log" >&2
    echo "asterisk-chroot: the mirror could not deliver asterisk/sip-tester today" >&2
    exit 3
  fi
  touch "$STAMP"
}

# A directory of the Asterisk instance whose configuration is ETCDIR/asterisk.conf (inside the chroot).
conf_dir() { # ETCDIR KEY
  sed -n "s/^[[:space:]]*$2[[:space:]]*=>[[:space:]]*\([^[:space:];]*\).*/\1/p" "$CHROOT$1/asterisk.conf" | head -n1
}

start() {
  local confdir=$1 etc dir
  [ -f "$STAMP" ] || build
  mount_all
  # Each instance names its own directories in its asterisk.conf (the harness gives every test run its
  # own); the shipped one uses /etc/asterisk.kolokol and the package's directories.
  etc=$(sed -n 's/^[[:space:]]*astetcdir[[:space:]]*=>[[:space:]]*\([^[:space:];]*\).*/\1/p' "$confdir/asterisk.conf" | head -n1)
  etc=${etc:-/etc/asterisk.kolokol}
  stop_quiet "$etc"
  rm -rf "${CHROOT:?}$etc"
  mkdir -p "$(dirname "$CHROOT$etc")"
  cp -r "$confdir" "$CHROOT$etc"
  # Asterisk runs as user asterisk: the copy must be readable whatever the source's modes (mkdtemp: 0700).
  chmod -R a+rX "$CHROOT$etc"
  # Inside the chroot: sid's /var/run is an absolute symlink to /run, which from outside would point
  # at the host's /run.
  for key in astrundir astspooldir astlogdir astdbdir astcachedir; do
    dir=$(conf_dir "$etc" $key)
    [ -n "$dir" ] || continue
    chroot "$CHROOT" mkdir -p "$dir"
    # Asterisk drops every capability (CAP_DAC_OVERRIDE included) after switching user, even to root,
    # so asterisk-owned 0750 directories would be unreadable for "-U root". Run as the package's own
    # asterisk user instead, which also keeps the test PBX unprivileged.
    chroot "$CHROOT" chown -R asterisk:asterisk "$dir"
  done
  chroot "$CHROOT" mkdir -p "$(conf_dir "$etc" astspooldir)/monitor"
  chroot "$CHROOT" chown -R asterisk:asterisk "$(conf_dir "$etc" astspooldir)" /var/lib/asterisk
  # The daemon must not keep the caller's stdout/stderr: a closed pipe would kill it (SIGPIPE).
  chroot "$CHROOT" /usr/sbin/asterisk -C "$etc/asterisk.conf" -U asterisk -G asterisk </dev/null >/dev/null 2>&1
  # Wait until Asterisk answers on its control socket and has fully booted.
  for _ in $(seq 1 100); do
    if chroot "$CHROOT" /usr/sbin/asterisk -C "$etc/asterisk.conf" -rx 'core waitfullybooted' >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  echo "asterisk-chroot: Asterisk did not boot" >&2
  tail -n 30 "$CHROOT$(conf_dir "$etc" astlogdir)/messages" 2>/dev/null >&2 || true
  exit 1
}

# The pid of the instance of ETCDIR, if that Asterisk is running (its pid file names a live process
# started with that very configuration).
instance_pid() {
  local etc=$1 pidfile pid cmdline
  [ -f "$CHROOT$etc/asterisk.conf" ] || return 1
  pidfile="$CHROOT$(conf_dir "$etc" astrundir)/asterisk.pid"
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"-C $etc/asterisk.conf "* ]] || return 1
  echo "$pid"
}

stop_quiet() {
  # Stops only the instance of ETCDIR (by its control socket, then its own pid): other Asterisks on this
  # machine, including other test runs' instances in the same chroot, are left alone.
  local etc=${1:-/etc/asterisk.kolokol} pid
  pid=$(instance_pid "$etc") || return 0
  chroot "$CHROOT" /usr/sbin/asterisk -C "$etc/asterisk.conf" -rx 'core stop now' >/dev/null 2>&1 || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
  build) build ;;
  start) start "${2:?usage: start CONFDIR}" ;;
  stop) stop_quiet "${2:-/etc/asterisk.kolokol}" ;;
  pid) instance_pid "${2:-/etc/asterisk.kolokol}" ;;
  run) shift; mount_all; chroot "$CHROOT" "$@" ;;
  path) echo "$CHROOT" ;;
  *) echo "usage: $0 build|start CONFDIR|stop [ETCDIR]|pid [ETCDIR]|run CMD...|path" >&2; exit 2 ;;
esac
