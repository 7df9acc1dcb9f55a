"""Processing real audio files with the real ffmpeg: the browser file is written, and the figures a
manager reads match what was recorded, within what a listener would not notice (a tenth of a second or
so on stretches of seconds)."""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
from pathlib import Path

import pytest

from recordings.audio_figures import LevelMeter
from recordings.pool import ProcessPool
from recordings.processing import BadAudio, ProcessedAudio, process, transcode
from tests.support.call_audio import Samples, Segment, Silence, Tone, convert, probe, speech, write_wav

# Caller: greets (0-3 s), waits, answers (6-9 s) and talks over the clinic at the end (11-13 s).
# Clinic: answers (2.5-5.5 s) and speaks 9.5-12.5 s.
CALLER: list[Segment] = [
    Tone(3, frequency=250),
    Silence(3),
    Tone(3, frequency=250),
    Silence(2),
    Tone(2, frequency=250),
]
CLINIC: list[Segment] = [Silence(2.5), Tone(3, -20, 500), Silence(4), Tone(3, -20, 500), Silence(0.5)]
# Talk: caller 8 s, clinic 6 s; both talk 2.5-3 and 11-12.5 (2 s); nobody talks 5.5-6 and 9-9.5 (1 s of 13).


def test_a_two_channel_call_to_opus(tmp_path: Path) -> None:
    src = write_wav(tmp_path / "call.wav", CALLER, CLINIC)
    dst = tmp_path / "out" / "call.ogg"
    dst.parent.mkdir()
    audio = process(src, dst, "opus", 24)
    assert audio.mime == "audio/ogg; codecs=opus"
    assert audio.channels == 2
    assert audio.duration_seconds == pytest.approx(13.0, abs=0.05)
    _assert_call_figures(audio)
    written = probe(dst)
    assert written["codec_name"] == "opus"
    assert written["channels"] == "2"
    assert float(written["duration"]) == pytest.approx(13.0, abs=0.1)
    assert os.listdir(dst.parent) == ["call.ogg"]  # nothing left beside it


def test_a_two_channel_call_to_mp3(tmp_path: Path) -> None:
    src = write_wav(tmp_path / "call.wav", CALLER, CLINIC)
    audio = process(src, tmp_path / "call.mp3", "mp3", 32)
    assert audio.mime == "audio/mpeg"
    _assert_call_figures(audio)
    written = probe(tmp_path / "call.mp3")
    assert (written["codec_name"], written["channels"], written["sample_rate"]) == ("mp3", "2", "16000")


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("call.mp3", ["-c:a", "libmp3lame", "-b:a", "64k", "-ar", "44100"]),
        ("call.ogg", ["-c:a", "libopus", "-b:a", "32k"]),
        ("call-8k.mp3", ["-c:a", "libmp3lame", "-b:a", "24k"]),  # MPEG 2.5, as 8 kHz stays
        ("call.wav", ["-c:a", "pcm_alaw"]),  # how many PBXs store calls: G.711 in WAV
    ],
)
def test_provider_formats_give_the_same_figures(tmp_path: Path, name: str, options: list[str]) -> None:
    wav = write_wav(tmp_path / "source.wav", CALLER, CLINIC)
    src = convert(wav, tmp_path / name, *options)
    audio = process(src, tmp_path / "out.ogg", "opus", 24)
    assert audio.duration_seconds == pytest.approx(13.0, abs=0.1)
    _assert_call_figures(audio)


def test_a_mono_recording_with_a_long_hold(tmp_path: Path) -> None:
    src = write_wav(tmp_path / "mono.wav", [Tone(4), Silence(20), Tone(6, -24)])
    audio = process(src, tmp_path / "mono.ogg", "opus", 24)
    assert audio.channels == 1
    assert audio.duration_seconds == pytest.approx(30.0, abs=0.05)
    assert audio.figures["silence_share"] == pytest.approx(20 / 30, abs=0.01)
    assert audio.figures["longest_silence_seconds"] == pytest.approx(20.0, abs=0.1)
    assert audio.figures["talk_seconds"] is None
    assert audio.figures["overlap_seconds"] is None
    assert isinstance(audio.peaks, list) and len(audio.peaks) == 1000
    peaks = [p for p in audio.peaks if isinstance(p, int)]
    assert len(peaks) == 1000 and max(peaks[:130]) == 100 and max(peaks[140:660]) <= 2
    assert probe(tmp_path / "mono.ogg")["channels"] == "1"


def test_spoken_words_count_as_talk(tmp_path: Path) -> None:
    caller = speech("Hello, I would like to book an appointment with doctor Ivanova for tomorrow morning.")
    clinic = speech("Of course. We have a free slot at nine thirty, shall I book it for you?", voice="en-us")
    caller_seconds = len(caller) / 8000
    clinic_seconds = len(clinic) / 8000
    src = write_wav(
        tmp_path / "speech.wav",
        [Silence(1), Samples(caller), Silence(clinic_seconds + 2)],
        [Silence(caller_seconds + 2), Samples(clinic), Silence(1)],
    )
    audio = process(src, tmp_path / "speech.ogg", "opus", 24)
    talk = audio.figures["talk_seconds"]
    # Words and the short pauses between them are talk; the second of quiet around each turn is not.
    assert talk["caller"] == pytest.approx(caller_seconds, rel=0.1)
    assert talk["clinic"] == pytest.approx(clinic_seconds, rel=0.1)
    assert audio.figures["overlap_seconds"] == pytest.approx(0, abs=0.1)
    assert audio.figures["longest_silence_seconds"] == pytest.approx(1.0, abs=0.3)


