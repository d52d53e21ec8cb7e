"""The video VAE and latent upsamplers against ltx-core (LTX-2) and ltx-video (LTX-Video)."""

import json
from pathlib import Path

import pytest
import torch
from util import failed_rows, rewrite

from ltx import Checkpoint, CheckpointError
from ltx.config import VAE_PRESETS, ConfigError, VideoVAEConfig
from ltx.parity.fixtures import TINY, UPSAMPLERS, write_tiny_upsampler
from ltx.parity.vae import upsampler_parity, vae_parity
from ltx.vae import (
    Tiling,
    VideoDecoder,
    VideoEncoder,
    adain,
    decode,
    from_uint8,
    load_latent_upsampler,
    load_video_decoder,
    load_video_encoder,
    tiled_decode,
    to_uint8,
)

pytest.importorskip("ltx_core", reason="the official ltx-core is the oracle")
pytest.importorskip("ltx_video", reason="the official ltx-video is the oracle")

VAE_FILES = [name for name, spec in TINY.items() if spec.vae is not None]
MANIFESTS = Path(__file__).resolve().parent.parent / "weights" / "manifests"


@pytest.mark.parametrize("name", VAE_FILES)
def test_vae_fp32_bitwise(tiny, name):
    rows = vae_parity(tiny[name])
    assert not failed_rows(rows)
    assert max(r.rel for r in rows) == 0.0
    cfg = TINY[name].vae
    names = {r.name for r in rows}
    assert {"encode/conv_in", "encode/out", "decode/conv_out.conv", "decode/out"} <= names
    assert ("decode_t_per_sample/out" in names) == cfg.timestep_conditioning
    assert any(n.startswith("tiled_decode/chunk") for n in names) == (cfg.family == "ltx2")


def test_vae_bf16_within_twice_official_error(tiny):
    rows = vae_parity(tiny["ltx-video-0.9.1-tiny"], dtype=torch.bfloat16)
    assert not failed_rows(rows)
    assert all(r.ref_rel > 0 for r in rows)


@pytest.mark.parametrize("name", list(UPSAMPLERS))
def test_upsamplers_fp32_bitwise(tiny, tmp_path, name):
    path = write_tiny_upsampler(name, tmp_path / f"{name}.safetensors")
    rows = upsampler_parity(path, tiny[UPSAMPLERS[name].vae])
    assert not failed_rows(rows) and max(r.rel for r in rows) == 0.0


def test_a_wrong_decoder_weight_fails_exactly_downstream(tiny):
    def edit(encoder, decoder):
        decoder.up_blocks[4].res_blocks[0].conv2.conv.bias.data[0] += 1e-3

    rows = vae_parity(tiny["ltx-2.3-tiny"], edit_ours=edit)
    failed = failed_rows(rows)
    assert not any(n.startswith(("encode/", "tiled_encode/")) for n in failed)  # the encoder is untouched
    for case in ("decode", "decode_t_per_sample"):
        assert {f"{case}/up_blocks.{i}" for i in range(4)}.isdisjoint(failed)  # upstream of block 4
        assert {f"{case}/up_blocks.4", f"{case}/up_blocks.5", f"{case}/conv_out.conv", f"{case}/out"} <= failed
    assert any(n.startswith("tiled_decode/") for n in failed)


def test_a_wrong_encoder_weight_fails(tiny):
    def edit(encoder, decoder):
        encoder.per_channel_statistics.get_buffer("std-of-means")[3] *= 1.001

    failed = failed_rows(vae_parity(tiny["ltx-video-0.9.0-tiny"], edit_ours=edit))
    assert failed == {"encode/out"}  # only the final normalisation reads the statistics


@pytest.mark.parametrize("preset", list(VAE_PRESETS))
def test_full_size_vae_matches_official_manifest(preset):
    manifest = json.loads((MANIFESTS / f"{preset}.vae.json").read_text())["tensors"]
    cfg = VAE_PRESETS[preset]
    with torch.device("meta"):
        halves = {"encoder": VideoEncoder(cfg), "decoder": VideoDecoder(cfg)}
    ours = {}
    for part, module in halves.items():
        for name, t in module.state_dict().items():
            key = (
                f"vae.{name}"
                if name.startswith(("per_channel_statistics.", "quant_conv.", "post_quant_conv."))
                else f"vae.{part}.{name}"
            )
            ours[key] = list(t.shape)
    assert ours == {k: v[0] for k, v in manifest.items()}


