"""Media in and out against the official ltx-pipelines media_io (PyAV, PIL), and its errors."""

import numpy as np
import pytest
import torch
from util import needs_1_2

from ltx.media import (
    cover_and_crop,
    h264_round_trip,
    image_crf,
    image_to_pixels,
    load_image,
    read_audio,
    read_video,
    video_info,
    video_to_pixels,
    write_mp4,
    yuv420p_bt709,
)
from ltx.parity.oracle import ensure_torchaudio, require
from ltx.parity.pipeline_fixtures import pattern_image, write_test_audio, write_test_image, write_test_video

CPU = torch.device("cpu")


def media_io():
    pytest.importorskip("ltx_pipelines", reason="needs the official ltx-pipelines (bash scripts/install.sh --test)")
    ensure_torchaudio()
    return require("ltx_pipelines.utils.media_io")


def _images(folder):
    """Images the official reader treats specially: EXIF-rotated, with an ICC profile, RGBA, grey + alpha."""
    from PIL import Image, ImageCms

    rgb = Image.fromarray(pattern_image(37, 52, seed=3))
    out = {}
    for orientation in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        rgb.save(out.setdefault(f"exif{orientation}", folder / f"exif{orientation}.png"), exif=exif)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb.save(out.setdefault("icc", folder / "icc.png"), icc_profile=srgb)
    rgb.save(out.setdefault("bad-icc", folder / "bad-icc.png"), icc_profile=b"not a profile")
    rgb.convert("RGBA").save(out.setdefault("rgba", folder / "rgba.png"))
    rgb.convert("LA").save(out.setdefault("la", folder / "la.png"))
    rgb.convert("P").save(out.setdefault("palette", folder / "palette.png"))
    return out


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    return {
        "image": write_test_image(d / "i.png", height=101, width=141),
        "video": write_test_video(d / "v.mp4", 17, 64, 96, 24.0),
        "audio": write_test_audio(d / "a.wav", 1.3),
    }


@pytest.mark.oracle
@pytest.mark.parametrize("crf", [0, 33, 18, 20])
@needs_1_2
def test_h264_round_trip_equals_official(crf):
    official = media_io()
    image = pattern_image(51, 77)
    assert np.array_equal(h264_round_trip(image, crf), official.preprocess(image, crf))
    if crf:
        assert h264_round_trip(image, crf).shape == (50, 76, 3)  # odd sizes lose a row and a column
    thin = pattern_image(1, 9)  # under 2 pixels high: left as it is
    assert np.array_equal(h264_round_trip(thin, crf), official.preprocess(thin, crf))
    assert h264_round_trip(thin, 33) is thin


@pytest.mark.oracle
@needs_1_2
def test_image_reading_equals_official(tmp_path):
    official = media_io()
    for name, path in _images(tmp_path).items():
        ours = load_image(path)
        assert ours.dtype == np.uint8 and np.array_equal(ours, official.decode_image(str(path))), name
    assert load_image(tmp_path / "exif6.png").shape == (52, 37, 3)  # turned upright


@pytest.mark.oracle
@pytest.mark.parametrize("size", [(64, 96), (128, 64), (32, 32)])
def test_resize_and_crop_equals_official(size):
    official = media_io()
    frames = torch.rand(3, 50, 70, 3) * 255
    assert torch.equal(cover_and_crop(frames, *size), official.resize_and_center_crop(frames, *size))
    assert torch.equal(cover_and_crop(frames[0], *size), official.resize_and_center_crop(frames[0], *size))


@pytest.mark.oracle
@needs_1_2
def test_image_crf_follows_the_model_version(tmp_path):
    """As ltx-pipelines' detect_params(...).default_image_crf reads a checkpoint's model_version."""
    from safetensors.torch import save_file

    media_io()
    detect_params = require("ltx_pipelines.utils.constants").detect_params
    for version in ("2.0.0", "2.3.0", "2.3.rc1", "2.4-rc2", "2.4.0", "2.5.0", "3", "", "junk", None):
        path = tmp_path / "v.safetensors"
        save_file({"x": torch.zeros(1)}, str(path), metadata=None if version is None else {"model_version": version})
        assert image_crf(version) == detect_params(str(path)).default_image_crf, version
    assert (image_crf("2.3.0"), image_crf("2.5.0")) == (33, 18)


