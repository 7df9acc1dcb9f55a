"""Real call audio for the processing tests and benchmark: tones, silences and espeak-ng speech laid out
on one or two channels at 8 kHz, written as WAV (then MP3/Ogg with ffmpeg), with the figures known.

A layout is a list of segments per channel; a channel's segments run back to back.
"""

from __future__ import annotations

import math
import subprocess
import wave
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

RATE = 8000


@dataclass(frozen=True)
class Tone:
    seconds: float
    dbfs: float = -14.0
    frequency: int = 400  # a divisor of 8000: one period repeated


@dataclass(frozen=True)
class Silence:
    seconds: float


@dataclass(frozen=True)
class Samples:
    values: array[int]

    @property
    def seconds(self) -> float:
        return len(self.values) / RATE


Segment = Tone | Silence | Samples


def render(segments: Iterable[Segment]) -> array[int]:
    out = array("h")
    for segment in segments:
        if isinstance(segment, Samples):
            out.extend(segment.values)
        elif isinstance(segment, Silence):
            out.extend(array("h", bytes(2 * round(segment.seconds * RATE))))
        else:
            amplitude = 32767 * 10 ** (segment.dbfs / 20) * math.sqrt(2)
            period = RATE // segment.frequency
            one = [
                max(-32768, min(32767, round(amplitude * math.sin(2 * math.pi * i / period))))
                for i in range(period)
            ]
            count = round(segment.seconds * RATE)
            out.extend(array("h", one * (count // period + 1))[:count])
    return out


def write_wav(path: Path, *channels: Sequence[Segment] | array[int], rate: int = RATE) -> Path:
    """One or two channels (layouts or rendered samples) as 16-bit PCM WAV; shorter channels padded."""
    rendered = [c if isinstance(c, array) else render(c) for c in channels]
    length = max(len(c) for c in rendered)
    for c in rendered:
        c.extend(array("h", bytes(2 * (length - len(c)))))
    if len(rendered) == 1:
        interleaved = rendered[0]
    else:
        interleaved = array("h", bytes(2 * length * len(rendered)))
        for index, c in enumerate(rendered):
            interleaved[index :: len(rendered)] = c
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(rendered))
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(interleaved.tobytes())
    return path


def convert(src: Path, dst: Path, *options: str) -> Path:
    """``src`` re-encoded by ffmpeg (the format follows ``dst``'s suffix unless options say otherwise)."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *options, str(dst)],
        check=True,
        timeout=120,
    )
    return dst


def speech(text: str, *, voice: str = "en", speed: int = 160) -> array[int]:
    """``text`` spoken by espeak-ng, at 8 kHz, with the synthesiser's own leading/trailing quiet removed."""
    spoken = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    raw = subprocess.run(
        [
            "sox",
            "-t",
            "wav",
            "-",
            "-t",
            "raw",
            "-r",
            str(RATE),
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed",
            "-L",
            "-",
        ],
        input=spoken,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    samples = array("h")
    samples.frombytes(raw)
    loud = [i for i in range(0, len(samples), 80) if max(abs(s) for s in samples[i : i + 80]) > 300]
    if not loud:
        return samples
    return samples[loud[0] : loud[-1] + 80]


def probe(path: Path) -> dict[str, str]:
    """codec_name, channels, sample_rate and duration of the first audio stream, as ffprobe says."""
    found = subprocess.run(
        [
            "ffprobe",
            *("-v", "error", "-select_streams", "a:0"),
            *("-show_entries", "stream=codec_name,channels,sample_rate:format=duration,format_name"),
            *("-of", "default=noprint_wrappers=1", str(path)),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return dict(line.split("=", 1) for line in found.splitlines() if "=" in line)
