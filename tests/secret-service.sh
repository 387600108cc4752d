#!/usr/bin/env bash
# Starts a private D-Bus session bus with an unlocked gnome-keyring (Secret Service) under DIR,
# for tests of the keyring store. Prints shell assignments on stdout:
#   DBUS_SESSION_BUS_ADDRESS=...
#   SECRET_SERVICE_PIDS="<dbus pid> <gnome-keyring pid>"
# Stop it with: kill $SECRET_SERVICE_PIDS
# Needs Debian packages dbus and gnome-keyring. The password is a throwaway: the keyring lives
# and dies with DIR.
set -euo pipefail
dir=${1:?usage: secret-service.sh DIR}
mkdir -p "$dir/run" "$dir/home"
chmod 700 "$dir/run"
for bin in dbus-daemon gnome-keyring-daemon dbus-send; do
  command -v "$bin" >/dev/null || { echo "secret-service.sh: $bin not found (apt-get install dbus gnome-keyring)" >&2; exit 1; }
done
# No service directories: nothing is activated behind our back (a bus-activated
# gnome-keyring would start locked).
cat > "$dir/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=$dir/run</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
read -r address dbus_pid < <(dbus-daemon --config-file="$dir/bus.conf" --fork --print-address=1 --print-pid=1 | paste -sd' ')
export DBUS_SESSION_BUS_ADDRESS=$address HOME=$dir/home XDG_RUNTIME_DIR=$dir/run
printf 'throwaway' | gnome-keyring-daemon --foreground --unlock --components=secrets >"$dir/gnome-keyring.log" 2>&1 &
keyring_pid=$!
for _ in $(seq 1 200); do
  if dbus-send --session --dest=org.freedesktop.DBus --print-reply /org/freedesktop/DBus \
       org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; then
    echo "DBUS_SESSION_BUS_ADDRESS=$address"
    echo "SECRET_SERVICE_PIDS=\"$dbus_pid $keyring_pid\""
    exit 0
  fi
  sleep 0.05
done
echo "secret-service.sh: gnome-keyring did not come up; see $dir/gnome-keyring.log" >&2
kill "$dbus_pid" "$keyring_pid" 2>/dev/null || true
exit 1
