"""The model's own contract: input checks, batch independence, determinism, token arithmetic."""

from dataclasses import replace

import pytest
import torch

from ltx import Perturbation, load_transformer, to_x0
from ltx.audio.timing import audio_token_count
from ltx.dit.latents import (
    patchify_audio,
    patchify_video,
    unpatchify_audio,
    unpatchify_video,
    video_token_count,
)
from ltx.parity.transformer import ClipShape, build_cases


@pytest.fixture(scope="module")
def model(tiny):
    return load_transformer(tiny["ltx-2.3-tiny"], dtype=torch.float32)


@pytest.fixture(scope="module")
def case(model):
    return build_cases(model.cfg, ClipShape())[0]


def _select(stream, i):
    pick = lambda t: None if t is None else t[i : i + 1]  # noqa: E731
    return replace(stream, latent=pick(stream.latent), sigma=pick(stream.sigma), timesteps=pick(stream.timesteps),
                   positions=pick(stream.positions), context=pick(stream.context))  # fmt: skip


def test_a_batch_equals_its_samples_run_alone(model, case):
    with torch.no_grad():
        v, a = model(case.video, case.audio)
        for i in range(2):
            vi, ai = model(_select(case.video, i), _select(case.audio, i))
            torch.testing.assert_close(vi, v[i : i + 1], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(ai, a[i : i + 1], rtol=1e-5, atol=1e-5)


def test_perturbing_one_sample_leaves_the_other_alone(model, case):
    with torch.no_grad():
        v, a = model(case.video, case.audio)
        vp, ap = model(
            case.video, case.audio, [Perturbation("video_self_attn", samples=(0,)), Perturbation("a2v", samples=(0,))]
        )
    assert torch.equal(vp[1], v[1]) and torch.equal(ap[1], a[1])
    assert not torch.allclose(vp[0], v[0])


def test_deterministic(model, case):
    with torch.no_grad():
        first = model(case.video, case.audio)
        second = model(case.video, case.audio)
    assert all(torch.equal(x, y) for x, y in zip(first, second, strict=True))


def test_scalar_sigma_broadcasts(model, case):
    video = replace(case.video, sigma=torch.tensor(0.5), timesteps=torch.full_like(case.video.timesteps, 0.5))
    audio = replace(case.audio, sigma=0.5, timesteps=torch.full_like(case.audio.timesteps, 0.5))
    with torch.no_grad():
        v1, _ = model(video, audio)
        v2, _ = model(replace(video, sigma=torch.tensor([0.5, 0.5])), replace(audio, sigma=torch.tensor([0.5, 0.5])))
    assert torch.equal(v1, v2)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda s: replace(s, latent=s.latent[..., :64]), r"latent must be \(B, T, 128\)"),
        (lambda s: replace(s, timesteps=s.timesteps[:, :5]), "timesteps must be"),
        (lambda s: replace(s, positions=s.positions[:, :2]), r"positions must be \(B, 3, T, 2\)"),
        (lambda s: replace(s, context=s.context[..., :7]), r"context must be \(B, S, 40\)"),
        (lambda s: replace(s, sigma=torch.ones(3)), "sigma must be a scalar or"),
        (lambda s: replace(s, attention_mask=torch.ones(2, 5, 5)), "attention_mask must be"),
    ],
)
def test_bad_inputs_are_named(model, case, change, match):
    with pytest.raises(ValueError, match=match):
        model(change(case.video), case.audio)


def test_mismatched_batches_and_missing_streams(model, case):
    with pytest.raises(ValueError, match="batch sizes differ"):
        model(case.video, _select(case.audio, 0))
    with pytest.raises(ValueError, match="at least one"):
        model(None, None)


def test_video_only_model_refuses_audio(tiny):
    m = load_transformer(tiny["ltx-2.0-video-only-tiny"], dtype=torch.float32)
    cases = build_cases(m.cfg, ClipShape())
    assert cases[0].audio is None
    with torch.no_grad():
        v, a = m(cases[0].video)
    assert a is None and v.shape == cases[0].video.latent.shape
    with pytest.raises(ValueError, match="video-only"):
        m(cases[0].video, cases[0].video)


def test_perturbation_checks():
    with pytest.raises(ValueError, match="unknown perturbation"):
        Perturbation("cross_attn")


def test_frozen_stream_tokens_do_not_move(model, case):
    captured = []
    handle = model.transformer_blocks[1].register_forward_hook(lambda m, a, out: captured.append(out[1]))
    with torch.no_grad():
        model(case.video, replace(case.audio, enabled=False))
    handle.remove()
    assert torch.equal(captured[0], model.audio_patchify_proj(case.audio.latent))


def test_x0_is_per_token():
    latent, velocity = torch.randn(2, 6, 4), torch.randn(2, 6, 4)
    timesteps = torch.rand(2, 6)
    expected = latent - velocity * timesteps[..., None]
    torch.testing.assert_close(to_x0(latent, velocity, timesteps), expected)
    assert to_x0(latent.bfloat16(), velocity.bfloat16(), timesteps).dtype == torch.bfloat16


def test_token_arithmetic():
    assert video_token_count(121, 512, 768) == 6144
    assert video_token_count(121, 1024, 1536) == 24576
    assert audio_token_count(121, 24.0) == 126
    latent = torch.randn(2, 128, 3, 4, 5)
    assert torch.equal(unpatchify_video(patchify_video(latent), 3, 4, 5), latent)
    audio = torch.randn(2, 8, 7, 16)
    tokens = patchify_audio(audio)
    assert tokens.shape == (2, 7, 128) and torch.equal(tokens[0, 3, :16], audio[0, 0, 3])  # channel-major
    assert torch.equal(unpatchify_audio(tokens), audio)