def test_ltx_video_0_9_x_parameter_counts():
    count = lambda cfg: sum(p.numel() for m in (VideoEncoder(cfg), VideoDecoder(cfg)) for p in m.parameters())  # noqa: E731
    with torch.device("meta"):
        assert count(VAE_PRESETS["ltx-video-0.9.1"]) == 934_976_434
        assert count(VAE_PRESETS["ltx-video-0.9.5"]) == 1_246_913_522


# -- loading -------------------------------------------------------------------------------------
def test_loader_lists_missing_unexpected_and_misshaped(tiny, tmp_path):
    def edit(t):
        del t["vae.decoder.up_blocks.0.res_blocks.0.conv1.conv.bias"]
        t["vae.decoder.up_blocks.0.extra"] = torch.zeros(1)
        t["vae.per_channel_statistics.mean-of-means"] = torch.zeros(127)

    path = rewrite(tiny["ltx-2.0-tiny"], tmp_path / "bad.safetensors", edit)
    with pytest.raises(CheckpointError) as e:
        load_video_decoder(path)
    msg = str(e.value)
    assert "1 missing: vae.decoder.up_blocks.0.res_blocks.0.conv1.conv.bias" in msg
    assert "1 unexpected: vae.decoder.up_blocks.0.extra" in msg
    assert "vae.per_channel_statistics.mean-of-means: file (127,), model (128,)" in msg
    load_video_encoder(
        rewrite(tiny["ltx-2.0-tiny"], tmp_path / "ok.safetensors", lambda t: t.pop("vae.decoder.conv_in.conv.bias"))
    )


def test_loader_errors_for_files_without_a_vae_or_a_family(tiny, tmp_path):
    with pytest.raises(CheckpointError, match="holds no video VAE"):
        load_video_decoder(tiny["ltx-2.0-fp8-cast-tiny"])
    ckpt = Checkpoint(tiny["ltx-video-0.9.1-tiny"])
    path = rewrite(ckpt.path, tmp_path / "noversion.safetensors", metadata={"config": ckpt.metadata["config"]})
    with pytest.raises(CheckpointError, match="pass family='ltx2' or family='ltxv'"):
        load_video_decoder(path)
    assert load_video_decoder(path, family="ltxv").cfg.family == "ltxv"
    path = rewrite(ckpt.path, tmp_path / "noconfig.safetensors", metadata={"model_version": "0.9.1"})
    with pytest.raises(CheckpointError, match="no 'config' metadata with a 'vae' section"):
        load_video_decoder(path)


def test_config_defaults_differ_by_family():
    section = {"latent_channels": 128, "encoder_blocks": [["res_x", 1]], "decoder_blocks": [["res_x", 1]]}
    ltx2, ltxv = VideoVAEConfig.from_metadata(section, "ltx2"), VideoVAEConfig.from_metadata(section, "ltxv")
    assert (ltx2.encoder_padding, ltx2.decoder_padding, ltx2.timestep_conditioning) == ("zeros", "reflect", True)
    assert (ltxv.encoder_padding, ltxv.decoder_padding, ltxv.timestep_conditioning) == ("zeros", "zeros", False)
    assert (ltx2.patch_size, ltxv.patch_size, ltxv.norm_layer, ltxv.latent_log_var) == (
        4,
        1,
        "group_norm",
        "per_channel",
    )
    with pytest.raises(ConfigError, match="unsupported decoder block 'attn_res_x'"):
        VideoVAEConfig.from_metadata({**section, "decoder_blocks": [["attn_res_x", {"num_layers": 1}]]}, "ltx2")
    with pytest.raises(ConfigError, match="only 3-D"):
        VideoVAEConfig.from_metadata({**section, "dims": 2}, "ltx2")


def test_upsampler_file_errors(tiny, tmp_path):
    path = write_tiny_upsampler("ltx-2-upsampler-x1.5-tiny", tmp_path / "up.safetensors")
    stripped = rewrite(path, tmp_path / "nokernel.safetensors", lambda t: t.pop("upsampler.blur_down.kernel"))
    assert load_latent_upsampler(stripped).cfg.spatial_scale == 1.5  # a constant the file may leave out
    wrong = rewrite(path, tmp_path / "badkernel.safetensors", lambda t: t["upsampler.blur_down.kernel"].mul_(2))
    with pytest.raises(CheckpointError, match="binomial"):
        load_latent_upsampler(wrong)
    with pytest.raises(CheckpointError, match="no 'config' metadata"):
        load_latent_upsampler(rewrite(path, tmp_path / "nometa.safetensors", metadata={}))


