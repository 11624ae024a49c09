"""Plumbing for lab 5b, where ``kfp.local.DockerRunner`` runs the course pipeline's steps in containers.

``DockerRunner`` starts each step's container with ``auto_remove=True``: once
the step exits, the daemon removes the container in the background, after
``kfp.local`` has already moved on. A cleanup that lists the lab's containers
at that moment finds one being removed, and removing it again fails with
``409 Conflict: removal of container ... is already in progress``.
:func:`wait_for_auto_removal` waits for those removals to finish, so that the
course's ``containers.cleanup`` then finds only what an interrupted run left.
"""

from __future__ import annotations

import time

from mlops_course import containers

#: Container states in which an auto-removed container is on its way out.
LEAVING = ("exited", "dead", "removing")


def leaving(client, lab: str) -> list:
    """The lab's containers that have stopped but are still listed (their removal not finished)."""
    import docker

    found = []
    for container in client.containers.list(all=True, filters=containers.label_filter(lab)):
        try:
            if container.status in LEAVING:
                found.append(container)
        except docker.errors.NotFound:  # gone between the list and the look
            pass
    return found


def wait_for_auto_removal(client, lab: str, timeout: float = 30) -> int:
    """Wait until no stopped container of ``lab`` is left (at most ``timeout`` seconds); return how many there were.

    A container that is still there after ``timeout`` (a daemon that did not
    remove it) is left to ``containers.cleanup``, which removes it by force.
    """
    first = len(leaving(client, lab))
    deadline = time.monotonic() + timeout
    while leaving(client, lab) and time.monotonic() < deadline:
        time.sleep(0.5)
    return first
