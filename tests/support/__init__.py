"""What tests of every tier use to run real parts: one module each.

- ``deadline``: how long a started server may take, and the one waiting loop
- ``net``: free loopback ports, waiting for a listener
- ``processes``: stopping a child process, passing coverage on to it
- ``postgres``, ``redis``: throwaway servers from Debian's binaries, or the ones `dagger call
  test` binds (named by environment variables), behind one protocol each
- ``nox_process``: real ``nox serve`` processes, alone or with two users' tokens
- ``run_markers``: programs a sandboxed run leaves on the host, found by a marker
"""
