"""Nox deploy tooling: one code path for `scripts/deploy.sh` and the Dagger `deploy` function.

Standard library only, so it runs from any container that has python3 and the docker or
kubectl client. Steps of every deploy: migrations first (additive, so the running version
keeps working), rollout, smoke test on real routes, rollback on failure, and a record in the
history file that `rollback` reads.
"""
