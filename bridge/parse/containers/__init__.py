"""Container log formats: each line of the container's output wrapped by its runtime.

- ``docker``: Docker's json-file driver, ``{"log": "...\\n", "stream": "stdout",
  "time": "2026-12-06T10:00:00.123456789Z"}`` per line (``docker.py``);
- ``cri``: the Kubernetes container runtime interface, as containerd and CRI-O write
  it under ``/var/log/pods``: ``<time> <stream> <P|F> <text>`` (``cri.py``).

Both split a long line of the container into parts (Docker at 16 KiB, with no
newline at the end of ``log`` but the last; CRI with the tag ``P`` on all but the
last, which is ``F``). ``PartialAssembler`` (``partial.py``) joins the parts of each
stream back into one line before it is parsed, so a rule sees what the container
wrote. The parsed fields are ``log`` (the container's line, without its newline),
``stream`` (stdout or stderr) and ``time`` (the runtime's time, RFC 3339);
``parse:`` on the source can read ``log`` again as JSON, logfmt or a regex.
"""

from __future__ import annotations

from bridge.parse.containers.cri import CRI, parse_cri
from bridge.parse.containers.docker import DOCKER, parse_docker
from bridge.parse.containers.partial import ContainerFormat, PartialAssembler

__all__ = [
    "CONTAINER_FIELDS",
    "CRI",
    "DOCKER",
    "ContainerFormat",
    "PartialAssembler",
    "parse_cri",
    "parse_docker",
]

# The fields both formats give a record.
CONTAINER_FIELDS = frozenset({"log", "stream", "time"})
