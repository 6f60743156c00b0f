"""A fake DNS for tests: public names are outside this machine, so their answers are scripted.

    dns = StaticDns({"hooks.example.test": ["127.0.0.1"]})
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", dns.getaddrinfo)

Unknown names fail as NXDOMAIN does (``socket.gaierror``); lookups are recorded in ``calls``.
"""

from __future__ import annotations

import socket


class StaticDns:
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def getaddrinfo(self, host: str | bytes, port: int, **_: object) -> list[tuple]:
        name = host.decode("ascii") if isinstance(host, bytes) else host
        self.calls.append(name)
        if name not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, f"fake DNS: no answer for {name}")
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
            if ":" in address
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in self.answers[name]
        ]
