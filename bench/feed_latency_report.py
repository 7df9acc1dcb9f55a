"""The figures: what one phase measured, and how the phases are printed and compared."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TARGET_MS = {200: 50.0, 1000: 250.0}


@dataclass
class Phase:
    """What one phase measured: filled in by the bench as the phase ends."""

    backend: str
    clients: int
    name: str
    rings: int
    expected: int = 0
    delivered: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)  # per ring: the first client reached
    spread_ms: list[float] = field(default_factory=list)  # per ring: last client minus first
    per_second: float = 0.0
    frames: dict[str, int] = field(default_factory=dict)
    closed: list[list[Any]] = field(default_factory=list)
    clients_short: int = 0  # clients that missed at least one ring
    server_cpu: float = 0.0  # share of one core over the phase
    clients_cpu: float = 0.0
    others_cpu: float = 0.0  # cores kept busy by everything else on the machine (other work, the bench)
    behind_ms: float = 0.0  # paced: how late the last ring left against its schedule
    # Per ring, in sending order: DialBegin written (ns since the epoch), first and last client (ms after).
    per_ring: list[tuple[str, int, float, float]] = field(default_factory=list)
    client_stall_max_ms: float = 0.0
    client_stalls: int = 0
    server_cpu_ms_per_ring: float = 0.0

    @property
    def broken(self) -> bool:
        return self.delivered != self.expected or bool(self.closed)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


HEADER = (
    f"{'backend':10} {'clients':>7} {'phase':14} {'rings':>5} {'delivered':>15} {'p50 ms':>7} {'p99 ms':>7}"
    f" {'max ms':>7} {'1st p50':>7} {'spread p99':>10} {'msgs/s':>8} {'srv CPU':>7} {'cli CPU':>7}"
    f" {'others':>6}  target"
)


def verdict(phase: Phase) -> str:
    target = TARGET_MS.get(phase.clients)
    if target is None:
        return "(no target at this client count)"
    p99 = percentile(phase.latencies_ms, 0.99)
    shown = f"p99 < {target:.0f} ms at {phase.clients:,}"
    if not phase.name.startswith("paced"):
        return f"({shown}: judged on the paced phase)"
    return f"{shown}: {'met' if p99 < target else 'NOT MET'}"


def print_phase(phase: Phase) -> None:
    p = phase.latencies_ms
    print(
        f"{phase.backend:10} {phase.clients:>7} {phase.name:14} {phase.rings:>5}"
        f" {f'{phase.delivered}/{phase.expected}':>15} {percentile(p, 0.5):7.1f} {percentile(p, 0.99):7.1f}"
        f" {max(p, default=float('nan')):7.1f} {percentile(phase.first_ms, 0.5):7.1f}"
        f" {percentile(phase.spread_ms, 0.99):10.1f} {phase.per_second:8.0f}"
        f" {100 * phase.server_cpu:6.0f}% {100 * phase.clients_cpu:6.0f}% {max(0.0, phase.others_cpu):6.2f}"
        f"  {verdict(phase)}",
        flush=True,
    )
    others = ", ".join(f"{k} {v}" for k, v in sorted(phase.frames.items()) if k != "call.ringing")
    notes = [
        f"server CPU per ring (its hang-up and task included) {phase.server_cpu_ms_per_ring:.1f} ms",
        f"client process longest stall {phase.client_stall_max_ms:.0f} ms ({phase.client_stalls} over 20 ms)",
        f"other frames: {others or 'none'}",
    ]
    if phase.name.startswith("paced"):
        notes.append(f"last ring left {phase.behind_ms:.0f} ms behind schedule")
    if phase.delivered != phase.expected:
        notes.append(
            f"!! {phase.expected - phase.delivered} deliveries missing, {phase.clients_short} clients short"
        )
    if phase.closed:
        codes = Counter(str(code) for _, code, _, _ in phase.closed)
        notes.append(f"!! {len(phase.closed)} clients closed by the server: codes {dict(codes)}")
    print(f"{'':10} {'':>7} {'':14} " + "; ".join(notes), flush=True)


def _against(phase: Phase, base: Phase, digits: int) -> str:
    """`phase`'s p50, p99 and server CPU per ring as multiples of `base`'s."""
    ratios = (
        ("p50", percentile(phase.latencies_ms, 0.5) / percentile(base.latencies_ms, 0.5)),
        ("p99", percentile(phase.latencies_ms, 0.99) / percentile(base.latencies_ms, 0.99)),
        ("server CPU per ring", phase.server_cpu_ms_per_ring / base.server_cpu_ms_per_ring),
    )
    return ",".join(f" {label} x{value:.{digits}f}" for label, value in ratios)


def print_ratios(phases: list[Phase]) -> None:
    """Figures of one run against each other: what survives a noisy machine better than absolute times."""
    by = {(p.backend, p.clients, p.name): p for p in phases}
    lines = []
    for (backend, clients, name), phase in by.items():
        for (other_backend, other_clients, other_name), base in by.items():
            if (other_backend, other_name) == (backend, name) and other_clients < clients:
                lines.append(
                    f"{backend} {name}, {clients} vs {other_clients} clients:" + _against(phase, base, 1)
                )
            if (
                other_backend == "SQLite"
                and backend != "SQLite"
                and (other_clients, other_name) == (clients, name)
            ):
                lines.append(
                    f"{backend}/{other_backend} {name}, {clients} clients:" + _against(phase, base, 2)
                )
    if lines:
        print("ratios within this run:")
        for line in lines:
            print(f"  {line}")


def print_summary(phases: list[Phase]) -> None:
    """Every measured phase again, after all the start-up and progress lines, then the ratios."""
    print()
    print(HEADER)
    for phase in phases:
        print_phase(phase)
    print(
        "p50/p99/max: DialBegin written -> call.ringing frame at a client, over all (client, ring) pairs;"
        " 1st p50: the first client of each ring; spread: first to last client of a ring;"
        " msgs/s: ring deliveries / (last delivery - first DialBegin);"
        " CPU: share of one core (server, client process);"
        " others: cores busy with everything else on the machine during the phase"
    )
    print_ratios(phases)
