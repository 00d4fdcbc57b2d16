"""Two hosts on one machine, for MPI over a real network link: two network namespaces joined by a veth pair,
and an ssh stand-in through which Hydra (mpiexec's launcher) starts each rank in its host's namespace.

    with hosts(workdir, "lbs") as (pair, standin):
        command = launch(pair, standin) + ["python", "-m", "littlebaby.cli", "train", ...]

`pair` is [(namespace, address, veth end)] for the two hosts. `launch` forces MPICH's UCX onto TCP
(UCX_TLS=tcp,self: without it the two ranks of one machine talk through shared memory). Needs root and
iproute2's `ip`: where the namespaces cannot be made, `hosts` raises subprocess.CalledProcessError before it
yields. The namespaces and the veth pair are removed afterwards, whatever happens. Used by
benchmarks/scaling.py --two-hosts and tests/training/test_two_hosts.py; docs/distributed.md gives the recipe by
hand.
"""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

STANDIN = """#!/bin/sh
# Hydra's ssh: [options] host command...; the command runs in the host's network namespace
while [ "${{1#-}}" != "$1" ]; do shift; done
host=$1; shift
case "$host" in
  {a_ip}) ns={a} ;;
  {b_ip}) ns={b} ;;
  *) echo "ssh stand-in: no namespace for host $host" >&2; exit 255 ;;
esac
exec ip netns exec "$ns" sh -c "$*"
"""


def mpiexec() -> str:
    return str(Path(sys.executable).parent / "mpiexec")


def ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=True)


@contextlib.contextmanager
def hosts(workdir: Path, tag: str):
    """([(namespace, address, veth end)] of two hosts, the ssh stand-in's path); `tag` (a few letters) names
    them apart from another user's, with this process's id."""
    pid = os.getpid()
    prefix = f"{tag}{pid % 100000}"
    subnet = f"10.{200 + sum(map(ord, tag)) % 50}.{pid % 250}"
    names, links = (prefix + "a", prefix + "b"), (prefix + "va", prefix + "vb")
    made = []
    try:
        for name in names:
            ip("netns", "add", name)
            made.append(name)
        ip("link", "add", links[0], "type", "veth", "peer", "name", links[1])
        for host, (name, link) in enumerate(zip(names, links), start=1):
            ip("link", "set", link, "netns", name)
            ip("-n", name, "addr", "add", f"{subnet}.{host}/24", "dev", link)
            ip("-n", name, "link", "set", link, "up")
            ip("-n", name, "link", "set", "lo", "up")
        standin = Path(workdir) / "ssh-standin"
        standin.write_text(STANDIN.format(a=names[0], b=names[1], a_ip=f"{subnet}.1", b_ip=f"{subnet}.2"))
        standin.chmod(0o755)
        pair = [(name, f"{subnet}.{host}", link) for host, (name, link) in enumerate(zip(names, links), start=1)]
        yield pair, standin
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", links[0]], capture_output=True, timeout=10)  # if never moved


def launch(pair, standin) -> list[str]:
    """The command prefix that starts 2 ranks, one on each host, talking over TCP: the hosts in a hostfile of
    `address:1` lines beside the stand-in, given to mpiexec as docs/distributed.md's hostfile recipe does."""
    hostfile = Path(standin).parent / "hosts"
    hostfile.write_text("".join(f"{address}:1\n" for _, address, _ in pair))
    command = ["ip", "netns", "exec", pair[0][0], mpiexec(), "-launcher", "ssh", "-launcher-exec", str(standin)]
    return command + ["-f", str(hostfile), "-n", "2", "-genv", "UCX_TLS", "tcp,self"]
