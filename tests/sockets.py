"""Which addresses processes listen on, read from /proc (Linux): for the tests' rule that every
service and launcher they start binds loopback only.

`listening(pids)`: every TCP socket in LISTEN state and every bound UDP socket held by those processes
or any of their descendants, as (pid, command, address, port). A socket is matched to its process
through /proc/<pid>/fd (links `socket:[inode]`) and /proc/net/{tcp,tcp6,udp,udp6} (the inode column).
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path


def _address(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))  # four little-endian 32-bit words
    return socket.inet_ntop(socket.AF_INET6, words)


def _sockets() -> dict[str, tuple[str, int]]:
    """inode → (address, port) of listening TCP and bound UDP sockets in this network namespace."""
    found = {}
    for kind in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path("/proc/net", kind).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            (addr, port), state, inode = f[1].split(":"), f[3], f[9]
            if kind.startswith("tcp") and state != "0A":  # 0A: LISTEN
                continue
            if kind.startswith("udp") and int(port, 16) == 0:
                continue
            found[inode] = (_address(addr), int(port, 16))
    return found


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(stat.parent.name))
    return tree


def _with_descendants(pids: list[int]) -> set[int]:
    tree, seen, todo = _children(), set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += tree.get(pid, [])
    return seen


def listening(pids: list[int]) -> list[tuple[int, str, str, int]]:
    table, out = _sockets(), []
    for pid in sorted(_with_descendants(pids)):
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:  # gone meanwhile
            continue
        links = []
        for fd in fds:
            try:
                links.append(fd.readlink().name)
            except OSError:  # closed meanwhile (the listing's own descriptor, for one)
                pass
        for link in links:
            if link.startswith("socket:[") and (inode := link[8:-1]) in table:
                out.append((pid, name, *table[inode]))
    return out


def not_loopback(found: list[tuple[int, str, str, int]]) -> list[tuple[int, str, str, int]]:
    def loopback(a: str) -> bool:
        ip = ipaddress.ip_address(a)
        return ip.is_loopback or bool(getattr(ip, "ipv4_mapped", None) and ip.ipv4_mapped.is_loopback)

    return [s for s in found if not loopback(s[2])]