@pytest.mark.parametrize("codec", ["pcm_s16le", "libopus"])
def test_the_same_audio_in_both_channels_is_one_voice(tmp_path: Path, codec: str) -> None:
    voice = speech("Hello, I would like to book an appointment.")
    layout: list[Segment] = [Silence(1), Samples(voice), Silence(2), Samples(voice)]
    wav = write_wav(tmp_path / "dup.wav", layout, layout)
    src = convert(wav, tmp_path / ("dup.ogg" if codec == "libopus" else "dup2.wav"), "-c:a", codec)
    audio = process(src, tmp_path / "out.ogg", "opus", 24)
    assert audio.channels == 2
    assert audio.figures["talk_seconds"] is None
    assert audio.figures["overlap_seconds"] is None


async def test_processing_in_the_worker_process_pool(tmp_path: Path) -> None:
    pool = ProcessPool(1)
    try:
        src = write_wav(tmp_path / "call.wav", CALLER, CLINIC)
        audio = await pool.run(process, src, tmp_path / "call.ogg", "opus", 24)
        _assert_call_figures(audio)
        page = tmp_path / "page.mp3"
        page.write_bytes(b"<html><body>Forbidden</body></html>")
        with pytest.raises(BadAudio) as caught:
            await pool.run(process, page, tmp_path / "page.ogg", "opus", 24)
        assert caught.value.reason == "the file is a web page (HTML), not audio"
    finally:
        await pool.close()
    assert pickle.loads(pickle.dumps(audio)) == audio  # noqa: S301 - our own bytes


# ---------------------------------------------------------------------------------------- bad input


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = write_wav(tmp_path / "good.wav", [Tone(10)])
    mp3 = convert(good, tmp_path / "good.mp3", "-b:a", "32k")
    files: dict[str, tuple[Path, str]] = {}

    def put(name: str, data: bytes, expect: str) -> None:
        path = tmp_path / name
        path.write_bytes(data)
        files[name] = (path, expect)

    put("empty.wav", b"", "empty")
    put("login.mp3", b"<!DOCTYPE html>\n<html><body>Please log in</body></html>\n", "web page")
    put("error.ogg", b'{"error": "not found"}', "JSON")
    put("note.wav", "Запись недоступна\n".encode(), "text")
    put("noise.mp3", bytes(range(256)) * 40, "ffmpeg")
    put("cut.wav", good.read_bytes()[:50_000], "truncated")
    ogg = convert(good, tmp_path / "good.ogg", "-c:a", "libopus").read_bytes()
    garbled = (
        ogg[: len(ogg) // 4]
        + bytes((i * 37 + 11) % 256 for i in range(len(ogg) // 2))
        + ogg[-len(ogg) // 4 :]
    )
    put("garbled.ogg", garbled, "damaged")
    put("cut.mp3", mp3.read_bytes()[: mp3.stat().st_size // 4], "truncated")
    wav = good.read_bytes()
    put("header-only.wav", wav[:44], "truncated")
    # A WAV that says (as streaming writers do) "size unknown" and holds nothing.
    put("no-samples.wav", wav[:4] + struct.pack("<I", 0) + wav[8:40] + struct.pack("<I", 0), "no audio")
    png = tmp_path / "picture.png"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=red:s=32x32", "-frames:v", "1", str(png)],
        check=True,
        timeout=60,
    )
    files["picture.png"] = (png, "no audio")
    return files


def test_bad_files_are_refused_with_a_reason_and_nothing_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    reasons = {}
    for name, (path, expect) in _bad_files(tmp_path).items():
        with pytest.raises(BadAudio) as caught:
            process(path, out / f"{name}.ogg", "opus", 24)
        reasons[name] = caught.value.reason
        assert expect in caught.value.reason, (name, caught.value.reason)
        # What managers read names no server paths nor ffmpeg's internals.
        assert str(tmp_path) not in caught.value.reason and " @ 0x" not in caught.value.reason
    assert os.listdir(out) == [], reasons


def test_a_failed_run_leaves_an_earlier_file_alone(tmp_path: Path) -> None:
    dst = tmp_path / "kept.ogg"
    dst.write_bytes(b"earlier")
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\xff\xfb" + bytes(range(256)) * 8)
    with pytest.raises(BadAudio):
        process(bad, dst, "opus", 24)
    assert dst.read_bytes() == b"earlier"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_not_blamed_on_the_recording(tmp_path: Path) -> None:
    src = write_wav(tmp_path / "call.wav", [Tone(2)])
    # /dev/full fails every write as a full disk does (and ffmpeg 5 still exits 0).
    with pytest.raises(OSError, match="No space left on device") as caught:
        transcode(src, Path("/dev/full"), "opus", 24, 1, 2.0, LevelMeter(8000, 1))
    assert not isinstance(caught.value, BadAudio)


def test_a_link_planted_where_the_result_is_written_is_not_followed(tmp_path: Path) -> None:
    src = write_wav(tmp_path / "call.wav", [Tone(2)])
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "call.ogg.part").symlink_to(victim)
    process(src, out / "call.ogg", "opus", 24)
    assert victim.read_text() == "keep me"
    assert not (out / "call.ogg").is_symlink()
    assert probe(out / "call.ogg")["codec_name"] == "opus"


def _assert_call_figures(audio: ProcessedAudio) -> None:
    figures = audio.figures
    assert figures["talk_seconds"]["caller"] == pytest.approx(8.0, abs=0.15)
    assert figures["talk_seconds"]["clinic"] == pytest.approx(6.0, abs=0.15)
    assert figures["overlap_seconds"] == pytest.approx(2.0, abs=0.15)
    assert figures["silence_share"] == pytest.approx(1 / 13, abs=0.015)
    assert figures["longest_silence_seconds"] == pytest.approx(0.5, abs=0.1)
    assert isinstance(audio.peaks, list) and len(audio.peaks) == 2
