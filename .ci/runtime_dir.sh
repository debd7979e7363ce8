# Sourced by .ci/run. Mesa's device-select layer wants a runtime dir; without one it only
# prints noise. The mode is set only on a directory made here: a directory given in
# XDG_RUNTIME_DIR (even /tmp) is left as it is.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
    export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/xdg-runtime-$(id -u)"
    if [ ! -e "$XDG_RUNTIME_DIR" ]; then
        mkdir -m 700 "$XDG_RUNTIME_DIR"
    fi
fi
