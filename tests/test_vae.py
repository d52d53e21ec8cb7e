"""The video VAE and latent upsamplers against ltx-core 1.2.0 (LTX-2, LTX-2.5 files) and ltx-video (LTX-Video)."""

import json
from pathlib import Path

import pytest
import torch
from util import failed_rows, needs_1_2, rewrite

from ltx import Checkpoint, CheckpointError
from ltx.config import VAE_PRESETS, ConfigError, UpsamplerConfig, VideoVAEConfig
from ltx.config.vae import LTX2_5_CONV_VAE, UPSAMPLER_PRESETS
from ltx.parity.fixtures import TINY, UPSAMPLERS, write_tiny_upsampler
from ltx.parity.oracle import at_least
from ltx.parity.vae import upsampler_parity, vae_parity
from ltx.parity.vae_fixtures import UPSCALERS_2_5, VAE_2_5, VAE_2_5_FILES, write_all_2_5
from ltx.vae import (
    Tiling,
    VideoDecoder,
    VideoEncoder,
    adain,
    decode,
    from_uint8,
    latent_frames,
    load_latent_upsampler,
    load_video_decoder,
    load_video_encoder,
    tiled_decode,
    tiled_encode,
    to_uint8,
)
from ltx.vae.upsampler import LatentUpsampler

pytest.importorskip("ltx_core", reason="the official ltx-core is the oracle")
pytest.importorskip("ltx_video", reason="the official ltx-video is the oracle")

VAE_FILES = [name for name, spec in TINY.items() if spec.vae is not None]
MANIFESTS = Path(__file__).resolve().parent.parent / "weights" / "manifests"
# ltx-core 1.2.0 pipelines' default decoder: channels-last, the same arithmetic in another layout (<= 1e-5).
MEMORY_EFFICIENT = "decode_memory_efficient/out"


@pytest.fixture(scope="module")
def files_2_5(tmp_path_factory):
    """name -> path of the tiny LTX-2.5 VAE and upscaler files (split layout)."""
    return write_all_2_5(tmp_path_factory.mktemp("vae25"))


@pytest.mark.oracle
@pytest.mark.parametrize("name", VAE_FILES)
def test_vae_fp32_bitwise(tiny, name):
    rows = vae_parity(tiny[name])
    assert not failed_rows(rows)
    assert max(r.rel for r in rows if r.name != MEMORY_EFFICIENT) == 0.0
    cfg = TINY[name].vae
    names = {r.name for r in rows}
    assert {"encode/conv_in", "encode/out", "decode/conv_out.conv", "decode/out"} <= names
    assert ("decode_t_per_sample/out" in names) == cfg.timestep_conditioning
    tiled = {"tiled_decode/chunk0", "tiled_decode/chunk1", "decode_video/chunk1", "tiled_encode/out", MEMORY_EFFICIENT}
    assert (tiled <= names) == (cfg.family == "ltx2" and at_least("1.2.0"))


@pytest.mark.oracle
def test_vae_bf16_within_twice_official_error(tiny):
    rows = vae_parity(tiny["ltx-video-0.9.1-tiny"], dtype=torch.bfloat16)
    assert not failed_rows(rows)
    assert all(r.ref_rel > 0 for r in rows)


@pytest.mark.oracle
@pytest.mark.parametrize("name", list(UPSAMPLERS))
def test_upsamplers_fp32_bitwise(tiny, tmp_path, name):
    path = write_tiny_upsampler(name, tmp_path / f"{name}.safetensors")
    rows = upsampler_parity(path, tiny[UPSAMPLERS[name].vae])
    assert not failed_rows(rows) and max(r.rel for r in rows) == 0.0


@pytest.mark.oracle
def test_a_wrong_decoder_weight_fails_exactly_downstream(tiny):
    def edit(encoder, decoder):
        decoder.up_blocks[4].res_blocks[0].conv2.conv.bias.data[0] += 1e-3

    rows = vae_parity(tiny["ltx-2.3-tiny"], edit_ours=edit)
    failed = failed_rows(rows)
    assert not any(n.startswith(("encode/", "tiled_encode/")) for n in failed)  # the encoder is untouched
    for case in ("decode", "decode_t_per_sample"):
        assert {f"{case}/up_blocks.{i}" for i in range(4)}.isdisjoint(failed)  # upstream of block 4
        assert {f"{case}/up_blocks.4", f"{case}/up_blocks.5", f"{case}/conv_out.conv", f"{case}/out"} <= failed
    if at_least("1.2.0"):  # the tiled decode is compared with ltx-core 1.2.0's only (1.0.0 tiled differently)
        assert any(n.startswith("tiled_decode/") for n in failed)


@pytest.mark.oracle
def test_a_wrong_encoder_weight_fails(tiny):
    def edit(encoder, decoder):
        encoder.per_channel_statistics.get_buffer("std-of-means")[3] *= 1.001

    failed = failed_rows(vae_parity(tiny["ltx-video-0.9.0-tiny"], edit_ours=edit))
    assert failed == {"encode/out"}  # only the final normalisation reads the statistics