@pytest.mark.oracle
@pytest.mark.parametrize("version", ["2.3.0", "2.5.0"])
@needs_1_2
def test_conditioning_image_and_video_equal_official(media, version):
    official = media_io()
    crf = image_crf(version)
    ref = official.load_image_and_preprocess(str(media["image"]), 64, 96, torch.float32, CPU, crf)
    # values and memory layout: the VAE encoder's convolutions on the GPU pick their kernels by layout
    same = lambda ours, theirs: torch.equal(ours, theirs) and ours.stride() == theirs.stride()  # noqa: E731
    assert same(image_to_pixels(media["image"], 64, 96, model_version=version), ref)
    assert same(image_to_pixels(media["image"], 64, 96, crf=crf), ref)
    frames = official.decode_video_by_frame(str(media["video"]), CPU, frame_cap=9)
    ref = official.video_preprocess(frames, 64, 64, torch.float32, CPU)
    assert same(video_to_pixels(media["video"], 64, 64, 9), ref)
    shape = official.get_videostream_metadata(str(media["video"]))
    assert video_info(media["video"]) == (shape.fps, shape.frames, shape.width, shape.height) == (24.0, 17, 96, 64)


@pytest.mark.oracle
@pytest.mark.parametrize("start, duration", [(0.0, None), (0.25, 0.5), (0.4, None)])
def test_audio_reading_equals_official(media, start, duration):
    official = media_io()
    for path in (media["audio"], media["video"]):
        waveform, rate = read_audio(path, start, duration)
        ref = official.decode_audio_from_file(str(path), torch.device("cpu"), start, duration)
        assert rate == ref.sampling_rate and torch.equal(waveform, ref.waveform[0])


@pytest.mark.oracle
@needs_1_2
def test_mp4_equals_official(tmp_path):
    """The frames as the official encoder converts them (BT.709, limited range, float math, truncation), and the
    file it writes (CRF 19, veryfast): the decoded planes of both files are identical."""
    official = media_io()
    av = pytest.importorskip("av")
    converter = require("ltx_core.color.yuv").yuv420p_bt709_converter_
    types = require("ltx_core.types")
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(9, 48, 64, 3, generator=g)
    frames[:, :8] = torch.linspace(0, 1, 64)[None, None, :, None]  # a ramp: every code level is hit
    assert torch.equal(yuv420p_bt709(frames), converter(frames.movedim(-1, -3).clone()))
    audio = torch.sin(torch.arange(24000 * 9 // 24) / 24000 * 2 * torch.pi * 440).expand(2, -1) * 0.5
    ours = write_mp4(tmp_path / "ours.mp4", [frames[:4], frames[4:]], 24.0, audio, 24000)
    ref = tmp_path / "ref.mp4"
    official.encode_video(iter([frames[:4], frames[4:]]), 24, types.Audio(audio, 24000), str(ref), 2)

    def planes(path):
        with av.open(str(path)) as c:
            return np.stack([f.to_ndarray(format="yuv420p") for f in c.decode(video=0)])

    assert np.array_equal(planes(ours), planes(ref))
    assert torch.equal(read_audio(ours)[0], read_audio(ref)[0])


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
    with pytest.raises(ValueError, match="float in"):
        write_mp4(tmp_path / "z.mp4", torch.zeros(2, 8, 8, 3, dtype=torch.int32), 24.0)
    with pytest.raises(ValueError, match="even height and width"):
        write_mp4(tmp_path / "z.mp4", torch.zeros(2, 8, 9, 3), 24.0)
    with pytest.raises(ValueError, match="stereo"):
        write_mp4(tmp_path / "z.mp4", torch.zeros(2, 8, 8, 3, dtype=torch.uint8), 24.0, torch.zeros(1, 100), 16000)
