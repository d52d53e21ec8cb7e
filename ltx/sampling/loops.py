"""Sampling loops over a sigma schedule for the video and audio states together.

`denoise(video, audio, sigma, step)` returns each modality's x0 prediction (tokens, or None for a missing
stream). Before a step, x0 is blended with the clean tokens by the denoise mask, so kept tokens stay put.
Euler: v = (x - x0) / sigma with the step's global sigma, x += v (sigma_next - sigma), in float32.
Ancestral Euler and CFG++ (`ltx.sampling.ancestral`): Euler steps that re-inject fresh noise.
res_2s: the exponential second-order Runge-Kutta sampler (midpoint c2 = 0.5) with SDE noise, as the
official HQ pipeline runs it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import torch

from ltx.sampling.state import LatentState

Denoise = Callable[[LatentState, LatentState | None, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor | None]]


def blend(x0: torch.Tensor, state: LatentState) -> torch.Tensor:
    """x0 where the mask says generate, the clean tokens where it says keep (per token, by strength)."""
    return (x0 * state.mask + state.clean.float() * (1 - state.mask)).to(x0.dtype)


def euler_step(x: torch.Tensor, x0: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
    s = sigma.to(torch.float32).item()
    if s == 0:
        raise ValueError("an Euler step cannot start at sigma 0")
    velocity = ((x.to(torch.float32) - x0.to(torch.float32)) / s).to(x.dtype)
    return (x.to(torch.float32) + velocity.to(torch.float32) * (sigma_next - sigma)).to(x.dtype)


def _progress(n: int, desc: str | None):
    if desc is None:
        return range(n)
    from tqdm.auto import tqdm

    return tqdm(range(n), desc=desc, unit="step", leave=False)


def euler_loop(
    sigmas: torch.Tensor,
    video: LatentState | None,
    audio: LatentState | None,
    denoise: Denoise,
    progress: str | None = None,
) -> tuple[LatentState | None, LatentState | None]:
    for i in _progress(len(sigmas) - 1, progress):
        x0v, x0a = denoise(video, audio, sigmas, i)
        if video is not None:
            video = replace(video, latent=euler_step(video.latent, blend(x0v, video), sigmas[i], sigmas[i + 1]))
        if audio is not None:
            audio = replace(audio, latent=euler_step(audio.latent, blend(x0a, audio), sigmas[i], sigmas[i + 1]))
    return video, audio


# -- res_2s -----------------------------------------------------------------------------------------
def _phi(j: int, z: float) -> float:
    """phi_j(z) = (e^z - sum_{k<j} z^k / k!) / z^j, and 1/j! at z = 0."""
    if abs(z) < 1e-10:
        return 1.0 / math.factorial(j)
    return (math.exp(z) - sum(z**k / math.factorial(k) for k in range(j))) / z**j


def res2s_coefficients(h: float, c2: float = 0.5) -> tuple[float, float, float]:
    """(a21, b1, b2) of the exponential RK2 step of log-size h = log(sigma / sigma_next)."""
    b2 = _phi(2, -h) / c2
    return c2 * _phi(1, -h * c2), _phi(1, -h) - b2, b2


def _sde_noise(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """float64 noise standardised globally, then per channel over the last two dims."""
    n = torch.randn(like.shape, generator=generator, dtype=torch.float64, device=generator.device)
    n = (n - n.mean()) / n.std()
    return n.sub_(n.mean(dim=(-2, -1), keepdim=True)).div_(n.std(dim=(-2, -1), keepdim=True))


def sde_step(
    x: torch.Tensor, x_target: torch.Tensor, sigma, sigma_next, noise: torch.Tensor, eta: float = 0.5
) -> torch.Tensor:
    """Move from x (at sigma) toward the deterministic target x_target (at sigma_next) and re-inject noise
    so the result has noise level sigma_next (a share `eta` of it fresh: sigma_up = eta * sigma_next)."""
    sigma_up = (sigma_next * eta).clamp(max=sigma_next * 0.9999)
    residual = (sigma_next**2 - sigma_up**2).clamp(min=0) ** 0.5
    alpha = (1 - sigma_next) + residual
    sigma_down = residual / alpha
    sigma_up, alpha = torch.nan_to_num(sigma_up, 0.0), torch.nan_to_num(alpha, 1.0)
    sigma_down = torch.where(torch.isnan(sigma_down), sigma_next.to(sigma_down.dtype), sigma_down)
    if torch.any(sigma_up == 0) or torch.any(sigma_next == 0):
        return x_target
    eps = (x - x_target) / (sigma - sigma_next)
    return (alpha * (x - sigma * eps + sigma_down * eps) + sigma_up * noise).to(x_target.dtype)


def res2s_loop(
    sigmas: torch.Tensor,
    video: LatentState,
    audio: LatentState | None,
    denoise: Denoise,
    *,
    seed: int,
    substep_seed: int | None = None,
    refine: bool = True,
    refine_iterations: int = 100,
    model_dtype: torch.dtype = torch.bfloat16,
    eta: float = 0.5,
    progress: str | None = None,
) -> tuple[LatentState, LatentState | None]:
    """res_2s with SDE noise from two generators (`seed`, and `substep_seed` = seed + 10000 by default) and,
    for small steps above sigma 0.03, the fixed-point refinement of the step's anchor. `eta` is the share of
    fresh noise at each step (the midpoint substeps always use 0.5)."""
    device = video.latent.device
    step_gen = torch.Generator(device=device).manual_seed(seed)
    sub_gen = torch.Generator(device=device).manual_seed(seed + 10000 if substep_seed is None else substep_seed)
    n_steps = len(sigmas) - 1
    if sigmas[-1] == 0:  # a tiny last sigma instead of 0 keeps log(sigma) finite; a final x0 step follows
        sigmas = torch.cat([sigmas[:-1], torch.tensor([0.0011, 0.0], device=sigmas.device)])
    hs = -torch.log(sigmas[1:].double().cpu() / sigmas[:-1].double().cpu())
    states = [s for s in (video, audio) if s is not None]

    def run(states_now: list[LatentState], sigma_list: torch.Tensor, step: int) -> list[torch.Tensor]:
        x0 = denoise(states_now[0], states_now[1] if len(states_now) > 1 else None, sigma_list, step)
        return [blend(x, s) for x, s in zip(x0, states, strict=False)]

    def inject(state, x_from, x_to, s_from, s_to, gen, eta=0.5) -> torch.Tensor:
        # SDE noise, then the conditioned tokens put back (the official HQ loop's "legacy" mode)
        return blend(sde_step(x_from, x_to, s_from, s_to, _sde_noise(state.latent, gen), eta), state)

    for i in _progress(n_steps, progress):
        sigma, sigma_next = sigmas[i].double(), sigmas[i + 1].double()
        sub_sigma = torch.sqrt(sigma * sigma_next)
        a21, b1, b2 = res2s_coefficients(hs[i].item())
        h = hs[i].item()
        x0_first = run(states, sigmas, i)
        anchors, eps1, mids = [], [], []
        for s, x0 in zip(states, x0_first, strict=True):
            anchor = s.latent.clone().double()
            e = x0.double() - anchor
            mid = inject(s, anchor, anchor + h * a21 * e, sigma, sub_sigma, sub_gen)
            if refine and h < 0.5 and sigma > 0.03:
                for _ in range(refine_iterations):
                    anchor = mid - h * a21 * e
                    e = x0.double() - anchor
            anchors.append(anchor), eps1.append(e), mids.append(mid)
        x0_second = run([replace(s, latent=m.to(model_dtype)) for s, m in zip(states, mids, strict=True)],
                        sub_sigma[None].to(sigmas.device), 0)  # fmt: skip
        new_states = []
        for s, anchor, e1, x0 in zip(states, anchors, eps1, x0_second, strict=True):
            target = anchor + h * (b1 * e1 + b2 * (x0.double() - anchor))
            # the step-level injection reads the float32 schedule itself; the substep one used float64 values
            new_states.append(replace(s, latent=inject(s, anchor, target, sigmas[i], sigmas[i + 1], step_gen, eta)
                                      .to(model_dtype)))  # fmt: skip
        states = new_states
    if sigmas[-1] == 0:
        states = [
            replace(s, latent=x.to(model_dtype)) for s, x in zip(states, run(states, sigmas, n_steps), strict=True)
        ]
    return states[0], states[1] if len(states) > 1 else None