@pytest.mark.oracle
@needs_1_2
def test_2_5_conv_vae_with_attention_fp32_bitwise(files_2_5):
    """Bare keys, attn blocks in both halves, 16x16x4 compression from the block list."""
    rows = vae_parity(files_2_5["ltx-2.5-conv-vae-tiny"])
    assert not failed_rows(rows) and max(r.rel for r in rows if r.name != MEMORY_EFFICIENT) == 0.0
    names = {r.name for r in rows}
    attn = [i for i, (n, _) in enumerate(VAE_2_5.encoder_blocks) if n == "attn"]
    assert {f"encode/down_blocks.{i}" for i in attn} <= names
    attn = [i for i, (n, _) in enumerate(reversed(VAE_2_5.decoder_blocks)) if n == "attn"]
    assert {f"decode/up_blocks.{i}" for i in attn} | {"tiled_decode/chunk1", "tiled_encode/out"} <= names
    assert (VAE_2_5.time_scale, VAE_2_5.space_scale, VAE_2_5.decoder_width) == (4, 16, 64)


@pytest.mark.oracle
@needs_1_2
def test_2_5_conv_vae_bf16_within_twice_official_error(files_2_5):
    """Attention in bf16 too; the official side runs the decoder's scalar multiplier in bf16, as from a shipped file."""
    rows = vae_parity(files_2_5["ltx-2.5-conv-vae-tiny"], dtype=torch.bfloat16)
    assert not failed_rows(rows) and all(r.ref_rel > 0 for r in rows)


@pytest.mark.oracle
@needs_1_2
def test_diffusion_vae_file_encoder_fp32_bitwise_and_decoder_refused(files_2_5):
    path = files_2_5["ltx-2.5-diffusion-vae-encoder-tiny"]
    rows = vae_parity(path)  # the encoder, from the nested `vae.encoder` config
    assert not failed_rows(rows) and max(r.rel for r in rows) == 0.0
    assert {r.name.split("/")[0] for r in rows} == {"encode", "tiled_encode"}
    with pytest.raises(CheckpointError, match="diffusion model .*load_diffusion_decoder"):
        load_video_decoder(path)
    with pytest.raises(ConfigError, match="diffusion model"):
        VideoDecoder(VAE_2_5_FILES["ltx-2.5-diffusion-vae-encoder-tiny"])


@pytest.mark.oracle
@needs_1_2
def test_2_5_vae_file_loads_with_or_without_the_vae_prefix(files_2_5, tmp_path):
    bare = files_2_5["ltx-2.5-conv-vae-tiny"]
    prefix = lambda t: t.update({f"vae.{k}": t.pop(k) for k in list(t)})  # noqa: E731
    prefixed = rewrite(bare, tmp_path / "prefixed.safetensors", prefix)
    assert "vae.encoder.conv_in.conv.weight" in Checkpoint(prefixed).tensors
    for load in (load_video_encoder, load_video_decoder):
        a, b = load(bare).state_dict(), load(prefixed).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    extra = rewrite(bare, tmp_path / "extra.safetensors", lambda t: t.update({"decoder.stray": torch.zeros(1)}))
    with pytest.raises(CheckpointError, match="1 unexpected: decoder.stray"):
        load_video_decoder(extra)


@pytest.mark.oracle
@needs_1_2
@pytest.mark.parametrize("name", list(UPSCALERS_2_5))
def test_2_5_upscalers_fp32_bitwise(files_2_5, name):
    spec = UPSCALERS_2_5[name]
    rows = upsampler_parity(files_2_5[name], files_2_5[spec.vae])  # un-normalised with that file's statistics
    assert not failed_rows(rows) and max(r.rel for r in rows) == 0.0
    out = next(r for r in rows if r.name == "upsample/out")
    frames = 3  # the parity latent's
    expected = (2, 128, 2 * frames - 1, 4, 6) if spec.config.temporal_upsample else (2, 128, frames, 8, 12)
    assert out.shape == expected


@pytest.mark.oracle
@needs_1_2
def test_a_wrong_attention_weight_fails_exactly_downstream(files_2_5):
    blocks = list(reversed(VAE_2_5.decoder_blocks))
    i = next(k for k, (n, _) in enumerate(blocks) if n == "attn")

    def edit(encoder, decoder):
        decoder.up_blocks[i].proj.bias.data[0] += 1e-3

    failed = failed_rows(vae_parity(files_2_5["ltx-2.5-conv-vae-tiny"], edit_ours=edit))
    assert not any(n.startswith(("encode/", "tiled_encode/")) for n in failed)
    for case in ("decode", "decode_t_per_sample"):
        assert {f"{case}/up_blocks.{k}" for k in range(i)}.isdisjoint(failed)
        assert {f"{case}/up_blocks.{k}" for k in range(i, len(blocks))} | {f"{case}/out"} <= failed


