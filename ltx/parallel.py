"""One generation on several processes over torch.distributed (NCCL between GPUs, gloo between CPU processes),
applied from outside the model.

Two ways to split the work, combined as `Layout(sp, cfg)` on sp x cfg processes:

- **Sequence parallelism** (`sp`): each process of a group holds a contiguous share of the video tokens (the shares
  differ by at most one token) and the whole audio stream. Everything per token stays local: the projections, the
  norms and modulations, RoPE, the text cross-attention, the video's attention to the audio, the feed-forward. Two
  places need tokens of other processes: the video self-attention (Ulysses: an all-to-all turns "my tokens, all
  heads" into "all tokens, my heads", the attention runs over every token for those heads, a second all-to-all turns
  it back) and the audio's attention to the video (the video keys and values to "all tokens, my heads" the same way,
  the audio queries of my heads, the audio-sized outputs gathered by heads). A head count the group cannot divide
  gathers the keys and values instead. The video velocity is gathered at the end; every process of the group ends
  with the whole output.
- **Pass parallelism** (`cfg`): a sampling step's guidance passes (conditional, negative prompt, STG, modality
  isolation) are dealt round-robin to the groups; each pass's x0 is then broadcast from the group that ran it.

Rank r is group r // sp's member r % sp. `init(Layout)` makes the process groups (torchrun's environment);
`Parallel(model, groups)` calls like the transformer (LTX-2's, or LTX-Video's: sequence parallelism only, its
pipeline batches the passes into one call); the Denoiser deals passes through its `spread_passes` (present with
cfg > 1).
Launch: `torchrun --nproc-per-node 4 -m ltx generate ... --parallel sp=2,cfg=2`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace

import ltx_kernels
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Layout:
    sp: int = 1  # processes sharing one pass's video tokens
    cfg: int = 1  # groups running different guidance passes

    def __post_init__(self) -> None:
        if not (isinstance(self.sp, int) and isinstance(self.cfg, int) and self.sp >= 1 and self.cfg >= 1):
            raise ValueError(f"sp and cfg must be whole numbers >= 1, got sp={self.sp!r}, cfg={self.cfg!r}")

    @property
    def world(self) -> int:
        return self.sp * self.cfg

    @classmethod
    def parse(cls, text: str) -> Layout:
        """'sp=2,cfg=2' (either may be left out: 1)."""
        values = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = (x.strip() for x in part.partition("="))
            if key not in ("sp", "cfg") or not value.isdigit() or key in values:
                raise ValueError(f"--parallel {text!r}: expected sp=N and/or cfg=M once each, got {part!r}")
            values[key] = int(value)
        if not values:
            raise ValueError(f"--parallel {text!r}: expected sp=N and/or cfg=M")
        return cls(**values)


@dataclass(frozen=True)
class Groups:
    layout: Layout
    rank: int
    sp_group: object
    sp_ranks: tuple[int, ...]
    cfg_group: object
    cfg_ranks: tuple[int, ...]

    @property
    def sp_rank(self) -> int:
        return self.sp_ranks.index(self.rank)

    @property
    def cfg_rank(self) -> int:
        return self.cfg_ranks.index(self.rank)


def backend_for(device: str | torch.device | None) -> str:
    """NCCL for CUDA devices, gloo for the CPU (a CPU run on a GPU host too)."""
    kind = torch.device(device).type if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    return "nccl" if kind == "cuda" else "gloo"


def init(layout: Layout, device: str | torch.device | None = None, backend: str | None = None) -> Groups:
    """The process groups of `layout` (starting torch.distributed from torchrun's environment if needed, with the
    backend for `device`: None is CUDA where there is one); the number of processes must be sp x cfg. Every process
    must call this, in the same order."""
    if not dist.is_initialized():
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            raise ValueError(f"--parallel sp={layout.sp},cfg={layout.cfg} needs {layout.world} processes: start them "
                             f"with torchrun --nproc-per-node {layout.world} -m ltx ...")  # fmt: skip
        backend = backend or backend_for(device)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    world, rank = dist.get_world_size(), dist.get_rank()
    if world != layout.world:
        raise ValueError(f"sp={layout.sp} x cfg={layout.cfg} = {layout.world} processes, but {world} were started")
    sp_group = cfg_group = None
    sp_ranks = cfg_ranks = ()
    for c in range(layout.cfg):  # every process makes every group, in one order
        ranks = tuple(c * layout.sp + s for s in range(layout.sp))
        group = dist.new_group(list(ranks))
        if rank in ranks:
            sp_group, sp_ranks = group, ranks
    for s in range(layout.sp):
        ranks = tuple(c * layout.sp + s for c in range(layout.cfg))
        group = dist.new_group(list(ranks))
        if rank in ranks:
            cfg_group, cfg_ranks = group, ranks
    return Groups(layout, rank, sp_group, sp_ranks, cfg_group, cfg_ranks)


def local_device(device: str | None = None) -> torch.device:
    """This process's device: its own GPU (torchrun's LOCAL_RANK) where CUDA is there, else the CPU."""
    if device not in (None, "cuda") or not torch.cuda.is_available():
        return torch.device(device or "cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def shares(tokens: int, processes: int) -> list[int]:
    """Contiguous shares of `tokens` (the first ones one larger where it does not divide)."""
    if tokens < processes:
        raise ValueError(f"{tokens} video tokens cannot be shared by {processes} processes: use a smaller sp or a "
                         "larger clip")  # fmt: skip
    return [tokens // processes + (1 if i < tokens % processes else 0) for i in range(processes)]


def _pad(x: torch.Tensor, n: int) -> torch.Tensor:
    """`x` with zero tokens appended on dim 1 up to n (the collectives move equal-sized pieces)."""
    return x if x.shape[1] == n else torch.cat([x, x.new_zeros(x.shape[0], n - x.shape[1], *x.shape[2:])], dim=1)


def gather_tokens(x: torch.Tensor, sizes: list[int], group) -> torch.Tensor:
    """Every process's share of dim 1, in rank order, on every process."""
    mine = _pad(x, max(sizes)).contiguous()
    pieces = [torch.empty_like(mine) for _ in sizes]  # (contiguous: the collectives write flat buffers)
    dist.all_gather(pieces, mine, group=group)
    return torch.cat([p[:, :n] for p, n in zip(pieces, sizes, strict=True)], dim=1)


