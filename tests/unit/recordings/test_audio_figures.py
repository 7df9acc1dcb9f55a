"""Figures from synthetic PCM: known stretches of tone and silence give known seconds."""

from __future__ import annotations

import math
import random
import struct

import pytest

from recordings.audio_figures import LevelMeter, Levels, figures, sides_for_direction, threshold_db

RATE = 8000


def tone(seconds: float, dbfs: float = -12.0, frequency: int = 400) -> list[int]:
    """A sine ``dbfs`` loud (RMS); frequencies dividing 8000 repeat one period, which keeps it quick."""
    amplitude = 32767 * 10 ** (dbfs / 20) * math.sqrt(2)
    period = RATE // frequency
    one = [
        max(-32768, min(32767, round(amplitude * math.sin(2 * math.pi * i / period)))) for i in range(period)
    ]
    count = int(seconds * RATE)
    return (one * (count // period + 1))[:count]


def noise(seconds: float, dbfs: float, seed: int = 1) -> list[int]:
    rng = random.Random(seed)  # noqa: S311 - test noise, not secrets
    sigma = 32767 * 10 ** (dbfs / 20)
    return [max(-32768, min(32767, round(rng.gauss(0, sigma)))) for _ in range(int(seconds * RATE))]


def silence(seconds: float) -> list[int]:
    return [0] * int(seconds * RATE)


def pcm(*channels: list[int]) -> bytes:
    length = max(len(c) for c in channels)
    padded = [c + [0] * (length - len(c)) for c in channels]
    interleaved = [sample for frame in zip(*padded, strict=True) for sample in frame]
    return struct.pack(f"<{len(interleaved)}h", *interleaved)


def measure(*channels: list[int], chunk: int | None = None) -> Levels:
    meter = LevelMeter(RATE, len(channels))
    data = pcm(*channels)
    step = chunk or len(data)
    for start in range(0, len(data), step):
        meter.feed(data[start : start + step])
    return meter.finish()


def test_mono_tone_silence_tone() -> None:
    found = figures(measure(tone(2) + silence(3) + tone(1)))
    assert found.duration_seconds == 6.0
    assert found.silence_share == pytest.approx(0.5, abs=0.02)
    assert found.longest_silence_seconds == pytest.approx(3.0, abs=0.05)
    assert found.talk_seconds is None
    assert found.overlap_seconds is None
    assert found.as_json()["talk_seconds"] is None


def test_chunks_of_any_size_give_the_same_levels() -> None:
    samples = tone(1.3) + silence(0.77) + noise(0.5, -20)
    whole = measure(samples, samples)
    pieces = measure(samples, samples, chunk=7)
    assert pieces == whole
    assert whole.samples == len(samples)


def test_two_channels_talk_per_side_and_overlap() -> None:
    caller = tone(3, frequency=250) + silence(3)
    clinic = silence(2) + tone(3, frequency=500) + silence(1)
    found = figures(measure(caller, clinic))
    assert found.talk_seconds == pytest.approx((3.0, 3.0), abs=0.05)
    assert found.overlap_seconds == pytest.approx(1.0, abs=0.05)
    assert found.silence_share == pytest.approx(1 / 6, abs=0.02)
    assert found.longest_silence_seconds == pytest.approx(1.0, abs=0.05)
    caller_seconds, clinic_seconds = found.talk_seconds or (None, None)
    assert found.as_json()["talk_seconds"] == {"caller": caller_seconds, "clinic": clinic_seconds}


def test_each_side_is_judged_by_its_own_level() -> None:
    # The caller's line is 30 dB quieter than the clinic's; their words still count.
    caller = tone(2, dbfs=-45) + silence(4)
    clinic = silence(3) + tone(2, dbfs=-10) + silence(1)
    found = figures(measure(caller, clinic))
    assert found.talk_seconds == pytest.approx((2.0, 2.0), abs=0.05)
    assert found.overlap_seconds == 0


def test_line_hiss_is_silence_not_talk() -> None:
    hiss = noise(8, -50)
    words = silence(2) + tone(3, dbfs=-15) + silence(3)
    found = figures(measure([h + w for h, w in zip(hiss, words, strict=True)]))
    assert found.silence_share == pytest.approx(5 / 8, abs=0.03)
    assert found.longest_silence_seconds == pytest.approx(3.0, abs=0.05)


def test_pauses_between_words_are_talk_and_a_click_is_not() -> None:
    words = []
    for _ in range(8):
        words += tone(0.4) + silence(0.2)
    click = tone(0.04, dbfs=-3)
    found = figures(measure(silence(2) + click + silence(2) + words + silence(2)))
    # 8 words with 7 short pauses between them: 4.6 s of talk; everything else silent.
    talk = 4.6
    total = 4.04 + 4.8 + 2
    assert found.silence_share == pytest.approx((total - talk) / total, abs=0.02)
    assert found.longest_silence_seconds == pytest.approx(4.04, abs=0.05)


def test_a_mono_recording_stored_in_two_channels_has_no_sides() -> None:
    voice = tone(2) + silence(2) + noise(2, -20)
    found = figures(measure(voice, voice))
    assert found.channels == 2
    assert found.talk_seconds is None
    assert found.overlap_seconds is None
    # A lossy codec hands back two slightly different copies: still one voice.
    copy = [round(s * 0.98) + (i % 3) - 1 for i, s in enumerate(voice)]
    assert figures(measure(voice, copy)).talk_seconds is None


def test_one_side_louder_than_the_other_is_two_sides() -> None:
    found = figures(measure(tone(2) + silence(2), tone(2, dbfs=-30) + silence(2)))
    assert found.talk_seconds == pytest.approx((2.0, 2.0), abs=0.05)


def test_a_few_words_in_a_long_silence_are_still_one_side() -> None:
    found = figures(measure(silence(60) + tone(0.5) + silence(10), silence(71)))
    assert found.talk_seconds == pytest.approx((0.5, 0.0), abs=0.05)


def test_nothing_but_silence() -> None:
    found = figures(measure(silence(5)))
    assert found.silence_share == 1.0
    assert found.longest_silence_seconds == pytest.approx(5.0, abs=0.05)
    assert found.peaks == [0] * 250


def test_continuous_talk_has_no_silence() -> None:
    found = figures(measure(noise(10, -20)))
    assert found.silence_share == 0.0
    assert found.longest_silence_seconds == 0.0


def test_peaks_follow_the_loudness_and_keep_the_sides_apart() -> None:
    caller = tone(20, dbfs=-6) + silence(20)
    clinic = silence(20) + tone(20, dbfs=-26)
    peaks = figures(measure(caller, clinic)).peaks
    assert len(peaks) == 2
    left, right = (side for side in peaks if isinstance(side, list))
    assert len(left) == len(right) == 1000
    assert all(0 <= p <= 100 for p in left + right)
    assert left[:500] == [100] * 500 and set(left[500:]) == {0}
    # 20 dB quieter: a tenth of the height, on the same scale.
    assert set(right[:500]) == {0} and all(9 <= p <= 11 for p in right[500:])


def test_a_whisper_is_not_blown_up_to_full_height() -> None:
    peaks = figures(measure(tone(2, dbfs=-60) + silence(1))).peaks
    assert all(isinstance(p, int) and p <= 5 for p in peaks)


def test_short_recordings_get_a_peak_per_frame() -> None:
    assert len(figures(measure(tone(0.5))).peaks) == 25


def test_threshold_has_an_absolute_floor() -> None:
    assert threshold_db([-120.0] * 100) == -55.0
    assert threshold_db([-90.0] * 90 + [-70.0] * 10) == -55.0
    # Speech at -20 over a noise floor at -50: between the two, well above the noise.
    assert -50 < threshold_db([-50.0] * 60 + [-20.0] * 40) < -20


def test_odd_bytes_at_the_end_are_ignored() -> None:
    meter = LevelMeter(RATE, 2)
    meter.feed(pcm(tone(0.1), tone(0.1)) + b"\x01\x02\x03")
    assert meter.finish().samples == 800


def test_on_a_call_the_clinic_placed_channel_0_is_the_clinic() -> None:
    measured = figures(measure(tone(3) + silence(2), silence(3) + tone(1))).as_json()
    assert measured["talk_seconds"] == {"caller": 3.0, "clinic": 1.0}
    assert sides_for_direction(measured, "inbound") == measured
    swapped = sides_for_direction(measured, "outbound")
    assert swapped is not None
    assert swapped["talk_seconds"] == {"caller": 1.0, "clinic": 3.0}
    assert swapped["overlap_seconds"] == measured["overlap_seconds"]
    mono = figures(measure(tone(1))).as_json()
    assert sides_for_direction(mono, "outbound") == mono
    assert sides_for_direction(None, "outbound") is None