# -- behaviour -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tc_vae(tiny):
    return load_video_encoder(tiny["ltx-2.3-tiny"]), load_video_decoder(tiny["ltx-2.3-tiny"])


def test_frame_and_size_rules(tc_vae):
    encoder, decoder = tc_vae
    with pytest.raises(ValueError, match=r"16 frames: the VAE needs 1 \+ 8k frames \(e.g. 9 or 17\)"):
        encoder(torch.zeros(1, 3, 16, 32, 32))
    with pytest.raises(ValueError, match="multiples of 32"):
        encoder(torch.zeros(1, 3, 9, 32, 48))
    assert encoder(torch.rand(1, 3, 12, 32, 32), crop=True).shape == (1, 128, 2, 1, 1)
    with pytest.raises(ValueError, match=r"latent must be \(B, 128"):
        decoder(torch.zeros(1, 64, 2, 1, 1))
    with pytest.raises(ValueError, match="at least 2 x 2"):
        decoder(torch.zeros(1, 128, 2, 1, 2))
    assert decoder(torch.randn(1, 128, 3, 2, 3), generator=torch.Generator().manual_seed(0)).shape == (1, 3, 17, 64, 96)


def test_decode_noise_comes_from_the_generator(tc_vae):
    _, decoder = tc_vae
    latent = torch.randn(1, 128, 2, 2, 2)
    run = lambda seed: decoder(latent, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))


def test_tiled_decode_yields_chunks_that_make_the_whole(tc_vae):
    _, decoder = tc_vae
    latent = torch.randn(1, 128, 7, 3, 4, generator=torch.Generator().manual_seed(0))
    tiling = Tiling(tile_px=64, overlap_px=32, tile_frames=24, overlap_frames=8)
    chunks = list(tiled_decode(decoder, latent, tiling, generator=torch.Generator().manual_seed(1)))
    assert len(chunks) > 1 and sum(c.shape[2] for c in chunks) == 49
    whole = decode(decoder, latent, tiling, generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.cat(chunks, dim=2), whole)
    # Spatial-only tiling (ltx-core needs a temporal tile too) and no-op tiles give the untiled result.
    plain = decoder(latent, generator=torch.Generator().manual_seed(2))
    one_tile = decode(
        decoder, latent, Tiling(tile_px=4096, tile_frames=None), generator=torch.Generator().manual_seed(2)
    )
    torch.testing.assert_close(one_tile, plain)


def test_uint8_round_trip():
    frames = torch.randint(0, 256, (2, 9, 32, 32, 3), dtype=torch.uint8)
    video = from_uint8(frames)
    assert video.shape == (2, 3, 9, 32, 32) and video.min() >= -1 and video.max() <= 1
    assert torch.equal(to_uint8(video), frames) or (to_uint8(video).int() - frames.int()).abs().max() <= 1


def test_adain_matches_official_formula():
    pipe = pytest.importorskip("ltx_video.pipelines.pipeline_ltx_video")
    g = torch.Generator().manual_seed(0)
    latent, reference = torch.randn(2, 8, 3, 4, 5, generator=g) * 3 + 1, torch.randn(2, 8, 3, 4, 5, generator=g)
    for factor in (1.0, 0.5):
        torch.testing.assert_close(
            adain(latent, reference, factor), pipe.adain_filter_latent(latent, reference, factor), rtol=1e-6, atol=1e-6
        )


def test_chunked_convolutions_compute_the_same_decode(tiny):
    """With chunking on (tiny chunks here), the decode and encode agree with the unchunked ones to
    float32 rounding, noise injection included."""
    from ltx.vae import chunk_convolutions

    encoder, decoder = load_video_encoder(tiny["ltx-2.3-tiny"]), load_video_decoder(tiny["ltx-2.0-tiny"])
    causal = load_video_decoder(tiny["ltx-2.3-tiny"])  # causal, timestep-conditioned, noise-injecting
    latent = torch.randn(2, 128, 4, 2, 3, generator=torch.Generator().manual_seed(0))
    video = torch.rand(1, 3, 17, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1

    def run():
        return decoder(latent), encoder(video), causal(latent, generator=torch.Generator().manual_seed(2))

    plain = run()
    for module in (encoder, decoder, causal):
        chunk_convolutions(module, 4096 / 2**20)
    assert decoder.up_blocks[-1].res_blocks[0].conv1.chunk_frames(torch.zeros(2, 16, 25, 16, 24)) == 1
    chunked = run()
    for a, b in zip(chunked, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