@dataclass
class _Call:
    """What the attention seams need during one sequence-parallel forward."""

    sizes: list[int]
    rank: int
    group: object
    self_bias: torch.Tensor | None  # the whole video self-attention bias (B, 1, T, T)


class Parallel:
    """`model` (an LTX2Transformer or an LTXVTransformer) run by the processes of `groups`; called as the model.
    The model's own attributes read through (cfg, blocks, ...)."""

    def __init__(self, model, groups: Groups):
        self.model, self.groups, self._call = model, groups, None
        if groups.layout.cfg > 1:  # (read by the Denoiser; without it, the model's attribute lookup says none)
            self.spread_passes = self._spread_passes
        if groups.layout.sp > 1:
            for block in model.transformer_blocks:
                if hasattr(block, "attn1"):
                    block.attn1.attend = self._self_attention(block.attn1)
                if hasattr(block, "video_to_audio_attn"):
                    block.video_to_audio_attn.attend = self._audio_to_video(block.video_to_audio_attn)

    def __getattr__(self, name):
        return getattr(self.__dict__["model"], name)

    def close(self) -> None:
        """Give the model its own attention back."""
        for block in self.model.transformer_blocks:
            for attn in (getattr(block, "attn1", None), getattr(block, "video_to_audio_attn", None)):
                if attn is not None:
                    attn.__dict__.pop("attend", None)

    # -- sequence parallelism ------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        from ltx.dit.ltxv import LTXVTransformer

        if isinstance(self.model, LTXVTransformer):
            return self._ltxv(*args, **kwargs)
        return self._ltx2(*args, **kwargs)

    def _run(self, call: _Call, *args, **kwargs):
        self._call = call
        try:
            return self.model(*args, **kwargs)
        finally:
            self._call = None

    def _share(self, tokens: int) -> tuple[list[int], slice]:
        sizes = shares(tokens, self.groups.layout.sp)
        start = sum(sizes[: self.groups.sp_rank])
        return sizes, slice(start, start + sizes[self.groups.sp_rank])

    def _ltxv(self, latent, positions, context, timesteps, *, context_mask=None, attention_mask=None, stg=None):
        """LTX-Video's transformer: its tokens shared as LTX-2's video tokens (its attention mask masks keys)."""
        from ltx.dit.ltxv import _bias

        if self.groups.layout.sp == 1 or latent.shape[1] != positions.shape[-1]:  # (the model names wrong shapes)
            return self.model(latent, positions, context, timesteps, context_mask=context_mask,
                              attention_mask=attention_mask, stg=stg)  # fmt: skip
        sizes, part = self._share(latent.shape[1])
        t = timesteps[:, part] if timesteps.shape[1] == latent.shape[1] else timesteps
        bias = _bias(attention_mask, latent.dtype, self.model.cfg.heads)
        call = _Call(sizes, self.groups.sp_rank, self.groups.sp_group, bias)
        out = self._run(call, latent[:, part], positions[..., part], context, t, context_mask=context_mask, stg=stg)
        return gather_tokens(out, sizes, self.groups.sp_group)

    def _ltx2(self, video, audio=None, perturbations=()):
        sp = self.groups.layout.sp
        if sp == 1 or video is None:
            return self.model(video, audio, perturbations)
        from ltx.dit.ltx2 import _attention_bias

        sizes, part = self._share(video.latent.shape[1])
        timesteps = video.timesteps
        if timesteps.shape[:2] != video.latent.shape[:2]:  # (a check before slicing: the model names the shapes)
            return self.model(video, audio, perturbations)
        mine = replace(
            video,
            latent=video.latent[:, part],
            timesteps=timesteps[:, part],
            positions=video.positions[:, :, part],
            attention_mask=None,
            keyframes_mask=None if video.keyframes_mask is None else video.keyframes_mask[:, part],
        )
        bias = None if video.attention_mask is None else _attention_bias(video.attention_mask, video.latent.dtype)
        call = _Call(sizes, self.groups.sp_rank, self.groups.sp_group, bias)
        vel_v, vel_a = self._run(call, mine, audio, perturbations)
        return gather_tokens(vel_v, sizes, self.groups.sp_group), vel_a

    def _self_attention(self, attn):
        def attend(q, k, v, mask):
            call = self._call
            if call is None:
                return ltx_kernels.attention(q, k, v, attn.heads, mask)
            w = len(call.sizes)
            if attn.heads % w:  # the heads do not divide: gather the keys and values, attend with my queries
                start, bias = sum(call.sizes[: call.rank]), call.self_bias
                rows = bias if bias is None or bias.shape[2] == 1 else bias[:, :, start : start + q.shape[1]]
                keys, values = (gather_tokens(x, call.sizes, call.group) for x in (k, v))
                return ltx_kernels.attention(q, keys, values, attn.heads, rows)
            q, k, v = (_to_heads(x, call, w) for x in (q, k, v))
            bias = call.self_bias  # LTX-Video's holds a copy per head, all alike: as many as this process attends
            bias = bias[:, : attn.heads // w] if bias is not None and bias.shape[1] > 1 else bias
            out = ltx_kernels.attention(q, k, v, attn.heads // w, bias)
            return _from_heads(out, call, w)

        return attend

    def _audio_to_video(self, attn):
        """The audio's attention to the video: the video keys and values by all-to-all to "all tokens, my heads",
        the (replicated) audio queries of my heads, the outputs gathered by heads. Gathered keys and values where
        the heads do not divide."""

        def attend(q, k, v, mask):
            call = self._call
            if call is None:
                return ltx_kernels.attention(q, k, v, attn.heads, mask)
            w = len(call.sizes)
            if attn.heads % w:
                keys, values = (gather_tokens(x, call.sizes, call.group) for x in (k, v))
                return ltx_kernels.attention(q, keys, values, attn.heads, mask)
            k, v = _to_heads(k, call, w), _to_heads(v, call, w)
            b, s, _ = q.shape
            mine = q.reshape(b, s, w, -1)[:, :, call.rank].contiguous()
            out = ltx_kernels.attention(mine, k, v, attn.heads // w, mask).contiguous()
            heads = [torch.empty_like(out) for _ in range(w)]
            dist.all_gather(heads, out, group=call.group)
            return torch.cat(heads, dim=-1)

        return attend

    # -- pass parallelism ----------------------------------------------------------------------
    def _spread_passes(self, passes: dict, run) -> dict:
        """{name: (video, audio, perturbations)} -> {name: run(...)} on every process: each group runs its passes
        (round-robin) one after the other, all groups at once, then every pass's x0 is broadcast from its group."""
        g = self.groups
        owners = {name: k % g.layout.cfg for k, name in enumerate(passes)}
        mine = {name: run(*passes[name]) for name, owner in owners.items() if owner == g.cfg_rank}
        out = {}
        for name, (video, audio, _) in passes.items():  # (the same order on every process)
            got = mine.get(name, (None, None))
            x0 = []
            for s, x in zip((video, audio), got, strict=True):
                if s is None:
                    x0.append(None)
                    continue
                # x0 has the latent's shape and dtype; the collectives write flat buffers (a latent may be a view)
                x = s.latent.new_empty(s.latent.shape) if x is None else x.contiguous()
                dist.broadcast(x, src=g.cfg_ranks[owners[name]], group=g.cfg_group)
                x0.append(x)
            out[name] = tuple(x0)
        return out


def _to_heads(x: torch.Tensor, call: _Call, w: int) -> torch.Tensor:
    """(B, my tokens, H*d) -> (B, all tokens, my H/w heads * d)."""
    b, n = x.shape[0], max(call.sizes)
    send = _pad(x, n).reshape(b, n, w, -1).permute(2, 0, 1, 3).contiguous()  # (w, B, n, H/w*d): head group i to i
    got = torch.empty_like(send)
    dist.all_to_all_single(got, send, group=call.group)  # got[i]: process i's tokens, my heads
    return torch.cat([got[i, :, :size] for i, size in enumerate(call.sizes)], dim=1)


def _from_heads(x: torch.Tensor, call: _Call, w: int) -> torch.Tensor:
    """(B, all tokens, my heads * d) -> (B, my tokens, H*d)."""
    b, n = x.shape[0], max(call.sizes)
    send = torch.stack([_pad(part, n) for part in x.split(call.sizes, dim=1)])  # (w, B, n, H/w*d)
    got = torch.empty_like(send)
    dist.all_to_all_single(got, send, group=call.group)  # got[j]: my tokens, head group j
    return got.permute(1, 2, 0, 3).reshape(b, n, -1)[:, : call.sizes[call.rank]]


# -- the video decode ------------------------------------------------------------------------------
def decode(decoder, latent: torch.Tensor, tiling, group, generator: torch.Generator | None = None):
    """The tiled conv decode (ltx.vae.tiling.tiled_decode: the same tiles, the same blending) with the tiles dealt
    to the processes of `group` in rounds (one tile each, decoded at once, then exchanged: a round's tiles are all a
    process holds beyond the blending buffer); yields the same chunks on every process. Each tile's decode noise is
    drawn in tile order on every process, as one process draws it, so the frames equal one process's. Decoders that
    draw noise inside their blocks (some LTX-Video VAEs) and LTX-2.5's diffusion decoder decode on every process
    alone (said once)."""
    from ltx.vae.diffusion_tiling import DiffusionVideoDecoder
    from ltx.vae.tiling import tile_inputs, tiled_decode

    if isinstance(decoder, DiffusionVideoDecoder) or _injects_noise(decoder) or group is None:
        if group is not None:
            _note("this decoder draws noise inside its blocks (or is LTX-2.5's diffusion decoder): every process "
                  "decodes the whole video")  # fmt: skip
        yield from tiled_decode(decoder, latent, tiling, generator=generator)
        return
    tiling.check(decoder.cfg.time_scale, decoder.cfg.space_scale)
    parts = [latent[:, :, t, h, w] for t, h, w in tile_inputs(decoder, latent, tiling)]
    noises = [None] * len(parts)
    if decoder.cfg.timestep_conditioning:  # (the decoder's own first draw, tile by tile)
        noises = [torch.randn(p.shape, generator=generator, dtype=p.dtype, device=p.device) for p in parts]
    ranks = dist.get_process_group_ranks(group)
    me, w = ranks.index(dist.get_rank()), len(ranks)
    ready: dict[int, torch.Tensor] = {}

    def exchange(first: int) -> None:
        """Tiles first .. first + w - 1: each process decodes its one (all at once), then each is broadcast from
        its process, its shape and dtype first."""
        round_, mine = range(first, min(first + w, len(parts))), first + me
        decoded = decoder(parts[mine], noise=noises[mine]).contiguous() if mine in round_ else None
        for i in round_:
            owner = ranks[i - first]
            tile = decoded if i == mine else None
            head = torch.tensor([*(tile.shape if tile is not None else [0] * 5), _code(tile)], device=parts[i].device)
            dist.broadcast(head, src=owner, group=group)
            if tile is None:
                tile = parts[i].new_empty(head[:5].tolist(), dtype=_DTYPES[int(head[5])])
            dist.broadcast(tile, src=owner, group=group)
            ready[i] = tile

    count = iter(range(len(parts)))

    def decode_tile(part: torch.Tensor) -> torch.Tensor:
        i = next(count)
        if i % w == 0:
            exchange(i)
        return ready.pop(i)

    yield from tiled_decode(decoder, latent, tiling, decode_tile=decode_tile)


_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def _code(tile: torch.Tensor | None) -> int:
    return 0 if tile is None else _DTYPES.index(tile.dtype)


def _injects_noise(decoder) -> bool:
    return any(getattr(m, "noise", False) is True for m in decoder.modules())


_noted: set[str] = set()


def _note(reason: str) -> None:
    if reason not in _noted:
        _noted.add(reason)
        logging.getLogger("ltx.parallel").warning("ltx.parallel: %s", reason)
