"""A recording made playable: one ffmpeg run decodes the original once and writes both the browser format
(Ogg Opus or MP3) and 8 kHz PCM for the figures, which are measured as the PCM streams by
(``recordings.audio_figures``). Memory stays flat whatever the length.

Runs inside the process pool (``recordings.pool``): plain blocking code, picklable arguments and result.
pydub is not used here: its ``AudioSegment`` holds the whole decoded recording in memory (an hour of
two-channel 8 kHz audio is 115 MB per copy) and it imports ``audioop``, which Python 3.13 removes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from recordings.audio_figures import LevelMeter, figures
from recordings.audio_header import HEAD_BYTES, not_audio_reason, wav_shortfall_seconds

Format = Literal["opus", "mp3"]
MIMES: dict[str, str] = {"opus": "audio/ogg; codecs=opus", "mp3": "audio/mpeg"}
ANALYSIS_RATE = 8000
_READ_BYTES = 64 * 1024
_PROBE_TIMEOUT_SECONDS = 30.0
# ffmpeg gets a minute plus a fifth of the recording's length: transcoding runs at well over 100x real
# time, so only a file that makes ffmpeg loop (or a machine on its knees) runs out of it.
_BASE_TIMEOUT_SECONDS = 60.0
_TIMEOUT_PER_AUDIO_SECOND = 0.2
_UNKNOWN_DURATION_TIMEOUT_SECONDS = 900.0
# A file whose header announces this much more audio than it decodes to was cut short.
_TRUNCATED_SLACK_SECONDS = 1.0
_TRUNCATED_SLACK_SHARE = 0.05
_STDERR_REASON_CHARS = 300
_MACHINE_TROUBLES = (
    b"Error writing trailer",
    b"Error closing file",
    b"No space left on device",
    b"Disk quota exceeded",
    b"Read-only file system",
    b"Input/output error",
    b"Permission denied",
    b"Cannot allocate memory",
)
_FFMPEG_CONTEXT = re.compile(r"\[[\w:. -]+ @ 0x[0-9a-f]+\] ")


class BadAudio(Exception):
    """The file is not audio kolokol can use (empty, truncated, corrupt, not audio); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ProcessedAudio:
    duration_seconds: float
    channels: int
    mime: str
    peaks: list[int] | list[list[int]]
    figures: dict[str, Any]


@dataclass(frozen=True)
class Probe:
    format_name: str
    codec: str
    channels: int
    sample_rate: int
    duration_seconds: float | None


def process(src: Path, dst: Path, fmt: Format, bitrate_kbps: int) -> ProcessedAudio:
    """Transcodes ``src`` into ``dst`` (written whole or not at all) and measures it.

    Raises ``BadAudio`` for a file that is not usable audio; ``OSError`` (ffmpeg missing, disk full) is
    left to the caller to retry.
    """
    if fmt not in MIMES:
        raise ValueError(f"unknown format {fmt!r}")
    if bitrate_kbps <= 0:
        raise ValueError("the bitrate must be positive")
    size = _size(src)
    if not dst.parent.is_dir():
        raise FileNotFoundError(f"the directory for the processed audio is missing: {dst.parent}")
    with src.open("rb") as file:
        head = file.read(HEAD_BYTES)
    reason = not_audio_reason(head)
    if reason is not None:
        raise BadAudio(reason)
    short = wav_shortfall_seconds(head, size)
    if short is not None:
        raise BadAudio(_truncated(*short))
    probe = probe_audio(src)
    channels = 1 if probe.channels == 1 else 2
    part = dst.with_name(dst.name + ".part")
    # A leftover (or planted) file or link there is never written through: ffmpeg creates a new one.
    part.unlink(missing_ok=True)
    try:
        meter = LevelMeter(ANALYSIS_RATE, channels)
        complaint = transcode(src, part, fmt, bitrate_kbps, channels, probe.duration_seconds, meter)
        levels = meter.finish()
        if levels.samples == 0:
            raise BadAudio("the file holds no audio (0 seconds)")
        declared = probe.duration_seconds
        decoded = levels.duration_seconds
        if declared is not None and declared - decoded > max(
            _TRUNCATED_SLACK_SECONDS, _TRUNCATED_SLACK_SHARE * declared
        ):
            if complaint.strip():
                raise BadAudio(
                    f"the file is damaged: only {decoded:.1f} s of its {declared:.1f} s could be decoded"
                    f" ({summarise(complaint, src)})"
                )
            raise BadAudio(_truncated(decoded, declared))
        os.replace(part, dst)
    finally:
        part.unlink(missing_ok=True)
    measured = figures(levels)
    return ProcessedAudio(
        duration_seconds=measured.duration_seconds,
        channels=channels,
        mime=MIMES[fmt],
        peaks=measured.peaks,
        figures=measured.as_json(),
    )


