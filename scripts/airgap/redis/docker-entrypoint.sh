#!/bin/sh
# Like the official redis entrypoint: `-flags` or `x.conf` imply redis-server, drop to user
# redis, and protected mode off by default (the official build patches that default into the
# binary; without it clients in other containers are DENIED).
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec gosu redis "$0" "$@"
fi
if [ "$1" = 'redis-server' ]; then
    case " $* " in
        *" --protected-mode "* | *.conf*) ;;
        *) set -- "$@" --protected-mode no ;;
    esac
fi
um="$(umask)"
if [ "$um" = '0022' ]; then umask 0077; fi
exec "$@"
