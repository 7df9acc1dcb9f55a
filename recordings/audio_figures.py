"""What a manager can see of a call without listening to it, from the decoded audio.

Pure: 16-bit PCM in (any chunking), numbers out. ``LevelMeter`` cuts the PCM into 20 ms frames and keeps
two numbers per frame and channel (mean square and peak), so an hour of audio costs a few megabytes
whatever its format; ``figures()`` then finds speech and silence in those frames and draws the waveform.

Channels of a two-channel recording: channel 0 is the leg that started the call, channel 1 the other
(``talk_seconds`` names them caller and clinic as on an inbound call; ``sides_for_direction`` swaps them
for a call the clinic placed). Every source we take two-channel audio from puts the first leg first:
Asterisk's MixMonitor ``D`` option interleaves the audio coming from the recorded channel (our dialplan
records the caller's channel) before the audio going to it; Twilio's dual-channel recordings hold the
parent call in the first channel; Telnyx's dual recordings the first leg on channel A. (MixMonitor's
``r()``/``t()`` files are two mono files: received = the recorded channel's own voice.)
"""

from __future__ import annotations

import math
import sys
from array import array
from dataclasses import dataclass
from operator import mul
from typing import Any

FRAME_SECONDS = 0.02
FULL_SCALE = 32768.0
PEAK_BUCKETS = 1000

# Silence is judged against the recording's own loudness: phone lines differ by 30 dB in gain, so a fixed
# threshold calls a quiet caller's words silence on one line and a hissing line's noise speech on another.
# Speech level = the loud end of the frames (95th percentile), noise level = the quiet end (10th).
# A frame speaks when it is SPEECH_MARGIN_DB below the speech level or louder, and clearly above the
# line's own noise (NOISE_MARGIN_DB), but never below ABSOLUTE_FLOOR_DBFS: a recording of nothing but
# near-silence has a "speech level" near the noise too, and must not turn its hum into talk.
SPEECH_MARGIN_DB = 30.0
NOISE_MARGIN_DB = 6.0
# A frame this close to the speech level always speaks (continuous talk has no quiet end to learn from).
ALWAYS_SPEECH_DB = 10.0
ABSOLUTE_FLOOR_DBFS = -55.0
# A listener hears words separated by short pauses as one stretch of talk, and a click as nothing.
BRIDGE_GAP_SECONDS = 0.3
MIN_BURST_SECONDS = 0.1
# A two-channel file whose channels carry the same audio is a mono recording stored twice. Lossy stereo
# coding (Opus) does not give back identical samples, so "the same" is: nearly every frame (a real
# conversation has far more frames where one side speaks alone) has the same energy on both sides.
SAME_CHANNELS_SHARE = 0.99
SAME_ENERGY_RATIO = 0.1
SAME_ENERGY_FLOOR = FULL_SCALE * FULL_SCALE * 1e-7  # -70 dBFS: quieter than any line's own hiss
SILENT_DB = -120.0


@dataclass(frozen=True)
class Levels:
    """Per channel, per 20 ms frame: mean square and peak (absolute sample value)."""

    sample_rate: int
    frame_samples: int
    samples: int  # per channel
    energy: tuple[array[float], ...]
    peak: tuple[array[int], ...]

    @property
    def channels(self) -> int:
        return len(self.energy)

    @property
    def frames(self) -> int:
        return len(self.energy[0])

    @property
    def duration_seconds(self) -> float:
        return self.samples / self.sample_rate


