"""Media in and out against the official ltx-pipelines media_io (PyAV, PIL), and its errors."""

import numpy as np
import pytest
import torch

from ltx.media import (
    cover_and_crop,
    h264_round_trip,
    image_to_pixels,
    read_audio,
    read_video,
    video_info,
    video_to_pixels,
    write_mp4,
)
from ltx.parity.oracle import ensure_torchaudio, require
from ltx.parity.pipeline_fixtures import pattern_image, write_test_audio, write_test_image, write_test_video

pytest.importorskip("ltx_core")
ensure_torchaudio()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    return {
        "image": write_test_image(d / "i.png", height=101, width=141),
        "video": write_test_video(d / "v.mp4", 17, 64, 96, 24.0),
        "audio": write_test_audio(d / "a.wav", 1.3),
    }


@pytest.mark.parametrize("crf", [0, 33, 20])
def test_h264_round_trip_equals_official(crf):
    official = require("ltx_pipelines.utils.media_io")
    image = pattern_image(51, 77)
    assert np.array_equal(h264_round_trip(image, crf), official.preprocess(image, crf))
    if crf:
        assert h264_round_trip(image, crf).shape == (50, 76, 3)  # odd sizes lose a row and a column


@pytest.mark.parametrize("size", [(64, 96), (128, 64), (32, 32)])
def test_resize_and_crop_equals_official(size):
    official = require("ltx_pipelines.utils.media_io")
    frames = torch.rand(3, 50, 70, 3) * 255
    assert torch.equal(cover_and_crop(frames, *size), official.resize_and_center_crop(frames, *size))
    assert torch.equal(cover_and_crop(frames[0], *size), official.resize_and_center_crop(frames[0], *size))


def test_conditioning_image_and_video_equal_official(media):
    official = require("ltx_pipelines.utils.media_io")
    ref = official.load_image_conditioning(str(media["image"]), 64, 96, torch.float32, torch.device("cpu"))
    assert torch.equal(image_to_pixels(media["image"], 64, 96), ref)
    ref = official.load_video_conditioning(str(media["video"]), 64, 64, 9, torch.float32, torch.device("cpu"))
    assert torch.equal(video_to_pixels(media["video"], 64, 64, 9), ref)
    assert video_info(media["video"]) == official.get_videostream_metadata(str(media["video"])) == (24.0, 17, 96, 64)


@pytest.mark.parametrize("start, duration", [(0.0, None), (0.25, 0.5), (0.4, None)])
def test_audio_reading_equals_official(media, start, duration):
    official = require("ltx_pipelines.utils.media_io")
    for path in (media["audio"], media["video"]):
        waveform, rate = read_audio(path, start, duration)
        ref = official.decode_audio_from_file(str(path), torch.device("cpu"), start, duration)
        assert rate == ref.sampling_rate and torch.equal(waveform, ref.waveform[0])


def test_mp4_round_trip(tmp_path):
    frames = torch.from_numpy(np.stack([pattern_image(64, 96, seed=i) for i in range(9)]))
    audio = torch.sin(torch.arange(24000 * 9 // 24) / 24000 * 2 * torch.pi * 440).expand(2, -1) * 0.5
    path = write_mp4(tmp_path / "x.mp4", frames, 24.0, audio, 24000)
    assert video_info(path) == (24.0, 9, 96, 64)
    back = read_video(path)
    assert back.shape == frames.shape and (back.float() - frames.float()).abs().mean() < 12  # lossy H.264
    wave, rate = read_audio(path)
    assert rate == 24000 and wave.shape[0] == 2 and abs(wave.shape[1] - audio.shape[1]) <= 2048
    write_mp4(tmp_path / "y.mp4", [frames[:4], frames[4:]], 24.0)  # chunks, no audio
    assert video_info(tmp_path / "y.mp4")[1] == 9 and read_audio(tmp_path / "y.mp4") is None


def test_media_errors(tmp_path, media):
    with pytest.raises(FileNotFoundError, match="no such image"):
        image_to_pixels(tmp_path / "missing.png", 64, 64)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not an image"):
        image_to_pixels(tmp_path / "bad.png", 64, 64)
    with pytest.raises(ValueError, match="uint8"):
        image_to_pixels(np.zeros((4, 4, 3), np.float32), 64, 64)
    with pytest.raises(FileNotFoundError, match="no such video"):
        video_info(tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match="has no video stream"):
        video_info(media["audio"])
    with pytest.raises(ValueError, match="uint8"):
        write_mp4(tmp_path / "z.mp4", torch.zeros(2, 8, 8, 3), 24.0)
    with pytest.raises(ValueError, match="stereo"):
        write_mp4(tmp_path / "z.mp4", torch.zeros(2, 8, 8, 3, dtype=torch.uint8), 24.0, torch.zeros(1, 100), 16000)
