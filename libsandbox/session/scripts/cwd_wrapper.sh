# Runs an exec's shell code, $1 the code file: starts in LIBSANDBOX_CWD when
# the call named one, else restores the cwd the last exec ended in; runs the
# code in this shell (so its `cd` counts), records the cwd when the shell
# exits (not after a named cwd: that call was a one-off). The recorded cwd is
# trusted no further than being a directory under /home/user or /tmp.
k=
if [ -n "${LIBSANDBOX_CWD-}" ]; then
  cd -- "$LIBSANDBOX_CWD" || exit 1
  k=1
else
  c=$(cat /tmp/.libsandbox-session/cwd 2>/dev/null)
  case "$c" in
    */..|*/../*) cd /home/user ;;
    /home/user|/home/user/*|/tmp|/tmp/*) cd -- "$c" 2>/dev/null || cd /home/user ;;
    *) cd /home/user ;;
  esac
fi
unset c LIBSANDBOX_CWD
# begin record-cwd (a background process leaves this part out)
[ -n "$k" ] || trap 'mkdir -p /tmp/.libsandbox-session 2>/dev/null && printf %s "$PWD" > /tmp/.libsandbox-session/cwd 2>/dev/null' EXIT
# end record-cwd
unset k
. "$1"