def test_full_size_2_5_files_match_official_manifests():
    """The 2.5 conv VAE (bare keys; LTX-2's layout assumed) and both upscalers (assumed configs)."""
    manifest = json.loads((MANIFESTS / "ltx-2.5-conv.vae.json").read_text())
    assert manifest["config"]["vae"] == LTX2_5_CONV_VAE.to_metadata()
    with torch.device("meta"):
        halves = {"encoder": VideoEncoder(LTX2_5_CONV_VAE), "decoder": VideoDecoder(LTX2_5_CONV_VAE)}
    ours = {
        name if name.startswith("per_channel_statistics.") else f"{part}.{name}": list(t.shape)
        for part, module in halves.items()
        for name, t in module.state_dict().items()
    }
    assert ours == {k: v[0] for k, v in manifest["tensors"].items()}
    for name, cfg in UPSAMPLER_PRESETS.items():
        manifest = json.loads((MANIFESTS / f"{name}.upsampler.json").read_text())
        assert UpsamplerConfig.from_metadata(manifest["config"]) == cfg
        with torch.device("meta"):
            module = LatentUpsampler(cfg)
        expected = {k: v[0] for k, v in manifest["tensors"].items()}
        assert {k: list(t.shape) for k, t in module.state_dict().items()} == expected
        assert sum(p.numel() for p in module.parameters()) == manifest["parameters"]


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
    with pytest.raises(CheckpointError, match="this slot expects a video VAE file"):
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
    with pytest.raises(ConfigError, match="block 'attn_res_x' cannot be built: ltx-core"):
        VideoVAEConfig.from_metadata({**section, "decoder_blocks": [["attn_res_x", {"num_layers": 1}]]}, "ltx2")
    with pytest.raises(ConfigError, match="'attn' blocks exist only in ltx-core"):
        VideoVAEConfig.from_metadata({**section, "decoder_blocks": [["attn", {}]]}, "ltxv")
    with pytest.raises(ConfigError, match="unsupported encoder block 'attn_x'"):
        VideoVAEConfig.from_metadata({**section, "encoder_blocks": [["attn_x", {}]]}, "ltx2")
    mismatch = {**section, "encoder_blocks": [["compress_all_res", {}]], "decoder_blocks": [["compress_space", {}]]}
    with pytest.raises(ConfigError, match=r"by \(2, 8\) but the decoder expands by \(1, 8\)"):
        VideoVAEConfig.from_metadata(mismatch, "ltx2")
    with pytest.raises(ConfigError, match="only 3-D"):
        VideoVAEConfig.from_metadata({**section, "dims": 2}, "ltx2")


@pytest.mark.oracle
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


@pytest.mark.oracle
@needs_1_2
def test_scale_factors_come_from_the_blocks(files_2_5):
    """A 16x16x4 VAE: 1 + 4k frames, sides in multiples of 16, and tiles in those units."""
    path = files_2_5["ltx-2.5-conv-vae-tiny"]
    encoder, decoder = load_video_encoder(path), load_video_decoder(path)
    with pytest.raises(ValueError, match=r"6 frames: the VAE needs 1 \+ 4k frames \(e.g. 5 or 9\)"):
        encoder(torch.zeros(1, 3, 6, 32, 32))
    with pytest.raises(ValueError, match="multiples of 16"):
        encoder(torch.zeros(1, 3, 5, 24, 32))
    assert encoder(torch.rand(1, 3, 9, 16, 32) * 2 - 1).shape == (1, 128, latent_frames(9, 4), 1, 2)
    latent = torch.randn(1, 128, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    assert decoder(latent, generator=torch.Generator().manual_seed(0)).shape == (1, 3, 9, 32, 32)
    with pytest.raises(ValueError, match="multiples of 16"):
        list(tiled_decode(decoder, latent, Tiling(tile_px=40, overlap_px=16, tile_frames=None)))
    with pytest.raises(ValueError, match="tiled encode needs an overlap of at least 16 frames, got 8"):
        tiled_encode(encoder, torch.zeros(1, 3, 25, 32, 32), Tiling(tile_frames=16, overlap_frames=8, tile_px=None))


def test_tiling_defaults_follow_ltx_core_1_2():
    assert Tiling() == Tiling(tile_px=768, overlap_px=64, tile_frames=80, overlap_frames=24)
    with pytest.raises(ValueError, match="below the tile size"):
        Tiling(tile_px=64, overlap_px=64)
    with pytest.raises(ValueError, match="tiled encode needs an overlap of at least 64 px, got 32"):
        Tiling(tile_px=96, overlap_px=32).check(8, 32, encode=True)
    Tiling(tile_px=96, overlap_px=32).check(8, 32)  # enough to decode


def test_uint8_round_trip():
    frames = torch.randint(0, 256, (2, 9, 32, 32, 3), dtype=torch.uint8)
    video = from_uint8(frames)
    assert video.shape == (2, 3, 9, 32, 32) and video.min() >= -1 and video.max() <= 1
    assert torch.equal(to_uint8(video), frames) or (to_uint8(video).int() - frames.int()).abs().max() <= 1


@pytest.mark.oracle
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