class LevelMeter:
    """Feeds interleaved signed 16-bit little-endian PCM in chunks of any size."""

    def __init__(self, sample_rate: int, channels: int) -> None:
        if sample_rate <= 0 or channels not in (1, 2):
            raise ValueError("one or two channels at a positive sample rate")
        self.sample_rate = sample_rate
        self.channels = channels
        self.frame_samples = max(1, round(sample_rate * FRAME_SECONDS))
        self._frame_bytes = self.frame_samples * channels * 2
        self._pending = bytearray()
        self._samples = 0
        self._energy: tuple[array[float], ...] = tuple(array("d") for _ in range(channels))
        self._peak: tuple[array[int], ...] = tuple(array("l") for _ in range(channels))

    def feed(self, pcm: bytes) -> None:
        self._pending += pcm
        whole = len(self._pending) - len(self._pending) % self._frame_bytes
        if whole:
            self._measure(bytes(self._pending[:whole]))
            del self._pending[:whole]

    def finish(self) -> Levels:
        tail = len(self._pending) - len(self._pending) % (2 * self.channels)
        if tail:
            self._measure(bytes(self._pending[:tail]))
        self._pending.clear()
        return Levels(
            sample_rate=self.sample_rate,
            frame_samples=self.frame_samples,
            samples=self._samples,
            energy=self._energy,
            peak=self._peak,
        )

    def _measure(self, pcm: bytes) -> None:
        samples = array("h")
        samples.frombytes(pcm)
        if sys.byteorder == "big":
            samples.byteswap()
        n = self.frame_samples
        per_channel = [samples[c :: self.channels] for c in range(self.channels)]
        self._samples += len(per_channel[0])
        for channel, values in enumerate(per_channel):
            energy, peak = self._energy[channel], self._peak[channel]
            for start in range(0, len(values), n):
                # Every other sample is enough for the mean square and the peak (speech power is spread
                # over the band: the estimate stays within a fraction of a dB) and halves the cost.
                half = values[start : start + n : 2]
                energy.append(sum(map(mul, half, half)) / len(half))
                peak.append(max(max(half), -min(half)))


@dataclass(frozen=True)
class AudioFigures:
    duration_seconds: float
    channels: int
    peaks: list[int] | list[list[int]]
    silence_share: float
    longest_silence_seconds: float
    talk_seconds: tuple[float, float] | None  # (caller, clinic): two-channel recordings only
    overlap_seconds: float | None

    def as_json(self) -> dict[str, Any]:
        """The ``figures`` object of the call record."""
        talk = self.talk_seconds
        return {
            "silence_share": self.silence_share,
            "longest_silence_seconds": self.longest_silence_seconds,
            "talk_seconds": None if talk is None else {"caller": talk[0], "clinic": talk[1]},
            "overlap_seconds": self.overlap_seconds,
        }


def sides_for_direction(figures_json: dict[str, Any] | None, direction: str | None) -> dict[str, Any] | None:
    """The ``figures`` with ``talk_seconds`` named by who is who on this call.

    Channel 0 is the leg that started the call (see the module's docstring): the caller on an inbound
    call, but the clinic on one the clinic placed (``direction == "outbound"``), whose first leg is the
    operator's phone or the operator's channel.
    """
    talk = figures_json.get("talk_seconds") if figures_json else None
    if figures_json is None or direction != "outbound" or not isinstance(talk, dict):
        return figures_json
    return {**figures_json, "talk_seconds": {"caller": talk.get("clinic"), "clinic": talk.get("caller")}}


def figures(levels: Levels) -> AudioFigures:
    frame_seconds = levels.frame_samples / levels.sample_rate
    speaking = [_speaking(energy, frame_seconds) for energy in levels.energy]
    anyone = [any(column) for column in zip(*speaking, strict=True)]
    silent = [not s for s in anyone]
    two_sides = levels.channels == 2 and not same_audio(levels.energy[0], levels.energy[1])
    talk: tuple[float, float] | None = None
    overlap: float | None = None
    if two_sides:
        caller, clinic = speaking
        talk = (_seconds(sum(caller), frame_seconds), _seconds(sum(clinic), frame_seconds))
        both = sum(1 for a, b in zip(caller, clinic, strict=True) if a and b)
        overlap = _seconds(both, frame_seconds)
    frames = max(1, levels.frames)
    return AudioFigures(
        duration_seconds=round(levels.duration_seconds, 3),
        channels=levels.channels,
        peaks=waveform(levels),
        silence_share=round(sum(silent) / frames, 3),
        longest_silence_seconds=_seconds(_longest_run(silent), frame_seconds),
        talk_seconds=talk,
        overlap_seconds=overlap,
    )


