"""Transcoding benchmark (issue 11): an hour of 8 kHz two-channel call audio through
``recordings.processing.process`` (the worker's step: decode, Ogg Opus or MP3, duration, peaks, figures).

The hour is a made-up phone conversation: espeak-ng phrases (Russian, two voices) taking turns on the two
channels with pauses, some talking over each other, a few holds of near-silence, and line hiss under it
all (so the encoder is never handed digital silence). It is generated once per run into a temporary WAV
(or --audio gives one).

For each format, --rounds times: wall time, and CPU time of this process plus its ffmpeg children, turned
into x real time (audio seconds / seconds) and x real time per core (audio seconds / CPU seconds); the
medians are printed. Next to them, measured in the same run on the same file, the references: ffmpeg
alone decoding it to nothing (``-f null``), and ffmpeg alone encoding it with the same encoder settings
(what our analysis adds is the difference). Target: >= 100x real time per core.

    .venv/bin/python bench/recordings.py transcode [--minutes 60] [--rounds 3] [--formats opus mp3]
                                                   [--bitrate 24] [--audio PATH]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The project first: bench/recordings.py (the dispatcher) must not be taken for the recordings package.
sys.path[:0] = [str(ROOT)]

from recordings.processing import ProcessedAudio, encoder_arguments, process  # noqa: E402
from tests.support.call_audio import speech  # noqa: E402

RATE = 8000
TARGET_PER_CORE = 100.0

CALLER_LINES = [
    "Здравствуйте, я хотела бы записаться к терапевту.",
    "Да, на следующей неделе, лучше утром.",
    "А во вторник в девять можно?",
    "Моя фамилия Смирнова, Анна Сергеевна.",
    "Восемь девятьсот шестнадцать, сто двадцать три, сорок пять, шестьдесят семь.",
    "Скажите, а анализы можно сдать в тот же день?",
    "Хорошо, спасибо большое.",
    "Нет, больше ничего, до свидания.",
]
CLINIC_LINES = [
    "Клиника здоровья, администратор Мария, здравствуйте.",
    "Конечно. На какой день вам удобно?",
    "Во вторник в девять есть свободное время у доктора Петрова.",
    "Назовите, пожалуйста, вашу фамилию и номер телефона.",
    "Одну минуту, проверяю расписание.",
    "Да, кабинет анализов работает с восьми утра, натощак.",
    "Записала вас, мы пришлём напоминание накануне.",
    "Всего доброго, будьте здоровы.",
]


@dataclass(frozen=True)
class Turn:
    channel: int
    start: int  # sample
    samples: array[int]


@dataclass(frozen=True)
class Cost:
    wall: float
    cpu: float


def make_call_audio(path: Path, seconds: float, seed: int = 11) -> tuple[float, float]:
    """Writes the conversation; returns the seconds each side talks, as laid out."""
    rng = random.Random(seed)  # a reproducible made-up call
    caller = [_scaled(speech(line, voice="ru", speed=170), 0.45) for line in CALLER_LINES]
    clinic = [_scaled(speech(line, voice="ru", speed=185), 0.8) for line in CLINIC_LINES]
    total = int(seconds * RATE)
    turns: list[Turn] = []
    talk = [0, 0]
    at = RATE // 2
    side = 1  # the clinic answers first
    while at < total:
        lines = caller if side == 0 else clinic
        start = at
        for _ in range(rng.choice((1, 1, 2, 3))):
            phrase = rng.choice(lines)
            turns.append(Turn(side, at, phrase))
            spoken_until = at + len(phrase)
            at = spoken_until + int(rng.uniform(0.12, 0.28) * RATE)
        end = at
        # The turn from its first word to its last (the short pauses between phrases are talk).
        talk[side] += max(0, min(spoken_until, total) - start)
        roll = rng.random()
        if roll < 0.12:  # the other side starts before this one is done
            at = end - int(rng.uniform(0.4, 1.5) * RATE)
        elif roll < 0.15:  # "one moment, please": a hold
            at = end + int(rng.uniform(20, 60) * RATE)
        else:
            at = end + int(rng.uniform(0.4, 2.0) * RATE)
        side = 1 - side
    _write(path, turns, total, rng)
    return talk[0] / RATE, talk[1] / RATE


def _scaled(samples: array[int], gain: float) -> array[int]:
    return array("h", (int(s * gain) for s in samples))


def _write(path: Path, turns: list[Turn], total: int, rng: random.Random) -> None:
    """Renders a minute at a time: memory stays a few megabytes for any length."""
    hiss = array("h", (int(rng.gauss(0, 12)) for _ in range(RATE * 7)))  # about -68 dBFS
    block = 60 * RATE
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        for begin in range(0, total, block):
            size = min(block, total - begin)
            sides = []
            for channel in (0, 1):
                offset = (begin + 3 * RATE * channel) % len(hiss)
                samples = (hiss[offset:] + hiss * (size // len(hiss) + 1))[:size]
                for turn in turns:
                    if turn.channel != channel:
                        continue
                    lo, hi = max(turn.start, begin), min(turn.start + len(turn.samples), begin + size)
                    if lo < hi:
                        samples[lo - begin : hi - begin] = turn.samples[lo - turn.start : hi - turn.start]
                sides.append(samples)
            frames = array("h", bytes(4 * size))
            frames[0::2], frames[1::2] = sides
            out.writeframes(frames.tobytes())


def measure(step: Callable[..., object], *args: object) -> tuple[Cost, object]:
    """Wall and CPU time (this process and the children it waited for) of ``step(*args)``."""
    before_self = resource.getrusage(resource.RUSAGE_SELF)
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = step(*args)
    wall = time.perf_counter() - started
    after_self = resource.getrusage(resource.RUSAGE_SELF)
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(
        getattr(after, field) - getattr(before, field)
        for before, after in ((before_self, after_self), (before_children, after_children))
        for field in ("ru_utime", "ru_stime")
    )
    return Cost(wall, cpu), result


def ffmpeg_alone(src: Path, *output: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *output], check=True, timeout=3600
    )


def line(name: str, audio_seconds: float, costs: list[Cost], note: str = "") -> str:
    wall = statistics.median(c.wall for c in costs)
    cpu = statistics.median(c.cpu for c in costs)
    return (
        f"  {name:<34} wall {wall:7.2f} s  cpu {cpu:7.2f} s  "
        f"x{audio_seconds / wall:7.1f} real time  x{audio_seconds / cpu:7.1f} per core{note}"
    )


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="kolokol-bench-transcode-") as tmp:
        work = Path(tmp)
        laid_out: tuple[float, float] | None = None
        if args.audio:
            src = Path(args.audio)
        else:
            src = work / "call.wav"
            started = time.perf_counter()
            laid_out = make_call_audio(src, args.minutes * 60)
            took = time.perf_counter() - started
            print(f"made {args.minutes:g} min of two-channel 8 kHz call audio in {took:.1f} s")
        with wave.open(str(src), "rb") as check:
            audio_seconds = check.getnframes() / check.getframerate()
            channels = check.getnchannels()
        megabytes = src.stat().st_size / 1e6
        print(f"source: {src.name}, {audio_seconds:.0f} s, {channels} channel(s), {megabytes:.0f} MB")
        print(f"medians of {args.rounds} rounds; CPU = this process + its ffmpeg children")

        rounds = range(args.rounds)
        decode = [measure(ffmpeg_alone, src, "-f", "null", "-")[0] for _ in rounds]
        print(line("reference: ffmpeg decode -f null", audio_seconds, decode))
        summary: list[tuple[str, float]] = []
        for fmt in args.formats:
            suffix = ".ogg" if fmt == "opus" else ".mp3"
            encoder = [*encoder_arguments(fmt, args.bitrate), str(work / f"ref{suffix}")]
            encode_only = [measure(ffmpeg_alone, src, *encoder)[0] for _ in rounds]
            print(line(f"reference: ffmpeg encode {fmt}", audio_seconds, encode_only))
            dst = work / f"out{suffix}"
            runs = [measure(process, src, dst, fmt, args.bitrate) for _ in rounds]
            costs = [cost for cost, _ in runs]
            per_core = audio_seconds / statistics.median(c.cpu for c in costs)
            summary.append((fmt, per_core))
            size = f"  ({dst.stat().st_size / 1e6:.1f} MB)"
            print(line(f"process() -> {fmt} {args.bitrate} kbps", audio_seconds, costs, size))
            result = runs[-1][1]
            if isinstance(result, ProcessedAudio):
                print(f"    figures: {result.figures}")
        if laid_out is not None:
            print(f"laid out: caller talks {laid_out[0]:.0f} s, clinic {laid_out[1]:.0f} s")
        peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak memory: this process {peak_self:.0f} MB, largest ffmpeg child {peak_child:.0f} MB")
        for fmt, per_core in summary:
            verdict = "meets" if per_core >= TARGET_PER_CORE else "MISSES"
            print(f"target x{TARGET_PER_CORE:.0f} real time per core, {fmt}: x{per_core:.0f} ({verdict})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="bench/recordings.py transcode",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the made-up call (60)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--formats", nargs="+", choices=("opus", "mp3"), default=["opus", "mp3"])
    parser.add_argument("--bitrate", type=int, default=24, help="kbps (the default setting: 24)")
    parser.add_argument("--audio", help="a two-channel WAV to use instead of making one")
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
