from setuptools import find_packages, setup

setup(
    name="ltx",
    version="0.1.0",
    description="A from-scratch PyTorch implementation of Lightricks' LTX-2 and LTX-Video models, "
    "checked tensor by tensor against the official code.",
    python_requires=">=3.10",
    packages=find_packages(include=["ltx", "ltx.*"]) + ["ltx_kernels"],
    # The kernels folder is imported as `ltx_kernels`: a PyPI package called `kernels` exists and
    # diffusers probes for it, so the folder name must not become the import name.
    package_dir={"ltx_kernels": "kernels"},
    install_requires=[
        "torch>=2.4",
        "einops",
        "numpy",
        "safetensors>=0.4",
        "soundfile",  # WAV in and out
        "transformers>=5.8,<5.15",  # Gemma-3/4 and T5 (their own classes, loaded by us); 5.15 cannot build Gemma 4
        "sentencepiece",  # prompt tokenisation
        "av",  # PyAV: MP4 in and out, the conditioning images' H.264 round trip
        "pillow",  # images
        "tqdm",  # progress bars
    ],
    extras_require={
        # The official packages (ltx-core, ltx-pipelines) are test oracles, never runtime
        # dependencies; scripts/install.sh adds them with --no-deps, as their pins conflict with
        # current torch. "oracle" is what their compared parts import, plus librosa, the reference
        # for our mel front-end where torchaudio cannot load, and protobuf, which transformers needs to
        # read a bare sentencepiece model into the official tokenizers.
        # peft: ltx-trainer's LoRA layers (>= 0.18 builds with transformers 5); pydantic: ltx-trainer's configs
        "oracle": [
            "scipy",
            "regex",
            "librosa",
            "protobuf",
            "accelerate",
            "openimageio",
            "cloudpickle>=3.1",
            "peft>=0.18",
            "pydantic>=2",
            "rich",
        ],
        # triton: the kernels run in its interpreter; matplotlib: the plots of `ltx bench`
        "test": ["pytest", "pytest-benchmark", "sentencepiece", "triton", "matplotlib"],
        "triton": ["triton"],
        "bench": ["matplotlib"],  # the plots of `ltx bench`
    },
    entry_points={"console_scripts": ["ltx = ltx.cli:main"]},
)