def waveform(levels: Levels, buckets: int = PEAK_BUCKETS) -> list[int] | list[list[int]]:
    """About ``buckets`` peaks per channel, 0..100, for the player's waveform.

    Scaled to the recording's own loudest moment (the same scale for both channels, so a quiet side stays
    quieter), but never magnified more than 30 dB: a near-silent file must look near-silent.
    """
    count = min(buckets, levels.frames)
    top = max((max(p) for p in levels.peak if len(p)), default=0)
    scale = max(float(top), FULL_SCALE / 32)
    drawn = [_buckets(peak, count, scale) for peak in levels.peak]
    return drawn[0] if levels.channels == 1 else drawn


def same_audio(first: array[float], second: array[float]) -> bool:
    """Whether two channels carry the same audio (see SAME_CHANNELS_SHARE), judged on the frames where
    either side makes a sound (digital silence on both sides proves nothing)."""
    sounding = alike = 0
    for a, b in zip(first, second, strict=True):
        louder = max(a, b)
        if louder > SAME_ENERGY_FLOOR:
            sounding += 1
            alike += abs(a - b) <= SAME_ENERGY_RATIO * louder
    return sounding > 0 and alike >= SAME_CHANNELS_SHARE * sounding


def threshold_db(levels_db: list[float]) -> float:
    """The level above which a frame of this channel speaks (see the constants above)."""
    if not levels_db:
        return ABSOLUTE_FLOOR_DBFS
    ordered = sorted(levels_db)
    speech = _percentile(ordered, 0.95)
    noise = _percentile(ordered, 0.10)
    line = max(speech - SPEECH_MARGIN_DB, noise + NOISE_MARGIN_DB)
    return max(ABSOLUTE_FLOOR_DBFS, min(line, speech - ALWAYS_SPEECH_DB))


def to_dbfs(mean_square: float) -> float:
    if mean_square <= 0:
        return SILENT_DB
    return max(SILENT_DB, 10 * math.log10(mean_square / (FULL_SCALE * FULL_SCALE)))


def _speaking(energy: array[float], frame_seconds: float) -> list[bool]:
    levels_db = [to_dbfs(e) for e in energy]
    line = threshold_db(levels_db)
    active = [level > line for level in levels_db]
    active = _drop_short(active, round(MIN_BURST_SECONDS / frame_seconds), value=True)
    return _drop_short(active, round(BRIDGE_GAP_SECONDS / frame_seconds), value=False, inner=True)


def _drop_short(flags: list[bool], shorter_than: int, *, value: bool, inner: bool = False) -> list[bool]:
    """Flips runs of ``value`` shorter than ``shorter_than`` frames (``inner``: only runs with both
    neighbours, i.e. pauses inside talk, not the quiet before the first word or after the last)."""
    out = list(flags)
    start = 0
    n = len(flags)
    while start < n:
        end = start
        while end < n and flags[end] == flags[start]:
            end += 1
        if flags[start] == value and end - start < shorter_than and (not inner or (start > 0 and end < n)):
            out[start:end] = [not value] * (end - start)
        start = end
    return out


def _longest_run(flags: list[bool]) -> int:
    best = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        best = max(best, current)
    return best


def _buckets(peak: array[int], count: int, scale: float) -> list[int]:
    frames = len(peak)
    out = []
    for b in range(count):
        start, end = b * frames // count, (b + 1) * frames // count
        value = max(peak[start : max(end, start + 1)])
        out.append(min(100, round(100 * value / scale)))
    return out


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _seconds(frames: int, frame_seconds: float) -> float:
    return round(frames * frame_seconds, 2)
