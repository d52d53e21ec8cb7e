"""Built-in tiny files in the LTX-2.5 split layout (one file per component), written like the single files
of `ltx.parity.fixtures`: keys from the official modules' state dicts, random values, `config` metadata."""

from __future__ import annotations

from ltx.config import AudioVAEConfig, BWEConfig, GeneratorConfig, VocoderConfig
from ltx.parity.fixtures import TinySpec

# The 2.5 audio VAE file: `audio_vae.*` + `vocoder.*`, `config` = {audio_vae, vocoder with bwe}, nothing else.
# Unlike the 2.3 tiny file: no attention anywhere (as the shipped audio VAE), the shipped upsampling rates,
# no tanh and no bias at the end of either generator.
_AUDIO_2_5 = AudioVAEConfig(ch_mult=(1, 1, 2), num_res_blocks=1, attn_resolutions=(), mid_block_add_attention=False)
_VOCODER_2_5 = VocoderConfig(
    GeneratorConfig(resblock="AMP1", activation="snakebeta", resblock_kernel_sizes=(5,),
                    resblock_dilation_sizes=((1, 3, 5),), upsample_rates=(5, 2, 2, 2, 2, 2),
                    upsample_kernel_sizes=(11, 4, 4, 4, 4, 4), upsample_initial_channel=64,
                    output_sampling_rate=16000, use_tanh_at_final=False, use_bias_at_final=False),
    BWEConfig(GeneratorConfig(resblock="AMP1", activation="snakebeta", resblock_kernel_sizes=(3,),
                              resblock_dilation_sizes=((1, 3, 5),), upsample_rates=(6, 5, 2, 2, 2),
                              upsample_kernel_sizes=(12, 11, 4, 4, 4), upsample_initial_channel=32,
                              output_sampling_rate=48000, use_tanh_at_final=False, use_bias_at_final=False)),
)  # fmt: skip

SPLIT_FILES: dict[str, TinySpec] = {
    s.name: s
    for s in (
        TinySpec(
            "ltx-2.5-audio-vae-tiny",
            "LTX-2.5 audio VAE file (split layout): audio VAE without attention + BWE vocoder, no transformer",
            None,
            "2.5.0",
            connectors=False,
            audio_vae=_AUDIO_2_5,
            vocoder=_VOCODER_2_5,
        ),
    )
}