def probe_audio(src: Path) -> Probe:
    """The first audio stream as ffprobe sees it; ``BadAudio`` when there is none."""
    command = [
        _tool("ffprobe"),
        *("-v", "error", "-select_streams", "a:0"),
        *("-show_entries", "stream=codec_name,channels,sample_rate,duration:format=format_name,duration"),
        *("-of", "json", str(src)),
    ]
    try:
        # A fixed argument list (no shell); the only variable part is the path of our own incoming file.
        done = subprocess.run(  # noqa: S603
            command,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise BadAudio(f"ffprobe could not read the file within {_PROBE_TIMEOUT_SECONDS:.0f} s") from exc
    if done.returncode != 0:
        raise BadAudio(f"not an audio file ffmpeg can read: {summarise(done.stderr, src)}")
    try:
        found = json.loads(done.stdout or b"{}")
    except ValueError as exc:
        raise BadAudio("ffprobe gave an unreadable answer about the file") from exc
    streams = found.get("streams") or []
    container = found.get("format") or {}
    if not streams:
        kind = container.get("format_name") or "unknown"
        raise BadAudio(f"the file has no audio in it (container: {kind})")
    stream = streams[0]
    channels = _int(stream.get("channels"))
    if channels <= 0:
        raise BadAudio("the audio stream has no channels")
    duration = _float(stream.get("duration")) or _float(container.get("duration"))
    return Probe(
        format_name=str(container.get("format_name") or ""),
        codec=str(stream.get("codec_name") or ""),
        channels=channels,
        sample_rate=_int(stream.get("sample_rate")),
        duration_seconds=duration,
    )


def encoder_arguments(fmt: Format, bitrate_kbps: int) -> list[str]:
    """ffmpeg output options for the browser format."""
    if fmt == "opus":
        # "voip" tunes Opus for speech; complexity 5 of 10 costs about 40 % less CPU than the default for
        # a difference not heard in phone audio (the benchmark's per-core target needs it).
        return [
            *("-c:a", "libopus", "-b:a", f"{bitrate_kbps}k", "-application", "voip"),
            *("-compression_level", "5", "-f", "ogg"),
        ]
    # MP3 at 8 kHz would be MPEG 2.5, which not every browser plays: 16 kHz (MPEG-2) plays everywhere.
    return ["-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k", "-ar", "16000", "-f", "mp3"]


def summarise(stderr: bytes, src: Path | None = None) -> str:
    """ffmpeg's complaint in one line a manager can read (without our own paths in it)."""
    text = stderr.decode("utf-8", errors="replace")
    if src is not None:
        text = text.replace(f"{src}: ", "").replace(str(src), "the file")
    # "[mp3 @ 0x55d0c2a8b140] " names ffmpeg's internal object: nothing a reader can use.
    text = _FFMPEG_CONTEXT.sub("", text)
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("Last message repeated")
    ]
    if not lines:
        return "no details"
    unique = list(dict.fromkeys(lines))
    line = "; ".join(unique[-3:])
    if len(line) > _STDERR_REASON_CHARS:
        line = line[: _STDERR_REASON_CHARS - 1] + "…"
    return line


def transcode(
    src: Path,
    out: Path,
    fmt: Format,
    bitrate_kbps: int,
    channels: int,
    duration_seconds: float | None,
    meter: LevelMeter,
) -> bytes:
    """One ffmpeg run: ``out`` in the browser format, and the same audio as 8 kHz PCM into ``meter``.

    Returns what ffmpeg said about the input while decoding it (errors it read past; empty when clean).
    """
    command = [
        _tool("ffmpeg"),
        *("-nostdin", "-hide_banner", "-v", "error", "-y", "-i", str(src)),
        *("-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", str(channels), "-map_metadata", "-1"),
        *encoder_arguments(fmt, bitrate_kbps),
        str(out),
        *("-map", "0:a:0", "-ac", str(channels), "-ar", str(ANALYSIS_RATE)),
        *("-c:a", "pcm_s16le", "-f", "s16le", "pipe:1"),
    ]
    timeout = _timeout(duration_seconds)
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(  # noqa: S603 - fixed arguments, no shell, our own file paths
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors
        )
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            process.kill()

        watchdog = threading.Timer(timeout, kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            assert process.stdout is not None
            while chunk := process.stdout.read(_READ_BYTES):
                meter.feed(chunk)
            code = process.wait()
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if timed_out.is_set():
            raise BadAudio(f"ffmpeg did not finish within {timeout:.0f} s; the file may be damaged")
        complaint = _tail(errors)
        # ffmpeg 5 exits 0 even when writing its output failed: its complaints are read either way. The
        # disk's trouble is not the recording's: the worker tries again later.
        if any(trouble in complaint for trouble in _MACHINE_TROUBLES):
            raise OSError(f"ffmpeg could not write: {summarise(complaint, src)}")
        if code != 0:
            raise BadAudio(f"ffmpeg could not decode the file: {summarise(complaint, src)}")
        return complaint


def _timeout(duration: float | None) -> float:
    if duration is None:
        return _UNKNOWN_DURATION_TIMEOUT_SECONDS
    return _BASE_TIMEOUT_SECONDS + _TIMEOUT_PER_AUDIO_SECOND * duration


def _tail(file: IO[bytes], limit: int = 8192) -> bytes:
    file.seek(0, os.SEEK_END)
    size = file.tell()
    file.seek(max(0, size - limit))
    return file.read()


def _size(src: Path) -> int:
    try:
        size = src.stat().st_size
    except FileNotFoundError as exc:
        raise BadAudio("the file is missing") from exc
    if size == 0:
        raise BadAudio("the file is empty (0 bytes)")
    return size


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed (kolokol needs ffmpeg to process recordings)")
    return found


def _truncated(present: float, declared: float) -> str:
    return f"the file is truncated: it holds {present:.1f} s of the {declared:.1f} s its header announces"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
